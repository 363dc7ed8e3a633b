"""kafkapy.testing: KafkaBroker (subprocess and in-process), the async flavour and the pytest plugin."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import trio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.specs import ApiKey
from kafkapy.testing import KafkaBroker, open_kafka_broker
from kafkapy.testing.broker import ExternalKafka
from kafkapy.testing.process import BrokerStartError


def round_trip(bootstrap: str, topic: str, value: bytes) -> bytes | None:
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value=value, partition=0)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "t", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        msg = consumer.poll(10)
        return None if msg is None else msg.value()
    finally:
        consumer.close()


def round_trip_kafka_python(bootstrap: str, topic: str, value: bytes) -> bytes | None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, value=value, partition=0).get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=10000)
    consumer.assign([KafkaTopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    try:
        return next(iter(consumer)).value
    finally:
        consumer.close()


@pytest.mark.parametrize("storage", ["disk", "memory"])
@pytest.mark.parametrize("in_process", [False, True])
def test_context_manager_with_both_clients(storage: str, in_process: bool) -> None:
    with KafkaBroker(storage=storage, in_process=in_process) as kafka:
        kafka.create_topic("both")
        assert round_trip(kafka.bootstrap_servers, "both", b"librdkafka") == b"librdkafka"
        assert round_trip_kafka_python(kafka.bootstrap_servers, "both", b"python") == b"librdkafka"


@pytest.mark.parametrize("in_process", [False, True])
def test_broker_keeps_data_across_restart(in_process: bool) -> None:
    with KafkaBroker(in_process=in_process) as kafka:
        topic_id = kafka.create_topic("orders", partitions=3)
        assert round_trip(kafka.bootstrap_servers, "orders", b"first") == b"first"
        kafka.restart()
        with kafka.client() as client:
            meta = client.request(ApiKey.METADATA, 12, {"topics": [{"name": "orders"}]}).topics[0]
        assert (meta.topic_id, len(meta.partitions)) == (topic_id, 3)
        with pytest.raises(KafkaError) as exists:
            kafka.create_topic("orders")
        assert exists.value.code == ErrorCode.TOPIC_ALREADY_EXISTS
        data_dir = kafka.data_dir
    assert not data_dir.exists()


@pytest.mark.parametrize("in_process", [False, True])
def test_properties_are_not_overridden_by_the_num_partitions_default(in_process: bool) -> None:
    """KafkaBroker passed --num-partitions 1 after the properties, so num.partitions was ignored."""
    with KafkaBroker(in_process=in_process, config={"num.partitions": "3"}) as kafka, kafka.client() as client:
        body = {"topics": [{"name": "auto"}], "allow_auto_topic_creation": True}
        # As Kafka, the Metadata that auto-creates the topic answers "not yet"; the next one has it.
        assert client.request(ApiKey.METADATA, 12, body).topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        meta = client.request(ApiKey.METADATA, 12, body)
        assert len(meta.topics[0].partitions) == 3


def test_kill_and_recover(tmp_path: Path) -> None:
    kafka = KafkaBroker(data_dir=tmp_path / "data").start()
    try:
        assert round_trip(kafka.bootstrap_servers, "crash", b"acked") == b"acked"
        kafka.kill()
        kafka.start()
        assert round_trip(kafka.bootstrap_servers, "crash", b"second") == b"acked"
    finally:
        kafka.stop()
    assert (tmp_path / "data").exists(), "a caller's data dir is never removed"


async def test_async_flavour_under_trio() -> None:
    async with open_kafka_broker(in_process=True) as kafka:
        value = await trio.to_thread.run_sync(round_trip, kafka.bootstrap_servers, "async", b"v")
        assert value == b"v"
        await trio.to_thread.run_sync(kafka.reset)


async def _aiokafka_round_trip() -> list[bytes]:
    """asyncio: open_kafka_broker (was trio-only: 'must be called from async context'), aiokafka both ways."""
    async with open_kafka_broker() as kafka:
        await asyncio.to_thread(kafka.create_topic, "aio", 1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        await producer.start()
        try:
            for i in range(3):
                await producer.send_and_wait("aio", f"m{i}".encode(), partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "aio", bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest", group_id="aio"
        )
        await consumer.start()
        try:
            got: list[bytes] = []
            async with asyncio.timeout(30):
                while len(got) < 3:
                    batches = await consumer.getmany(timeout_ms=1000)
                    got += [m.value for records in batches.values() for m in records]
            return got
        finally:
            await consumer.stop()


def test_async_flavour_under_asyncio_with_aiokafka() -> None:
    assert asyncio.run(_aiokafka_round_trip()) == [b"m0", b"m1", b"m2"]


def _metadata_error(client: WireClient, topic: str) -> int:
    meta = client.request(ApiKey.METADATA, 12, {"topics": [{"name": topic}], "allow_auto_topic_creation": False})
    return meta.topics[0].error_code


def _list_offsets(client: WireClient, topic: str, timestamp: int) -> int:
    """The offset ListOffsets answers for partition 0 (-1 latest, -2 earliest)."""
    request = {
        "replica_id": -1,
        "isolation_level": 0,
        "topics": [{"name": topic, "partitions": [{"partition_index": 0, "timestamp": timestamp}]}],
    }
    return client.request(ApiKey.LIST_OFFSETS, 7, request).topics[0].partitions[0].offset


def _state(client: WireClient) -> tuple[list[str], list[str], list[str]]:
    """(topics, groups, transactional ids) the broker lists."""
    topics = sorted(t.name for t in client.request(ApiKey.METADATA, 12, {"topics": None}).topics)
    groups = sorted(g.group_id for g in client.request(ApiKey.LIST_GROUPS, 4, {"states_filter": []}).groups)
    txns = client.request(
        ApiKey.LIST_TRANSACTIONS, 0, {"state_filters": [], "producer_id_filters": []}
    ).transaction_states
    return topics, groups, sorted(t.transactional_id for t in txns)


@pytest.mark.parametrize("storage", ["disk", "memory"])
@pytest.mark.parametrize("in_process", [False, True])
def test_reset_empties_the_broker_without_a_restart(storage: str, in_process: bool) -> None:
    with KafkaBroker(storage=storage, in_process=in_process) as kafka:
        bootstrap = kafka.bootstrap_servers
        kafka.create_topic("orders", partitions=2, config={"retention.ms": "60000"})
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        for i in range(10):
            producer.produce("orders", value=b"%d" % i, partition=0)
        assert producer.flush(10) == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g", "enable.auto.commit": False})
        consumer.commit(offsets=[TopicPartition("orders", 0, 7)], asynchronous=False)
        consumer.close()
        txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": "tx"})
        txn.init_transactions(10)
        txn.begin_transaction()
        txn.produce("orders", value=b"in-txn", partition=1)
        assert txn.flush(10) == 0
        with kafka.client() as connected_before:
            assert _state(connected_before) == (
                ["__consumer_offsets", "__transaction_state", "orders"],
                ["g"],
                ["tx"],
            )
            kafka.reset()
            # The connection opened before the reset sees a fresh broker.
            assert _metadata_error(connected_before, "orders") == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            assert _state(connected_before) == ([], [], [])
            assert kafka.port == int(bootstrap.rpartition(":")[2])
            kafka.create_topic("orders")
            assert _list_offsets(connected_before, "orders", -1) == 0
            fetched = connected_before.request(
                ApiKey.OFFSET_FETCH,
                7,
                {"group_id": "g", "topics": [{"name": "orders", "partition_indexes": [0]}], "require_stable": False},
            )
            assert fetched.topics[0].partitions[0].committed_offset == -1
        producer.produce("orders", value=b"after", partition=0)
        assert producer.flush(10) == 0
        with kafka.client() as client:
            assert _list_offsets(client, "orders", -1) == 1
        kafka.reset()
        if storage == "disk":
            kafka.stop(remove_data=False)
            kafka.start()
            with kafka.client() as client:
                assert _state(client) == ([], [], [])


@pytest.mark.parametrize("in_process", [False, True])
def test_reset_answers_parked_requests(in_process: bool) -> None:
    """A JoinGroup waiting for the rebalance and a long-polling Fetch answer at reset, not at their deadline.

    Both deadlines (60 s) are longer than the clients' socket timeout (30 s), so a request that
    only answers at its deadline fails the test.
    """
    join = {
        "group_id": "parked",
        "session_timeout_ms": 30000,
        "rebalance_timeout_ms": 60000,
        "member_id": "",
        "protocol_type": "consumer",
        "protocols": [{"name": "range", "metadata": b""}],
    }
    partitions = [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}]
    fetch = {"max_wait_ms": 60000, "min_bytes": 1, "topics": [{"topic": "idle", "partitions": partitions}]}
    # The first join of an empty group waits group.initial.rebalance.delay.ms.
    config = {"group.initial.rebalance.delay.ms": "60000"}
    with (
        KafkaBroker(in_process=in_process, config=config) as kafka,
        kafka.client(timeout=30) as member,
        kafka.client(timeout=30) as consumer,
        kafka.client() as admin,
    ):
        kafka.create_topic("idle")
        required = member.request(ApiKey.JOIN_GROUP, 5, join)
        assert required.error_code == ErrorCode.MEMBER_ID_REQUIRED
        join_id, frame = member.encode(ApiKey.JOIN_GROUP, 5, {**join, "member_id": required.member_id})
        member.send_raw(frame)
        fetch_id, frame = consumer.encode(ApiKey.FETCH, 12, {**fetch, "forgotten_topics_data": []})
        consumer.send_raw(frame)
        deadline = time.monotonic() + 30
        while [g.group_id for g in admin.request(ApiKey.LIST_GROUPS, 4, {"states_filter": []}).groups] != ["parked"]:
            assert time.monotonic() < deadline, "the join never reached the coordinator"
            time.sleep(0.05)
        kafka.reset()
        assert member.read_response(ApiKey.JOIN_GROUP, 5, join_id).error_code == ErrorCode.UNKNOWN_MEMBER_ID
        fetched = consumer.read_response(ApiKey.FETCH, 12, fetch_id).responses[0].partitions[0]
        assert fetched.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_an_external_broker_cannot_be_reset() -> None:
    with pytest.raises(RuntimeError, match="127.0.0.1:9 is external"):
        ExternalKafka("127.0.0.1:9").reset()


def test_log_is_kept_when_the_with_block_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(AssertionError) as failure, KafkaBroker(log_level="info") as kafka:
        with kafka.client() as client:
            client.request(ApiKey.METADATA, 12, {"topics": [{"name": "evidence"}], "allow_auto_topic_creation": True})
        raise AssertionError("the test failed")
    note = failure.value.__notes__[0]
    log = Path(note.removeprefix("kafkapy broker log: "))
    assert "auto-created topic" in log.read_text() and "evidence" in log.read_text()
    assert [p.name for p in log.parent.iterdir()] == [log.name], "the data dir is removed, the log kept"
    with KafkaBroker() as kafka:
        pass
    assert list(tmp_path.iterdir()) == [log.parent], "without a failure nothing is kept"


def test_a_broker_never_stopped_is_stopped_when_the_program_exits(tmp_path: Path) -> None:
    script = "from kafkapy.testing import KafkaBroker\nprint(KafkaBroker().start()._process.pid, flush=True)\n"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        assert time.monotonic() < deadline, "the broker subprocess outlived the program"
        time.sleep(0.1)
    assert list(tmp_path.iterdir()) == [], "its temporary dir is removed"


@pytest.mark.parametrize("storage", ["disk", "memory"])
@pytest.mark.parametrize("in_process", [False, True])
def test_no_temporary_dir_is_left_when_start_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str, in_process: bool
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    broker = KafkaBroker(storage=storage, in_process=in_process, config={"num.partitions": "many"})
    assert list(tmp_path.iterdir()) == [], "the constructor creates nothing"
    with pytest.raises((BrokerStartError, ValueError)):
        broker.start()
    assert list(tmp_path.iterdir()) == []


PLUGIN_TESTS = """
import pytest
from confluent_kafka import Producer

