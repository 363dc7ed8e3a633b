"""10,000 keyed messages with headers and explicit timestamps, per compression codec, per client.

Each case produces with one stock client (acks=all) into a 3-partition topic and reads the topic
back from the earliest offset with BOTH clients (assign(), no group), checking that every record
comes back exactly as sent, at the offset the producer was acknowledged with, in order within
its partition, and that a key always maps to one partition. confluent-kafka cases create the topic
with AdminClient.create_topics; kafka-python cases rely on auto-creation (--num-partitions 3).
kafka-python producers are idempotent (its default since 3.0); confluent-kafka's are not (its
default), plus one idempotent confluent-kafka case.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from tests.broker_process import BrokerProcess
from tests.integration.clientutil import (
    CODECS,
    ProducedBatch,
    Record,
    consume_confluent,
    consume_kafka_python,
    create_topic,
    kafka_python_producer,
    produce_confluent,
    produce_kafka_python,
    producer,
    unique_topic,
)

N = 10_000
PARTITIONS = 3
DISTINCT_KEYS = 97


@pytest.fixture(scope="module")
def broker3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker whose auto-created topics get 3 partitions."""
    base = tmp_path_factory.mktemp("broker3")
    b = BrokerProcess(base / "data", num_partitions=PARTITIONS, log_path=base / "stderr.log")
    b.start()
    try:
        yield b
    finally:
        b.close()


def expected(i: int, codec: str, base_ts: int) -> dict[str, object]:
    """Message #i: a repeating key, a value of varying size (every 1000th a tombstone), headers."""
    value = None if i % 1000 == 999 else f"value-{i}-".encode() + b"x" * (i % 200)
    return {
        "key": f"key-{i % DISTINCT_KEYS}".encode(),
        "value": value,
        "headers": [
            ("idx", str(i).encode()),
            ("codec", codec.encode()),
            ("dup", b"first"),
            ("dup", b"second"),
            ("empty", b""),
        ],
        "timestamp": base_ts + i,
    }


def verify(records: list[Record], batch: ProducedBatch, codec: str, base_ts: int, reader: str) -> None:
    """Compare what was read back with what was produced and acknowledged."""
    assert not batch.errors, f"produce errors: {batch.errors[:5]} (+{max(0, len(batch.errors) - 5)})"
    assert len(batch.acked) == N
    assert len(records) == N, f"{reader}: read {len(records)} records, produced {N}"

    by_partition: dict[int, list[Record]] = defaultdict(list)
    for r in records:
        by_partition[r.partition].append(r)
    assert sorted(by_partition) == list(range(PARTITIONS)), f"{reader}: partitions {sorted(by_partition)}"

    key_partition: dict[bytes | None, int] = {}
    seen: set[int] = set()
    for partition, recs in by_partition.items():
        offsets = [r.offset for r in recs]
        assert offsets == list(range(len(recs))), f"{reader}: p{partition} offsets not 0..{len(recs) - 1}"
        indexes = [int(dict(r.headers)["idx"]) for r in recs]
        assert indexes == sorted(indexes), f"{reader}: p{partition} out of produce order"
        for r, i in zip(recs, indexes, strict=True):
            want = expected(i, codec, base_ts)
            assert r.key == want["key"], f"{reader}: #{i} key"
            assert r.value == want["value"], f"{reader}: #{i} value"
            assert list(r.headers) == want["headers"], f"{reader}: #{i} headers {r.headers}"
            assert r.timestamp == want["timestamp"], f"{reader}: #{i} timestamp {r.timestamp}"
            assert batch.acked[i] == (r.partition, r.offset), f"{reader}: #{i} not where it was acked"
            assert key_partition.setdefault(r.key, partition) == partition, f"{reader}: key {r.key!r} split"
            seen.add(i)
    assert seen == set(range(N)), f"{reader}: missing {sorted(set(range(N)) - seen)[:10]}"


def read_back_with_both_clients(bootstrap: str, topic: str, codec: str, base_ts: int, batch: ProducedBatch) -> None:
    """Cross-client check: whoever produced, both consumers must see the same records."""
    assignments = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)]
    verify(consume_confluent(bootstrap, assignments, N), batch, codec, base_ts, "confluent-kafka consumer")
    verify(consume_kafka_python(bootstrap, topic, range(PARTITIONS), N), batch, codec, base_ts, "kafka-python consumer")


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_produce_roundtrip(broker3: BrokerProcess, codec: str) -> None:
    topic = unique_topic(f"rt-confluent-{codec}")
    create_topic(broker3.bootstrap, topic, PARTITIONS)
    base_ts = int(time.time() * 1000) - 600_000
    p = producer(broker3.bootstrap, **{"compression.type": codec})
    batch = produce_confluent(p, topic, ((i, expected(i, codec, base_ts)) for i in range(N)))
    read_back_with_both_clients(broker3.bootstrap, topic, codec, base_ts, batch)


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_produce_roundtrip(broker3: BrokerProcess, codec: str) -> None:
    import kafka.codec

    if codec == "snappy" and not kafka.codec.has_snappy():
        pytest.skip("kafka-python needs python-snappy for snappy (in the [test] extras)")
    topic = unique_topic(f"rt-kpy-{codec}")
    base_ts = int(time.time() * 1000) - 600_000
    p = kafka_python_producer(broker3.bootstrap, compression_type=None if codec == "none" else codec)
    try:
        messages = []
        for i in range(N):
            m = expected(i, codec, base_ts)
            messages.append(
                (i, {"key": m["key"], "value": m["value"], "headers": m["headers"], "timestamp_ms": m["timestamp"]})
            )
        batch = produce_kafka_python(p, topic, messages)
    finally:
        p.close(timeout=10)
    read_back_with_both_clients(broker3.bootstrap, topic, codec, base_ts, batch)


def test_kafka_python_default_producer(broker3: BrokerProcess) -> None:
    """A KafkaProducer with only bootstrap_servers set, as most applications create it.

    kafka-python >= 3 makes that an idempotent producer, so this needs InitProducerId.
    """
    from kafka import KafkaProducer

    topic = unique_topic("kpy-defaults")
    p = KafkaProducer(bootstrap_servers=broker3.bootstrap, max_block_ms=10000, request_timeout_ms=10000)
    try:
        first = p.send(topic, key=b"k", value=b"v1").get(timeout=10)
        second = p.send(topic, key=b"k", value=b"v2").get(timeout=10)
    finally:
        p.close(timeout=5)
    assert (first.topic, first.partition) == (second.topic, second.partition) == (topic, first.partition)
    assert (first.offset, second.offset) == (0, 1)


def test_confluent_idempotent_producer(broker3: BrokerProcess) -> None:
    """enable.idempotence=true: InitProducerId, then sequenced batches, all acked exactly once."""
    topic = unique_topic("ck-idempotent")
    create_topic(broker3.bootstrap, topic, PARTITIONS)
    base_ts = int(time.time() * 1000) - 600_000
    p = producer(broker3.bootstrap, **{"enable.idempotence": True, "compression.type": "lz4"})
    batch = produce_confluent(p, topic, ((i, expected(i, "lz4", base_ts)) for i in range(N)))
    assignments = [TopicPartition(topic, q, OFFSET_BEGINNING) for q in range(PARTITIONS)]
    verify(consume_confluent(broker3.bootstrap, assignments, N), batch, "lz4", base_ts, "confluent-kafka consumer")
