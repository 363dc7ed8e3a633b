"""The coordinator of KIP-1071 streams groups: StreamsGroupHeartbeat, StreamsGroupDescribe, session
expiry, the broker-side creation of the topology's internal topics, and the group's records in
``__consumer_offsets`` (reloaded at start-up).

Each heartbeat runs to completion without awaiting: it validates the request, updates the member,
bumps the group epoch when something the assignment depends on changed (members, their processes,
the topology, the partition counts), recomputes the target assignment when the group epoch moved
past it, reconciles the member one step towards its target (streams_group.reconcile) and writes
what changed as one batch. The settings are read through ``broker.group_configs`` at each use, so a
group override takes effect on the next heartbeat.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from kafkapy.coordinator import streams_group_records as rec
from kafkapy.coordinator.group_types import GroupListing, GroupType, offset_fetch_check
from kafkapy.coordinator.streams_group import (
    EMPTY,
    AssignmentMember,
    ConfiguredTopology,
    GroupState,
    MemberAssignment,
    MemberState,
    Status,
    Task,
    Tasks,
    assign,
    configure,
    reconcile,
    task_set,
    topology_topics,
)
from kafkapy.protocol.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkapy.broker import Broker

log = logging.getLogger("kafkapy.coordinator")

rec_record = tuple[bytes, bytes | None]
# A member's records, tombstoned when it leaves (Kafka writes them in this order).
MEMBER_RECORDS = (rec.CURRENT_MEMBER_ASSIGNMENT, rec.TARGET_ASSIGNMENT_MEMBER, rec.MEMBER_METADATA)

LEAVE_EPOCH = -1
LEAVE_STATIC_EPOCH = -2
# Kafka 4.3.1 answers 0 for both (its assignor has no warm-up tasks; members need not report task offsets).
ACCEPTABLE_RECOVERY_LAG = 0
TASK_OFFSET_INTERVAL_MS = 0
ASSIGNMENT_DELAYED = "Assignment delayed due to the configured initial rebalance delay."
ASSIGNMENT_INTERVAL = "Assignment delayed due to the configured assignment interval."
EXPIRY_CHECK_S = 1.0


@dataclass
class StreamsMember:
    """One member of a streams group: what it told the coordinator and where it is in reconciliation."""

    member_id: str
    process_id: str = ""
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    rebalance_timeout_ms: int = -1
    topology_epoch: int = -1
    user_endpoint: dict | None = None
    client_tags: list[dict] = field(default_factory=list)
    task_offsets: list[dict] = field(default_factory=list)
    task_end_offsets: list[dict] = field(default_factory=list)
    assignment: MemberAssignment = field(default_factory=MemberAssignment)
    # The wall clock time (ms) after which a member without a heartbeat is removed.
    deadline_ms: int = 0
    # When a member told to revoke tasks must have done so (0: nothing to revoke).
    revocation_deadline_ms: int = 0
    # The assignment the last response carried (None: send it whole next time).
    sent: Tasks | None = None

    def metadata(self) -> dict[str, Any]:
        """The StreamsGroupMemberMetadata value."""
        return {
            "instance_id": self.instance_id, "rack_id": self.rack_id, "client_id": self.client_id,
            "client_host": self.client_host, "rebalance_timeout_ms": self.rebalance_timeout_ms,
            "topology_epoch": self.topology_epoch, "process_id": self.process_id,
            "user_endpoint": self.user_endpoint, "client_tags": self.client_tags,
        }  # fmt: skip

    def assignment_value(self) -> dict[str, Any]:
        """The StreamsGroupCurrentMemberAssignment value."""
        a = self.assignment
        epochs = {t: a.active_epochs.get(t, a.epoch) for t in task_set(a.assigned.active)}
        return {
            "member_epoch": a.epoch, "previous_member_epoch": a.previous_epoch, "state": int(a.state),
            **rec.tasks_fields(a.assigned), "active_tasks": rec.task_ids(a.assigned.active, epochs),
            **rec.tasks_fields(a.pending_revocation, "_pending_revocation"),
        }  # fmt: skip


@dataclass
class StreamsGroup:
    """A streams group: its epochs, topology, members and target assignment."""

    group_id: str
    epoch: int = 0
    topology: dict | None = None
    members: dict[str, StreamsMember] = field(default_factory=dict)
    target: dict[str, Tasks] = field(default_factory=dict)
    assignment_epoch: int = 0
    endpoint_epoch: int = 0
    # The hash of the partition counts the last assignment saw (Kafka's metadata hash).
    metadata_hash: int = 0
    configured: ConfiguredTopology | None = None
    # Wall clock time (ms) before which no tasks are assigned (streams.initial.rebalance.delay.ms).
    assign_after_ms: int = 0
    # Something the assignment depends on changed in this heartbeat: the group epoch moves on.
    stale: bool = False
    # When the last target assignment was computed (wall clock ms), and whether this heartbeat's was
    # put off until the assignment interval since then has passed.
    assigned_at_ms: int = 0
    interval_deferred: bool = False
    # Whether the last target assignment was an empty one made during that delay.
    delayed: bool = False
    shutdown_requested_by: str | None = None

    def state(self) -> GroupState:
        if not self.members:
            return GroupState.EMPTY
        if self.topology is None or self.configured is None or not self.configured.ready:
            return GroupState.NOT_READY
        if self.epoch != self.assignment_epoch:
            return GroupState.ASSIGNING
        if any(
            m.assignment.epoch != self.assignment_epoch or m.assignment.state != MemberState.STABLE
            for m in self.members.values()
        ):
            return GroupState.RECONCILING
        return GroupState.STABLE

    def active_elsewhere(self, member_id: str, task: Task) -> bool:
        """Another member has the task active: assigned, or not yet revoked."""
        return any(
            task in task_set(m.assignment.assigned.active) or task in task_set(m.assignment.pending_revocation.active)
            for m in self.members.values()
            if m.member_id != member_id
        )


def _invalid(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_REQUEST, message)


def validate(request: dict) -> None:
    """Kafka's checks of a StreamsGroupHeartbeat before it touches the group (INVALID_REQUEST)."""
    epoch = request["member_epoch"]
    if not request["group_id"]:
        raise _invalid("GroupId can't be empty.")
    if not request["member_id"]:
        raise _invalid("MemberId can't be empty.")
    if request.get("instance_id") is not None:
        # Kafka 4.3.1's answer: streams groups have no static members yet.
        raise _invalid("Static membership is not yet supported.")
    if epoch < LEAVE_STATIC_EPOCH:
        raise _invalid(f"MemberEpoch is {epoch}, but must be greater than or equal to -2.")
    if epoch == LEAVE_STATIC_EPOCH and request.get("instance_id") is None:
        raise _invalid("InstanceId can't be null.")
    if epoch == 0:
        if request.get("rebalance_timeout_ms", -1) == -1:
            raise _invalid("RebalanceTimeoutMs must be provided in first request.")
        if request.get("topology") is None:
            raise _invalid("Topology must be non-null when (re-)joining.")
        for kind in ("active_tasks", "standby_tasks", "warmup_tasks"):
            if request.get(kind):
                raise _invalid(f"{kind.title().replace('_', '')} must be empty when (re-)joining.")
    elif request.get("topology") is not None:
        raise _invalid("Topology can only be provided when (re-)joining.")
    topology = request.get("topology")
    if topology is not None:
        if any(sub["source_topic_regex"] for sub in topology["subtopologies"]):
            # Kafka 4.3.1's answer: a Streams application subscribed by pattern cannot use streams groups yet.
            raise _invalid("Regular expressions for source topics are not supported yet.")
        validate_topology(topology)


