"""kafkapy.testing's helpers (produce, consume, offsets, groups, configs) against kafkapy and real Apache Kafka.

The same assertions run against a kafkapy broker and a single-node Apache Kafka 4.3.1
(compat_tests/reference_kafka.py; skipped when Java or Kafka's jars are missing), since the
helpers are meant for suites that run against either.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from kafkapy.testing import KafkaBroker, WaitTimeout, helpers
from kafkapy.testing.broker import ExternalKafka


@pytest.fixture(scope="module", params=["kafkapy", "apache-kafka"])
def kafka(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExternalKafka]:
    if request.param == "kafkapy":
        with KafkaBroker(config={"group.initial.rebalance.delay.ms": "0"}) as broker:
            yield ExternalKafka(broker.bootstrap_servers)
        return
    from compat_tests.reference_kafka import LIB_DIR, ReferenceKafka

    if not (LIB_DIR / "kafka_2.13-4.3.1.jar").exists():
        pytest.skip(f"Apache Kafka's jars are not assembled in {LIB_DIR} (compat_tests/reference_kafka.py)")
    with ReferenceKafka(Path(tmp_path_factory.mktemp("reference-kafka"))) as reference:
        yield ExternalKafka(reference.bootstrap)


def new_topic(kafka: ExternalKafka, partitions: int = 1, config: dict[str, str] | None = None) -> str:
    name = f"helpers-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(name, partitions, config)
    return name


def test_produce_consume_and_offsets(kafka: ExternalKafka) -> None:
    topic = new_topic(kafka, partitions=2)
    values = [f"v{i}".encode() for i in range(1200)]  # more than one produce batch
    assert helpers.produce(kafka.bootstrap_servers, topic, values) == list(range(1200))
    assert helpers.produce(kafka.bootstrap_servers, topic, [("k", "text"), (None, None)], partition=1) == [0, 1]
    assert helpers.end_offsets(kafka.bootstrap_servers, topic) == {0: 1200, 1: 2}
    assert helpers.beginning_offsets(kafka.bootstrap_servers, topic) == {0: 0, 1: 0}
    records = helpers.consume(kafka.bootstrap_servers, topic, 1202)
    assert [r.value for r in records if r.partition == 0] == values
    assert [(r.key, r.value, r.offset) for r in records if r.partition == 1] == [(b"k", b"text", 0), (None, None, 1)]
    tail = helpers.consume(kafka.bootstrap_servers, topic, 2, from_offsets={0: 1198})
    assert [r.value for r in tail] == [b"v1198", b"v1199"]
    only_one = helpers.consume(kafka.bootstrap_servers, topic, 2, partitions=[1])
    assert [(r.partition, r.value) for r in only_one] == [(1, b"text"), (1, None)]
    with pytest.raises(WaitTimeout, match="1202 of 1203 records"):
        helpers.consume(kafka.bootstrap_servers, topic, 1203, timeout=1)


def test_single_record(kafka: ExternalKafka) -> None:
    topic = new_topic(kafka)
    helpers.produce(kafka.bootstrap_servers, topic, [(b"id", b"only")])
    record = helpers.single_record(kafka.bootstrap_servers, topic)
    assert (record.topic, record.partition, record.offset, record.key, record.value) == (topic, 0, 0, b"id", b"only")
    helpers.produce(kafka.bootstrap_servers, topic, [b"second"])
    with pytest.raises(AssertionError, match="expected a single record"):
        helpers.single_record(kafka.bootstrap_servers, topic)


def test_consume_skips_aborted_transactions(kafka: ExternalKafka) -> None:
    topic = new_topic(kafka)
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    for value, commit in ((b"aborted", False), (b"committed", True)):
        producer.begin_transaction()
        producer.produce(topic, value=value, partition=0)
        producer.flush(10)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    assert [r.value for r in helpers.consume(kafka.bootstrap_servers, topic, 1)] == [b"committed"]
    assert [r.value for r in helpers.consume(kafka.bootstrap_servers, topic, 2, read_committed=False)] == [
        b"aborted",
        b"committed",
    ]


def test_topic_configs(kafka: ExternalKafka) -> None:
    topic = new_topic(kafka, config={"retention.ms": "123456"})
    configs = helpers.topic_configs(kafka.bootstrap_servers, topic)
    assert configs["retention.ms"] == "123456"
    assert configs["cleanup.policy"] == "delete"


def test_group_helpers(kafka: ExternalKafka) -> None:
    topic = new_topic(kafka, partitions=2)
    group = f"group-{topic}"
    helpers.produce(kafka.bootstrap_servers, topic, [b"a", b"b", b"c"])
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap_servers, "group.id": group, "enable.auto.commit": False}
    )
    consumer.subscribe([topic])
    stop = threading.Event()

    def keep_polling() -> None:
        """The consumer must keep polling to join the group and take its assignment."""
        while not stop.is_set():
            consumer.poll(0.1)

    poller = threading.Thread(target=keep_polling, daemon=True)
    poller.start()
    try:
        described = helpers.wait_for_group(kafka.bootstrap_servers, group, members=1, partitions=2)
        assert described.assigned_partitions == {(topic, 0), (topic, 1)}
        assert described.protocol == "range"
        # librdkafka serves a synchronous commit through the thread that polls: stop polling first.
        stop.set()
        poller.join(10)
        consumer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
        assert helpers.committed_offsets(kafka.bootstrap_servers, group) == {(topic, 0): 1}
        assert helpers.group_lag(kafka.bootstrap_servers, group) == {(topic, 0): 2}
        with pytest.raises(WaitTimeout, match="Stable"):
            helpers.wait_for_group(kafka.bootstrap_servers, group, members=2, timeout=1)
    finally:
        stop.set()
        poller.join(10)
        consumer.close()
    assert helpers.describe_group(kafka.bootstrap_servers, group).state == "Empty"