def test_topic_is_fresh(kafka_topic, kafka_bootstrap, kafka_broker):
    with kafka_broker.client() as client:
        meta = client.request(3, 12, {"topics": [{"name": kafka_topic}], "allow_auto_topic_creation": False})
    assert meta.topics[0].error_code == 0
    p = Producer({"bootstrap.servers": kafka_bootstrap})
    p.produce(kafka_topic, value=b"x")
    assert p.flush(10) == 0

@pytest.mark.kafka_topic(partitions=4, config={"retention.ms": "60000"})
def test_marker(kafka_topic, kafka_broker):
    with kafka_broker.client() as client:
        meta = client.request(3, 12, {"topics": [{"name": kafka_topic}], "allow_auto_topic_creation": False})
    assert len(meta.topics[0].partitions) == 4

def test_kafka_python_with_the_fixtures(kafka_topic, kafka_bootstrap):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(kafka_topic, b"kp").get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, consumer_timeout_ms=10000)
    consumer.assign([TopicPartition(kafka_topic, 0)])
    consumer.seek_to_beginning()
    assert next(iter(consumer)).value == b"kp"
    consumer.close()

def test_topics_are_deleted_after_each_test(kafka_broker):
    with kafka_broker.client() as client:
        names = [t.name for t in client.request(3, 12, {"topics": None}).topics]
    assert not [n for n in names if n.startswith("test-")], names
"""


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--kafka-in-process"],
        ["--kafka-storage=memory"],
        ["--kafka-storage=memory", "--kafka-in-process"],
        ["external"],
    ],
)
def test_pytest_plugin(tmp_path: Path, extra: list[str]) -> None:
    (tmp_path / "test_user_suite.py").write_text(textwrap.dedent(PLUGIN_TESTS))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path), *extra]
    if extra == ["external"]:
        with KafkaBroker() as kafka:
            args[-1:] = ["--kafka-broker=external", f"--kafka-bootstrap={kafka.bootstrap_servers}"]
            result = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    else:
        result = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
