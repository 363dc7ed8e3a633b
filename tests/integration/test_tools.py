"""The kafkapy CLI tools against a real broker: health, ready file, topics, groups, produce/consume, dump-log."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import IO

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka.partitioner.default import murmur2

from kafkapy import __version__
from kafkapy.testing import KafkaBroker
from kafkapy.tools.clients import murmur2_partition
from kafkapy.tools.commands import bootstrap_address
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import unique_topic


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


def start_kafkapy(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kafkapy", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_produce_streams_lines_before_eof(shared_broker: BrokerProcess) -> None:
    """A line is readable while the pipe into `kafkapy produce` is still open (it used to wait for EOF)."""
    b = ("-b", shared_broker.bootstrap)
    topic = unique_topic("stream")
    kafkapy("topics", "create", topic, *b)
    producer = start_kafkapy("produce", topic, "--linger-ms", "50", *b)
    try:
        assert producer.stdin is not None
        producer.stdin.write("first\n")
        producer.stdin.flush()
        seen = kafkapy("consume", topic, "--from-beginning", "--max-messages", "1", "--timeout-ms", "30000", *b)
        assert seen.stdout == "first\n"
        assert producer.poll() is None, "the producer is still reading its pipe"
        producer.stdin.write("second\n")
        producer.stdin.close()
        assert producer.wait(timeout=60) == 0
    finally:
        producer.kill()
        producer.wait(timeout=10)
    out = kafkapy("consume", topic, "--from-beginning", "--timeout-ms", "1000", *b)
    assert out.stdout.splitlines() == ["first", "second"]
    assert out.stderr.splitlines()[-1] == "Processed a total of 2 messages"


def test_produce_large_lines_one_too_large(shared_broker: BrokerProcess) -> None:
    """Lines above the batch size go alone; one above max.message.bytes is reported by line, the rest are sent."""
    b = ("-b", shared_broker.bootstrap)
    topic = unique_topic("large")
    kafkapy("topics", "create", topic, "--config", "max.message.bytes=1048588", *b)
    lines = [str(n) * 200_000 for n in range(10)]
    lines.insert(3, "x" * 2_000_000)
    result = kafkapy("produce", topic, *b, stdin="\n".join(lines) + "\n", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"kafkapy: line 4 (2000000 bytes) to {topic}-0, not sent: larger than the topic's max.message.bytes",
        "kafkapy: 1 of 11 records not sent",
    ]
    out = kafkapy("consume", topic, "--from-beginning", "--max-messages", "10", "--timeout-ms", "30000", *b)
    assert out.stdout.splitlines() == [line for line in lines if len(line) == 200_000]


def test_produce_batch_above_max_message_bytes_is_split(shared_broker: BrokerProcess) -> None:
    """A topic's max.message.bytes below --batch-size: the batch is split, as by Java's producer,
    and only the line too large on its own is reported."""
    b = ("-b", shared_broker.bootstrap)
    topic = unique_topic("small")
    kafkapy("topics", "create", topic, "--config", "max.message.bytes=300", *b)
    lines = ["a" * 100, "b" * 100, "c" * 500, "d" * 100]
    result = kafkapy("produce", topic, *b, stdin="\n".join(lines) + "\n", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"kafkapy: line 3 (500 bytes) to {topic}-0, not sent: larger than the topic's max.message.bytes",
        "kafkapy: 1 of 4 records not sent",
    ]
    out = kafkapy("consume", topic, "--from-beginning", "--max-messages", "3", "--timeout-ms", "30000", *b)
    assert out.stdout.splitlines() == ["a" * 100, "b" * 100, "d" * 100]


def test_produce_compression_by_name(broker: BrokerProcess) -> None:
    b = ("-b", broker.bootstrap)
    kafkapy("produce", "zipped", "--compression", "gzip", *b, stdin="a\nb\n")
    dump = kafkapy("dump-log", str(broker.data_dir / "zipped-0" / "00000000000000000000.log")).stdout
    assert "count: 2" in dump and "compresscodec: gzip" in dump
    bad = kafkapy("produce", "zipped", "--compression", "1", *b, check=False)
    assert bad.returncode == 2 and "invalid choice: '1'" in bad.stderr


def test_consume_errors_exit_non_zero(shared_broker: BrokerProcess) -> None:
    b = ("-b", shared_broker.bootstrap)
    topic = unique_topic("one")
    kafkapy("topics", "create", topic, "--partitions", "1", *b)
    wrong = kafkapy("consume", topic, "--partition", "7", *b, check=False)
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert wrong.stderr == f"kafkapy: topic '{topic}' has no partition 7 (it has 1: 0-0)\n"
    missing = unique_topic("missing")
    absent = kafkapy("consume", missing, "--timeout-ms", "100", *b, check=False)
    assert (absent.returncode, absent.stderr) == (1, f"kafkapy: topic '{missing}' does not exist\n")
    assert missing not in kafkapy("topics", "list", *b).stdout.split(), "consuming must not create the topic"


def test_consume_from_the_beginning_of_an_empty_topic_says_so(shared_broker: BrokerProcess) -> None:
    b = ("-b", shared_broker.bootstrap)
    topic = unique_topic("empty")
    kafkapy("topics", "create", topic, "--partitions", "2", *b)
    result = kafkapy("consume", topic, "--from-beginning", "--timeout-ms", "300", *b)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"kafkapy: {topic} holds no records yet; waiting for new ones",
        "Processed a total of 0 messages",
    ]
    kafkapy("produce", topic, *b, stdin="one\n")
    result = kafkapy("consume", topic, "--from-beginning", "--timeout-ms", "300", *b)
    assert (result.stdout, result.stderr) == ("one\n", "Processed a total of 1 messages\n")


def test_consume_from_the_end_says_so(shared_broker: BrokerProcess) -> None:
    b = ("-b", shared_broker.bootstrap)
    topic = unique_topic("end")
    kafkapy("produce", topic, *b, stdin="old\n")
    result = kafkapy("consume", topic, "--timeout-ms", "300", *b)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"kafkapy: waiting for new records of {topic} (--from-beginning prints those already there)",
        "Processed a total of 0 messages",
    ]


def test_topics_create_describe_delete(shared_broker: BrokerProcess) -> None:
    b = ("-b", shared_broker.bootstrap)
    topic = unique_topic("cfg")
    no_value = kafkapy("topics", "create", topic, "--config", "retention.ms", *b, check=False)
    assert (no_value.returncode, no_value.stderr) == (
        1,
        "kafkapy: invalid --config retention.ms: expected NAME=VALUE, like retention.ms=60000\n",
    )
    kafkapy("topics", "create", topic, "--config", "retention.ms=60000", "--config", "cleanup.policy=compact", *b)
    first = kafkapy("topics", "describe", topic, *b).stdout.splitlines()[0]
    # The configs that are not Kafka's defaults, as kafka-topics --describe lists them on Kafka 4.3.1: the
    # overrides and the cluster-level min.insync.replicas (KIP-966, DYNAMIC_DEFAULT_BROKER_CONFIG).
    assert first.endswith("\tConfigs: cleanup.policy=compact,min.insync.replicas=1,retention.ms=60000")
    again = kafkapy("topics", "create", topic, "--if-not-exists", *b)
    assert (again.stdout, again.stderr) == ("", "")
    assert kafkapy("topics", "delete", topic, *b).stdout == f"Deleted topic {topic}.\n"
    gone = kafkapy("topics", "delete", topic, *b, check=False)
    assert gone.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in gone.stderr
    assert kafkapy("topics", "delete", topic, "--if-exists", *b).stdout == ""
    described = kafkapy("topics", "describe", topic, *b, check=False)
    assert (described.returncode, described.stderr) == (1, f"kafkapy: topic '{topic}' does not exist\n")


def test_groups_describe_unknown_group(shared_broker: BrokerProcess) -> None:
    result = kafkapy("groups", "describe", "nosuchgroup", "-b", shared_broker.bootstrap, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "kafkapy: consumer group 'nosuchgroup' does not exist\n"


def test_bootstrap_server_forms(shared_broker: BrokerProcess) -> None:
    bad = kafkapy("topics", "list", "-b", "localhost:abc", check=False)
    assert (bad.returncode, bad.stderr) == (
        1,
        "kafkapy: invalid --bootstrap-server localhost:abc: expected HOST:PORT, like localhost:9092\n",
    )
    refused = kafkapy("topics", "list", "-b", "127.0.0.1:1", check=False)
    assert (refused.returncode, refused.stderr) == (1, "kafkapy: 127.0.0.1:1: Connection refused\n")
    assert bootstrap_address("localhost") == ("localhost", 9092)
    assert bootstrap_address(f"{shared_broker.bootstrap},other:9093") == ("127.0.0.1", shared_broker.port)
    assert bootstrap_address("[::1]:19092") == ("::1", 19092)


def test_version_and_health_say_who_answered(shared_broker: BrokerProcess) -> None:
    assert kafkapy("--version").stdout == f"kafkapy {__version__}\n"
    health = kafkapy("health", "-b", shared_broker.bootstrap).stdout
    assert re.fullmatch(rf"broker 1 of cluster \S+ answered at {shared_broker.bootstrap} \(\d+ APIs\)\n", health)
    down = kafkapy("health", "-b", "127.0.0.1:1", check=False)
    assert (down.returncode, down.stderr) == (1, "kafkapy: no broker answering at 127.0.0.1:1\n")


def test_dump_log_errors_are_one_line(tmp_path: Path, broker: BrokerProcess) -> None:
    missing = kafkapy("dump-log", str(tmp_path / "nonexistent.log"), check=False)
    assert missing.returncode == 1
    assert missing.stderr == f"kafkapy: cannot read {tmp_path / 'nonexistent.log'}: No such file or directory\n"
    kafkapy("produce", "piped", "--batch-size", "1", "-b", broker.bootstrap, stdin="".join(f"{n}\n" for n in range(50)))
    segment = str(broker.data_dir / "piped-0" / "00000000000000000000.log")
    # Far more than a pipe holds, so the dump is still writing when the reader goes away.
    dump = start_kafkapy("dump-log", "--print-data-log", *[segment] * 200)
    assert dump.stdout is not None and dump.stdout.readline() == f"Dumping {segment}\n"
    dump.stdout.close()
    assert dump.wait(timeout=60) == 141
    assert dump.stderr is not None and dump.stderr.read() == ""


def test_dump_log_decodes_markers_offsets_and_indexes(broker: BrokerProcess) -> None:
    """Lines as Apache Kafka 4.3.1's kafka-dump-log prints them for the same files (checked side by side)."""
    b = ("-b", broker.bootstrap)
    kafkapy("topics", "create", "tx", *b)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "dump-tx"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for _ in range(40):
        producer.produce("tx", key=b"k", value=b"v" * 200, headers=[("h", b"1")])
        producer.flush(30)
    producer.commit_transaction(30)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "dumpers", "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition("tx", 0, 0)])
    consumer.commit(offsets=[TopicPartition("tx", 0, 41)], asynchronous=False)
    consumer.close()
    log = broker.data_dir / "tx-0" / "00000000000000000000.log"
    records = kafkapy("dump-log", str(log), "--print-data-log").stdout.splitlines()
    marker = " keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] endTxnMarker: COMMIT coordinatorEpoch: 0"
    assert records[-1].endswith(marker)
    assert "isControl: true deleteHorizonMs: OptionalLong.empty position:" in records[-2]
    assert " keySize: 1 valueSize: 200 sequence: 0 headerKeys: [h] key: k payload: vvv" in records[3]
    offsets = broker.data_dir / "__consumer_offsets-0" / "00000000000000000000.log"
    decoded = kafkapy("dump-log", str(offsets)).stdout
    assert (
        'key: {"type":"1","data":{"group":"dumpers","topic":"tx","partition":0}}'
        ' payload: {"version":"3","data":{"offset":41,"leaderEpoch":-1,"metadata":"","commitTimestamp":'
    ) in decoded
    txn = broker.data_dir / "__transaction_state-0" / "00000000000000000000.log"
    states = kafkapy("dump-log", str(txn)).stdout
    key = '{"type":"0","data":{"transactionalId":"dump-tx"}}'
    assert f'key: {key} payload: {{"version":"0","data":{{"producerId":' in states
    assert '"transactionStatus":4,"transactionPartitions":[]' in states
    broker.close()  # index entries reach the files in blocks, and all of them at shutdown
    index = kafkapy("dump-log", str(log.with_suffix(".index")), str(log.with_suffix(".timeindex"))).stdout.splitlines()
    assert index[0] == f"Dumping {log.with_suffix('.index')}"
    assert re.fullmatch(r"offset: \d+ position: \d+", index[1])
    assert re.fullmatch(r"timestamp: \d+ offset: \d+", index[-1])


