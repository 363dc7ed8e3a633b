"""The internal topic ``__transaction_state``: Kafka's TransactionLog record layouts, appends and loading.

Keys and values are Kafka's own (``protocol_specs/internal/transaction_state.kspec``), each prefixed
with its version as an int16, so Kafka's tools (kafka-dump-log --transaction-log-decoder) read a
kafkapy data dir. A transactional id's records go to partition abs(javaHashCode(id)) % partitions,
as in Kafka. Loading replays every partition: the last value per key wins (in the id's home
partition, once CreatePartitions moved it) and a tombstone deletes; a record that cannot be
decoded, or holds a state no coordinator writes, is logged and skipped.
"""

from __future__ import annotations

import enum
import logging
import struct
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import construct as c

from kafkapy.coordinator.group_records import partition_for
from kafkapy.coordinator.internal_topics import (
    TRANSACTION_STATE_TOPIC,
    HomePartitions,
    SkippedRecords,
    read_batches,
)
from kafkapy.protocol.common import TopicPartition
from kafkapy.protocol.records import NO_PRODUCER_ID, build_batch, validate_batches
from kafkapy.protocol.schema import message_construct
from kafkapy.protocol.specs import internal_specs
from kafkapy.storage.log_manager import LogManager, TopicState

log = logging.getLogger("kafkapy.coordinator")

# Kafka's transaction.state.log.segment.bytes default; the topic is compacted in Kafka.
TRANSACTION_STATE_TOPIC_CONFIGS = {"cleanup.policy": "compact", "segment.bytes": str(100 * 1024 * 1024)}

KEY_VERSION = 0
NO_PRODUCER_EPOCH = -1

_VERSION = struct.Struct(">h")



