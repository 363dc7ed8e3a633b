"""The kafkapy CLI tools against a real broker: health, ready file, topics, groups, produce/consume, dump-log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from confluent_kafka import Consumer
from kafka.partitioner.default import murmur2

from kafkapy.testing import KafkaBroker
from kafkapy.tools.clients import murmur2_partition
from tests.broker_process import BrokerProcess


def kafkapy(*args: str, stdin: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "kafkapy", *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_murmur2_matches_the_java_partitioner() -> None:
    for n in range(100):
        key = os.urandom(n % 19)
        assert murmur2_partition(key, 12) == (murmur2(key) & 0x7FFFFFFF) % 12


def test_health_and_ready_file(tmp_path: Path) -> None:
    assert kafkapy("health", "-b", "127.0.0.1:1", check=False).returncode == 1
    ready = tmp_path / "ready"
    with KafkaBroker() as kafka:
        assert kafkapy("health", "-b", kafka.bootstrap_servers).returncode == 0
    broker = BrokerProcess(tmp_path / "data", extra_args=("--ready-file", str(ready))).start()
    try:
        assert ready.read_text().strip() == broker.bootstrap
    finally:
        broker.close()


def test_topics_produce_consume_and_dump_log(broker: BrokerProcess) -> None:
    b = ("-b", broker.bootstrap)
    assert kafkapy("topics", "create", "events", "--partitions", "3", *b).stdout.strip() == "Created topic events."
    assert "events" in kafkapy("topics", "list", *b).stdout.split()
    described = kafkapy("topics", "describe", "events", *b).stdout
    assert "PartitionCount: 3" in described and "\tPartition: 2\tLeader: 1\tReplicas: 1\tIsr: 1" in described
    again = kafkapy("topics", "create", "events", *b, check=False)
    assert again.returncode == 1 and "TOPIC_ALREADY_EXISTS" in again.stderr
    kafkapy("produce", "events", "--key-separator", ":", *b, stdin="user1:a\nuser2:b\nuser1:c\n")
    out = kafkapy("consume", "events", "--from-beginning", "--print-key", "--timeout-ms", "1000", *b).stdout
    lines = out.splitlines()
    assert sorted(lines) == ["user1\ta", "user1\tc", "user2\tb"]
    assert lines.index("user1\ta") < lines.index("user1\tc"), "one key, one partition, in order"
    partition = murmur2_partition(b"user1", 3)
    segment = broker.data_dir / f"events-{partition}" / "00000000000000000000.log"
    dump = kafkapy("dump-log", str(segment), "--print-data-log").stdout
    assert "baseOffset: 0 lastOffset: 1 count: 2" in dump and "isvalid: true" in dump
    assert "key: user1 payload: a" in dump and "key: user1 payload: c" in dump
    kafkapy("topics", "delete", "events", *b)
    assert "events" not in kafkapy("topics", "list", *b).stdout.split()


def test_groups_list_and_describe(broker: BrokerProcess) -> None:
    b = ("-b", broker.bootstrap)
    kafkapy("produce", "clicks", *b, stdin="1\n2\n3\n")
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "dashboard", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["clicks"])
    seen = 0
    for _ in range(100):
        msg = consumer.poll(0.2)
        seen += msg is not None and msg.error() is None
        if seen == 3:
            break
    consumer.commit(asynchronous=False)
    try:
        assert "dashboard" in kafkapy("groups", "list", *b).stdout.split()
        table = kafkapy("groups", "describe", "dashboard", *b).stdout.splitlines()
        assert table[0].split()[:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
        assert table[1].split()[:6] == ["dashboard", "clicks", "0", "3", "3", "0"]
    finally:
        consumer.close()
