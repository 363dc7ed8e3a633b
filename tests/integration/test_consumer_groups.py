"""KIP-848 consumer groups with a real client: confluent-kafka (librdkafka >= 2.12) with
``group.protocol=consumer`` over TCP against a real broker process."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from kafkapy.testing.process import BrokerProcess
from tests.integration.clientutil import (
    Deadline,
    base_conf,
    create_topic,
    flush_all,
    producer,
    unique_topic,
)

# Short heartbeats so reconciliation takes seconds, not Kafka's 5 s per step.
FAST = ("--override", "group.consumer.heartbeat.interval.ms=200")


def _consumer(bootstrap: str, group: str, **conf: object) -> Consumer:
    return Consumer(
        {
            **base_conf(bootstrap),
            "group.id": group,
            "group.protocol": "consumer",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **conf,
        }
    )


def _produce(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    p = producer(bootstrap)
    for partition in range(partitions):
        for i in range(per_partition):
            p.produce(topic, value=f"{partition}-{i}".encode(), partition=partition)
    flush_all(p)


def _poll_until(consumers: list[Consumer], done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = Deadline(timeout, what)
    while not done():
        for c in consumers:
            msg = c.poll(0.1)
            assert msg is None or msg.error() is None or msg.error().retriable(), msg.error()
        deadline.check()


def test_a_consumer_protocol_member_gets_every_partition_consumes_and_commits(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    broker = broker_factory(extra_args=FAST)
    topic, group = unique_topic("cg"), unique_topic("group")
    create_topic(broker.bootstrap, topic, 3)
    _produce(broker.bootstrap, topic, 3, 5)
    c = _consumer(broker.bootstrap, group)
    try:
        c.subscribe([topic])
        seen: list[tuple[int, int]] = []
        deadline = Deadline(60, "15 records through the consumer protocol")
        while len(seen) < 15:
            msg = c.poll(0.2)
            if msg is not None and msg.error() is None:
                seen.append((msg.partition(), msg.offset()))
            deadline.check(f"seen {len(seen)}")
        assert {tp.partition for tp in c.assignment()} == {0, 1, 2}
        c.commit(asynchronous=False)
        committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert [(tp.partition, tp.offset) for tp in committed] == [(0, 5), (1, 5), (2, 5)]
    finally:
        c.close()
    # The offsets outlive the member, as a fresh consumer of the group sees.
    c = _consumer(broker.bootstrap, group)
    try:
        committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert [tp.offset for tp in committed] == [5, 5, 5]
    finally:
        c.close()


def test_two_members_split_the_partitions_without_overlap(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(extra_args=FAST)
    topic, group = unique_topic("cg"), unique_topic("group")
    create_topic(broker.bootstrap, topic, 4)
    a, b = _consumer(broker.bootstrap, group), _consumer(broker.bootstrap, group)
    try:
        a.subscribe([topic])
        _poll_until([a], lambda: len(a.assignment()) == 4, "the first member owns all 4 partitions")
        b.subscribe([topic])

        def split() -> bool:
            mine, theirs = {tp.partition for tp in a.assignment()}, {tp.partition for tp in b.assignment()}
            return len(mine) == 2 and len(theirs) == 2 and not mine & theirs

        _poll_until([a, b], split, "the two members own 2 partitions each")
    finally:
        a.close()
        b.close()
