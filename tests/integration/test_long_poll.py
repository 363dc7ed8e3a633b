"""Fetch long-polling: an idle fetch is held for up to max wait, and released as soon as data lands.

The catch-up tests fetch with a min_bytes no response can reach over segments that each hold one
batch: Kafka answers a fetch whose offset lies in a closed segment at once (the read stops at the
segment's end, so waiting cannot make the response grow), where a broker that waits pays the whole
max wait per segment. The release test parks a consumer at the end of the log with a 5 s max wait and produces 0.5 s
later; a broker that only answers when the wait expires delivers ~4.5 s late and fails the 3 s
bound. The hold test counts Fetch requests in librdkafka's statistics: a broker that answers
empty fetches immediately makes the client spin through hundreds of them.
"""

from __future__ import annotations

import json
import time

from confluent_kafka import TopicPartition

from kafkapy.client.wire import WireClient
from kafkapy.protocol.records import build_batch, decode_records
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import (
    Deadline,
    consumer,
    create_topic,
    create_topic_wire,
    flush_all,
    kafka_python_consumer,
    kafka_python_producer,
    produce_wire,
    producer,
    unique_topic,
)

MAX_WAIT_MS = 5000
PRODUCE_AFTER_S = 0.5
MAX_LATENCY_S = 3.0


def test_confluent_fetch_released_when_data_arrives(shared_broker: BrokerProcess) -> None:
    topic = unique_topic("longpoll-ck")
    create_topic(shared_broker.bootstrap, topic, 1)
    p = producer(shared_broker.bootstrap, **{"linger.ms": 0})
    p.produce(topic, value=b"warm-up")
    flush_all(p)
    c = consumer(shared_broker.bootstrap, **{"fetch.wait.max.ms": MAX_WAIT_MS})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = Deadline(15, "warm-up record")
        while True:
            deadline.check()
            msg = c.poll(0.5)
            if msg is not None:
                assert msg.error() is None, msg.error()
                assert msg.value() == b"warm-up"
                break
        # The consumer's fetcher now sits at the end of the log with a 5 s fetch in flight.
        time.sleep(PRODUCE_AFTER_S)
        sent = time.monotonic()
        p.produce(topic, value=b"wake-up")
        flush_all(p, timeout=10)
        msg = None
        while msg is None and time.monotonic() - sent < MAX_WAIT_MS / 1000 + 5:
            msg = c.poll(0.05)
        latency = time.monotonic() - sent
        assert msg is not None, "record produced at the end of the log never reached the consumer"
        assert msg.error() is None, msg.error()
        assert msg.value() == b"wake-up"
        assert latency < MAX_LATENCY_S, f"delivered {latency:.2f}s after produce (max wait {MAX_WAIT_MS} ms)"
    finally:
        c.close()


def test_kafka_python_fetch_released_when_data_arrives(shared_broker: BrokerProcess) -> None:
    from kafka import TopicPartition as KTopicPartition

    topic = unique_topic("longpoll-kpy")
    create_topic(shared_broker.bootstrap, topic, 1)
    p = kafka_python_producer(shared_broker.bootstrap, linger_ms=0)
    c = kafka_python_consumer(shared_broker.bootstrap, fetch_max_wait_ms=MAX_WAIT_MS)
    try:
        p.send(topic, value=b"warm-up").get(timeout=15)
        tp = KTopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 0)
        deadline = Deadline(15, "warm-up record")
        got: list[bytes] = []
        while not got:
            deadline.check()
            got = [r.value for rs in c.poll(timeout_ms=500).values() for r in rs]
        assert got == [b"warm-up"]
        # One more poll sends the next fetch, which the broker should now hold at the log end.
        assert c.poll(timeout_ms=200) == {}
        time.sleep(PRODUCE_AFTER_S)
        sent = time.monotonic()
        p.send(topic, value=b"wake-up").get(timeout=10)
        got = []
        while not got and time.monotonic() - sent < MAX_WAIT_MS / 1000 + 5:
            got = [r.value for rs in c.poll(timeout_ms=50).values() for r in rs]
        latency = time.monotonic() - sent
        assert got == [b"wake-up"], f"got {got}"
        assert latency < MAX_LATENCY_S, f"delivered {latency:.2f}s after produce (max wait {MAX_WAIT_MS} ms)"
    finally:
        c.close()
        p.close(timeout=10)


def test_idle_fetch_is_held_for_max_wait(shared_broker: BrokerProcess) -> None:
    topic = unique_topic("longpoll-idle")
    create_topic(shared_broker.bootstrap, topic, 1)
    samples: list[tuple[float, int]] = []

    def on_stats(raw: str) -> None:
        brokers = json.loads(raw).get("brokers", {})
        fetches = sum(b.get("req", {}).get("Fetch", 0) for b in brokers.values() if b.get("nodeid", -1) >= 0)
        samples.append((time.monotonic(), fetches))

    wait_ms = 1000
    c = consumer(
        shared_broker.bootstrap,
        **{"fetch.wait.max.ms": wait_ms, "statistics.interval.ms": 250, "stats_cb": on_stats},
    )
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            msg = c.poll(0.1)
            assert msg is None, f"idle consumer got {msg.error() or msg.value()!r}"
    finally:
        c.close()
    window = [(t, n) for t, n in samples if t >= samples[0][0] + 1.0] if samples else []
    assert len(window) >= 2, f"too few statistics samples: {samples}"
    (t0, n0), (t1, n1) = window[0], window[-1]
    seconds = t1 - t0
    fetches = n1 - n0
    assert fetches >= 1, f"no Fetch requests in {seconds:.1f}s at the log end"
    most = seconds / (wait_ms / 1000) * 2 + 2
    assert fetches <= most, (
        f"{fetches} Fetch requests in {seconds:.1f}s with fetch.wait.max.ms={wait_ms}: "
        "the broker is answering idle fetches without waiting"
    )