def unread_bytes(pipe: IO[str]) -> int:
    """Bytes written into a pipe that its reader has not read yet (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def test_ctrl_c_sends_what_was_typed_and_counts_what_was_printed(shared_broker: BrokerProcess) -> None:
    b = ("-b", shared_broker.bootstrap)
    topic = unique_topic("ctrl-c")
    kafkapy("topics", "create", topic, *b)
    consumer = start_kafkapy("consume", topic, *b)
    producer = start_kafkapy("produce", topic, "--linger-ms", "600000", *b)
    try:
        assert consumer.stderr is not None and producer.stdin is not None
        assert consumer.stderr.readline().startswith(f"kafkapy: waiting for new records of {topic}")
        producer.stdin.write("typed\n")
        producer.stdin.flush()
        # Once produce has read the line from the pipe (it would linger ten minutes before sending it).
        deadline = time.monotonic() + 60
        while unread_bytes(producer.stdin) and time.monotonic() < deadline:
            time.sleep(0.01)
        producer.send_signal(signal.SIGINT)
        assert producer.wait(timeout=60) == 130
        assert consumer.stdout is not None and consumer.stdout.readline() == "typed\n"
        consumer.send_signal(signal.SIGINT)
        assert consumer.wait(timeout=60) == 130
        assert consumer.stderr.read() == "Processed a total of 1 messages\n"
    finally:
        for process in (producer, consumer):
            process.kill()
            process.wait(timeout=10)
