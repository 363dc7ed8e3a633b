"""The internal topic ``__share_group_state``: the share coordinator's records (KIP-932), appends and loading.

Kafka's share coordinator keeps each share partition's state (start offset, in-flight state batches with
their delivery counts) in this topic, keyed by group id, topic id and partition, in its own layouts
(``protocol_specs/internal/share_group_state.kspec``), so Kafka's tools read a kafkapy data dir. A key
goes to partition abs(javaHashCode("group:topicId:partition")) % partitions, as Kafka's
SharePartitionKey.asCoordinatorKey. kafkapy writes a whole ShareSnapshot at each change (Kafka writes
ShareUpdate deltas between snapshots); loading takes the last snapshot per key, applies the updates a
Kafka broker may have written after it, and a tombstone deletes. As Kafka's, the topic is not compacted
(cleanup.policy=delete, retention.ms=-1): the share coordinator prunes it with DeleteRecords up to the
oldest record some share partition still needs (its last snapshot), every
share.coordinator.state.topic.prune.interval.ms.
"""

from __future__ import annotations

import logging
import struct
import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import construct as c

from kafkapy.coordinator.group_records import partition_for
from kafkapy.coordinator.internal_topics import SHARE_GROUP_STATE_TOPIC, SkippedRecords, read_batches
from kafkapy.coordinator.share_partition import RecordState, StateBatch, delivery_complete_count
from kafkapy.protocol.records import build_batch, validate_batches
from kafkapy.protocol.schema import message_construct
from kafkapy.protocol.specs import internal_specs
from kafkapy.storage.log_manager import LogManager, TopicState, uuid_to_kafka_string

log = logging.getLogger("kafkapy.coordinator")

# The configs Kafka 4.3.1 creates __share_group_state with (checked on the reference): kept forever, pruned
# by the coordinator; share.coordinator.state.topic.segment.bytes' default.
SHARE_STATE_TOPIC_CONFIGS = {"cleanup.policy": "delete", "retention.ms": "-1", "segment.bytes": str(100 * 1024 * 1024)}

# The record types (the int16 before each key): Kafka's CoordinatorRecordType for the share coordinator.
SNAPSHOT_TYPE = 0
UPDATE_TYPE = 1
VALUE_VERSION = 0

_INT16 = struct.Struct(">h")

# (group id, topic id, partition): one share partition of one share group.
ShareKey = tuple[str, uuid.UUID, int]


@dataclass
class PersistedState:
    """What a share partition's records say about it: start offset and its in-flight state batches."""

    start_offset: int
    state_batches: list[StateBatch] = field(default_factory=list)
    snapshot_epoch: int = 0
    create_timestamp: int = 0


@cache
def _schema(name: str) -> c.Construct:
    return message_construct(internal_specs("share_group_state")[name], 0).compile()


def _key(record_type: int, key: ShareKey) -> bytes:
    name = "ShareSnapshotKey" if record_type == SNAPSHOT_TYPE else "ShareUpdateKey"
    group_id, topic_id, partition = key
    return _INT16.pack(record_type) + _schema(name).build(
        {"group_id": group_id, "topic_id": topic_id, "partition": partition}
    )


def _batches(batches: list[StateBatch]) -> list[dict[str, Any]]:
    """State batches as persisted. Kafka persists no acquisition (only what acknowledgements, releases and
    lock expiries change), so an acquired range is written as it was before that acquisition: available,
    one delivery fewer. After a crash it is delivered again with the count Kafka would give it. A range
    that is then available and never delivered is left out: a record outside every persisted range is
    just that."""
    persisted = [
        {
            "first_offset": b.first_offset,
            "last_offset": b.last_offset,
            "delivery_state": int(RecordState.AVAILABLE if b.state == RecordState.ACQUIRED else b.state),
            "delivery_count": b.delivery_count - 1 if b.state == RecordState.ACQUIRED else b.delivery_count,
        }
        for b in batches
    ]
    return [b for b in persisted if b["delivery_state"] != RecordState.AVAILABLE or b["delivery_count"] > 0]


def snapshot_record(key: ShareKey, state: PersistedState | None, now_ms: int) -> tuple[bytes, bytes | None]:
    """The ShareSnapshot key and value of ``state``; a tombstone for None."""
    record_key = _key(SNAPSHOT_TYPE, key)
    if state is None:
        return record_key, None
    value = _schema("ShareSnapshotValue").build(
        {
            "snapshot_epoch": state.snapshot_epoch,
            "state_epoch": 0,
            "leader_epoch": 0,
            "start_offset": state.start_offset,
            "delivery_complete_count": delivery_complete_count(state.state_batches),
            "create_timestamp": state.create_timestamp,
            "write_timestamp": now_ms,
            "state_batches": _batches(state.state_batches),
        }
    )
    return record_key, _INT16.pack(VALUE_VERSION) + value


def _state_batches(value: c.Container) -> list[StateBatch]:
    return [
        StateBatch(b.first_offset, b.last_offset, RecordState(b.delivery_state), b.delivery_count)
        for b in value.state_batches
    ]


