"""Compaction: the latest record per key survives, tombstones go after delete.retention.ms."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.broker_process import BrokerProcess
from tests.integration.clientutil import Deadline, base_conf, consumer, produce_confluent, producer

RECORDS = 100_000
KEYS = 1_000
DELETED = {f"key-{k}".encode() for k in range(0, KEYS, 10)}


def read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes | None]]:
    """Every record from the start: (offset, key, value)."""
    c = consumer(bootstrap, **{"enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = Deadline(30, "reading the compacted topic")
    try:
        while True:
            deadline.check()
            msg = c.poll(1.0)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    return out
                raise AssertionError(msg.error())
            out.append((msg.offset(), msg.key(), msg.value()))
    finally:
        c.close()


def test_compaction_keeps_latest_value_per_key_and_drops_tombstones(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    b = broker_factory(extra_args=("--override", "log.cleaner.backoff.ms=100"))
    configs = {
        "cleanup.policy": "compact",
        "segment.bytes": "100000",
        "delete.retention.ms": "500",
        "min.cleanable.dirty.ratio": "0.01",
        "file.delete.delay.ms": "100",
    }
    admin = AdminClient(base_conf(b.bootstrap))
    admin.create_topics([NewTopic("table", 1, 1, config=configs)])["table"].result(10)
    p = producer(b.bootstrap, **{"linger.ms": 20, "batch.size": 50000})
    messages = [{"key": f"key-{i % KEYS}".encode(), "value": f"value-{i}".encode()} for i in range(RECORDS)]
    messages += [{"key": key, "value": None} for key in sorted(DELETED)]
    # More updates of a few keys, so the tombstones leave the active segment (it is never cleaned).
    messages += [{"key": f"filler-{i % 10}".encode(), "value": f"filler-value-{i}".encode()} for i in range(5000)]
    batch = produce_confluent(p, "table", enumerate(messages))
    assert not batch.errors, batch.errors[:3]
    expected = {m["key"]: m["value"] for m in messages}
    expected = {key: value for key, value in expected.items() if value is not None}
    total = RECORDS + len(DELETED) + 5000

    # The active segment is never cleaned: only filler keys, written last, may appear more than once.
    deadline = Deadline(90, "compaction down to one record per live key")
    while True:
        records = read_all(b.bootstrap, "table")
        main = [key for _, key, _ in records if not key.startswith(b"filler")]
        tombstones = [key for _, key, value in records if value is None]
        if len(main) == len(set(main)) and not tombstones:
            break
        deadline.check(f"({len(records)} records, {len(main)} of non-filler keys, {len(tombstones)} tombstones)")
    offsets = [offset for offset, _, _ in records]
    assert offsets == sorted(set(offsets)) and offsets[-1] < total
    assert {key: value for _, key, value in records} == expected
    assert set(main) == {key for key in expected if not key.startswith(b"filler")}
    assert not DELETED & set(main)
