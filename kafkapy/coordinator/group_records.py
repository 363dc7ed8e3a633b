"""The internal topic ``__consumer_offsets``: Kafka's record layouts, appends and start-up loading.

Keys and values are Kafka's own (``protocol_specs/internal/consumer_offsets.kspec``), each prefixed
with its version as an int16, so Kafka's tools (kafka-console-consumer with the offsets formatter,
kafka-dump-log --offsets-decoder) read a kafkapy data dir. A group's records all go to partition
abs(javaHashCode(group id)) % partitions, as in Kafka, and are appended as uncompressed v2 batches.
Loading replays every partition from its start: the last value per key wins (in the group's home
partition, once CreatePartitions moved it) and a null value (tombstone) deletes; a record that
cannot be decoded is logged and skipped. Compaction is not implemented, so the log keeps every
record it was given.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import construct as c

from kafkapy.coordinator.group import ClassicGroup, GroupState, Member, OffsetAndMetadata
from kafkapy.coordinator.internal_topics import OFFSETS_TOPIC, HomePartitions, SkippedRecords, read_batches
from kafkapy.coordinator.transaction_offsets import PendingTxnOffsets
from kafkapy.protocol.records import build_batch, validate_batches
from kafkapy.protocol.schema import message_construct
from kafkapy.protocol.specs import internal_specs
from kafkapy.storage.log_manager import LogManager, TopicState

log = logging.getLogger("kafkapy.coordinator")

# Kafka's offsets.topic.segment.bytes default; the topic is compacted in Kafka.
OFFSETS_TOPIC_CONFIGS = {"cleanup.policy": "compact", "segment.bytes": str(100 * 1024 * 1024)}

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
OFFSET_COMMIT_VALUE_VERSION = 3
# Written instead of v3 when the commit has an explicit expire timestamp, as Kafka does.
OFFSET_COMMIT_VALUE_EXPIRING_VERSION = 1
GROUP_METADATA_VALUE_VERSION = 3

_VERSION = struct.Struct(">h")

Record = tuple[bytes, bytes | None]


@cache
def _schema(name: str, version: int) -> c.Construct:
    return message_construct(internal_specs("consumer_offsets")[name], version).compile()


def _encode(name: str, version: int, obj: dict[str, Any]) -> bytes:
    return _VERSION.pack(version) + _schema(name, version).build(obj)


def _decode(name: str, data: bytes) -> tuple[int, c.Container]:
    (version,) = _VERSION.unpack_from(data)
    return version, _schema(name, version).parse(data[_VERSION.size :])


def offset_commit_record(group_id: str, topic: str, partition: int, offset: OffsetAndMetadata | None) -> Record:
    """An OffsetCommitKey with its value, or a tombstone for None."""
    key = _encode(
        "OffsetCommitKey", OFFSET_COMMIT_KEY_VERSION, {"group": group_id, "topic": topic, "partition": partition}
    )
    if offset is None:
        return key, None
    expiring = offset.expire_timestamp is not None
    value = _encode(
        "OffsetCommitValue",
        OFFSET_COMMIT_VALUE_EXPIRING_VERSION if expiring else OFFSET_COMMIT_VALUE_VERSION,
        {
            "offset": offset.offset,
            "leader_epoch": offset.leader_epoch,
            "metadata": offset.metadata,
            "commit_timestamp": offset.commit_timestamp,
            "expire_timestamp": offset.expire_timestamp if expiring else -1,
        },
    )
    return key, value


def group_metadata_record(group: ClassicGroup | None, group_id: str, assignment: dict[str, bytes]) -> Record:
    """A GroupMetadataKey with the group's members and ``assignment``, or a tombstone for None."""
    key = _encode("GroupMetadataKey", GROUP_METADATA_KEY_VERSION, {"group": group_id})
    if group is None:
        return key, None
    protocol = group.protocol_name
    members = [
        {
            "member_id": m.member_id,
            "group_instance_id": m.group_instance_id,
            "client_id": m.client_id,
            "client_host": m.client_host,
            "rebalance_timeout": m.rebalance_timeout_ms,
            "session_timeout": m.session_timeout_ms,
            "subscription": m.metadata(protocol) if protocol is not None else b"",
            "assignment": assignment.get(m.member_id, b""),
        }
        for m in group.members.values()
    ]
    value = _encode(
        "GroupMetadataValue",
        GROUP_METADATA_VALUE_VERSION,
        {
            "protocol_type": group.protocol_type or "",
            "generation": group.generation_id,
            "protocol": protocol,
            "leader": group.leader_id,
            "current_state_timestamp": -1 if group.state_timestamp_ms is None else group.state_timestamp_ms,
            "members": members,
        },
    )
    return key, value


