"""The offset half of the group coordinator (Kafka's kafka.coordinator.group.GroupMetadataManager).

Kafka divides its classic group coordinator in two: the GroupCoordinator runs membership and
rebalances and validates requests, the GroupMetadataManager holds the groups, their committed
offsets and pending transactional offsets, expires them, and reads and writes
``__consumer_offsets``. kafkapy divides it the same way: ``GroupCoordinator`` decides, this
module keeps and persists.

Commits and group metadata are appended to ``__consumer_offsets`` before the caller answers,
and ``load`` rebuilds every group from it at start-up (group_records.py has the record layouts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from kafkapy.broker_config import BrokerConfig
from kafkapy.clock import Clock
from kafkapy.coordinator.group import ClassicGroup, GroupState, OffsetAndMetadata
from kafkapy.coordinator.group_records import (
    LoadedState,
    OffsetsTopic,
    Record,
    decode_offsets,
    group_metadata_record,
    offset_commit_record,
)
from kafkapy.protocol.common import TopicPartition
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_manager import LogManager

log = logging.getLogger("kafkapy.coordinator")

# Append errors as OffsetCommit reports them (GroupMetadataManager.storeOffsets).
_COMMIT_APPEND_ERRORS = {
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.KAFKA_STORAGE_ERROR: ErrorCode.NOT_COORDINATOR,
    ErrorCode.MESSAGE_TOO_LARGE: ErrorCode.INVALID_COMMIT_OFFSET_SIZE,
    ErrorCode.RECORD_LIST_TOO_LARGE: ErrorCode.INVALID_COMMIT_OFFSET_SIZE,
}
# ... and as JoinGroup/SyncGroup report them (GroupMetadataManager.storeGroup).
_GROUP_APPEND_ERRORS = {
    **_COMMIT_APPEND_ERRORS,
    ErrorCode.MESSAGE_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
    ErrorCode.RECORD_LIST_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
}


class GroupMetadataManager:
    """Every classic group of this broker with its offsets, and their records in ``__consumer_offsets``."""

    def __init__(self, config: BrokerConfig, logs: LogManager, *, clock: Clock) -> None:
        self.config = config
        self.logs = logs
        self.clock = clock
        self.store = OffsetsTopic(logs, config.offsets_topic_num_partitions)
        self.groups: dict[str, ClassicGroup] = {}
        # What the last load found of Kafka 4's other group types (their coordinators rebuild from it).
        self.loaded = LoadedState({}, {})
        # Whether a group of another kind (a KIP-848 consumer group...) with this id subscribes to the
        # topic: its offsets here do not expire then, as Kafka's isSubscribedToTopic keeps them. Set by
        # the broker.
        self.subscribed_elsewhere: Callable[[str, str], bool] = lambda group_id, topic: False

    def load(self) -> None:
        """Rebuild every group from ``__consumer_offsets``; done before the broker serves requests."""
        self.loaded = self.store.load()
        self.groups = self.loaded.groups(self.clock.wall_ms())

    def reset(self) -> None:
        """Forget every group, its offsets and the pending transactional ones (KafkaBroker.reset)."""
        self.groups = {}
        self.store.pending_txn.by_producer.clear()

    # Offsets.

    def store_offsets(self, group_id: str, offsets: dict[TopicPartition, OffsetAndMetadata]) -> ErrorCode:
        """Append validated commits, then apply them; a group not known yet is created (a "simple" group)."""
        group = self.groups.get(group_id)
        created = group is None
        if group is None:
            # A consumer that only stores offsets here (assign() with a group.id): a "simple" group.
            group = ClassicGroup(group_id, self.clock.wall_ms())
        records = [offset_commit_record(group_id, t, p, o) for (t, p), o in offsets.items()]
        error = self._append(group_id, records, _COMMIT_APPEND_ERRORS)
        if error == ErrorCode.NONE:
            group.offsets.update(offsets)
            if created:
                self.groups[group_id] = group
        return error

    def store_txn_offsets(
        self, group_id: str, offsets: dict[TopicPartition, OffsetAndMetadata], producer: tuple[int, int]
    ) -> ErrorCode:
        """Append TxnOffsetCommit's commits in a batch of ``producer`` (id, epoch); they apply at its COMMIT marker."""
        records = [offset_commit_record(group_id, t, p, o) for (t, p), o in offsets.items()]
        try:
            self.store.append(group_id, records, self.clock.wall_ms(), producer=producer)
        except KafkaError as exc:
            return exc.code
        return ErrorCode.NONE

    def fetch_offsets(
        self, group_id: str, partitions: list[TopicPartition] | None
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Committed offsets of ``partitions`` (None: every partition with one); None where nothing is committed."""
        group = self.groups.get(group_id)
        offsets = {} if group is None or group.is_in(GroupState.DEAD) else group.offsets
        if partitions is None:
            return dict(offsets)
        return {tp: offsets.get(tp) for tp in partitions}

    def delete_topic_offsets(self, topics: Iterable[str]) -> None:
        """Forget every group's offsets of deleted topics (to be called by DeleteTopics)."""
        gone = set(topics)
        self.cleanup(list(self.groups.values()), lambda g: [tp for tp in g.offsets if tp[0] in gone])

    def expire_offsets(self, now_ms: int) -> None:
        """Kafka's cleanupGroupMetadata on a timer: expired offsets, offsets of missing topics, empty groups."""
        retention = self.config.offsets_retention_ms
        topics = self.logs.topics

        def expired(group: ClassicGroup) -> list[TopicPartition]:
            if group.is_in(GroupState.EMPTY) and group.protocol_type is not None:
                # A consumer group without members: retention counts from when it became empty.
                since = group.state_timestamp_ms
            elif group.protocol_type is None or (
                group.is_in(GroupState.STABLE) and group.subscribed_topics is not None
            ):
                since = None
            else:
                return [tp for tp in group.offsets if tp[0] not in topics]
            out = []
            for tp, offset in group.offsets.items():
                if tp[0] not in topics:
                    out.append(tp)
                elif group.is_subscribed_to(tp[0]) or self.subscribed_elsewhere(group.group_id, tp[0]):
                    continue
                elif offset.expire_timestamp is not None:
                    if now_ms >= offset.expire_timestamp:
                        out.append(tp)
                elif now_ms - (offset.commit_timestamp if since is None else since) >= retention:
                    out.append(tp)
            return out

        self.cleanup(list(self.groups.values()), expired)

    def cleanup(self, groups: list[ClassicGroup], select: Callable[[ClassicGroup], list[TopicPartition]]) -> None:
        """Remove the selected offsets; an Empty group left without offsets dies. Tombstones follow."""
        for group in groups:
            removed = select(group)
            for tp in removed:
                del group.offsets[tp]
            if group.is_in(GroupState.EMPTY) and not group.offsets and not group.pending_members:
                group.transition(GroupState.DEAD, self.clock.wall_ms())
            records = [offset_commit_record(group.group_id, t, p, None) for t, p in removed]
            if group.is_in(GroupState.DEAD) and self.groups.get(group.group_id) is group:
                del self.groups[group.group_id]
                log.info("group removed", extra={"group": group.group_id})
                if group.generation_id > 0:
                    records.append(group_metadata_record(None, group.group_id, {}))
            self._append(group.group_id, records, _COMMIT_APPEND_ERRORS)

    def complete_txn_offsets(self, producer_id: int, commit: bool) -> None:
        """A transaction's marker is in the offsets topic: its TxnOffsetCommits apply on COMMIT (Kafka's way)."""
        for group_id, offsets in decode_offsets(self.store.pending_txn.complete(producer_id, commit)).items():
            group = self.groups.get(group_id)
            if group is None:
                group = self.groups[group_id] = ClassicGroup(group_id, self.clock.wall_ms())
            group.offsets.update(offsets)

    # Persistence.

    def rewrite_offsets_topic(self) -> None:
        """Write every group's metadata and offsets again, after DeleteTopics took ``__consumer_offsets``.

        Kafka 4.3.1 accepts that deletion (its groups then lose their offsets); kafkapy answers the
        same but keeps serving what it acknowledged, so it must be in the new topic for the next start.
        Transactional offsets still pending stay in memory only.
        """
        for group in self.groups.values():
            records = [offset_commit_record(group.group_id, t, p, o) for (t, p), o in group.offsets.items()]
            if group.generation_id > 0:
                assignment = {m.member_id: m.assignment for m in group.members.values()}
                records.append(group_metadata_record(group, group.group_id, assignment))
            self._append(group.group_id, records, _COMMIT_APPEND_ERRORS)

    def store_group(self, group: ClassicGroup, assignment: dict[str, bytes]) -> ErrorCode:
        """Append the group's metadata with ``assignment`` (Kafka's storeGroup); the error JoinGroup/SyncGroup give."""
        return self._append(
            group.group_id, [group_metadata_record(group, group.group_id, assignment)], _GROUP_APPEND_ERRORS
        )

    def _append(self, group_id: str, records: list[Record], errors: dict[ErrorCode, ErrorCode]) -> ErrorCode:
        try:
            self.store.append(group_id, records, self.clock.wall_ms())
        except KafkaError as exc:
            log.error("writing to the offsets topic failed", extra={"group": group_id, "error": str(exc)})
            return errors.get(exc.code, exc.code)
        except OSError as exc:
            log.error("writing to the offsets topic failed", extra={"group": group_id, "error": str(exc)})
            return ErrorCode.NOT_COORDINATOR
        return ErrorCode.NONE
