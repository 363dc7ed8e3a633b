"""The KIP-932 share group coordinator: membership, epochs and assignments of every share group.

As Kafka 4.3.1's GroupMetadataManager does for share groups: a ShareGroupHeartbeat joins (epoch 0),
keeps the session, changes the subscription or leaves (epoch -1); every change of membership,
subscriptions or subscribed topics' metadata (created, deleted, more partitions) bumps the group
epoch, and a group epoch past the assignment epoch runs the ``simple`` assignor. A member goes
straight to its target assignment at the assignment epoch (no revocation: share partitions are
shared). Before a share partition is first handed out its state is initialized through
``share_states`` (the share partition side, sharefetch's SharePartitionManager), recorded in
ShareGroupStatePartitionMetadata. Sessions expire on the timer task in the broker nursery. Every
change is written to ``__consumer_offsets`` before it is answered, so a restart rebuilds the groups.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

import trio

from kafkapy.coordinator import share_group_records as records
from kafkapy.coordinator.group_configs import GroupConfigs
from kafkapy.coordinator.group_records import OffsetsTopic, Record
from kafkapy.coordinator.group_types import GroupListing, GroupRegistry, GroupType
from kafkapy.coordinator.share_group import (
    Assignment,
    ShareGroup,
    ShareGroupMember,
    TopicPartitions,
    simple_assign,
)
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_manager import TopicState

log = logging.getLogger("kafkapy.coordinator")

# ShareGroupHeartbeat's member epoch to leave the group.
LEAVE_GROUP_MEMBER_EPOCH = -1
# The longest member id Kafka 4.3.1 accepts (a UUID's string form; clients send 22-character ids).
MAX_MEMBER_ID_LENGTH = 36


class ShareStates(Protocol):
    """The share partition side (sharefetch's SharePartitionManager) that the group side drives."""

    def initialize(self, group_id: str, topic_id: uuid.UUID, topic: str, partitions: list[int]) -> None:
        """Create the state of these share partitions (start offset from share.auto.offset.reset)."""
        ...

    def member_removed(self, group_id: str, member_id: str) -> None:
        """A member left or its session expired: release what it acquired."""
        ...

    def delete(self, group_id: str) -> None:
        """The group was deleted: drop its share state."""
        ...


class NoShareStates:
    """No share partition state kept (until the share partition side is installed)."""

    def initialize(self, group_id: str, topic_id: uuid.UUID, topic: str, partitions: list[int]) -> None:
        pass

    def member_removed(self, group_id: str, member_id: str) -> None:
        pass

    def delete(self, group_id: str) -> None:
        pass


@dataclass
class HeartbeatRequest:
    """One ShareGroupHeartbeat, with who sent it (ClientId, the client's address as "/host")."""

    group_id: str
    member_id: str
    member_epoch: int
    rack_id: str | None
    subscribed_topic_names: list[str] | None
    client_id: str
    client_host: str


@dataclass
class HeartbeatResult:
    member_id: str
    member_epoch: int
    heartbeat_interval_ms: int
    # None when the member already knows it (Kafka sends it on join and when it changed).
    assignment: Assignment | None


class ShareGroupCoordinator:
    """Every share group of this broker, its persistence and its session timers."""

    group_type = GroupType.SHARE

    def __init__(
        self,
        store: OffsetsTopic,
        topics: Callable[[], dict[str, TopicState]],
        configs: GroupConfigs,
        registry: GroupRegistry,
        wall_ms: Callable[[], int],
    ) -> None:
        self.store = store
        self._topics = topics
        self.configs = configs
        self.registry = registry
        self._wall_ms = wall_ms
        self.groups: dict[str, ShareGroup] = {}
        # The share partition side; sharefetch installs its SharePartitionManager here.
        self.share_states: ShareStates = NoShareStates()
        self._wakeup = trio.Event()
        self._wake_at = float("inf")

    # --- loading and timers

    def load(self, loaded: Iterable[tuple[int, bytes, bytes]]) -> None:
        """Rebuild the groups from their records (LoadedState.records_of(records.RECORD_TYPES))."""
        self.groups = records.groups_from(loaded)

    def reset(self) -> None:
        self.groups.clear()
        self._poke(float("-inf"))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Expire the sessions of members that stopped heartbeating."""
        now = trio.current_time()
        for group in self.groups.values():
            for member in group.members.values():
                # Loaded members get a full session to come back, as Kafka's onLoaded schedules them.
                member.session_deadline = now + self._session_timeout_ms(group.group_id) / 1000
        task_status.started()
        while True:
            self._wakeup = trio.Event()
            self._wake_at = min(
                (m.session_deadline for g in self.groups.values() for m in g.members.values()), default=float("inf")
            )
            with trio.move_on_at(self._wake_at):
                await self._wakeup.wait()
            self.expire_sessions(trio.current_time())

    def _poke(self, deadline: float) -> None:
        if deadline < self._wake_at:
            self._wake_at = deadline
            self._wakeup.set()

    def expire_sessions(self, now: float) -> None:
        """Remove every member whose session deadline passed (Kafka's session timeout)."""
        for group in list(self.groups.values()):
            for member in list(group.members.values()):
                if member.session_deadline <= now:
                    where = {"group": group.group_id, "member": member.member_id}
                    log.info("share group member session expired", extra=where)
                    try:
                        self._remove_member(group, member.member_id)
                    except KafkaError as exc:
                        log.error("removing an expired share group member failed", extra={"error": str(exc)})

    def _append(self, group_id: str, batch: list[Record]) -> None:
        """Write a group's records to ``__consumer_offsets`` before the change is answered; KafkaError
        if they cannot be (an I/O failure answers NOT_COORDINATOR, as the classic groups' writes do)."""
        try:
            self.store.append(group_id, batch, self._wall_ms())
        except OSError as exc:
            log.error("writing a share group to the offsets topic failed", extra={"group": group_id, "error": str(exc)})
            raise KafkaError(ErrorCode.NOT_COORDINATOR) from exc

    def _session_timeout_ms(self, group_id: str) -> int:
        return int(self.configs.value(group_id, "share.session.timeout.ms"))

    # --- the registry's view (group_types.py)

    def owns(self, group_id: str) -> bool:
        return group_id in self.groups

    def listings(self) -> Iterable[GroupListing]:
        for group in self.groups.values():
            yield GroupListing(group.group_id, "share", group.state.value, GroupType.SHARE)

    def delete_group(self, group_id: str) -> ErrorCode:
        """DeleteGroups of a share group: only an empty one; its share state goes with it."""
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        if group.members:
            return ErrorCode.NON_EMPTY_GROUP
        try:
            self._append(group_id, records.tombstones(group))
        except KafkaError as exc:
            return exc.code
        del self.groups[group_id]
        self.share_states.delete(group_id)
        return ErrorCode.NONE

    # --- OffsetCommit/OffsetFetch on a share group id (group_types.GroupOffsetsValidation, as on cgroup's
    # branch: the classic coordinator asks the id's owner). A share group keeps no committed offsets.

    def offset_commit_error(
        self, group_id: str, member_id: str, member_epoch: int, instance_id: str | None, *, api_version: int | None
    ) -> ErrorCode:
        """Kafka's ShareGroup.validateOffsetCommit: a share group takes no commits."""
        return ErrorCode.GROUP_ID_NOT_FOUND

    def offset_fetch_error(self, group_id: str, member_id: str | None, member_epoch: int) -> ErrorCode:
        """Kafka answers an OffsetFetch of a share group without an error (and without offsets)."""
        return ErrorCode.NONE

    # --- the share partition side's view (sharefetch)

    def assignment(self, group_id: str, member_id: str) -> Assignment | ErrorCode:
        """The partitions a member was given, or GROUP_ID_NOT_FOUND / UNKNOWN_MEMBER_ID."""
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return {t: list(ps) for t, ps in member.assigned.items()}

    def member_ids(self, group_id: str) -> set[str]:
        group = self.groups.get(group_id)
        return set() if group is None else set(group.members)

    def offsets_altered(self, group_id: str, topic_id: uuid.UUID, topic: str, partitions: list[int]) -> None:
        """AlterShareGroupOffsets wrote the state of these share partitions (the share partition side did):
        an absent group is created empty, as Kafka 4.3.1 does, and they are recorded initialized, so a member
        joining later does not initialize them again. KafkaError GROUP_ID_NOT_FOUND for another type's id."""
        group = replace(self._group_for(group_id, create=True))
        _mark_initialized(group, {topic_id: TopicPartitions(topic, set(partitions))})
        self._append(group_id, [records.state_partition_metadata(group)])
        self.groups[group_id] = group

    def offsets_deleted(self, group_id: str, topic_ids: Iterable[uuid.UUID]) -> None:
        """DeleteShareGroupOffsets dropped the state of these topics' share partitions: no longer recorded
        initialized, so the next assignment initializes them afresh (share.auto.offset.reset)."""
        group = self.groups.get(group_id)
        gone = set(topic_ids)
        if group is None or not gone & {*group.initialized, *group.initializing}:
            return
        group = replace(group)
        group.initialized = {t: tp for t, tp in group.initialized.items() if t not in gone}
        group.initializing = {t: tp for t, tp in group.initializing.items() if t not in gone}
        self._append(group_id, [records.state_partition_metadata(group)])
        self.groups[group_id] = group

    # --- ShareGroupHeartbeat

    def heartbeat(self, request: HeartbeatRequest, now: float) -> HeartbeatResult:
        """One ShareGroupHeartbeat (``now``: trio time); raises KafkaError with Kafka's code and message."""
        _validate(request)
        if request.member_epoch == LEAVE_GROUP_MEMBER_EPOCH:
            return self._leave(request)
        group = self._group_for(request.group_id, create=request.member_epoch == 0)
        member = self._member_for(group, request)
        group_id = group.group_id
        updated = _with_request(member, request)
        batch: list[Record] = []
        new_group = replace(group, members={**group.members, updated.member_id: updated})
        topics = self._topics()
        metadata_hash = _metadata_hash(new_group.subscribed_topic_names(), topics)
        joined = updated.member_id not in group.members
        if joined or _metadata_changed(member, updated):
            batch.append(records.member_metadata(group_id, updated))
        resubscribed = updated.subscribed_topic_names != member.subscribed_topic_names
        if joined or resubscribed or metadata_hash != group.metadata_hash:
            new_group.group_epoch += 1
            new_group.metadata_hash = metadata_hash
            batch.append(records.group_metadata(new_group))
        if new_group.group_epoch > new_group.assignment_epoch:
            batch += self._new_target(new_group, topics)
        target = new_group.target.get(updated.member_id, {})
        if updated.member_epoch != new_group.assignment_epoch or updated.assigned != target:
            updated.previous_member_epoch = updated.member_epoch
            updated.member_epoch = new_group.assignment_epoch
            updated.assigned = target
            batch.append(records.current_member_assignment(group_id, updated))
        pruned = _forget_deleted_topics(new_group, topics)
        initialize = self._uninitialized(new_group, topics)
        if initialize or pruned:
            batch.append(records.state_partition_metadata(new_group))
        self._append(group_id, batch)
        updated.session_deadline = now + self._session_timeout_ms(group_id) / 1000
        self.groups[group_id] = new_group
        self._poke(updated.session_deadline)
        self._initialize(new_group, initialize)
        changed = request.member_epoch == 0 or updated.assigned != member.assigned
        return HeartbeatResult(
            updated.member_id,
            updated.member_epoch,
            int(self.configs.value(group_id, "share.heartbeat.interval.ms")),
            dict(updated.assigned) if changed else None,
        )

    def _group_for(self, group_id: str, *, create: bool) -> ShareGroup:
        group = self.groups.get(group_id)
        if group is not None:
            return group
        if not create or self.registry.owner(group_id) is not None:
            raise self._not_found(group_id)
        return ShareGroup(group_id)

    def _not_found(self, group_id: str, missing: str = "Share group") -> KafkaError:
        """GROUP_ID_NOT_FOUND for a group id that no share group has, with Kafka's message: ``missing``
        names a group nobody has ("Share group" for a heartbeat, "Group" for a leave)."""
        if self.registry.owner(group_id) is not None:
            return KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a share group.")
        return KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"{missing} {group_id} not found.")

    def _member_for(self, group: ShareGroup, request: HeartbeatRequest) -> ShareGroupMember:
        """The member as it stands (a new one for a join), after the epoch and size checks."""
        member = group.members.get(request.member_id)
        if member is None:
            if request.member_epoch != 0:
                raise _unknown_member(group.group_id, request.member_id)
            max_size = int(self.configs.broker_value("group.share.max.size"))
            if len(group.members) >= max_size:
                raise KafkaError(
                    ErrorCode.GROUP_MAX_SIZE_REACHED,
                    f"The share group has reached its maximum capacity of {max_size} members.",
                )
            return ShareGroupMember(request.member_id)
        if request.member_epoch == 0:
            return member
        if request.member_epoch > member.member_epoch:
            raise KafkaError(
                ErrorCode.FENCED_MEMBER_EPOCH,
                f"The share group member has a greater member epoch ({request.member_epoch}) than the one known by"
                f" the group coordinator ({member.member_epoch}). The member must abandon all its partitions and"
                " rejoin.",
            )
        if request.member_epoch < member.member_epoch and request.member_epoch != member.previous_member_epoch:
            raise KafkaError(
                ErrorCode.FENCED_MEMBER_EPOCH,
                f"The share group member has a smaller member epoch ({request.member_epoch}) than the one known by"
                f" the group coordinator ({member.member_epoch}), and it does not match the previous member epoch"
                f" ({member.previous_member_epoch}). The member must abandon all its partitions and rejoin.",
            )
        return member

    def _new_target(self, group: ShareGroup, topics: dict[str, TopicState]) -> list[Record]:
        """Run the assignor at the group epoch; the records of what changed."""
        partition_counts = {t.topic_id: len(t.partitions) for t in topics.values()}
        subscriptions = {
            m.member_id: [topics[n].topic_id for n in m.subscribed_topic_names if n in topics]
            for m in group.members.values()
        }
        target = simple_assign(subscriptions, partition_counts, group.target)
        batch = [
            records.target_assignment_member(group.group_id, member_id, assignment)
            for member_id, assignment in target.items()
            if group.target.get(member_id) != assignment
        ]
        group.target = target
        group.assignment_epoch = group.group_epoch
        batch.append(records.target_assignment_metadata(group, self._wall_ms()))
        return batch

    def _uninitialized(self, group: ShareGroup, topics: dict[str, TopicState]) -> dict[uuid.UUID, TopicPartitions]:
        """The share partitions of the target assignment whose state is not initialized yet, now marked
        initializing in ``group``."""
        names = {t.topic_id: t.name for t in topics.values()}
        wanted: dict[uuid.UUID, TopicPartitions] = {}
        for assignment in group.target.values():
            for topic_id, partitions in assignment.items():
                for partition in partitions:
                    if not group.is_initialized(topic_id, partition) and topic_id in names:
                        wanted.setdefault(topic_id, TopicPartitions(names[topic_id])).partitions.add(partition)
        if wanted:
            group.initializing = {
                t: TopicPartitions(tp.name, set(tp.partitions)) for t, tp in group.initializing.items()
            }
            for topic_id, tp in wanted.items():
                group.initializing.setdefault(topic_id, TopicPartitions(tp.name)).partitions |= tp.partitions
        return wanted

    def _initialize(self, group: ShareGroup, wanted: dict[uuid.UUID, TopicPartitions]) -> None:
        """Initialize the share state of ``wanted`` and record it initialized (Kafka's
        InitializeShareGroupState round trip, done in place). A failure leaves them initializing, and
        the next heartbeat retries."""
        if not wanted:
            return
        for topic_id, tp in wanted.items():
            self.share_states.initialize(group.group_id, topic_id, tp.name, sorted(tp.partitions))
        _mark_initialized(group, wanted)
        self._append(group.group_id, [records.state_partition_metadata(group)])

    # --- leaving

    def _leave(self, request: HeartbeatRequest) -> HeartbeatResult:
        group = self.groups.get(request.group_id)
        if group is None:
            raise self._not_found(request.group_id, "Group")
        if request.member_id not in group.members:
            raise _unknown_member(group.group_id, request.member_id)
        self._remove_member(group, request.member_id)
        return HeartbeatResult(request.member_id, LEAVE_GROUP_MEMBER_EPOCH, 0, None)

    def _remove_member(self, group: ShareGroup, member_id: str) -> None:
        """A member leaves: its records are tombstoned and the group epoch bumped (the next heartbeat of
        another member reassigns its partitions)."""
        member = group.members[member_id]
        new_group = replace(group, members={m: v for m, v in group.members.items() if m != member_id})
        new_group.target = {m: a for m, a in group.target.items() if m != member_id}
        new_group.group_epoch += 1
        new_group.metadata_hash = _metadata_hash(new_group.subscribed_topic_names(), self._topics())
        batch = [
            records.current_member_assignment(group.group_id, member, tombstone=True),
            records.target_assignment_member(group.group_id, member_id, None),
            records.member_metadata(group.group_id, member, tombstone=True),
            records.group_metadata(new_group),
        ]
        self._append(group.group_id, batch)
        self.groups[group.group_id] = new_group
        self.share_states.member_removed(group.group_id, member_id)


def _mark_initialized(group: ShareGroup, done: dict[uuid.UUID, TopicPartitions]) -> None:
    """Record ``done`` initialized (and no longer initializing) in ``group``, copying what it changes."""
    initialized = {t: TopicPartitions(tp.name, set(tp.partitions)) for t, tp in group.initialized.items()}
    initializing = {t: TopicPartitions(tp.name, set(tp.partitions)) for t, tp in group.initializing.items()}
    for topic_id, tp in done.items():
        initialized.setdefault(topic_id, TopicPartitions(tp.name)).partitions |= tp.partitions
        if topic_id in initializing:
            initializing[topic_id].partitions -= tp.partitions
    group.initialized = initialized
    group.initializing = {t: tp for t, tp in initializing.items() if tp.partitions}


def _forget_deleted_topics(group: ShareGroup, topics: dict[str, TopicState]) -> bool:
    """Drop the share partition records of topics that no longer exist (their share state went with
    the topic; a topic created again has a new id and is initialized afresh). Whether any was dropped."""
    live = {t.topic_id for t in topics.values()}
    if all(t in live for t in (*group.initialized, *group.initializing)):
        return False
    group.initialized = {t: tp for t, tp in group.initialized.items() if t in live}
    group.initializing = {t: tp for t, tp in group.initializing.items() if t in live}
    return True


def _validate(request: HeartbeatRequest) -> None:
    """Kafka's throwIfShareGroupHeartbeatRequestIsInvalid (an empty or too long member id is refused
    before it, without a message, as Kafka 4.3.1 answers)."""
    if not request.member_id or len(request.member_id) > MAX_MEMBER_ID_LENGTH:
        raise KafkaError(ErrorCode.INVALID_REQUEST)
    if not request.group_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
    if request.member_epoch == 0:
        if not request.subscribed_topic_names:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "SubscribedTopicNames must be set in first request.")
    elif request.member_epoch < LEAVE_GROUP_MEMBER_EPOCH:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "MemberEpoch is invalid.")


