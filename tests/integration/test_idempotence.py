"""Idempotent producers against broker crashes: every message exactly once and in order.

The broker is killed (SIGKILL) and restarted on the same port while stock clients keep producing;
their retries of batches the broker had already written must be answered from the producer state
(rebuilt from the `.snapshot` files and the log) instead of being written twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, TopicPartition

from tests.broker_process import BrokerProcess
from tests.integration.clientutil import (
    Deadline,
    consumer,
    create_topic,
    kafka_python_producer,
    producer,
    unique_topic,
)


def read_all(bootstrap: str, topic: str, partitions: int = 1, *, isolation: str = "read_uncommitted") -> list[bytes]:
    """Every value of the topic, in offset order per partition, up to the end (LSO for read_committed)."""
    c = consumer(bootstrap, **{"isolation.level": isolation, "enable.partition.eof": True})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        values: list[bytes] = []
        at_end: set[int] = set()
        deadline = Deadline(60, f"reading {topic}")
        while len(at_end) < partitions:
            deadline.check(f"(got {len(values)})")
            for msg in c.consume(num_messages=10000, timeout=1.0):
                err = msg.error()
                if err is not None and err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                elif err is not None:
                    raise AssertionError(f"consumer error: {err}")
                else:
                    at_end.discard(msg.partition())
                    values.append(msg.value())
        return values
    finally:
        c.close()


def crash_while(broker: BrokerProcess, produce: Callable[[], None], crashes: int, interval: float) -> None:
    """Run ``produce`` in a thread and SIGKILL + restart the broker ``crashes`` times meanwhile."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            produce()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(crashes):
        time.sleep(interval)
        assert thread.is_alive(), "the producer finished before the crash; slow it down"
        port = broker.port
        broker.restart(crash=True)
        assert broker.port == port, "the broker came back on another port; clients cannot follow"
    thread.join(timeout=90)
    assert not thread.is_alive(), "producer did not finish"
    assert not errors, errors


def test_confluent_idempotent_producer_survives_broker_kills(broker: BrokerProcess) -> None:
    topic = unique_topic("idem")
    create_topic(broker.bootstrap, topic, 1)
    total = 20000
    delivered: list[str] = []
    p = producer(
        broker.bootstrap,
        **{"enable.idempotence": True, "message.timeout.ms": 60000, "linger.ms": 2, "batch.num.messages": 200},
    )

    def produce() -> None:
        def report(err: object, msg: object) -> None:
            if err is not None:
                delivered.append(f"error {err}")

        for i in range(total):
            while True:
                try:
                    p.produce(topic, value=f"m{i:06d}".encode(), on_delivery=report)
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 250 == 0:
                p.poll(0)
                time.sleep(0.05)
        left = p.flush(60)
        assert left == 0, f"{left} messages unacknowledged"

    crash_while(broker, produce, crashes=2, interval=1.0)
    assert not delivered, delivered[:5]
    values = read_all(broker.bootstrap, topic)
    assert values == [f"m{i:06d}".encode() for i in range(total)]


def test_kafka_python_idempotent_producer_survives_broker_kill(broker: BrokerProcess) -> None:
    topic = unique_topic("idem-kp")
    create_topic(broker.bootstrap, topic, 1)
    total = 3000
    p = kafka_python_producer(
        broker.bootstrap, enable_idempotence=True, retries=1000, retry_backoff_ms=200, max_block_ms=60000
    )
    futures = []

    def produce() -> None:
        for i in range(total):
            futures.append(p.send(topic, value=f"m{i:05d}".encode()))
            if i % 100 == 0:
                time.sleep(0.05)
        p.flush(timeout=60)

    try:
        crash_while(broker, produce, crashes=1, interval=0.5)
        assert all(f.is_done and f.succeeded() for f in futures)
    finally:
        p.close(timeout=5)
    assert read_all(broker.bootstrap, topic) == [f"m{i:05d}".encode() for i in range(total)]
