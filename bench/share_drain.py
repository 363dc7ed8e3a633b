"""A queue drained by share consumers (KIP-932) against a classic consumer group, on the same broker.

Issue #16 asks that a queue of 100k records drains through share groups at a rate within 2x of a
classic consumer group on the same broker. For each side, COUNT records of SIZE bytes are produced to
a fresh topic of PARTITIONS partitions (confluent-kafka, acks=1), then CONSUMERS consumers of one group
read them all: librdkafka's ShareConsumer (implicit acknowledgement: a poll accepts the previous one's
records) or a classic Consumer (subscribe, auto.offset.reset=earliest, offsets auto-committed). Two rates:
COUNT divided by the time from the first record received to the last ("delivery", group joins left out,
though it flatters a client that prefetches before the first poll returns), and COUNT divided by the time
from the consumers' creation to the last record ("end to end", joins included).

Share groups start at the log end by default (share.auto.offset.reset=latest, a group config), so a
first set of share consumers joins and reads a probe record from every partition (the share partitions
then exist, past the probes) and closes; the records are produced, and a second set of the group's
consumers drains them (on a broker serving IncrementalAlterConfigs on GROUP resources the group could
be set to earliest instead). Without --bootstrap a kafkapy broker is started
on a free loopback port with a temporary data dir. Every phase is bounded by --max-seconds.

    python3 bench/share_drain.py                       # 100k x 100 B, 3 partitions, 3 consumers each
    python3 bench/share_drain.py --bootstrap HOST:PORT # any broker (the reference Kafka 4.3.1 too)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import confluent_kafka
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.broker_process import BrokerProcess  # noqa: E402

PROBE = b"share-drain-probe"


def create_topic(bootstrap: str, partitions: int) -> str:
    name = f"drain-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)
    deadline = time.monotonic() + 30
    while len(admin.list_topics(name, timeout=10).topics[name].partitions) < partitions:
        assert time.monotonic() < deadline, f"{name}: not in metadata"
        time.sleep(0.1)
    return name


def produce(bootstrap: str, topic: str, count: int, size: int) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "broker.address.family": "v4", "acks": 1, "linger.ms": 5,
         "batch.size": 1 << 20, "queue.buffering.max.messages": 1_000_000}
    )  # fmt: skip
    payload = b"x" * size
    for i in range(count):
        while True:
            try:
                producer.produce(topic, payload, key=str(i).encode())
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0, "records left unsent"


class Drain:
    """Records received by a group's consumers, and when the first and the last arrived; the partitions
    whose probe came back."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.probed: set[int] = set()
        self.received = 0
        self.started = time.perf_counter()
        self.first = self.last = 0.0
        self.lock = threading.Lock()
        self.done = threading.Event()

    def add(self, n: int) -> None:
        with self.lock:
            now = time.perf_counter()
            if not self.received:
                self.first = now
            self.received += n
            self.last = now
            if self.received >= self.count:
                self.done.set()


def share_member(bootstrap: str, group: str, topic: str, drain: Drain, stop: threading.Event) -> None:
    consumer = confluent_kafka.ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.subscribe([topic])
        while not stop.is_set():
            records = [m for m in consumer.poll(0.2) if m.error() is None]
            with drain.lock:
                drain.probed.update(m.partition() for m in records if m.value() == PROBE)
            counted = sum(1 for m in records if m.value() != PROBE)
            if counted:
                drain.add(counted)
    finally:
        consumer.close()


def classic_member(bootstrap: str, group: str, topic: str, drain: Drain, stop: threading.Event) -> None:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "broker.address.family": "v4", "group.id": group,
         "auto.offset.reset": "earliest"}
    )  # fmt: skip
    try:
        consumer.subscribe([topic])
        while not stop.is_set():
            records = [m for m in consumer.consume(1000, 0.2) if m.error() is None]
            if records:
                drain.add(len(records))
    finally:
        consumer.close()


Member = Callable[[str, str, str, Drain, threading.Event], None]


def consume(args: argparse.Namespace, member: Member, group: str, topic: str, until: Callable[[Drain], bool]) -> Drain:
    """Run the group's consumers until ``until`` holds (bounded by --max-seconds), then close them."""
    drain, stop = Drain(args.count), threading.Event()
    threads = [
        threading.Thread(target=member, args=(args.bootstrap, group, topic, drain, stop), daemon=True)
        for _ in range(args.consumers)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.max_seconds
    try:
        while not until(drain):
            assert time.monotonic() < deadline, f"{group}: {drain.received} of {args.count} in {args.max_seconds}s"
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    return drain


def initialize_share_partitions(args: argparse.Namespace, group: str, topic: str) -> None:
    """Join the share group and read a probe from every partition: its share partitions then exist."""
    producer = Producer({"bootstrap.servers": args.bootstrap, "broker.address.family": "v4"})

    def probed(drain: Drain) -> bool:
        if len(drain.probed) == args.partitions:
            return True
        for p in range(args.partitions):
            producer.produce(topic, PROBE, partition=p)
        producer.flush(10)
        time.sleep(0.5)
        return False

    consume(args, share_member, group, topic, probed)


def run(args: argparse.Namespace, kind: str) -> tuple[float, float]:
    """Records/s (delivery, end to end) of one group draining COUNT records produced before it reads."""
    topic = create_topic(args.bootstrap, args.partitions)
    group = f"{kind}-{uuid.uuid4().hex[:8]}"
    if kind == "share":
        initialize_share_partitions(args, group, topic)
    produce(args.bootstrap, topic, args.count, args.size)
    drain = consume(args, share_member if kind == "share" else classic_member, group, topic, lambda d: d.done.is_set())
    return args.count / max(drain.last - drain.first, 1e-9), args.count / max(drain.last - drain.started, 1e-9)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", help="an existing broker (default: start kafkapy)")
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--consumers", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=300.0)
    args = ap.parse_args(argv)
    started = None
    if args.bootstrap is None:
        data = Path(tempfile.mkdtemp(prefix="share-drain-"))
        started = BrokerProcess(data / "broker", log_path=data / "broker.log").start()
        args.bootstrap = started.bootstrap
    try:
        classic = run(args, "classic")
        share = run(args, "share")
    finally:
        if started is not None:
            started.close()
    print(f"{args.count} records x {args.size} B, {args.partitions} partitions, {args.consumers} consumers per group")
    for label, i in (("delivery", 0), ("end to end", 1)):
        print(f"{label:>10}: classic consumer group {classic[i]:10,.0f} records/s, share group {share[i]:10,.0f}"
              f" records/s ({classic[i] / share[i]:.2f}x slower)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
