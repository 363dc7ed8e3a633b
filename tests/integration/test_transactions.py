"""Transactions with stock clients: read isolation, fencing, timeouts, crashes, consume-transform-produce.

Run as a script (``python tests/integration/test_transactions.py worker ...``) this module is the
consume-transform-produce worker that the exactly-once test kills and restarts.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, TopicPartition

if __name__ != "__main__":
    from tests.broker_process import BrokerProcess
    from tests.integration.clientutil import consumer, create_topic, producer, unique_topic
    from tests.integration.test_idempotence import read_all

REPO_ROOT = Path(__file__).resolve().parents[2]


def txn_producer(bootstrap: str, txn_id: str, **conf: object):
    p = producer(bootstrap, **{"transactional.id": txn_id, "transaction.timeout.ms": 30000, **conf})
    p.init_transactions(30)
    return p


def produce_txn(p, topic: str, values: list[str], *, commit: bool, partitions: int = 1) -> None:
    p.begin_transaction()
    for i, value in enumerate(values):
        p.produce(topic, value=value.encode(), partition=i % partitions)
    if commit:
        p.commit_transaction(30)
    else:
        p.flush(30)
        p.abort_transaction(30)


def test_read_committed_sees_committed_only(shared_broker: BrokerProcess) -> None:
    bootstrap = shared_broker.bootstrap
    topic = unique_topic("txn")
    create_topic(bootstrap, topic, 2)
    p = txn_producer(bootstrap, unique_topic("tid"))
    plain = producer(bootstrap)
    produce_txn(p, topic, [f"c1-{i}" for i in range(10)], commit=True, partitions=2)
    produce_txn(p, topic, [f"a1-{i}" for i in range(10)], commit=False, partitions=2)
    plain.produce(topic, value=b"plain", partition=0)
    plain.flush(10)
    produce_txn(p, topic, [f"c2-{i}" for i in range(10)], commit=True, partitions=2)
    committed = sorted(read_all(bootstrap, topic, 2, isolation="read_committed"))
    everything = sorted(read_all(bootstrap, topic, 2))
    expected_committed = sorted([f"c1-{i}".encode() for i in range(10)] + [f"c2-{i}".encode() for i in range(10)])
    assert committed == sorted(expected_committed + [b"plain"])
    assert everything == sorted(committed + [f"a1-{i}".encode() for i in range(10)])


def test_open_transaction_holds_back_read_committed(shared_broker: BrokerProcess) -> None:
    bootstrap = shared_broker.bootstrap
    topic = unique_topic("lso")
    create_topic(bootstrap, topic, 1)
    p = txn_producer(bootstrap, unique_topic("tid"))
    plain = producer(bootstrap)
    p.begin_transaction()
    p.produce(topic, value=b"in-txn")
    p.flush(10)
    plain.produce(topic, value=b"after")
    plain.flush(10)
    assert read_all(bootstrap, topic, isolation="read_committed") == []
    assert read_all(bootstrap, topic) == [b"in-txn", b"after"]
    c = consumer(bootstrap, **{"isolation.level": "read_committed"})
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    c.close()
    assert (low, high) == (0, 0), "ListOffsets latest with read_committed is the LSO"
    p.commit_transaction(30)
    assert read_all(bootstrap, topic, isolation="read_committed") == [b"in-txn", b"after"]


def test_kafka_python_transactions(shared_broker: BrokerProcess) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTopicPartition

    bootstrap = shared_broker.bootstrap
    topic = unique_topic("txn-kp")
    create_topic(bootstrap, topic, 1)
    p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=unique_topic("kp"), max_block_ms=30000)
    try:
        p.init_transactions()
        for tag, commit in (("c1", True), ("a1", False), ("c2", True)):
            p.begin_transaction()
            for i in range(5):
                p.send(topic, value=f"{tag}-{i}".encode())
            p.flush()
            if commit:
                p.commit_transaction()
            else:
                p.abort_transaction()
    finally:
        p.close(timeout=5)
    expected = [f"c1-{i}".encode() for i in range(5)] + [f"c2-{i}".encode() for i in range(5)]
    assert read_all(bootstrap, topic, isolation="read_committed") == expected
    c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False)
    try:
        c.assign([KTopicPartition(topic, 0)])
        c.seek_to_beginning()
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(got) < len(expected) and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
        assert got == expected
    finally:
        c.close()


def test_second_producer_fences_the_first(shared_broker: BrokerProcess) -> None:
    bootstrap = shared_broker.bootstrap
    topic = unique_topic("fence")
    create_topic(bootstrap, topic, 1)
    txn_id = unique_topic("tid")
    first = txn_producer(bootstrap, txn_id)
    first.begin_transaction()
    first.produce(topic, value=b"zombie")
    first.flush(10)
    second = txn_producer(bootstrap, txn_id)
    produce_txn(second, topic, ["fresh"], commit=True)
    with pytest.raises(KafkaException) as fenced:
        first.produce(topic, value=b"zombie-2")
        first.commit_transaction(10)
    assert fenced.value.args[0].fatal() or fenced.value.args[0].txn_requires_abort()
    assert read_all(bootstrap, topic, isolation="read_committed") == [b"fresh"]


def test_transaction_timeout_aborts_and_fences(broker_factory) -> None:
    b = broker_factory(extra_args=("--override", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200"))
    topic = unique_topic("timeout")
    create_topic(b.bootstrap, topic, 1)
    timeouts = {"transaction.timeout.ms": 2000, "socket.timeout.ms": 2000, "message.timeout.ms": 2000}
    p = txn_producer(b.bootstrap, "slow", **timeouts)
    p.begin_transaction()
    p.produce(topic, value=b"too-late")
    p.flush(10)
    time.sleep(3.5)
    assert read_all(b.bootstrap, topic, isolation="read_committed") == []
    with pytest.raises(KafkaException):
        p.commit_transaction(10)


def test_broker_kill_mid_transaction_leaves_it_abortable(broker: BrokerProcess) -> None:
    topic = unique_topic("crash")
    create_topic(broker.bootstrap, topic, 2)
    p = txn_producer(broker.bootstrap, "crashy")
    produce_txn(p, topic, ["before-0", "before-1"], commit=True, partitions=2)
    p.begin_transaction()
    for i in range(6):
        p.produce(topic, value=f"open-{i}".encode(), partition=i % 2)
    p.flush(10)
    broker.restart(crash=True)
    assert sorted(read_all(broker.bootstrap, topic, 2, isolation="read_committed")) == [b"before-0", b"before-1"]
    # A new incarnation of the application fences the old producer and aborts its transaction.
    p2 = txn_producer(broker.bootstrap, "crashy")
    produce_txn(p2, topic, ["after-0", "after-1"], commit=True, partitions=2)
    broker.restart(crash=True)
    committed = sorted(read_all(broker.bootstrap, topic, 2, isolation="read_committed"))
    assert committed == [b"after-0", b"after-1", b"before-0", b"before-1"]
    assert len(read_all(broker.bootstrap, topic, 2)) == 10


# Consume-transform-produce, killed and restarted.


def worker(bootstrap: str, source: str, sink: str, group: str, expected: int) -> None:
    """Copy ``source`` to ``sink`` ("out-<value>") exactly once, committing offsets in the transaction."""
    from confluent_kafka import Consumer, Producer

    conf = {"bootstrap.servers": bootstrap, "broker.address.family": "v4"}
    p = Producer({**conf, "transactional.id": f"ctp-{group}", "transaction.timeout.ms": 10000, "linger.ms": 5})
    p.init_transactions(30)
    c = Consumer(
        {
            **conf,
            "group.id": group,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    tp = TopicPartition(source, 0)
    [committed] = c.committed([tp], timeout=30)
    c.assign([TopicPartition(source, 0, committed.offset if committed.offset >= 0 else 0)])
    done = max(committed.offset, 0)
    while done < expected:
        msgs = [m for m in c.consume(num_messages=random.randint(1, 40), timeout=0.5) if m.error() is None]
        if not msgs:
            continue
        p.begin_transaction()
        for m in msgs:
            p.produce(sink, value=b"out-" + m.value())
        done = msgs[-1].offset() + 1
        p.send_offsets_to_transaction([TopicPartition(source, 0, done)], c.consumer_group_metadata(), 30)
        p.commit_transaction(30)
    c.close()


def start_worker(bootstrap: str, source: str, sink: str, group: str, expected: int) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(Path(__file__)), "worker", bootstrap, source, sink, group, str(expected)]
    return subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.timeout(300)
def test_consume_transform_produce_is_exactly_once_across_kills(shared_broker: BrokerProcess) -> None:
    bootstrap = shared_broker.bootstrap
    source, sink, group = unique_topic("src"), unique_topic("sink"), unique_topic("ctp")
    create_topic(bootstrap, source, 1)
    create_topic(bootstrap, sink, 1)
    total = 3000
    plain = producer(bootstrap)
    for i in range(total):
        plain.produce(source, value=f"{i:05d}".encode())
        if i % 500 == 0:
            plain.poll(0)
    plain.flush(30)
    rng = random.Random(4)
    for _ in range(20):
        proc = start_worker(bootstrap, source, sink, group, total)
        time.sleep(rng.uniform(0.3, 1.5))
        proc.kill()
        proc.wait(10)
    proc = start_worker(bootstrap, source, sink, group, total)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    out = read_all(bootstrap, sink, isolation="read_committed")
    assert sorted(out) == [f"out-{i:05d}".encode() for i in range(total)]
    assert out == sorted(out), "outputs are in input order"


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