def _with_request(member: ShareGroupMember, request: HeartbeatRequest) -> ShareGroupMember:
    """A copy of ``member`` with what the heartbeat says (a null rack or subscription: unchanged)."""
    topics = request.subscribed_topic_names
    return replace(
        member,
        rack_id=request.rack_id if request.rack_id is not None else member.rack_id,
        client_id=request.client_id,
        client_host=request.client_host,
        subscribed_topic_names=sorted(set(topics)) if topics is not None else member.subscribed_topic_names,
    )


def _unknown_member(group_id: str, member_id: str) -> KafkaError:
    return KafkaError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")


def _metadata_changed(before: ShareGroupMember, after: ShareGroupMember) -> bool:
    """Whether the ShareGroupMemberMetadata record of a member must be written again."""
    return (before.rack_id, before.client_id, before.client_host, before.subscribed_topic_names) != (
        after.rack_id,
        after.client_id,
        after.client_host,
        after.subscribed_topic_names,
    )


def _metadata_hash(names: Iterable[str], topics: dict[str, TopicState]) -> int:
    """A hash of the subscribed topics' ids and partition counts (Kafka's MetadataHash: changes when a
    subscribed topic is created, deleted, recreated or grows), as a signed int64."""
    found = [(name, topics[name]) for name in sorted(names) if name in topics]
    if not found:
        return 0
    digest = hashlib.blake2b(digest_size=8)
    for name, topic in found:
        digest.update(f"{name}\0{topic.topic_id}\0{len(topic.partitions)}\0".encode())
    return int.from_bytes(digest.digest(), "big", signed=True)
