"""ListOffsets: earliest/latest watermarks and offset lookup by timestamp, with both clients.

Partition 0 gets its records in one produce batch, partition 1 one record per request (so a
timestamp search has to cross batch boundaries), partition 2 stays empty. The rule checked is
Kafka's: the answer is the earliest offset whose timestamp is >= the query, or "none" (-1 for
confluent-kafka, None for kafka-python) when every record is older than the query.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

from tests.broker_process import BrokerProcess
from tests.integration.clientutil import (
    consumer,
    create_topic,
    flush_all,
    kafka_python_consumer,
    producer,
    unique_topic,
)

P0_COUNT = 10
P1_COUNT = 5
STEP = 1000


def p0_ts(base: int, i: int) -> int:
    return base + STEP * i


def p1_ts(base: int, j: int) -> int:
    return base + 500 + 2 * STEP * j


@pytest.fixture(scope="module")
def timestamped(shared_broker: BrokerProcess) -> Iterator[tuple[str, int]]:
    """A 3-partition topic with records at known timestamps; yields (topic, base timestamp)."""
    topic = unique_topic("ts")
    create_topic(shared_broker.bootstrap, topic, 3)
    base = int(time.time() * 1000) - 3_600_000
    p = producer(shared_broker.bootstrap, **{"linger.ms": 50})
    errors: list[str] = []

    def report(err: object, msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for i in range(P0_COUNT):
        p.produce(topic, value=f"p0-{i}".encode(), partition=0, timestamp=p0_ts(base, i), on_delivery=report)
    flush_all(p)
    for j in range(P1_COUNT):
        p.produce(topic, value=f"p1-{j}".encode(), partition=1, timestamp=p1_ts(base, j), on_delivery=report)
        flush_all(p)
    assert not errors, errors
    yield topic, base


def timestamp_cases(base: int) -> list[tuple[int, int, int | None]]:
    """(partition, query timestamp, expected offset or None) triples."""
    cases: list[tuple[int, int, int | None]] = [
        (0, base - 10_000, 0),
        (0, base, 0),
        (0, base + 1, 1),
        (0, p0_ts(base, 3), 3),
        (0, p0_ts(base, 3) + 1, 4),
        (0, p0_ts(base, P0_COUNT - 1), P0_COUNT - 1),
        (0, p0_ts(base, P0_COUNT - 1) + 1, None),
        (1, base, 0),
        (1, p1_ts(base, 2) - 1, 2),
        (1, p1_ts(base, 2), 2),
        (1, p1_ts(base, P1_COUNT - 1), P1_COUNT - 1),
        (1, p1_ts(base, P1_COUNT - 1) + 1, None),
        (2, base, None),
    ]
    return cases


def test_confluent_watermarks(shared_broker: BrokerProcess, timestamped: tuple[str, int]) -> None:
    topic, _ = timestamped
    c = consumer(shared_broker.bootstrap)
    try:
        got = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False) for p in range(3)}
        assert got == {0: (0, P0_COUNT), 1: (0, P1_COUNT), 2: (0, 0)}
        special = c.offsets_for_times(
            [TopicPartition(topic, 0, OFFSET_BEGINNING), TopicPartition(topic, 1, OFFSET_END)], timeout=10
        )
        assert [(tp.partition, tp.offset, tp.error) for tp in special] == [(0, 0, None), (1, P1_COUNT, None)]
    finally:
        c.close()


def test_confluent_offsets_for_times(shared_broker: BrokerProcess, timestamped: tuple[str, int]) -> None:
    topic, base = timestamped
    cases = timestamp_cases(base)
    c = consumer(shared_broker.bootstrap)
    try:
        # One query per call: a request naming the same partition twice is invalid in Kafka.
        got = []
        for p, ts, _ in cases:
            [tp] = c.offsets_for_times([TopicPartition(topic, p, ts)], timeout=10)
            got.append((p, ts, tp.offset, tp.error))
    finally:
        c.close()
    want = [(p, ts, -1 if off is None else off, None) for p, ts, off in cases]
    assert got == want


def test_confluent_seek_by_time_then_consume(shared_broker: BrokerProcess, timestamped: tuple[str, int]) -> None:
    """The offset found by timestamp is a real position: consuming from it yields that record."""
    topic, base = timestamped
    c = consumer(shared_broker.bootstrap)
    try:
        [tp] = c.offsets_for_times([TopicPartition(topic, 0, p0_ts(base, 6) - 1)], timeout=10)
        assert tp.offset == 6
        c.assign([tp])
        deadline = time.monotonic() + 15
        msg = None
        while msg is None and time.monotonic() < deadline:
            msg = c.poll(1.0)
        assert msg is not None, "no record within 15s after seeking by timestamp"
        assert msg.error() is None, msg.error()
        assert (msg.offset(), msg.value(), msg.timestamp()[1]) == (6, b"p0-6", p0_ts(base, 6))
    finally:
        c.close()


def test_kafka_python_beginning_end_offsets(shared_broker: BrokerProcess, timestamped: tuple[str, int]) -> None:
    from kafka import TopicPartition as KTopicPartition

    topic, _ = timestamped
    tps = [KTopicPartition(topic, p) for p in range(3)]
    c = kafka_python_consumer(shared_broker.bootstrap)
    try:
        assert c.beginning_offsets(tps, timeout_ms=10000) == dict.fromkeys(tps, 0)
        assert c.end_offsets(tps, timeout_ms=10000) == dict(zip(tps, [P0_COUNT, P1_COUNT, 0], strict=True))
    finally:
        c.close()


def test_kafka_python_offsets_for_times(shared_broker: BrokerProcess, timestamped: tuple[str, int]) -> None:
    from kafka import TopicPartition as KTopicPartition

    topic, base = timestamped
    stamps = {0: [p0_ts(base, i) for i in range(P0_COUNT)], 1: [p1_ts(base, j) for j in range(P1_COUNT)]}
    c = kafka_python_consumer(shared_broker.bootstrap)
    try:
        for partition, ts, want in timestamp_cases(base):
            tp = KTopicPartition(topic, partition)
            got = c.offsets_for_times({tp: ts}, timeout_ms=10000)[tp]
            if want is None:
                assert got is None, f"p{partition} ts={ts}: expected no offset, got {got}"
            else:
                assert got is not None, f"p{partition} ts={ts}: expected offset {want}, got None"
                assert (got.offset, got.timestamp) == (want, stamps[partition][want]), f"p{partition} ts={ts}"
    finally:
        c.close()