class TxnState(enum.IntEnum):
    """Kafka's TransactionState, with the ids it stores in TransactionLogValue."""

    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def kafka_name(self) -> str:
        """The name DescribeTransactions and ListTransactions use ("PrepareCommit")."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @classmethod
    def from_kafka_name(cls, name: str) -> TxnState | None:
        return next((state for state in cls if state.kafka_name == name), None)


@dataclass
class TransactionMetadata:
    """One transactional id's state (Kafka's TransactionMetadata)."""

    transactional_id: str
    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    last_producer_id: int = NO_PRODUCER_ID
    last_producer_epoch: int = NO_PRODUCER_EPOCH
    timeout_ms: int = 60000
    state: TxnState = TxnState.EMPTY
    partitions: set[TopicPartition] = field(default_factory=set)
    start_ms: int = -1
    last_update_ms: int = -1
    # 2 for clients using transaction version 2 (KIP-890: EndTxn v5+ bumps the epoch).
    client_txn_version: int = 0
    # The producer id the transaction's completion rotates to, its epochs exhausted (transaction version 2).
    next_producer_id: int = NO_PRODUCER_ID


@cache
def _schema(name: str, version: int) -> c.Construct:
    return message_construct(internal_specs("transaction_state")[name], version).compile()


def _encode(name: str, version: int, obj: dict[str, Any]) -> bytes:
    return _VERSION.pack(version) + _schema(name, version).build(obj)


def _decode(name: str, data: bytes) -> c.Container:
    (version,) = _VERSION.unpack_from(data)
    return _schema(name, version).parse(data[_VERSION.size :])


def transaction_record(txn_id: str, meta: TransactionMetadata | None) -> tuple[bytes, bytes | None]:
    """The TransactionLogKey and value of ``meta``; a tombstone for None."""
    key = _encode("TransactionLogKey", KEY_VERSION, {"transactional_id": txn_id})
    if meta is None:
        return key, None
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(meta.partitions):
        by_topic.setdefault(topic, []).append(partition)
    version = 1 if meta.client_txn_version >= 2 else 0
    value = _encode(
        "TransactionLogValue",
        version,
        {
            "producer_id": meta.producer_id,
            "previous_producer_id": meta.last_producer_id,
            "next_producer_id": meta.next_producer_id,
            "producer_epoch": meta.producer_epoch,
            "transaction_timeout_ms": meta.timeout_ms,
            "transaction_status": int(meta.state),
            "transaction_partitions": [{"topic": t, "partition_ids": ps} for t, ps in by_topic.items()],
            "transaction_last_update_timestamp_ms": meta.last_update_ms,
            "transaction_start_timestamp_ms": meta.start_ms,
            "client_transaction_version": meta.client_txn_version,
        },
    )
    return key, value


def metadata_from_record(key: bytes, value: bytes) -> TransactionMetadata:
    """The state a record stores; ValueError when it decodes to values no coordinator writes.

    Loaded states are acted on (markers written, epochs bumped), so they must be ones the
    coordinator could have written: a valid producer id and epoch, a positive timeout.
    """
    k = _decode("TransactionLogKey", key)
    v = _decode("TransactionLogValue", value)
    if not k.transactional_id or v.producer_id < 0 or v.producer_epoch < NO_PRODUCER_EPOCH:
        raise ValueError(f"producer id {v.producer_id} and epoch {v.producer_epoch} of {k.transactional_id!r}")
    if v.transaction_timeout_ms <= 0:
        raise ValueError(f"transaction timeout {v.transaction_timeout_ms} ms")
    partitions = {(p.topic, pid) for p in v.transaction_partitions or [] for pid in p.partition_ids}
    return TransactionMetadata(
        transactional_id=k.transactional_id,
        producer_id=v.producer_id,
        producer_epoch=v.producer_epoch,
        last_producer_id=v.get("previous_producer_id", NO_PRODUCER_ID),
        timeout_ms=v.transaction_timeout_ms,
        state=TxnState(v.transaction_status),
        partitions=partitions,
        start_ms=v.transaction_start_timestamp_ms,
        last_update_ms=v.transaction_last_update_timestamp_ms,
        client_txn_version=v.get("client_transaction_version", 0),
        next_producer_id=v.get("next_producer_id", NO_PRODUCER_ID),
    )


def transactional_id_of(key: bytes) -> str:
    return _decode("TransactionLogKey", key).transactional_id


class TransactionStateTopic:
    """Appends to and replays ``__transaction_state``, creating it on first use."""

    def __init__(self, logs: LogManager, num_partitions: int) -> None:
        self._logs = logs
        self._configured_partitions = num_partitions

    def ensure_topic(self) -> TopicState:
        topic = self._logs.topics.get(TRANSACTION_STATE_TOPIC)
        if topic is None:
            topic = self._logs.create_topic(
                TRANSACTION_STATE_TOPIC, self._configured_partitions, TRANSACTION_STATE_TOPIC_CONFIGS
            )
            log.info(
                "created internal topic",
                extra={"topic": TRANSACTION_STATE_TOPIC, "partitions": self._configured_partitions},
            )
        return topic

    def append(self, txn_id: str, meta: TransactionMetadata | None, now_ms: int) -> None:
        """Write the id's new state (or tombstone); raises KafkaError or OSError when it cannot."""
        topic = self.ensure_topic()
        partition = topic.partitions[partition_for(txn_id, len(topic.partitions))]
        key, value = transaction_record(txn_id, meta)
        batch = bytearray(build_batch([(key, value, [], now_ms)]))
        partition.append(batch, validate_batches(batch), now_ms=now_ms)

    def load(self) -> dict[str, TransactionMetadata]:
        """Replay every partition (nothing if the topic does not exist yet)."""
        found: dict[str, TransactionMetadata] = {}
        topic = self._logs.topics.get(TRANSACTION_STATE_TOPIC)
        if topic is None:
            return found
        skipped = SkippedRecords(TRANSACTION_STATE_TOPIC)
        partitions = len(topic.partitions)
        homes = HomePartitions(partitions, lambda txn_id: partition_for(txn_id, partitions))
        for homes.index, partition in enumerate(topic.partitions):
            for header, records in read_batches(partition, skipped):
                for record in records:
                    if record.key is None:
                        continue
                    try:
                        _replay(found, record.key, record.value, homes)
                    except Exception as exc:  # whatever a bogus record raises, start-up goes on without it
                        skipped.skip(partition, header.base_offset, exc)
        skipped.report()
        return found


def _replay(found: dict[str, TransactionMetadata], key: bytes, value: bytes | None, homes: HomePartitions) -> None:
    """Fold one record into ``found``: the id's new state, or its removal by a tombstone."""
    txn_id = transactional_id_of(key)
    meta = None if value is None else metadata_from_record(key, value)
    if not homes.admits(txn_id, txn_id):
        return
    if meta is None:
        found.pop(txn_id, None)
    else:
        found[txn_id] = meta
