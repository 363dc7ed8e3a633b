"""Produce/consume throughput of a broker, measured with confluent-kafka (librdkafka).

For each workload COUNTxSIZE: produce COUNT messages of SIZE bytes to a fresh topic (acks=1,
linger.ms=5, batch.size=1 MiB by default) and time it until every delivery report is in; then
read them all back with an assign()-based consumer and time that. Prints a table and writes the
numbers as JSON to bench/results/ (gitignored).

Without --bootstrap a kafkapy broker is started on a free loopback port with a temporary data
dir (the same helper the tests use) and stopped afterwards; with --tls it is measured through an
SSL listener with throwaway certificates (kafkapy certs). -X NAME=VALUE passes librdkafka settings
to every client (-X security.protocol=SSL -X ssl.ca.location=ca.pem for a TLS broker of your own).
Every phase is bounded by --max-seconds, so a slow or stuck broker gives a partial result instead of a hang.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.broker_process import BrokerProcess  # noqa: E402

DEFAULT_WORKLOADS = ("200000x100", "20000x1024")
MB = 1_000_000


@dataclass
class PhaseResult:
    """One timed phase (produce or consume) of one workload."""

    workload: str
    phase: str
    messages: int
    payload_bytes: int
    seconds: float
    complete: bool
    errors: int

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.payload_bytes / MB / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "msgs_per_s": round(self.msgs_per_s, 1), "mb_per_s": round(self.mb_per_s, 3)}


def parse_workload(text: str) -> tuple[int, int]:
    """'200000x100' -> (200000, 100)."""
    count, _, size = text.lower().partition("x")
    try:
        n, s = int(count), int(size)
    except ValueError:
        raise argparse.ArgumentTypeError(f"workload must be COUNTxSIZE, got {text!r}") from None
    if n <= 0 or s < 0:
        raise argparse.ArgumentTypeError(f"workload must have COUNT > 0 and SIZE >= 0, got {text!r}")
    return n, s


def create_topic(
    bootstrap: str, partitions: int, timeout: float, client_properties: dict[str, str] | None = None
) -> str:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap, **(client_properties or {})})
    fut = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name]
    fut.result(timeout=timeout)
    return name


def produce(args: argparse.Namespace, topic: str, workload: str, count: int, size: int) -> PhaseResult:
    """Produce `count` messages of `size` bytes; time from the first produce() to the last ack."""
    acked = 0
    errors = 0

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        nonlocal acked, errors
        if err is None:
            acked += 1
        else:
            errors += 1

    p = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "acks": args.acks,
            "linger.ms": args.linger_ms,
            "batch.size": args.batch_size,
            "compression.type": args.compression,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "message.timeout.ms": int(args.max_seconds * 1000),
            **args.client_properties,
        }
    )
    payload = os.urandom(size)
    deadline = time.monotonic() + args.max_seconds
    start = time.perf_counter()
    sent = 0
    while sent < count and time.monotonic() < deadline:
        try:
            p.produce(topic, value=payload, on_delivery=on_delivery)
            sent += 1
        except BufferError:
            p.poll(0.01)
            continue
        if sent % 10_000 == 0:
            p.poll(0)
    left = p.flush(max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - start
    if left:
        p.purge()
        p.flush(5)
    return PhaseResult(workload, "produce", acked, acked * size, elapsed, acked == count, errors)


def consume(args: argparse.Namespace, topic: str, workload: str, count: int) -> PhaseResult:
    """Read `count` messages from offset 0 of every partition; time until the last one arrives."""
    c = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 10_485_760,
            **args.client_properties,
        }
    )
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(args.partitions)])
        got = 0
        nbytes = 0
        errors = 0
        deadline = time.monotonic() + args.max_seconds
        start = time.perf_counter()
        while got < count and time.monotonic() < deadline:
            for msg in c.consume(num_messages=10_000, timeout=0.5):
                if msg.error() is not None:
                    errors += 1
                    continue
                got += 1
                nbytes += len(msg.value() or b"")
        elapsed = time.perf_counter() - start
    finally:
        c.close()
    return PhaseResult(workload, "consume", got, nbytes, elapsed, got == count, errors)


def _tls_setup(directory: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    """kafkapy serve arguments for an SSL listener with test certificates, and the client settings for it."""
    from kafkapy.security.certs import make_test_certs
    from kafkapy.testing.broker import tls_client_config

    certs = make_test_certs(directory / "certs")
    serve_args = (
        "--listener", "PLAINTEXT://127.0.0.1:0",
        "--listener", "SSL://127.0.0.1:0",
        "--override", f"ssl.keystore.location={certs.broker_pem_keystore}",
    )  # fmt: skip
    client = tls_client_config("confluent", "", certs, client_certificate=False)
    del client["bootstrap.servers"]
    return serve_args, client


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def print_table(results: list[PhaseResult]) -> None:
    header = f"{'workload':<14}{'phase':<9}{'messages':>10}{'MB':>9}{'seconds':>9}{'msg/s':>11}{'MB/s':>9}  note"
    print(header)
    print("-" * len(header))
    for r in results:
        note = "" if r.complete and not r.errors else f"INCOMPLETE errors={r.errors}"
        print(
            f"{r.workload:<14}{r.phase:<9}{r.messages:>10}{r.payload_bytes / MB:>9.1f}{r.seconds:>9.2f}"
            f"{r.msgs_per_s:>11.0f}{r.mb_per_s:>9.2f}  {note}"
        )


def run(args: argparse.Namespace) -> list[PhaseResult]:
    results: list[PhaseResult] = []
    for text in args.workload:
        count, size = parse_workload(text)
        topic = create_topic(args.bootstrap, args.partitions, timeout=30, client_properties=args.client_properties)
        produced = produce(args, topic, text, count, size)
        results.append(produced)
        print(f"  {text}: produced {produced.messages} in {produced.seconds:.2f}s", file=sys.stderr)
        consumed = consume(args, topic, text, produced.messages)
        results.append(consumed)
        print(f"  {text}: consumed {consumed.messages} in {consumed.seconds:.2f}s", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", help="HOST:PORT of a running broker (default: start kafkapy)")
    ap.add_argument(
        "--workload",
        action="append",
        metavar="COUNTxSIZE",
        help=f"messages x bytes; repeatable (default: {' '.join(DEFAULT_WORKLOADS)})",
    )
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--acks", default="1")
    ap.add_argument("--linger-ms", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=1_048_576)
    ap.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    ap.add_argument("--max-seconds", type=float, default=120.0, help="time bound for each phase")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    ap.add_argument("--tls", action="store_true", help="start kafkapy with an SSL listener and measure through it")
    ap.add_argument(
        "-X",
        dest="client_property",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a librdkafka setting of every client (repeatable)",
    )
    args = ap.parse_args(argv)
    args.client_properties = dict(item.partition("=")[::2] for item in args.client_property)
    args.workload = args.workload or list(DEFAULT_WORKLOADS)
    for w in args.workload:
        parse_workload(w)

    started: BrokerProcess | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    try:
        if args.bootstrap is None:
            tmp = tempfile.TemporaryDirectory(prefix="kafkapy-bench-")
            tls_args, tls_client = _tls_setup(Path(tmp.name)) if args.tls else ((), {})
            data_dir = Path(tmp.name) / "data"
            started = BrokerProcess(data_dir, num_partitions=args.partitions, extra_args=tls_args).start()
            args.bootstrap = started.listeners["SSL"] if args.tls else started.bootstrap
            args.client_properties = {**tls_client, **args.client_properties}
            print(f"started kafkapy at {args.bootstrap} (data dir {started.data_dir})", file=sys.stderr)
        results = run(args)
    finally:
        if started is not None:
            started.close()
        if tmp is not None:
            tmp.cleanup()

    print_table(results)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "bootstrap": args.bootstrap,
        "broker": "kafkapy (started by bench)" if started else "external",
        "tls": args.tls or args.client_properties.get("security.protocol", "").upper().endswith("SSL"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "settings": {
            "acks": args.acks,
            "linger_ms": args.linger_ms,
            "batch_size": args.batch_size,
            "compression": args.compression,
            "partitions": args.partitions,
            "max_seconds": args.max_seconds,
        },
        "results": [r.as_json() for r in results],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"throughput-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return 0 if all(r.complete and not r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
