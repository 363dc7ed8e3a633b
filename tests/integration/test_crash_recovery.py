"""Durability across kill -9 and graceful shutdown, on the same data directory.

The promise checked: every message the broker acknowledged with acks=all is readable after a
SIGKILL and restart, at the offset it was acknowledged with, and new produces continue right after
the last record (next offset == count), not over it and not after a gap.
"""

from __future__ import annotations

import signal
from collections import Counter, defaultdict

import pytest
from confluent_kafka import KafkaError, TopicPartition

from tests.broker_process import BrokerProcess
from tests.integration.clientutil import (
    Deadline,
    ProducedBatch,
    Record,
    consume_confluent,
    consume_kafka_python,
    consumer,
    create_topic,
    kafka_python_producer,
    produce_confluent,
    produce_kafka_python,
    producer,
    unique_topic,
)

N = 3000
PARTITIONS = 3


def value_of(i: int) -> bytes:
    return f"durable-{i}".encode()


def messages(count: int, start: int = 0) -> list[tuple[int, dict[str, object]]]:
    return [(i, {"key": f"k{i % 31}".encode(), "value": value_of(i)}) for i in range(start, start + count)]


def produce_with(client: str, bootstrap: str, topic: str, msgs: list[tuple[int, dict[str, object]]]) -> ProducedBatch:
    if client == "confluent-kafka":
        return produce_confluent(producer(bootstrap), topic, msgs)
    p = kafka_python_producer(bootstrap)
    try:
        return produce_kafka_python(p, topic, msgs)
    finally:
        p.close(timeout=10)


def read_all(client: str, bootstrap: str, topic: str, expected: int) -> list[Record]:
    if client == "confluent-kafka":
        return consume_confluent(bootstrap, [TopicPartition(topic, p, 0) for p in range(PARTITIONS)], expected)
    return consume_kafka_python(bootstrap, topic, range(PARTITIONS), expected)


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    c = consumer(bootstrap)
    try:
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1] for p in range(PARTITIONS)
        }
    finally:
        c.close()


def assert_all_acked_present(records: list[Record], batch: ProducedBatch) -> None:
    """Every acknowledged (partition, offset) holds the acknowledged value, with no duplicates."""
    at = {(r.partition, r.offset): r.value for r in records}
    assert len(at) == len(records), "the same offset was delivered twice"
    missing = [(i, po) for i, po in batch.acked.items() if po not in at]
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:5]}"
    wrong = [(i, po, at[po]) for i, po in batch.acked.items() if at[po] != value_of(i)]
    assert not wrong, f"{len(wrong)} offsets hold other data than acknowledged, e.g. {wrong[:5]}"


@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python"])
def test_acked_messages_survive_kill9(broker_factory, client: str) -> None:
    b: BrokerProcess = broker_factory(num_partitions=PARTITIONS)
    topic = unique_topic("crash")
    create_topic(b.bootstrap, topic, PARTITIONS)
    batch = produce_with(client, b.bootstrap, topic, messages(N))
    assert not batch.errors, batch.errors[:5]
    assert len(batch.acked) == N
    per_partition = Counter(p for p, _ in batch.acked.values())

    b.restart(crash=True)

    assert high_watermarks(b.bootstrap, topic) == {p: per_partition[p] for p in range(PARTITIONS)}
    records = read_all(client, b.bootstrap, topic, N)
    assert len(records) == N
    assert_all_acked_present(records, batch)

    more = [(N + p, {"value": value_of(N + p), "partition": p}) for p in range(PARTITIONS)]
    after = produce_with(client, b.bootstrap, topic, more)
    assert not after.errors, after.errors
    assert {after.acked[N + p] for p in range(PARTITIONS)} == {(p, per_partition[p]) for p in range(PARTITIONS)}


def test_kill9_during_produce_keeps_acked_prefix(broker_factory) -> None:
    """Crash with produce requests in flight: acked data survives, the log stays consistent."""
    b: BrokerProcess = broker_factory(num_partitions=PARTITIONS)
    topic = unique_topic("crash-inflight")
    create_topic(b.bootstrap, topic, PARTITIONS)
    total = 30_000
    batch = ProducedBatch()
    p = producer(b.bootstrap, **{"linger.ms": 2, "batch.num.messages": 500, "message.timeout.ms": 60000})

    def report(index: int):
        def cb(err: KafkaError | None, msg) -> None:
            if err is None:
                batch.acked[index] = (msg.partition(), msg.offset())
            else:
                batch.errors.append(str(err))

        return cb

    for i, kwargs in messages(total):
        while True:
            try:
                p.produce(topic, on_delivery=report(i), **kwargs)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if len(batch.acked) >= 2000:
            break
    deadline = Deadline(30, "2000 acknowledgements before the crash")
    while len(batch.acked) < 2000:
        deadline.check(f"(acked {len(batch.acked)}, errors {batch.errors[:3]})")
        p.poll(0.1)
    b.kill9()
    p.purge()
    p.flush(5)
    assert len(batch.acked) >= 2000

    b.start()
    highs = high_watermarks(b.bootstrap, topic)
    records = consume_confluent(
        b.bootstrap, [TopicPartition(topic, q, 0) for q in range(PARTITIONS)], sum(highs.values())
    )
    assert_all_acked_present(records, batch)
    by_partition: dict[int, list[Record]] = defaultdict(list)
    for r in records:
        by_partition[r.partition].append(r)
    valid = {value_of(i) for i in range(total)}
    for q, recs in by_partition.items():
        assert [r.offset for r in recs] == list(range(highs[q])), f"p{q}: offsets have gaps"
        assert all(r.value in valid for r in recs), f"p{q}: a record that was never produced"
        order = [int(r.value.split(b"-")[1]) for r in recs]
        assert order == sorted(order) and len(set(order)) == len(order), f"p{q}: reordered or duplicated"

    nxt = produce_confluent(producer(b.bootstrap), topic, [(total, {"value": b"after", "partition": 0})])
    assert not nxt.errors and nxt.acked[total] == (0, highs[0])


def test_sigterm_is_graceful_and_durable(broker_factory) -> None:
    b: BrokerProcess = broker_factory()
    topic = unique_topic("sigterm")
    create_topic(b.bootstrap, topic, 1)
    batch = produce_confluent(producer(b.bootstrap, acks="1"), topic, messages(500))
    assert not batch.errors and len(batch.acked) == 500
    assert b.terminate(timeout=10) == 0, "broker should exit 0 on SIGTERM"
    b.start()
    records = consume_confluent(b.bootstrap, [TopicPartition(topic, 0, 0)], 500)
    assert_all_acked_present(records, batch)
    assert b.terminate(timeout=10, sig=signal.SIGINT) == 0, "broker should exit 0 on SIGINT"