def validate_topology(topology: dict) -> None:
    """Kafka 4.3.1's checks of a topology a member joins with: STREAMS_INVALID_TOPOLOGY with its messages;
    a subtopology id given twice or a copartition group naming a topic index that does not exist fail
    inside Kafka, which answers UNKNOWN_SERVER_ERROR without a message: so does kafkapy."""
    subtopologies = topology["subtopologies"]
    ids = [sub["subtopology_id"] for sub in subtopologies]
    if len(set(ids)) != len(ids):
        raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR)
    for sub in subtopologies:
        for group in sub["copartition_groups"]:
            for field_name in ("source_topics", "repartition_source_topics"):
                if any(not 0 <= i < len(sub[field_name]) for i in group[field_name]):
                    raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR)
        for info in sub["state_changelog_topics"]:
            if info["partitions"] != 0:
                raise KafkaError(
                    ErrorCode.STREAMS_INVALID_TOPOLOGY,
                    f"Changelog topic {info['name']} must have an undefined partition count, but it is set to "
                    f"{info['partitions']}.",
                )
    sinks = {t for sub in subtopologies for t in sub["repartition_sink_topics"]}
    if any(
        info["partitions"] == 0 and info["name"] not in sinks
        for sub in subtopologies
        for info in sub["repartition_source_topics"]
    ):
        raise KafkaError(
            ErrorCode.STREAMS_INVALID_TOPOLOGY,
            "Failed to compute number of partitions for all repartition topics, because a repartition source "
            "topic is never used as a sink topic.",
        )


