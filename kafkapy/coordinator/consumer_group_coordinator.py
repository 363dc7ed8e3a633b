"""The KIP-848 consumer group coordinator (the consumer group half of Kafka 4's GroupMetadataManager).

Members drive everything with ConsumerGroupHeartbeat: a heartbeat updates the member (subscription,
assignor, rack), bumps the group epoch when the subscriptions or the subscribed topics changed,
recomputes the target assignment when the group epoch is ahead of the assignment epoch, and moves
the member one reconciliation step towards its target (consumer_group.py). Like the classic
coordinator it runs on the trio loop without locks; one timer task (``run``, in the broker's
nursery) fences members whose session ran out or who did not revoke in their rebalance timeout.

Committed offsets stay with the classic GroupMetadataManager, which keeps them per group id as
Kafka 4's OffsetMetadataManager does; this coordinator only validates commits and fetches against
member epochs (``offset_commit_errors``/``offset_fetch_error``) and deletes the offsets with the group.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import re2
import trio

from kafkapy.clock import Clock
from kafkapy.coordinator.assignors import ASSIGNORS, Assignment, MemberSpec
from kafkapy.coordinator.consumer_group import (
    JOIN_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    ConsumerGroup,
    ConsumerGroupMember,
    MemberState,
    is_subset,
    next_assignment,
)
from kafkapy.coordinator.consumer_group_records import (
    RECORD_TYPES,
    MemberRecordsCache,
    Records,
    changes,
    group_records,
    load_groups,
)
from kafkapy.coordinator.consumer_group_records import metadata_hash as topics_hash
from kafkapy.coordinator.group_configs import GroupConfigs
from kafkapy.coordinator.group_migration import GroupMigration
from kafkapy.coordinator.group_records import LoadedState, OffsetsTopic
from kafkapy.coordinator.group_types import GroupListing, GroupType, offset_fetch_check
from kafkapy.coordinator.internal_topics import is_internal
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_manager import LogManager, TopicState

log = logging.getLogger("kafkapy.coordinator")

# Append errors as the group APIs answer them (Kafka's CoordinatorRuntime on a failed write).
_APPEND_ERRORS = {
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_ENOUGH_REPLICAS: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.KAFKA_STORAGE_ERROR: ErrorCode.NOT_COORDINATOR,
    ErrorCode.MESSAGE_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
    ErrorCode.RECORD_LIST_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
}

# A refused regex is the client's error, answered; RE2 need not log it to stderr too.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
# Compiled subscription regexes kept for reuse; more distinct patterns than this start the cache over.
_MAX_CACHED_REGEXES = 1024
# RE2's error texts as RE2/J (which Kafka uses) describes them in INVALID_REGULAR_EXPRESSION messages.
_RE2J_DESCRIPTIONS = {
    "missing )": "missing closing )",
    # RE2/J reports an unmatched ")" as an internal error.
    "unexpected )": "regexp/syntax: internal error",
    "missing ]": "missing closing ]",
    "invalid escape sequence": "invalid escape sequence",
    "no argument for repetition operator": "missing argument to repetition operator",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid repetition size": "invalid repeat count",
    "invalid character class range": "invalid character class range",
    "invalid character class": "invalid character class",
    "invalid named capture group": "invalid named capture",
    "trailing \\": "trailing backslash at end of expression",
    "invalid perl operator": "invalid or unsupported Perl syntax",
}


@dataclass
class HeartbeatRequest:
    """A ConsumerGroupHeartbeat request, with the client it came from (Kafka's RequestContext)."""

    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None
    rack_id: str | None
    rebalance_timeout_ms: int
    subscribed_topic_names: list[str] | None
    subscribed_topic_regex: str | None
    server_assignor: str | None
    owned: Assignment | None
    client_id: str = ""
    client_host: str = ""
    version: int = 1


@dataclass
class HeartbeatResult:
    member_id: str
    member_epoch: int
    heartbeat_interval_ms: int
    # None: unchanged since the member last heard it, so not sent.
    assignment: Assignment | None = None


def _throw_if_empty(value: str | None, message: str) -> None:
    if value is not None and not value.strip():
        raise KafkaError(ErrorCode.INVALID_REQUEST, message)


@dataclass
class OffsetsHolder:
    """What this coordinator needs of the classic one: the offsets kept per group id."""

    delete_offsets: Callable[[str], None]
    classic_group_members: Callable[[str], int | None]


class ConsumerGroupCoordinator:
    """Every KIP-848 consumer group of this broker, and the timers that fence their members."""

    group_type = GroupType.CONSUMER

    def __init__(
        self, logs: LogManager, configs: GroupConfigs, store: OffsetsTopic, offsets: OffsetsHolder, *, clock: Clock
    ) -> None:
        self.logs = logs
        self.configs = configs
        self.store = store
        self.offsets = offsets
        self.clock = clock
        self.groups: dict[str, ConsumerGroup] = {}
        # The records last written for each group: what the next change is written against.
        self._written: dict[str, Records] = {}
        self._encoded: dict[str, MemberRecordsCache] = {}
        # Conversions from and to classic groups (group_migration.py), set by the broker.
        self.migration: GroupMigration | None = None
        self._regexes: dict[str, re2._Regexp] = {}
        self._wakeup = trio.Event()

    # Persistence.

    def load(self, loaded: LoadedState) -> None:
        """Rebuild the groups from ``__consumer_offsets`` (after the classic load); members come back with
        their epochs and assignments, and ``run`` restarts their sessions."""
        rebuilt = load_groups(loaded.records_of(RECORD_TYPES))
        self.groups = {gid: group for gid, (group, _) in rebuilt.items()}
        self._written = {gid: written for gid, (_, written) in rebuilt.items()}
        if self.groups:
            log.info("loaded consumer groups", extra={"groups": len(self.groups)})

    def _persist(self, group_id: str) -> ErrorCode:
        """Append what changed in the group's records since the last write (tombstones for what went)."""
        group = self.groups.get(group_id)
        cache = self._encoded.setdefault(group_id, {}) if group is not None else self._encoded.pop(group_id, None)
        now = {} if group is None else group_records(group, self._regex_topics(group), cache)
        records = changes(self._written.get(group_id, {}), now)
        try:
            self.store.append(group_id, records, self.clock.wall_ms())
        except (KafkaError, OSError) as exc:
            log.error("writing to the offsets topic failed", extra={"group": group_id, "error": str(exc)})
            # Kafka's coordinator answers a failed write of its records as NOT_COORDINATOR / unavailable.
            return ErrorCode.NOT_COORDINATOR if isinstance(exc, OSError) else _APPEND_ERRORS.get(exc.code, exc.code)
        if group is None:
            self._written.pop(group_id, None)
        else:
            self._written[group_id] = now
        return ErrorCode.NONE

    def _regex_topics(self, group: ConsumerGroup) -> dict[str, list[str]]:
        """Each regex the members subscribe with, and the topics it matches now."""
        topics = [name for name in self.logs.topics if not is_internal(name)]
        regexes = {m.subscribed_topic_regex for m in group.members.values() if m.subscribed_topic_regex}
        return {r: [t for t in topics if self._regex(r).fullmatch(t)] for r in regexes}

    # Timers.

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fence members whose session or rebalance timeout passed; members loaded at start-up get a
        full session to come back."""
        now = trio.current_time()
        for group in self.groups.values():
            for member in group.members.values():
                # A classic member's session is its own (ClassicMemberMetadata), as in Kafka.
                classic = member.classic
                timeout_ms = classic.session_timeout_ms if classic else self._session_timeout_ms(group.group_id)
                member.session_deadline = now + timeout_ms / 1000
        task_status.started()
        while True:
            self._wakeup = trio.Event()
            with trio.move_on_at(self._next_deadline()):
                await self._wakeup.wait()
            self.fire_timers(trio.current_time())

    def _next_deadline(self) -> float:
        deadlines = [
            d
            for group in self.groups.values()
            for m in group.members.values()
            for d in (m.session_deadline, m.revocation_deadline, m.classic_deadline)
            if d is not None
        ]
        return min(deadlines, default=float("inf"))

    def fire_timers(self, now: float) -> None:
        for group in list(self.groups.values()):
            for member in list(group.members.values()):
                reason = _expired(member, now)
                if reason is not None:
                    log.info(reason, extra={"group": group.group_id, "member": member.member_id})
                    self._remove_member(group, member)
                    self._persist(group.group_id)

    def _poke(self) -> None:
        self._wakeup.set()

    def _session_timeout_ms(self, group_id: str) -> int:
        return int(self.configs.value(group_id, "consumer.session.timeout.ms"))

    def _heartbeat_interval_ms(self, group_id: str) -> int:
        return int(self.configs.value(group_id, "consumer.heartbeat.interval.ms"))

    # ConsumerGroupHeartbeat.

    def heartbeat(self, request: HeartbeatRequest) -> HeartbeatResult:
        """Kafka's consumerGroupHeartbeat; raises KafkaError with Kafka's code and message."""
        self._validate(request)
        if request.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
            return self._leave(request)
        group = self._group(request.group_id, create=request.member_epoch == JOIN_GROUP_MEMBER_EPOCH)
        member_id = request.member_id or str(uuid.uuid4())
        try:
            # Kafka checks the size at every heartbeat: a member it does not know is refused by a full group.
            self._throw_if_full(group, member_id)
            if request.instance_id is None:
                member = self._dynamic_member(group, member_id, request)
            else:
                member = self._static_member(group, member_id, request)
        except KafkaError:
            if not group.members and group.group_id not in self._written:
                # Created for this refused join: as in Kafka, where its records are never written.
                del self.groups[group.group_id]
            raise
        updated = ConsumerGroupMember(**{**member.__dict__})
        self._apply_request(updated, request)
        # A member speaking the consumer protocol now (it may have used the classic one before).
        updated.classic, updated.classic_deadline = None, None
        reconciled = self.update_and_reconcile(group, member, updated, request.owned)
        reconciled.session_deadline = trio.current_time() + self._session_timeout_ms(group.group_id) / 1000
        error = self._persist(group.group_id)
        if error != ErrorCode.NONE:
            raise KafkaError(error)
        full = request.member_epoch == JOIN_GROUP_MEMBER_EPOCH or (
            request.rebalance_timeout_ms != -1
            and (request.subscribed_topic_names is not None or request.subscribed_topic_regex is not None)
            and request.owned is not None
        )
        # Kafka sends the assignment to a full request (a join, or a member recovering from an error)
        # and when it changed.
        send = full or reconciled.assigned != member.assigned
        return HeartbeatResult(
            reconciled.member_id,
            reconciled.member_epoch,
            self._heartbeat_interval_ms(group.group_id),
            reconciled.assigned if send else None,
        )

    def update_and_reconcile(
        self,
        group: ConsumerGroup,
        member: ConsumerGroupMember,
        updated: ConsumerGroupMember,
        owned: Assignment | None,
    ) -> ConsumerGroupMember:
        """Steps 1-3 of Kafka's consumerGroupHeartbeat (and of classicGroupJoinToConsumerGroup): the
        member as updated by its request, a group epoch bump when its subscription or the subscribed
        topics changed, a new target assignment for a new epoch, and one reconciliation step given the
        partitions the member says it ``owned``; the reconciled member, now in the group."""
        bump = _subscription_changed(member, updated)
        group.update_member(group.members.get(member.member_id), updated)
        metadata_hash = self._metadata_hash(group)
        if bump or metadata_hash != group.metadata_hash:
            group.group_epoch += 1
            group.metadata_hash = metadata_hash
        if group.group_epoch > group.assignment_epoch and self._may_assign(group):
            self._update_target_assignment(group)
        reconciled = next_assignment(
            updated,
            group.assignment_epoch,
            group.target.get(updated.member_id, {}),
            group.current_partition_epoch,
            owned,
        )
        self._track_revocation(reconciled, updated)
        group.update_member(updated, reconciled)
        self._poke()
        return reconciled

    def _validate(self, request: HeartbeatRequest) -> None:
        """Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid."""
        epoch = request.member_epoch
        if request.version >= 1 or epoch > 0 or epoch == LEAVE_GROUP_MEMBER_EPOCH:
            _throw_if_empty(request.member_id, "MemberId can't be empty.")
        _throw_if_empty(request.group_id, "GroupId can't be empty.")
        _throw_if_empty(request.instance_id, "InstanceId can't be empty.")
        _throw_if_empty(request.rack_id, "RackId can't be empty.")
        if epoch == JOIN_GROUP_MEMBER_EPOCH:
            if request.rebalance_timeout_ms == -1:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request.")
            if request.owned is None or request.owned:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "TopicPartitions must be empty when (re-)joining.")
            if request.subscribed_topic_names is None and request.subscribed_topic_regex is None:
                raise KafkaError(
                    ErrorCode.INVALID_REQUEST,
                    "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
                )
        elif epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            if request.instance_id is None:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "InstanceId can't be null.")
        elif epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "MemberEpoch is invalid.")
        if request.subscribed_topic_regex is not None:
            self._regex(request.subscribed_topic_regex)
        assignors = self._assignor_names()
        if request.server_assignor is not None and request.server_assignor not in assignors:
            raise KafkaError(
                ErrorCode.UNSUPPORTED_ASSIGNOR,
                f"ServerAssignor {request.server_assignor} is not supported. Supported assignors: "
                f"{', '.join(assignors)}.",
            )

    def _assignor_names(self) -> list[str]:
        """group.consumer.assignors, the names kafkapy has an assignor for (the first is the default)."""
        names = self.configs.broker_value("group.consumer.assignors")
        assert isinstance(names, list)
        return [n for n in names if n in ASSIGNORS] or ["uniform"]

    def _regex(self, pattern: str) -> re2._Regexp:
        """A subscription regex in RE2 syntax (Kafka reads them with RE2/J); INVALID_REGULAR_EXPRESSION if not."""
        compiled = self._regexes.get(pattern)
        if compiled is None:
            try:
                compiled = re2.compile(pattern, options=_RE2_OPTIONS)
            except re2.error as exc:
                raw = exc.args[0].decode(errors="replace") if exc.args else ""
                head, _, operator = raw.partition(": ")
                # RE2/J reads "(?<" as the start of a named group, whatever follows.
                reason = "invalid named capture" if operator.startswith("(?<") else _RE2J_DESCRIPTIONS.get(head, raw)
                raise KafkaError(
                    ErrorCode.INVALID_REGULAR_EXPRESSION,
                    f"SubscribedTopicRegex `{pattern}` is not a valid regular expression: {reason}.",
                ) from exc
            if len(self._regexes) >= _MAX_CACHED_REGEXES:
                # Clients choose the patterns: the cache must not grow with what they send.
                self._regexes.clear()
            self._regexes[pattern] = compiled
        return compiled

    def _group(self, group_id: str, *, create: bool) -> ConsumerGroup:
        """Kafka's getOrMaybeCreateConsumerGroup."""
        group = self.groups.get(group_id)
        if group is not None:
            return group
        classic_members = self.offsets.classic_group_members(group_id)
        if classic_members and create and self.migration is not None:
            # A joining member takes over a classic group with members (Kafka's online upgrade).
            return self.migration.upgrade(group_id)
        if classic_members:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.")
        if not create:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {group_id} not found.")
        if classic_members is not None and self.migration is not None:
            # An empty classic group gives way whatever the policy; its offsets stay (Kafka's
            # maybeDeleteEmptyClassicGroup).
            self.migration.replace_empty_classic(group_id)
        # A new group starts at group and assignment epoch 1 (Kafka 4.3's ModernGroup), so a first member
        # subscribing to topics moves it to 2, one joining with no subscription leaves it at 1.
        group = self.groups[group_id] = ConsumerGroup(group_id, group_epoch=1, assignment_epoch=1)
        return group

    def _throw_if_full(self, group: ConsumerGroup, member_id: str) -> None:
        max_size = int(self.configs.broker_value("group.consumer.max.size"))
        if member_id not in group.members and len(group.members) >= max_size:
            raise KafkaError(
                ErrorCode.GROUP_MAX_SIZE_REACHED,
                f"The consumer group has reached its maximum capacity of {max_size} members.",
            )

    def _dynamic_member(self, group: ConsumerGroup, member_id: str, request: HeartbeatRequest) -> ConsumerGroupMember:
        member = group.members.get(member_id)
        if member is None:
            if request.member_epoch != JOIN_GROUP_MEMBER_EPOCH:
                raise KafkaError(
                    ErrorCode.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group.group_id}."
                )
            log.info("member joins the consumer group", extra={"group": group.group_id, "member": member_id})
            return ConsumerGroupMember(member_id)
        _throw_if_epoch_invalid(member, request.member_epoch, request.owned)
        return member

    def _static_member(self, group: ConsumerGroup, member_id: str, request: HeartbeatRequest) -> ConsumerGroupMember:
        """Kafka's getOrMaybeSubscribeStaticConsumerGroupMember: a new member id with a known instance id
        replaces the member that left with epoch -2, and takes over its epoch and assignment."""
        instance_id = request.instance_id
        assert instance_id is not None
        existing = group.static_member(instance_id)
        if request.member_epoch == JOIN_GROUP_MEMBER_EPOCH:
            if existing is None:
                return ConsumerGroupMember(member_id, instance_id=instance_id)
            if existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                raise KafkaError(
                    ErrorCode.UNRELEASED_INSTANCE_ID,
                    f"Static member {member_id} with instance id {instance_id} cannot join the group because "
                    f"the instance id is owned by {existing.member_id} member.",
                )
            previous = existing.previous_member_epoch
            return group.replace_static_member(existing, member_id, previous, previous)
        if existing is None:
            raise KafkaError(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
        if existing.member_id != member_id:
            raise KafkaError(
                ErrorCode.FENCED_INSTANCE_ID,
                f"Static member {member_id} with instance id {instance_id} was fenced by member {existing.member_id}.",
            )
        _throw_if_epoch_invalid(existing, request.member_epoch, request.owned)
        return existing

    @staticmethod
    def _apply_request(member: ConsumerGroupMember, request: HeartbeatRequest) -> None:
        """The fields a heartbeat sends when they change (null: unchanged)."""
        if request.instance_id is not None:
            member.instance_id = request.instance_id
        if request.rack_id is not None:
            member.rack_id = request.rack_id
        if request.rebalance_timeout_ms != -1:
            member.rebalance_timeout_ms = request.rebalance_timeout_ms
        if request.server_assignor is not None:
            member.server_assignor = request.server_assignor
        if request.subscribed_topic_names is not None:
            member.subscribed_topic_names = sorted(set(request.subscribed_topic_names))
        if request.subscribed_topic_regex is not None:
            member.subscribed_topic_regex = request.subscribed_topic_regex or None
        member.client_id = request.client_id
        member.client_host = request.client_host

    def _subscribed_topics(self, member: ConsumerGroupMember) -> dict[str, TopicState]:
        """The existing topics the member subscribes to, by name or by its regex (internal topics never match)."""
        topics = self.logs.topics
        found = {name: topics[name] for name in member.subscribed_topic_names if name in topics}
        if member.subscribed_topic_regex:
            regex = self._regex(member.subscribed_topic_regex)
            found.update(
                (name, state) for name, state in topics.items() if not is_internal(name) and regex.fullmatch(name)
            )
        return found

    def _metadata_hash(self, group: ConsumerGroup) -> int:
        """What the assignment depends on of the subscribed topics: ids and partition counts."""
        topics: dict[str, TopicState] = {}
        for member in group.members.values():
            topics.update(self._subscribed_topics(member))
        return topics_hash((name, s.topic_id, len(s.partitions)) for name, s in topics.items())

    def _may_assign(self, group: ConsumerGroup) -> bool:
        """Kafka 4.3 computes a group's target assignment at most once per consumer.assignment.interval.ms:
        a heartbeat before then leaves the group Assigning (members keep the current target) and a later
        heartbeat computes it."""
        interval_ms = int(self.configs.value(group.group_id, "consumer.assignment.interval.ms"))
        last = group.last_assignment
        return last is None or trio.current_time() - last >= interval_ms / 1000

    def _update_target_assignment(self, group: ConsumerGroup) -> None:
        """A new target assignment for the group epoch, by the members' preferred assignor (else the default)."""
        assignor = ASSIGNORS[self._assignor_for(group)]
        partitions: dict[uuid.UUID, int] = {}
        specs: dict[str, MemberSpec] = {}
        for member in group.members.values():
            subscribed = self._subscribed_topics(member)
            partitions.update((s.topic_id, len(s.partitions)) for s in subscribed.values())
            specs[member.member_id] = MemberSpec(
                frozenset(s.topic_id for s in subscribed.values()), group.target.get(member.member_id, {})
            )
        group.target = assignor.assign(specs, partitions)
        group.assignment_epoch = group.group_epoch
        group.last_assignment = trio.current_time()
        group.assignor_name = assignor.name
        log.info(
            "new target assignment",
            extra={"group": group.group_id, "epoch": group.group_epoch, "assignor": assignor.name},
        )

    def _assignor_for(self, group: ConsumerGroup) -> str:
        """Kafka's preferred server assignor: the one most members ask for, else group.consumer.assignors' first."""
        names = self._assignor_names()
        wanted = Counter(m.server_assignor for m in group.members.values() if m.server_assignor in names)
        if wanted:
            return max(sorted(wanted), key=lambda n: wanted[n])
        return names[0]

    def _track_revocation(self, reconciled: ConsumerGroupMember, before: ConsumerGroupMember) -> None:
        """A member asked to revoke has its rebalance timeout to do so (Kafka's
        scheduleConsumerGroupRebalanceTimeout)."""
        if reconciled.state != MemberState.UNREVOKED_PARTITIONS:
            reconciled.revocation_deadline = None
        elif before.state != MemberState.UNREVOKED_PARTITIONS or reconciled.revocation_deadline is None:
            reconciled.revocation_deadline = trio.current_time() + max(reconciled.rebalance_timeout_ms, 0) / 1000

    def _leave(self, request: HeartbeatRequest) -> HeartbeatResult:
        """Kafka's consumerGroupLeave: epoch -1 removes the member; -2 keeps a static member's place and
        assignment for its replacement until its session ends."""
        group = self.groups.get(request.group_id)
        if group is None:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {request.group_id} not found.")
        if request.instance_id is None:
            member = group.members.get(request.member_id)
        else:
            member = group.static_member(request.instance_id)
            if member is not None and member.member_id != request.member_id:
                raise KafkaError(
                    ErrorCode.FENCED_INSTANCE_ID,
                    f"Static member {request.member_id} with instance id {request.instance_id} "
                    f"was fenced by member {member.member_id}.",
                )
        if member is None:
            raise KafkaError(
                ErrorCode.UNKNOWN_MEMBER_ID,
                f"Member {request.member_id} is not a member of group {group.group_id}.",
            )
        if request.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            left = ConsumerGroupMember(**{**member.__dict__})
            left.previous_member_epoch = member.member_epoch
            left.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH
            group.update_member(member, left)
            log.info("static member leaves temporarily", extra={"group": group.group_id, "member": member.member_id})
        else:
            log.info("member leaves the consumer group", extra={"group": group.group_id, "member": member.member_id})
            self._remove_member(group, member)
        error = self._persist(group.group_id)
        if error != ErrorCode.NONE:
            raise KafkaError(error)
        # A member that left gets no heartbeat interval (0), as from Kafka.
        return HeartbeatResult(request.member_id, request.member_epoch, 0)

    def _remove_member(self, group: ConsumerGroup, member: ConsumerGroupMember) -> None:
        """Fence or remove a member: its partitions are free at once, and the group epoch moves on; or,
        when it is the last one speaking the consumer protocol, the group becomes classic again."""
        if self.migration is not None and self.migration.maybe_downgrade(group, member):
            return
        group.update_member(member, None)
        group.target.pop(member.member_id, None)
        group.group_epoch += 1
        self._poke()

    # ConsumerGroupDescribe, ListGroups, DeleteGroups (the registry's view).

    def describe(self, group_id: str, topic_names: Mapping[uuid.UUID, str]) -> dict:
        """One ConsumerGroupDescribe entry; GROUP_ID_NOT_FOUND for a group of another kind or none."""
        group = self.groups.get(group_id)
        if group is None:
            if self.offsets.classic_group_members(group_id) is not None:
                raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.")
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")

        def assignment(parts: Assignment) -> dict:
            return {
                "topic_partitions": [
                    {"topic_id": t, "topic_name": topic_names.get(t, ""), "partitions": sorted(p)}
                    for t, p in sorted(parts.items())
                    if t in topic_names
                ]
            }

        members = [
            {
                "member_id": m.member_id,
                "instance_id": m.instance_id,
                "rack_id": m.rack_id,
                "member_epoch": m.member_epoch,
                "client_id": m.client_id,
                "client_host": m.client_host,
                "subscribed_topic_names": m.subscribed_topic_names,
                # Kafka describes a member without a regex with "", not null.
                "subscribed_topic_regex": m.subscribed_topic_regex or "",
                "assignment": assignment(m.assigned),
                "target_assignment": assignment(group.target.get(m.member_id, {})),
                # Kafka's MemberType: 0 for a member speaking the classic protocol, 1 the consumer protocol.
                "member_type": 0 if m.classic is not None else 1,
            }
            for m in group.members.values()
        ]
        return {
            "group_id": group_id,
            "group_state": group.state().value,
            "group_epoch": group.group_epoch,
            "assignment_epoch": group.assignment_epoch,
            "assignor_name": group.assignor_name or self._assignor_names()[0],
            "members": members,
        }

    def owns(self, group_id: str) -> bool:
        return group_id in self.groups

    def is_subscribed(self, group_id: str, topic: str) -> bool:
        """Whether an owned group's members subscribe to the topic (its offsets then never expire)."""
        return group_id in self.groups and topic in self.subscribed_topics(group_id)

    def subscribed_topics(self, group_id: str) -> set[str]:
        """The existing topics an owned group's members subscribe to, by name or regex (OffsetDelete's
        GROUP_SUBSCRIBED_TO_TOPIC)."""
        group = self.groups[group_id]
        return {name for member in group.members.values() for name in self._subscribed_topics(member)}

    def listings(self) -> Iterable[GroupListing]:
        for group in self.groups.values():
            yield GroupListing(group.group_id, "consumer", group.state().value, GroupType.CONSUMER)

    def delete_group(self, group_id: str) -> ErrorCode:
        """DeleteGroups: only an empty group goes, with its committed offsets."""
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        if group.members:
            return ErrorCode.NON_EMPTY_GROUP
        del self.groups[group_id]
        error = self._persist(group_id)
        if error != ErrorCode.NONE:
            self.groups[group_id] = group
            return error
        self.offsets.delete_offsets(group_id)
        log.info("group removed", extra={"group": group_id})
        return ErrorCode.NONE

    def reset(self) -> None:
        """Forget every group (KafkaBroker.reset; ``__consumer_offsets`` is deleted with the topics)."""
        self.groups.clear()
        self._written.clear()
        self._encoded.clear()
        self._poke()

    def rewrite_offsets_topic(self) -> None:
        """After DeleteTopics took ``__consumer_offsets``: write every group's records again."""
        self._written.clear()
        for group_id in list(self.groups):
            self._persist(group_id)

    # Offsets (Kafka's ConsumerGroup.validateOffsetCommit / validateOffsetFetch).

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
        """Whether each partition's commit may go to this group: from a member at its current epoch, or
        at an older one for a partition it already owned then (KIP-1251, Kafka 4.3), or with epoch -1
        (admin tools, assign()) to an empty group. ``api_version`` None: a TxnOffsetCommit."""
        group = self.groups[group_id]
        member = group.members.get(member_id)
        if api_version is None:
            return dict.fromkeys(partitions, self._txn_offset_commit_error(member, member_epoch))
        if member_epoch < 0 and not group.members:
            error = ErrorCode.NONE
        elif member is None:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        elif member.classic is None and api_version < 9:
            # Members of the consumer protocol commit with OffsetCommit v9+ (Kafka's UnsupportedVersionException).
            error = ErrorCode.UNSUPPORTED_VERSION
        elif member_epoch < member.member_epoch:
            return {tp: self._older_epoch_error(member, member_epoch, tp) for tp in partitions}
        elif member_epoch > member.member_epoch:
            error = _stale(member)
        else:
            error = ErrorCode.NONE
        return dict.fromkeys(partitions, error)

    @staticmethod
    def _txn_offset_commit_error(member: ConsumerGroupMember | None, member_epoch: int) -> ErrorCode:
        """Kafka 4.3.1's answers to TxnOffsetCommit on a consumer group (wire diffs): without an epoch
        (the producer's group-id-only API) the commit is taken even while the group has members; with
        one, from its member only, at its current epoch (ILLEGAL_GENERATION otherwise)."""
        if member_epoch < 0:
            return ErrorCode.NONE
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return ErrorCode.NONE if member_epoch == member.member_epoch else ErrorCode.ILLEGAL_GENERATION

    def _older_epoch_error(self, member: ConsumerGroupMember, epoch: int, tp: tuple[str, int]) -> ErrorCode:
        state = self.logs.topics.get(tp[0])
        assigned_at = None if state is None else member.assignment_epochs.get((state.topic_id, tp[1]))
        return ErrorCode.NONE if assigned_at is not None and assigned_at <= epoch else _stale(member)

    def offset_fetch_error(self, group_id: str, member_id: str | None, member_epoch: int) -> ErrorCode:
        members = self.groups[group_id].members
        return offset_fetch_check(lambda m: members[m].member_epoch if m in members else None, member_id, member_epoch)


def _stale(member: ConsumerGroupMember) -> ErrorCode:
    """A commit's epoch the member may not commit with: a classic member's names a generation (Kafka's
    validateMemberEpoch with the classic protocol answers ILLEGAL_GENERATION)."""
    return ErrorCode.ILLEGAL_GENERATION if member.classic is not None else ErrorCode.STALE_MEMBER_EPOCH


def _expired(member: ConsumerGroupMember, now: float) -> str | None:
    """Why the member is fenced at ``now`` (its session, the revocation it owes, or a classic member's
    JoinGroup/SyncGroup it owes, ran out), or None."""
    if member.session_deadline <= now:
        return "member session expired"
    if member.revocation_deadline is not None and member.revocation_deadline <= now:
        return "member did not revoke its partitions in its rebalance timeout"
    if member.classic_deadline is not None and member.classic_deadline <= now:
        return "classic member did not rejoin or sync in its rebalance timeout"
    return None


def _throw_if_epoch_invalid(member: ConsumerGroupMember, epoch: int, owned: Assignment | None) -> None:
    """Kafka's throwIfMemberEpochIsInvalid: a zombie (an epoch the coordinator did not give) is fenced.
    The previous epoch is still accepted with a subset of the current partitions: the answer that
    bumped the epoch may have been lost. Epoch 0 from a known member is a rejoin (after an error), which
    Kafka 4.3.1 answers with the member's current epoch and assignment."""
    if epoch == JOIN_GROUP_MEMBER_EPOCH:
        return
    if epoch > member.member_epoch:
        raise KafkaError(
            ErrorCode.FENCED_MEMBER_EPOCH,
            f"The consumer group member has a greater member epoch ({epoch}) than the one known by the group "
            f"coordinator ({member.member_epoch}). The member must abandon all its partitions and rejoin.",
        )
    if epoch < member.member_epoch and (
        epoch != member.previous_member_epoch or owned is None or not is_subset(owned, member.assigned)
    ):
        raise KafkaError(
            ErrorCode.FENCED_MEMBER_EPOCH,
            f"The consumer group member has a smaller member epoch ({epoch}) than the one known by the group "
            f"coordinator ({member.member_epoch}). The member must abandon all its partitions and rejoin.",
        )


def _subscription_changed(old: ConsumerGroupMember, new: ConsumerGroupMember) -> bool:
    """Kafka's hasMemberSubscriptionChanged: the topic names or the regex (a new member counts from an
    empty subscription, so joining with none moves no epoch)."""
    return (
        old.subscribed_topic_names != new.subscribed_topic_names
        or old.subscribed_topic_regex != new.subscribed_topic_regex
    )