@dataclass
class LoadedState:
    """What replaying the offsets topic yields: the latest metadata and offsets per group."""

    metadata: dict[str, c.Container]
    offsets: dict[str, dict[tuple[str, int], OffsetAndMetadata]]
    # The records of Kafka 4's other group types (key record types 3+: ConsumerGroupMetadata,
    # ShareGroupMemberMetadata, StreamsGroupTopology, ...), the latest value per key, in the order
    # their keys first appeared: each of those coordinators rebuilds its groups from them
    # (``records_of``). Undecoded here, so that this module does not know their layouts.
    records: dict[bytes, bytes] = field(default_factory=dict)

    def records_of(self, record_types: Iterable[int]) -> Iterator[tuple[int, bytes, bytes]]:
        """(record type, key, value) of the live records of these types (tombstoned keys are gone)."""
        wanted = set(record_types)
        for key, value in self.records.items():
            (record_type,) = _VERSION.unpack_from(key)
            if record_type in wanted:
                yield record_type, key, value

    def groups(self, now_ms: int) -> dict[str, ClassicGroup]:
        """Rebuild the groups: Stable with their stored members, or Empty (offsets only, or no members)."""
        groups: dict[str, ClassicGroup] = {}
        with_offsets = {group_id for group_id, offsets in self.offsets.items() if offsets}
        for group_id in self.metadata.keys() | with_offsets:
            group = _group_or_empty(group_id, self.metadata.get(group_id), now_ms)
            group.offsets = self.offsets.get(group_id, {})
            groups[group_id] = group
        return groups


def _group_or_empty(group_id: str, value: c.Container | None, now_ms: int) -> ClassicGroup:
    """The group its stored metadata describes; Empty when there is none, or it makes no group.

    The members of a group whose metadata cannot be used rejoin as after a rebalance; its offsets stay.
    """
    if value is None:
        return ClassicGroup(group_id, now_ms)
    try:
        return _group_from_value(group_id, value, now_ms)
    except Exception as exc:  # a bogus GroupMetadataValue must not stop the broker from starting
        extra = {"group": group_id, "error": repr(exc)}
        log.warning("loading the group's metadata failed; it starts empty", extra=extra)
        return ClassicGroup(group_id, now_ms)


def _group_from_value(group_id: str, value: c.Container, now_ms: int) -> ClassicGroup:
    state = GroupState.STABLE if value.members else GroupState.EMPTY
    group = ClassicGroup(group_id, now_ms, state)
    group.protocol_type = value.protocol_type or None
    group.generation_id = value.generation
    group.protocol_name = value.protocol
    group.leader_id = value.leader
    group.state_timestamp_ms = value.current_state_timestamp if value.current_state_timestamp >= 0 else None
    for m in value.members:
        member = Member(
            member_id=m.member_id,
            group_instance_id=m.get("group_instance_id"),
            client_id=m.client_id,
            client_host=m.client_host,
            rebalance_timeout_ms=m.get("rebalance_timeout", m.session_timeout),
            session_timeout_ms=m.session_timeout,
            protocol_type=group.protocol_type or "",
            protocols=[(value.protocol or "", bytes(m.subscription))],
            assignment=bytes(m.assignment),
        )
        group.members[member.member_id] = member
        if member.group_instance_id is not None:
            group.static_members[member.group_instance_id] = member.member_id
    group.subscribed_topics = group.compute_subscribed_topics()
    return group