def _apply_update(state: PersistedState, value: c.Container) -> None:
    """Fold a ShareUpdate (written by a Kafka broker between snapshots) into ``state``: its batches replace
    the offsets they cover, the rest of each older batch stays."""
    if value.start_offset != -1:
        state.start_offset = value.start_offset
    updated = _state_batches(value)
    kept: list[StateBatch] = []
    for batch in state.state_batches:
        pieces = [batch]
        for u in updated:
            pieces = [
                part
                for p in pieces
                for part in (
                    p._replace(last_offset=min(p.last_offset, u.first_offset - 1)),
                    p._replace(first_offset=max(p.first_offset, u.last_offset + 1)),
                )
                if part.first_offset <= part.last_offset
            ]
        kept += pieces
    state.state_batches = sorted(kept + updated)


def replay(found: dict[ShareKey, PersistedState], key: bytes, value: bytes | None) -> ShareKey:
    """Fold one record of the topic into ``found``; its share partition. Raises what decoding a malformed
    record raises."""
    (record_type,) = _INT16.unpack_from(key)
    if record_type not in (SNAPSHOT_TYPE, UPDATE_TYPE):
        raise ValueError(f"record type {record_type}")
    name = "ShareSnapshot" if record_type == SNAPSHOT_TYPE else "ShareUpdate"
    k = _schema(f"{name}Key").parse(key[_INT16.size :])
    share_key: ShareKey = (k.group_id, k.topic_id, k.partition)
    if value is None:
        found.pop(share_key, None)
        return share_key
    v = _schema(f"{name}Value").parse(value[_INT16.size :])
    if record_type == SNAPSHOT_TYPE:
        found[share_key] = PersistedState(v.start_offset, _state_batches(v), v.snapshot_epoch, v.create_timestamp)
    elif share_key in found:
        _apply_update(found[share_key], v)
    return share_key


def coordinator_key(key: ShareKey) -> str:
    """Kafka's SharePartitionKey.asCoordinatorKey, which picks the topic partition."""
    group_id, topic_id, partition = key
    return f"{group_id}:{uuid_to_kafka_string(topic_id)}:{partition}"


class ShareStateTopic:
    """Appends to and replays ``__share_group_state``, creating it on first use."""

    def __init__(self, logs: LogManager, num_partitions: int) -> None:
        self._logs = logs
        self._configured_partitions = num_partitions
        # Where each share partition's last snapshot lies (topic partition, offset): what pruning keeps.
        self._latest: dict[ShareKey, tuple[int, int]] = {}

    def ensure_topic(self) -> TopicState:
        topic = self._logs.topics.get(SHARE_GROUP_STATE_TOPIC)
        if topic is None:
            topic = self._logs.create_topic(
                SHARE_GROUP_STATE_TOPIC, self._configured_partitions, SHARE_STATE_TOPIC_CONFIGS
            )
            log.info(
                "created internal topic",
                extra={"topic": SHARE_GROUP_STATE_TOPIC, "partitions": self._configured_partitions},
            )
        return topic

    def write(self, key: ShareKey, state: PersistedState | None, now_ms: int) -> None:
        """Write a share partition's snapshot (or tombstone); raises KafkaError or OSError when it cannot."""
        topic = self.ensure_topic()
        index = partition_for(coordinator_key(key), len(topic.partitions))
        record_key, value = snapshot_record(key, state, now_ms)
        batch = bytearray(build_batch([(record_key, value, [], now_ms)]))
        appended = topic.partitions[index].append(batch, validate_batches(batch), now_ms=now_ms)
        if state is None:
            self._latest.pop(key, None)
        else:
            self._latest[key] = (index, appended.first_offset)

    def prune(self) -> None:
        """Delete the records no share partition needs any more (Kafka's share coordinator prunes with
        DeleteRecords): in each partition of the topic, everything before the oldest last snapshot of a
        share partition it holds, or everything when it holds none."""
        topic = self._logs.topics.get(SHARE_GROUP_STATE_TOPIC)
        if topic is None:
            return
        needed: dict[int, int] = {}
        for index, offset in self._latest.values():
            needed[index] = min(offset, needed.get(index, offset))
        for index, partition in enumerate(topic.partitions):
            keep = needed.get(index, partition.high_watermark)
            if keep > partition.log_start_offset:
                partition.delete_records_before(keep)

    def load(self) -> dict[ShareKey, PersistedState]:
        """Replay every partition (nothing if the topic does not exist yet)."""
        found: dict[ShareKey, PersistedState] = {}
        self._latest.clear()
        topic = self._logs.topics.get(SHARE_GROUP_STATE_TOPIC)
        if topic is None:
            return found
        skipped = SkippedRecords(SHARE_GROUP_STATE_TOPIC)
        for index, partition in enumerate(topic.partitions):
            for header, records in read_batches(partition, skipped):
                for record in records:
                    if record.key is None:
                        continue
                    try:
                        share_key = replay(found, record.key, record.value)
                    except Exception as exc:  # whatever a bogus record raises, start-up goes on without it
                        skipped.skip(partition, header.base_offset, exc)
                        continue
                    if share_key not in found:
                        self._latest.pop(share_key, None)
                    elif record.key[:2] == _INT16.pack(SNAPSHOT_TYPE):
                        self._latest[share_key] = (index, record.offset)
        skipped.report()
        log.info("loaded share partition states", extra={"share_partitions": len(found)})
        return found
