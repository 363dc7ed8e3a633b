"""``kafkapy serve --storage memory``: the whole broker over MemoryFS, with stock clients.

The same storage code runs as with disk storage; only the file system differs. Nothing is written:
the data dir is never created, and a restart starts from nothing (that is the contract).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from kafkapy.testing import KafkaBroker
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import (
    CODECS,
    Deadline,
    base_conf,
    consume_confluent,
    create_topic,
    produce_confluent,
    producer,
    unique_topic,
)
from tests.integration.test_idempotence import read_all
from tests.integration.test_testing_api import round_trip
from tests.integration.test_transactions import produce_txn, txn_producer

MEMORY = ("--storage", "memory")


@pytest.fixture(scope="module")
def memory_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One memory-storage broker for the module; its data dir must never appear."""
    base = tmp_path_factory.mktemp("memory-broker")
    broker = BrokerProcess(base / "data", log_path=base / "stderr.log", extra_args=MEMORY)
    broker.start()
    try:
        yield broker
    finally:
        broker.close()
    assert not broker.data_dir.exists()
    assert sorted(p.name for p in base.iterdir()) == ["stderr.log"]


def group_consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            **base_conf(bootstrap),
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )


def poll_values(c: Consumer, count: int) -> list[bytes]:
    """``count`` values from a subscribed consumer, committing after each (synchronously)."""
    values: list[bytes] = []
    deadline = Deadline(60, f"consuming {count} records in a group")
    while len(values) < count:
        deadline.check(f"(got {len(values)})")
        msg = c.poll(1.0)
        if msg is None:
            continue
        if msg.error() is not None:
            assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
            continue
        values.append(msg.value())
        c.commit(message=msg, asynchronous=False)
    return values


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_round_trip(memory_broker: BrokerProcess, codec: str) -> None:
    bootstrap = memory_broker.bootstrap
    topic = unique_topic(f"mem-{codec}")
    create_topic(bootstrap, topic, 2)
    messages = [
        (i, {"key": b"k%d" % i, "value": b"v%d-" % i * 20, "partition": i % 2, "headers": [("h", b"%d" % i)]})
        for i in range(2000)
    ]
    produced = produce_confluent(producer(bootstrap, **{"compression.type": codec}), topic, messages)
    assert not produced.errors and len(produced.acked) == 2000
    records = consume_confluent(bootstrap, [TopicPartition(topic, p, 0) for p in range(2)], 2000)
    assert sorted(r.value for r in records) == sorted(kwargs["value"] for _, kwargs in messages)
    for record in records:
        index = int(record.key[1:])
        assert produced.acked[index] == (record.partition, record.offset)
        assert record.headers == (("h", b"%d" % index),)
    assert not memory_broker.data_dir.exists()


def test_group_commit_and_resume(memory_broker: BrokerProcess) -> None:
    bootstrap = memory_broker.bootstrap
    topic = unique_topic("mem-group")
    group = unique_topic("mem-readers")
    create_topic(bootstrap, topic, 1)
    messages = [(i, {"value": b"m%d" % i, "partition": 0}) for i in range(20)]
    assert not produce_confluent(producer(bootstrap), topic, messages).errors
    first = group_consumer(bootstrap, group)
    first.subscribe([topic])
    try:
        assert poll_values(first, 8) == [b"m%d" % i for i in range(8)]
    finally:
        first.close()
    second = group_consumer(bootstrap, group)
    second.subscribe([topic])
    try:
        assert poll_values(second, 12) == [b"m%d" % i for i in range(8, 20)]
        committed = second.committed([TopicPartition(topic, 0)], timeout=10)
        assert committed[0].offset == 20
    finally:
        second.close()
    assert not memory_broker.data_dir.exists()


def test_transactions_commit_and_abort_with_read_committed(memory_broker: BrokerProcess) -> None:
    bootstrap = memory_broker.bootstrap
    topic = unique_topic("mem-txn")
    create_topic(bootstrap, topic, 2)
    p = txn_producer(bootstrap, unique_topic("mem-tid"))
    produce_txn(p, topic, [f"c1-{i}" for i in range(10)], commit=True, partitions=2)
    produce_txn(p, topic, [f"a-{i}" for i in range(10)], commit=False, partitions=2)
    produce_txn(p, topic, [f"c2-{i}" for i in range(10)], commit=True, partitions=2)
    committed = sorted(read_all(bootstrap, topic, 2, isolation="read_committed"))
    assert committed == sorted(f"c{n}-{i}".encode() for n in (1, 2) for i in range(10))
    everything = read_all(bootstrap, topic, 2)
    assert sorted(everything) == sorted(committed + [f"a-{i}".encode() for i in range(10)])
    assert not memory_broker.data_dir.exists()


def test_restart_starts_empty(tmp_path: Path) -> None:
    """Memory storage loses everything on restart, by contract: topics, offsets, producer ids."""
    broker = BrokerProcess(tmp_path / "data", log_path=tmp_path / "stderr.log", extra_args=MEMORY)
    broker.start()
    try:
        topic = unique_topic("mem-restart")
        create_topic(broker.bootstrap, topic, 1)
        assert not produce_confluent(producer(broker.bootstrap), topic, [(0, {"value": b"gone"})]).errors
        assert read_all(broker.bootstrap, topic) == [b"gone"]
        broker.restart()
        with WireClient.connect(broker.bootstrap) as client:
            meta = client.request(
                ApiKey.METADATA, 12, {"topics": [{"name": topic}], "allow_auto_topic_creation": False}
            )
        assert meta.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    finally:
        broker.close()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("in_process", [False, True])
def test_kafka_broker_memory_storage(tmp_path: Path, in_process: bool) -> None:
    kafka = KafkaBroker(data_dir=tmp_path / "data", storage="memory", in_process=in_process).start()
    try:
        kafka.create_topic("orders", partitions=2)
        assert round_trip(kafka.bootstrap_servers, "orders", b"first") == b"first"
        kafka.restart()
        assert round_trip(kafka.bootstrap_servers, "fresh", b"second") == b"second"
        with kafka.client() as client:
            names = {t.name for t in client.request(ApiKey.METADATA, 12, {"topics": None}).topics}
        assert "orders" not in names and "fresh" in names
    finally:
        kafka.stop()
    assert not (tmp_path / "data").exists()


def test_pytest_plugin_memory_storage(tmp_path: Path) -> None:
    suite = """
        from confluent_kafka import Producer

        def test_memory(kafka_broker, kafka_topic, kafka_bootstrap):
            assert kafka_broker.storage == "memory"
            p = Producer({"bootstrap.servers": kafka_bootstrap})
            p.produce(kafka_topic, value=b"x")
            assert p.flush(10) == 0
            assert not kafka_broker.data_dir.exists()
    """
    (tmp_path / "test_memory_suite.py").write_text(textwrap.dedent(suite))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--kafka-storage=memory", str(tmp_path)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