def java_string_hash(text: str) -> int:
    """Java's String.hashCode (over UTF-16 code units), as a signed int32."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def partition_for(group_id: str, partitions: int) -> int:
    """Kafka's Utils.abs(groupId.hashCode) % offsets.topic.num.partitions."""
    h = java_string_hash(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def coordinator_order(group_ids: list[str], partitions: int) -> list[str]:
    """Group ids in the order Kafka's GroupCoordinatorService answers a multi-group describe: grouped by
    their ``__consumer_offsets`` partition, the partitions in the iteration order of a Java HashMap keyed
    by TopicPartition (bucket of its hashCode, table grown at 0.75 load), request order within each."""
    by_partition: dict[int, list[str]] = {}
    for group_id in group_ids:
        by_partition.setdefault(partition_for(group_id, partitions), []).append(group_id)
    capacity = 16
    while len(by_partition) > capacity * 3 // 4:
        capacity *= 2

    def bucket(partition: int) -> int:
        # TopicPartition.hashCode: 31 * (31 + partition) + topic.hashCode(), then HashMap.hash's spread.
        h = (31 * (31 + partition) + java_string_hash(OFFSETS_TOPIC)) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)

    order = sorted(by_partition, key=bucket)  # stable: insertion order within a bucket
    return [group_id for partition in order for group_id in by_partition[partition]]


class OffsetsTopic:
    """Appends to and replays ``__consumer_offsets``, creating it on first use."""

    def __init__(self, logs: LogManager, num_partitions: int) -> None:
        self._logs = logs
        self._configured_partitions = num_partitions
        # Transactional offset commits waiting for their transaction's marker.
        self.pending_txn = PendingTxnOffsets(decode_offsets)

    @property
    def num_partitions(self) -> int:
        """The existing topic's partition count wins over the configured one."""
        topic = self._logs.topics.get(OFFSETS_TOPIC)
        return len(topic.partitions) if topic is not None else self._configured_partitions

    def ensure_topic(self) -> TopicState:
        topic = self._logs.topics.get(OFFSETS_TOPIC)
        if topic is None:
            topic = self._logs.create_topic(OFFSETS_TOPIC, self._configured_partitions, OFFSETS_TOPIC_CONFIGS)
            log.info(
                "created internal topic", extra={"topic": OFFSETS_TOPIC, "partitions": self._configured_partitions}
            )
        return topic

    def append(
        self, group_id: str, records: list[Record], now_ms: int, *, producer: tuple[int, int] | None = None
    ) -> None:
        """Write one batch to the group's partition; raises KafkaError (or OSError) when it cannot.

        With ``producer`` (id, epoch) the batch is transactional (TxnOffsetCommit) and its records
        stay pending until the transaction's marker.
        """
        if not records:
            return
        topic = self.ensure_topic()
        partition = topic.partitions[partition_for(group_id, len(topic.partitions))]
        rows = [(key, value, [], now_ms) for key, value in records]
        if producer is None:
            batch = bytearray(build_batch(rows))
        else:
            pid, epoch = producer
            batch = bytearray(
                build_batch(rows, producer_id=pid, producer_epoch=epoch, base_sequence=0, transactional=True)
            )
        partition.append(batch, validate_batches(batch), now_ms=now_ms, coordinator=producer is not None)
        if producer is not None:
            self.pending_txn.add(producer[0], records)

    def load(self) -> LoadedState:
        """Replay every partition of the topic (nothing if it does not exist yet)."""
        state = LoadedState({}, {})
        topic = self._logs.topics.get(OFFSETS_TOPIC)
        if topic is None:
            return state
        if len(topic.partitions) != self._configured_partitions:
            log.warning(
                "offsets topic partition count differs from offsets.topic.num.partitions; using the topic's",
                extra={"partitions": len(topic.partitions), "configured": self._configured_partitions},
            )
        count = 0
        self.pending_txn = PendingTxnOffsets(decode_offsets)
        skipped = SkippedRecords(OFFSETS_TOPIC)
        partitions = len(topic.partitions)
        homes = HomePartitions(partitions, lambda group_id: partition_for(group_id, partitions))
        for homes.index, partition in enumerate(topic.partitions):
            for header, batch in read_batches(partition, skipped):
                try:
                    replayed = self.pending_txn.replay(header, batch)
                except Exception as exc:  # a hostile control record: skipped like any record it cannot use
                    skipped.skip(partition, header.base_offset, exc)
                    continue
                for key, value in replayed:
                    count += 1
                    try:
                        _apply(state, key, value, homes)
                    except Exception as exc:  # whatever a bogus record raises, start-up goes on without it
                        skipped.skip(partition, header.base_offset, exc)
        skipped.report()
        log.info("loaded consumer groups", extra={"records": count, "groups": len(state.metadata)})
        return state