CATCH_UP_WAIT_MS = 20000
CATCH_UP_SEGMENTS = 12


def _fetch(client: WireClient, topic: str, offset: int, **limits: int) -> tuple[dict, float]:
    """One Fetch v12 of partition 0 from ``offset``; the partition's response and how long it took."""
    body = {
        "replica_id": -1,
        "max_wait_ms": limits.get("max_wait_ms", CATCH_UP_WAIT_MS),
        "min_bytes": limits.get("min_bytes", 1 << 20),
        "max_bytes": limits.get("max_bytes", 1 << 20),
        "isolation_level": 0,
        "topics": [
            {
                "topic": topic,
                "partitions": [
                    {
                        "partition": 0,
                        "fetch_offset": offset,
                        "log_start_offset": -1,
                        "partition_max_bytes": limits.get("partition_max_bytes", 1 << 20),
                    }
                ],
            }
        ],
    }
    sent = time.monotonic()
    response = client.request(1, 12, body)
    return response.responses[0].partitions[0], time.monotonic() - sent


def _one_batch_per_segment(client: WireClient, topic: str, batches: int) -> None:
    """A topic whose segments each hold one batch: segment.bytes below two batches rolls at every append."""
    create_topic_wire(client, topic, **{"segment.bytes": "1024"})
    for i in range(batches):
        produce_wire(client, topic, build_batch([(None, b"%04d" % i + b"x" * 600, [], None)]))


def test_fetch_catching_up_over_closed_segments_is_not_paced_by_max_wait(shared_broker: BrokerProcess) -> None:
    topic = unique_topic("catch-up")
    with WireClient.connect(shared_broker.bootstrap, timeout=CATCH_UP_WAIT_MS / 1000 * 2) as client:
        _one_batch_per_segment(client, topic, CATCH_UP_SEGMENTS)
        # Every segment but the active one: one round trip each, answered with its batch, not after max wait.
        for offset in range(CATCH_UP_SEGMENTS - 1):
            partition, took = _fetch(client, topic, offset)
            assert partition.error_code == 0
            records = [r.value for _, rs in decode_records(partition.records) for r in rs]
            assert records == [b"%04d" % offset + b"x" * 600], f"round trip {offset}"
            assert took < CATCH_UP_WAIT_MS / 1000, f"round trip {offset} waited out max_wait ({took:.1f}s)"


def test_confluent_consumer_catching_up_with_fetch_min_bytes_is_not_paced_by_max_wait(
    shared_broker: BrokerProcess,
) -> None:
    """librdkafka with fetch.min.bytes 1 MB over one-batch segments: all of them within one max wait
    (a broker holding each fetch took CATCH_UP_SEGMENTS - 1 max waits)."""
    topic = unique_topic("catch-up-ck")
    with WireClient.connect(shared_broker.bootstrap) as client:
        _one_batch_per_segment(client, topic, CATCH_UP_SEGMENTS)
    c = consumer(shared_broker.bootstrap, **{"fetch.min.bytes": 1 << 20, "fetch.wait.max.ms": CATCH_UP_WAIT_MS})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = Deadline(CATCH_UP_WAIT_MS / 1000, "the records of every closed segment within one max wait")
        values: list[bytes] = []
        while len(values) < CATCH_UP_SEGMENTS - 1:
            deadline.check(f"({len(values)} so far)")
            msg = c.poll(0.2)
            if msg is not None:
                assert msg.error() is None, msg.error()
                values.append(msg.value())
        assert values == [b"%04d" % i + b"x" * 600 for i in range(CATCH_UP_SEGMENTS - 1)]
    finally:
        c.close()


def test_fetch_whose_min_bytes_exceeds_max_bytes_answers_a_full_response(shared_broker: BrokerProcess) -> None:
    """Kafka caps min_bytes at max_bytes: a response as full as max_bytes allows is ready (active segment too)."""
    topic = unique_topic("min-over-max")
    with WireClient.connect(shared_broker.bootstrap, timeout=CATCH_UP_WAIT_MS / 1000 * 2) as client:
        create_topic_wire(client, topic)
        batch = build_batch([(None, b"y" * 5000, [], None)])
        for _ in range(3):
            produce_wire(client, topic, batch)
        partition, took = _fetch(client, topic, 0, min_bytes=1 << 20, max_bytes=2 * len(batch))
        assert len(partition.records) == 2 * len(batch)
        assert took < CATCH_UP_WAIT_MS / 1000, f"waited out max_wait ({took:.1f}s)"
        # partition_max_bytes does not cap min_bytes (Kafka's DelayedFetch counts at most that much per
        # partition): with the data in the active segment this fetch waits for more until max wait.
        limits = {"min_bytes": 4 * len(batch), "partition_max_bytes": 2 * len(batch), "max_wait_ms": 300}
        partition, took = _fetch(client, topic, 0, **limits)
        assert len(partition.records) == 2 * len(batch)
        assert took >= 0.3


def test_fetch_with_min_bytes_zero_answers_at_once(shared_broker: BrokerProcess) -> None:
    """Kafka answers a fetch with min_bytes 0 at once, even with nothing to read."""
    topic = unique_topic("min-zero")
    create_topic(shared_broker.bootstrap, topic, 1)
    with WireClient.connect(shared_broker.bootstrap, timeout=CATCH_UP_WAIT_MS / 1000 * 2) as client:
        partition, took = _fetch(client, topic, 0, min_bytes=0)
        assert partition.error_code == 0 and len(partition.records) == 0
        assert took < CATCH_UP_WAIT_MS / 1000, f"waited out max_wait ({took:.1f}s)"