def owned_tasks(request: dict) -> Tasks | None:
    """The tasks the member reports owning, or None when it did not say (unchanged)."""
    if request.get("active_tasks") is None:
        return None
    return rec.tasks_from(request.get("active_tasks"), request.get("standby_tasks"), request.get("warmup_tasks"))


class StreamsGroupCoordinator:
    """Every streams group of this broker (one of the group_registry's kinds)."""

    group_type = GroupType.STREAMS

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.groups: dict[str, StreamsGroup] = {}

    # --- the registry's view (group_types.TypedGroups) ---

    def owns(self, group_id: str) -> bool:
        return group_id in self.groups

    def listings(self) -> Iterable[GroupListing]:
        for group in self.groups.values():
            yield GroupListing(group.group_id, "streams", group.state().value, GroupType.STREAMS)

    def delete_group(self, group_id: str) -> ErrorCode:
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        if group.members:
            return ErrorCode.NON_EMPTY_GROUP
        self._write(group_id, self._tombstones(group))
        del self.groups[group_id]
        self.broker.groups.delete_offsets_of(group_id)
        return ErrorCode.NONE

    def reset(self) -> None:
        """Forget every streams group (KafkaBroker.reset: __consumer_offsets is gone too)."""
        self.groups = {}

    # --- offsets (Kafka's StreamsGroup.validateOffsetCommit / validateOffsetFetch) ---

    def offset_commit_errors(
        self,
        group_id: str,
        member_id: str,
        member_epoch: int,
        instance_id: str | None,
        partitions: list[tuple[str, int]],
        *,
        api_version: int | None,
    ) -> dict[tuple[str, int], ErrorCode]:
        """Whether each partition's commit (OffsetCommit, or TxnOffsetCommit with ``api_version`` None)
        may go to this group: from a member at its epoch; at an older epoch for a partition of an active
        task it already had then (KIP-1251, Kafka 4.3); with epoch -1 (admin tools) to an empty group.
        Else UNKNOWN_MEMBER_ID or STALE_MEMBER_EPOCH, as Kafka 4.3.1 answers (wire diffs). A
        TxnOffsetCommit without an epoch is taken even while the group has members, and one at another
        epoch than the member's is ILLEGAL_GENERATION (wire diffs too)."""
        group = self.groups[group_id]
        member = group.members.get(member_id)
        if api_version is None and member_epoch >= 0 and member is not None:
            txn_error = ErrorCode.NONE if member_epoch == member.assignment.epoch else ErrorCode.ILLEGAL_GENERATION
            return dict.fromkeys(partitions, txn_error)
        if member_epoch < 0 and (not group.members or api_version is None):
            error = ErrorCode.NONE
        elif member is None:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        elif member_epoch < member.assignment.epoch:
            return {tp: self._older_epoch_error(group, member, member_epoch, tp) for tp in partitions}
        elif member_epoch > member.assignment.epoch:
            error = ErrorCode.STALE_MEMBER_EPOCH
        else:
            error = ErrorCode.NONE
        return dict.fromkeys(partitions, error)

    @staticmethod
    def _older_epoch_error(group: StreamsGroup, member: StreamsMember, epoch: int, tp: tuple[str, int]) -> ErrorCode:
        """NONE if the member had, at ``epoch``, an active task reading the partition."""
        topic, partition = tp
        for sub in (group.topology or {}).get("subtopologies", []):
            inputs = [*sub["source_topics"], *(t["name"] for t in sub["repartition_source_topics"])]
            since = member.assignment.active_since((sub["subtopology_id"], partition)) if topic in inputs else None
            if since is not None and since <= epoch:
                return ErrorCode.NONE
        return ErrorCode.STALE_MEMBER_EPOCH

    def is_subscribed(self, group_id: str, topic: str) -> bool:
        """Whether an owned group's topology reads the topic (its offsets then never expire)."""
        group = self.groups.get(group_id)
        if group is None or group.topology is None:
            return False
        return any(
            topic in sub["source_topics"] or topic in (t["name"] for t in sub["repartition_source_topics"])
            for sub in group.topology["subtopologies"]
        )

    def offset_fetch_error(self, group_id: str, member_id: str | None, member_epoch: int) -> ErrorCode:
        """Whether OffsetFetch v9+ may read this group's offsets: a member at its epoch, or no member."""
        members = self.groups[group_id].members
        return offset_fetch_check(
            lambda m: members[m].assignment.epoch if m in members else None, member_id, member_epoch
        )

    # --- settings ---

    def _setting(self, group_id: str, name: str) -> int:
        value = self.broker.group_configs.value(group_id, name)
        assert isinstance(value, int)
        return value

    def _now(self) -> int:
        return self.broker.clock.wall_ms()

    # --- heartbeat ---

    def heartbeat(
        self, request: dict, client_id: str, client_host: str, *, may_create: Callable[[str], bool] = lambda t: True
    ) -> dict:
        """One StreamsGroupHeartbeat; raises KafkaError for an error answer. ``may_create(topic)``: whether
        the member's principal may have an internal topic created (CREATE on it or on the cluster)."""
        validate(request)
        now = self._now()
        self.expire(now)
        group_id, member_id, epoch = request["group_id"], request["member_id"], request["member_epoch"]
        self._check_kind(group_id)
        if epoch == LEAVE_EPOCH:
            # (A static leave, epoch -2, needs an instance id, which validate() refuses as Kafka 4.3.1 does.)
            return self._leave(group_id, member_id, epoch)
        records: list[rec_record] = []
        group = self._group_for(group_id, epoch, now)
        topology = request.get("topology")
        if topology is not None and group.topology is not None and topology["epoch"] != group.topology["epoch"]:
            # Kafka 4.3.1's answer to a member joining with another topology epoch than the group's.
            raise _invalid("Topology updates are not supported yet.")
        self._throw_if_full(group, member_id)
        member = self._member_for(group, request, now, records)
        member.deadline_ms = now + self._setting(group_id, "streams.session.timeout.ms")
        self._update_member(group, member, request, client_id, client_host, records)
        self._update_topology(group, request, records)
        if request.get("shutdown_application"):
            group.shutdown_requested_by = member_id
        self._configure(group, may_create)
        if group.stale:
            # One heartbeat moves the group epoch by one, whatever changed (Kafka's bumpGroupEpoch).
            group.epoch += 1
            group.stale = False
        self._maybe_assign(group, now, records)
        before = member.assignment
        member.assignment = reconcile(
            before,
            group.target.get(member_id, EMPTY),
            group.assignment_epoch,
            lambda task: group.active_elsewhere(member_id, task),
            owned_tasks(request),
        )
        if member.assignment.state != MemberState.UNREVOKED_TASKS:
            member.revocation_deadline_ms = 0
        elif before.state != MemberState.UNREVOKED_TASKS:
            # Kafka's rebalance timeout: a member that keeps tasks it was told to give up is removed.
            member.revocation_deadline_ms = now + max(member.rebalance_timeout_ms, 0)
        if member.assignment != before:
            records.append(rec.record(rec.CURRENT_MEMBER_ASSIGNMENT, group_id, member_id, member.assignment_value()))
        self._write(group_id, records)
        return self._response(group, member, request)

    def _check_kind(self, group_id: str) -> None:
        """A group id held by another kind of group is refused, except an empty classic group (offsets
        only, as a Streams application leaves after running with the classic protocol), which the
        streams group takes over with its offsets."""
        owner = self.broker.group_registry.owner(group_id)
        if owner is None or owner is self:
            return
        if owner is self.broker.groups and not self.broker.groups.member_count(group_id):
            return
        raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a streams group.")

    def _throw_if_full(self, group: StreamsGroup, member_id: str) -> None:
        """Kafka's throwIfStreamsGroupIsFull, before the member is looked up: a member the group does
        not have gets GROUP_MAX_SIZE_REACHED once group.streams.max.size members are in it."""
        max_size = self.broker.group_configs.broker_value("group.streams.max.size")
        if member_id not in group.members and isinstance(max_size, int) and len(group.members) >= max_size:
            raise KafkaError(
                ErrorCode.GROUP_MAX_SIZE_REACHED,
                f"The streams group has reached its maximum capacity of {max_size} members.",
            )

    def _group_for(self, group_id: str, epoch: int, now: int) -> StreamsGroup:
        group = self.groups.get(group_id)
        if group is None:
            if epoch != 0:
                raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Streams group {group_id} not found.")
            group = self.groups[group_id] = StreamsGroup(group_id)
        if not group.members and group.assignment_epoch == 0:
            # A group's first members get a moment to join before tasks are spread (KIP-1071).
            group.assign_after_ms = now + self._setting(group_id, "streams.initial.rebalance.delay.ms")
        return group

    def _member_for(self, group: StreamsGroup, request: dict, now: int, records: list[rec_record]) -> StreamsMember:
        member_id, epoch = request["member_id"], request["member_epoch"]
        member = group.members.get(member_id)
        if member is None:
            if epoch != 0:
                raise KafkaError(
                    ErrorCode.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group.group_id}."
                )
            member = group.members[member_id] = StreamsMember(member_id)
            group.stale = True
            return member
        if epoch == 0:
            # A known member joining again (a client recovering from an error) is given its current epoch
            # and tasks whole, as Kafka 4.3.1 answers (wire diff): nothing moves in the group.
            member.sent = None
        elif epoch != member.assignment.epoch:
            owned = owned_tasks(request)
            lost_response = (
                epoch == member.assignment.previous_epoch
                and owned is not None
                and all(
                    task_set(have) <= task_set(mine)
                    for have, mine in zip(owned.kinds(), member.assignment.assigned.kinds(), strict=True)
                )
            )
            if not lost_response:
                relation = "greater" if epoch > member.assignment.epoch else "smaller"
                raise KafkaError(
                    ErrorCode.FENCED_MEMBER_EPOCH,
                    f"The streams group member has a {relation} member epoch ({epoch}) than the one known by the "
                    f"group coordinator ({member.assignment.epoch}). The member must abandon all its partitions "
                    "and rejoin.",
                )
            member.sent = None
        return member

    def _update_member(
        self,
        group: StreamsGroup,
        member: StreamsMember,
        request: dict,
        client_id: str,
        client_host: str,
        records: list[rec_record],
    ) -> None:
        """Take the fields the member sent (a null field is unchanged); a change the assignment depends
        on (process, rack, tags) bumps the group epoch, a new endpoint the endpoint epoch."""
        before = member.metadata()
        if request.get("process_id") is not None:
            member.process_id = request["process_id"]
        if request.get("rack_id") is not None:
            member.rack_id = request["rack_id"]
        if request.get("rebalance_timeout_ms", -1) != -1:
            member.rebalance_timeout_ms = request["rebalance_timeout_ms"]
        if request.get("topology") is not None:
            member.topology_epoch = request["topology"]["epoch"]
        if request.get("user_endpoint") is not None:
            member.user_endpoint = {"host": request["user_endpoint"]["host"], "port": request["user_endpoint"]["port"]}
        if request.get("client_tags") is not None:
            member.client_tags = [{"key": t["key"], "value": t["value"]} for t in request["client_tags"]]
        for name in ("task_offsets", "task_end_offsets"):
            if request.get(name) is not None:
                setattr(member, name, [dict(o) for o in request[name]])
        member.client_id, member.client_host = client_id, client_host
        after = member.metadata()
        if after != before:
            if any(before[k] != after[k] for k in ("process_id", "rack_id", "client_tags")):
                group.stale = True
            records.append(rec.record(rec.MEMBER_METADATA, group.group_id, member.member_id, after))

    def _update_topology(self, group: StreamsGroup, request: dict, records: list[rec_record]) -> None:
        """The first topology a member sends is the group's (later members send the same epoch)."""
        topology = request.get("topology")
        if topology is None or group.topology is not None:
            return
        group.topology = rec.plain(topology)
        group.stale = True
        records.append(rec.record(rec.TOPOLOGY, group.group_id, fields=group.topology))

    def _partitions_of(self, topic: str) -> int | None:
        state = self.broker.logs.topics.get(topic)
        return None if state is None else len(state.partitions)

    def _configure(self, group: StreamsGroup, may_create: Callable[[str], bool]) -> None:
        """Configure the topology against the topics, creating the internal topics it lacks; new
        partition counts bump the group epoch (the tasks change)."""
        if group.topology is None:
            return
        configured = configure(group.topology, self._partitions_of)
        if configured.missing_internal and not configured.statuses:
            # Created now, but the group is ready from the next heartbeat on, as on Kafka, which creates
            # them asynchronously and answers this heartbeat with MISSING_INTERNAL_TOPICS.
            self._create_internal_topics(group, configured, may_create)
        group.configured = configured
        digest = zlib.crc32(repr(sorted(configured.task_counts.items())).encode()) if configured.ready else 0
        if digest != group.metadata_hash:
            group.metadata_hash = digest
            group.stale = True

    def _create_internal_topics(
        self, group: StreamsGroup, configured: ConfiguredTopology, may_create: Callable[[str], bool]
    ) -> None:
        """Create the internal topics the principal may create; the others stay missing (a status)."""
        for topic in configured.missing_internal:
            if not may_create(topic.name):
                continue
            try:
                self.broker.logs.create_topic(topic.name, topic.partitions, dict(topic.configs))
            except KafkaError as exc:
                log.warning(
                    "could not create an internal topic of streams group %s: %s", group.group_id, exc.message,
                    extra={"topic": topic.name},
                )  # fmt: skip
            else:
                log.info(
                    "created internal topic of streams group %s with %d partitions", group.group_id, topic.partitions,
                    extra={"topic": topic.name},
                )  # fmt: skip

    def _maybe_assign(self, group: StreamsGroup, now: int, records: list[rec_record]) -> None:
        """A new target assignment once the group epoch moved past it (and the initial delay is over)."""
        delayed = now < group.assign_after_ms
        if group.delayed and not delayed:
            # The initial delay is over: the tasks are assigned at a new group epoch.
            group.delayed = False
            group.epoch += 1
        group.interval_deferred = False
        if group.epoch == group.assignment_epoch:
            return
        interval = self._setting(group.group_id, "streams.assignment.interval.ms")
        if group.assignment_epoch > 0 and not delayed and now < group.assigned_at_ms + interval:
            # Kafka's streams.assignment.interval.ms: at most one new target assignment per interval; the
            # members reconcile towards the last one meanwhile.
            group.interval_deferred = True
            records.append(rec.record(rec.METADATA, group.group_id, fields=self._metadata_value(group)))
            return
        group.delayed = delayed
        group.assigned_at_ms = now
        ready = group.configured is not None and group.configured.ready and not delayed
        task_counts = group.configured.task_counts if ready and group.configured is not None else {}
        members = {
            m.member_id: AssignmentMember(m.process_id, group.target.get(m.member_id, EMPTY))
            for m in group.members.values()
        }
        target = assign(members, task_counts, self._setting(group.group_id, "streams.num.standby.replicas"))
        # A member's record is written when its target changes, and for a new member even when empty.
        changed = [m for m, tasks in target.items() if m not in group.target or not tasks.same_as(group.target[m])]
        for member_id in changed:
            fields = rec.tasks_fields(target[member_id])
            records.append(rec.record(rec.TARGET_ASSIGNMENT_MEMBER, group.group_id, member_id, fields))
        moved = any(not target[m].same_as(group.target.get(m, EMPTY)) for m in changed)
        if moved and any(m.user_endpoint is not None for m in group.members.values()):
            # The partitions of the endpoints (Interactive Queries) moved: members fetch them again.
            group.endpoint_epoch += 1
        group.target = target
        group.assignment_epoch = group.epoch
        records.append(rec.record(rec.METADATA, group.group_id, fields=self._metadata_value(group)))
        target_metadata = {"assignment_epoch": group.assignment_epoch, "assignment_timestamp": now}
        records.append(rec.record(rec.TARGET_ASSIGNMENT_METADATA, group.group_id, fields=target_metadata))

    @staticmethod
    def _metadata_value(group: StreamsGroup) -> dict[str, Any]:
        ready = group.topology is not None and group.configured is not None and group.configured.ready
        validated = group.topology["epoch"] if ready and group.topology is not None else -1
        return {"epoch": group.epoch, "metadata_hash": group.metadata_hash, "validated_topology_epoch": validated}

    def _leave(self, group_id: str, member_id: str, epoch: int) -> dict:
        group = self.groups.get(group_id)
        if group is None:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Streams group {group_id} not found.")
        member = group.members.get(member_id)
        if member is None:
            raise KafkaError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")
        self._remove(group, member_id)
        return {"member_id": member_id, "member_epoch": epoch}

    def _remove(self, group: StreamsGroup, member_id: str) -> None:
        """A member leaves (or its session expired): its tasks go to the others at a new group epoch."""
        group.members.pop(member_id, None)
        group.target.pop(member_id, None)
        group.epoch += 1
        if not group.members:
            group.shutdown_requested_by = None
        records = [rec.record(kind, group.group_id, member_id) for kind in MEMBER_RECORDS]
        records.append(rec.record(rec.METADATA, group.group_id, fields=self._metadata_value(group)))
        self._write(group.group_id, records)

    def expire(self, now: int) -> None:
        """Remove the members whose session timed out."""
        for group in list(self.groups.values()):
            for member in list(group.members.values()):
                if member.deadline_ms and now > member.deadline_ms:
                    log.info("streams group %s: member %s session expired", group.group_id, member.member_id)
                    self._remove(group, member.member_id)
                elif member.revocation_deadline_ms and now > member.revocation_deadline_ms:
                    log.info(
                        "streams group %s: member %s did not revoke its tasks within its rebalance timeout",
                        group.group_id, member.member_id,
                    )  # fmt: skip
                    self._remove(group, member.member_id)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Expire sessions even when no member of the group heartbeats any more."""
        now = self._now()
        for group in self.groups.values():
            for member in group.members.values():
                # Loaded members get a full session to show up again.
                member.deadline_ms = now + self._setting(group.group_id, "streams.session.timeout.ms")
        task_status.started()
        while True:
            await trio.sleep(EXPIRY_CHECK_S)
            self.expire(self._now())

    # --- the response ---

    def _response(self, group: StreamsGroup, member: StreamsMember, request: dict) -> dict:
        response: dict[str, Any] = {
            "member_id": member.member_id,
            "member_epoch": member.assignment.epoch,
            "heartbeat_interval_ms": self._setting(group.group_id, "streams.heartbeat.interval.ms"),
            "acceptable_recovery_lag": ACCEPTABLE_RECOVERY_LAG,
            "task_offset_interval_ms": TASK_OFFSET_INTERVAL_MS,
            "status": [{"status_code": code, "status_detail": text} for code, text in self._statuses(group, member)],
            "endpoint_information_epoch": group.endpoint_epoch,
        }
        assigned = member.assignment.assigned
        if member.sent is None or not member.sent.same_as(assigned) or request["member_epoch"] == 0:
            response.update(rec.tasks_fields(assigned))
            member.sent = assigned
        # The endpoints' partitions go to a joining member and to one behind the endpoint epoch, when
        # some member has an endpoint (Kafka 4.3.1 sends null otherwise).
        if request["member_epoch"] == 0 or request["endpoint_information_epoch"] != group.endpoint_epoch:
            response["partitions_by_user_endpoint"] = self._partitions_by_endpoint(group) or None
        return response

    @staticmethod
    def _statuses(group: StreamsGroup, member: StreamsMember) -> list[tuple[int, str]]:
        statuses: list[tuple[int, str]] = []
        if group.delayed:
            statuses.append((Status.ASSIGNMENT_DELAYED, ASSIGNMENT_DELAYED))
        if group.interval_deferred:
            statuses.append((Status.ASSIGNMENT_DELAYED, ASSIGNMENT_INTERVAL))
        if group.shutdown_requested_by is not None:
            statuses.append(
                (Status.SHUTDOWN_APPLICATION, f"Streams group member {group.shutdown_requested_by} encountered a "
                 "fatal error and requested a shutdown for the entire application.")
            )  # fmt: skip
        if group.configured is not None:
            statuses += group.configured.statuses
            if group.configured.missing_internal and not group.configured.statuses:
                names = ", ".join(t.name for t in group.configured.missing_internal)
                statuses.append((Status.MISSING_INTERNAL_TOPICS, f"Internal topics are missing: {names}"))
        return statuses

    def _partitions_by_endpoint(self, group: StreamsGroup) -> list[dict]:
        """The partitions each member with a user endpoint has (Interactive Queries): the input topics
        of its target tasks, at the tasks' partitions."""
        inputs = {
            sub["subtopology_id"]: [*sub["source_topics"], *(t["name"] for t in sub["repartition_source_topics"])]
            for sub in (group.topology or {}).get("subtopologies", [])
        }

        def partitions(tasks: dict) -> list[dict]:
            by_topic: dict[str, set[int]] = {}
            for subtopology, parts in tasks.items():
                for topic in inputs.get(subtopology, []):
                    by_topic.setdefault(topic, set()).update(parts)
            return [{"topic": t, "partitions": sorted(p)} for t, p in sorted(by_topic.items())]

        return [
            {
                "user_endpoint": m.user_endpoint,
                "active_partitions": partitions(dict(group.target.get(m.member_id, EMPTY).active)),
                "standby_partitions": partitions(dict(group.target.get(m.member_id, EMPTY).standby)),
            }
            for m in group.members.values()
            if m.user_endpoint is not None
        ]

    # --- describe ---

    def topology_topics(self, group_id: str) -> set[str]:
        """Every topic the group's topology names (for the describe's topic authorization)."""
        group = self.groups.get(group_id)
        if group is None or group.topology is None:
            return set()
        return topology_topics(group.topology)

    def describe(self, group_id: str) -> dict:
        """One StreamsGroupDescribe entry (raises KafkaError GROUP_ID_NOT_FOUND)."""
        self.expire(self._now())
        group = self.groups.get(group_id)
        if group is None:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")
        return {
            "group_id": group_id,
            "group_state": group.state().value,
            "group_epoch": group.epoch,
            "assignment_epoch": group.assignment_epoch,
            "topology": self._described_topology(group),
            "members": [self._described_member(group, m) for m in group.members.values()],
        }

    @staticmethod
    def _described_topology(group: StreamsGroup) -> dict | None:
        if group.topology is None:
            return None
        # Until the group is ready Kafka 4.3.1 describes the topology as the members sent it (partition
        # counts 0 where they left them open), not null as the message's documentation says.
        configured = group.configured
        if configured is None or not configured.ready:
            configured = ConfiguredTopology({}, [], [], {})
        subtopologies = [
            {
                "subtopology_id": sub["subtopology_id"],
                "source_topics": sub["source_topics"],
                "repartition_sink_topics": sub["repartition_sink_topics"],
                "state_changelog_topics": [
                    {**t, "partitions": configured.task_counts.get(sub["subtopology_id"], 0)}
                    for t in sub["state_changelog_topics"]
                ],
                "repartition_source_topics": [
                    {**t, "partitions": configured.partition_counts.get(t["name"], t["partitions"])}
                    for t in sub["repartition_source_topics"]
                ],
            }
            for sub in group.topology["subtopologies"]
        ]
        return {"epoch": group.topology["epoch"], "subtopologies": subtopologies}

    @staticmethod
    def _described_member(group: StreamsGroup, member: StreamsMember) -> dict:
        def assignment(tasks: Tasks) -> dict:
            return rec.tasks_fields(tasks)

        return {
            **member.metadata(),
            "member_id": member.member_id,
            "member_epoch": member.assignment.epoch,
            "task_offsets": member.task_offsets,
            "task_end_offsets": member.task_end_offsets,
            "assignment": assignment(member.assignment.assigned),
            "target_assignment": assignment(group.target.get(member.member_id, EMPTY)),
            "is_classic": False,
        }

    # --- persistence ---

    def _write(self, group_id: str, records: list[rec_record]) -> None:
        self.broker.groups.group_manager.store.append(group_id, records, self._now())

    def _tombstones(self, group: StreamsGroup) -> list[rec_record]:
        records = [rec.record(kind, group.group_id, m) for m in group.members for kind in MEMBER_RECORDS]
        group_kinds = (rec.TARGET_ASSIGNMENT_METADATA, rec.TOPOLOGY, rec.METADATA)
        return records + [rec.record(kind, group.group_id) for kind in group_kinds]

    def load(self) -> None:
        """Rebuild the streams groups from the records ``__consumer_offsets`` holds."""
        self.groups = {}
        for record_type, key, value in self.broker.groups.group_manager.loaded.records_of(rec.RECORD_TYPES):
            try:
                _, group_id, member_id = rec.decode_key(key)
                self._apply(group_id, member_id, record_type, rec.decode_value(record_type, value))
            except Exception:
                log.exception("skipping an undecodable streams group record (type %d)", record_type)
        for group in self.groups.values():
            if group.topology is not None:
                group.configured = configure(group.topology, self._partitions_of)

    def _apply(self, group_id: str, member_id: str | None, record_type: int, fields: dict) -> None:
        group = self.groups.setdefault(group_id, StreamsGroup(group_id))
        if record_type == rec.METADATA:
            group.epoch, group.metadata_hash = fields["epoch"], fields["metadata_hash"]
        elif record_type == rec.TOPOLOGY:
            group.topology = fields
        elif record_type == rec.TARGET_ASSIGNMENT_METADATA:
            group.assignment_epoch = fields["assignment_epoch"]
            # A tagged field: absent when it was written at its default (0).
            group.assigned_at_ms = fields.get("assignment_timestamp", 0)
        elif member_id is not None and record_type == rec.TARGET_ASSIGNMENT_MEMBER:
            group.target[member_id] = rec.tasks_from(
                fields["active_tasks"], fields["standby_tasks"], fields["warmup_tasks"]
            )
        elif member_id is not None:
            member = group.members.setdefault(member_id, StreamsMember(member_id))
            if record_type == rec.MEMBER_METADATA:
                for name, value in fields.items():
                    setattr(member, name, value)
            else:
                member.assignment = MemberAssignment(
                    fields["member_epoch"],
                    fields["previous_member_epoch"],
                    MemberState(fields["state"]),
                    rec.tasks_from(fields["active_tasks"], fields["standby_tasks"], fields["warmup_tasks"]),
                    rec.tasks_from(
                        fields["active_tasks_pending_revocation"],
                        fields["standby_tasks_pending_revocation"],
                        fields["warmup_tasks_pending_revocation"],
                    ),
                    rec.task_epochs(fields["active_tasks"]),
                )