def _apply(state: LoadedState, key: bytes, value: bytes | None, homes: HomePartitions | None = None) -> None:
    """Fold one record into the loaded state; Kafka 4's group records (types 3+) are kept undecoded.

    With ``homes`` (loading), a record outside its group's home partition may be outdated. Raises
    whatever decoding a malformed record raises, leaving the state as it was.
    """
    (key_version,) = _VERSION.unpack_from(key)
    if key_version in (0, 1):
        _, k = _decode("OffsetCommitKey", key)
        # Container attributes are slow to read, and loading does this for every record.
        group, tp = k.group, (k.topic, k.partition)
        offset = None if value is None else _offset_from(_decode("OffsetCommitValue", value)[1])
        if homes is not None and not homes.admits(group, (group, *tp)):
            return
        if offset is None:
            state.offsets.get(group, {}).pop(tp, None)
        else:
            state.offsets.setdefault(group, {})[tp] = offset
    elif key_version > GROUP_METADATA_KEY_VERSION:
        group = record_group_id(key)
        if homes is not None and not homes.admits(group, key):
            return
        if value is None:
            state.records.pop(key, None)
        else:
            state.records[key] = value
    elif key_version == GROUP_METADATA_KEY_VERSION:
        group = _decode("GroupMetadataKey", key)[1].group
        metadata = None if value is None else _decode("GroupMetadataValue", value)[1]
        if homes is not None and not homes.admits(group, group):
            return
        if metadata is None:
            state.metadata.pop(group, None)
        else:
            state.metadata[group] = metadata


def record_group_id(key: bytes) -> str:
    """The group id of a Kafka 4 coordinator record key (type 3+): every such key starts with GroupId."""
    (length,) = _VERSION.unpack_from(key, _VERSION.size)
    start = 2 * _VERSION.size
    if length < 0 or start + length > len(key):
        raise ValueError("a coordinator record key with a truncated group id")
    return key[start : start + length].decode()


def _offset_from(v: c.Container) -> OffsetAndMetadata:
    expire = v.get("expire_timestamp", -1)
    return OffsetAndMetadata(
        v.offset, v.get("leader_epoch", -1), v.metadata, v.commit_timestamp, expire if expire >= 0 else None
    )


def decode_offsets(records: list[Record]) -> dict[str, dict[tuple[str, int], OffsetAndMetadata]]:
    """The offset commits among ``records``, by group (transactional ones once their COMMIT marker is in).

    Records that cannot be decoded are left out: pending ones may have been loaded from a damaged log.
    """
    state = LoadedState({}, {})
    for key, value in records:
        try:
            _apply(state, key, value)
        except Exception as exc:  # pending records come from the log as they are: a bad one is left out
            log.debug("skipping an undecodable transactional offset commit", extra={"error": repr(exc)})
    return state.offsets
