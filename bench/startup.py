"""Startup time and idle memory of kafkapy: from "start" to the first answered Metadata request.

    python3 bench/startup.py [--runs 7]

Three ways a test suite starts a broker, in both storage modes: `kafkapy serve` as a process (what a
CI service does), KafkaBroker() (a subprocess) and KafkaBroker(in_process=True). Each is timed from
the call to the first Metadata response on a fresh data dir, median of --runs; the idle RSS of the
`kafkapy serve` process is read from /proc right after. With --apache-kafka, Apache Kafka 4.3.1 (JVM,
KRaft, assembled by compat_tests/reference_kafka.py) is timed the same way. Results are printed and
written to bench/results/startup-<UTC time>.json (gitignored). kafkapy's bytecode is compiled first
(`compile_bytecode`), as installing a package does.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import kafkapy
from kafkapy.client.wire import WireClient
from kafkapy.protocol.specs import ApiKey
from kafkapy.testing import KafkaBroker

RESULTS = Path(__file__).resolve().parent / "results"
DEADLINE_S = 15.0


def compile_bytecode() -> None:
    """Write kafkapy's .pyc files, as `pip install` does for an installed package.

    Without them (an editable checkout with PYTHONDONTWRITEBYTECODE set, as on this project's CI
    machines) every start compiles ~80 modules from source first: ~0.17 s of a ~0.45 s start here.
    """
    compileall.compile_dir(Path(kafkapy.__file__).parent, quiet=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_metadata(port: int, deadline: float) -> None:
    """Connect and ask Metadata until it answers (the broker may not listen yet)."""
    while True:
        try:
            with WireClient("127.0.0.1", port, timeout=2) as client:
                client.request(ApiKey.METADATA, 12, {"topics": None})
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def serve_process(data_dir: Path, storage: str) -> tuple[float, int]:
    """Seconds from Popen to the first Metadata answer, and the process's RSS in KiB then."""
    port = _free_port()
    cmd = [sys.executable, "-m", "kafkapy", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    cmd += ["--storage", storage]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _first_metadata(port, time.monotonic() + DEADLINE_S)
        elapsed = time.perf_counter() - started
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss = int(status.split("VmRSS:")[1].split()[0])
        return elapsed, rss
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def testing_broker(in_process: bool, storage: str) -> float:
    started = time.perf_counter()
    with KafkaBroker(in_process=in_process, storage=storage) as kafka:
        _first_metadata(kafka.port, time.monotonic() + DEADLINE_S)
        return time.perf_counter() - started


def apache_kafka() -> tuple[float, int]:
    """Apache Kafka 4.3.1 (JVM, KRaft, compat_tests/reference_kafka.py): seconds from start() (which
    formats the log dir, as a container's first start does) to the first Metadata answer, and RSS."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from compat_tests.reference_kafka import ReferenceKafka

    started = time.perf_counter()
    with ReferenceKafka() as kafka:
        assert kafka.port is not None
        _first_metadata(kafka.port, time.monotonic() + 90)
        elapsed = time.perf_counter() - started
        pid = kafka._proc.pid if kafka._proc is not None else 0
        rss = int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])
        return elapsed, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--apache-kafka", action="store_true", help="also time Apache Kafka 4.3.1 (needs Java 17 and Maven)"
    )
    args = parser.parse_args()
    compile_bytecode()
    rows: dict[str, float] = {}
    rss_kib: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kafkapy-startup-") as tmp:
        for storage in ("disk", "memory"):
            serve_times, rss, subprocess_times, thread_times = [], [], [], []
            for run in range(args.runs):
                seconds, kib = serve_process(Path(tmp) / f"{storage}-{run}", storage)
                serve_times.append(seconds)
                rss.append(kib)
                subprocess_times.append(testing_broker(False, storage))
                thread_times.append(testing_broker(True, storage))
            rows[f"kafkapy serve --storage {storage}"] = statistics.median(serve_times)
            rows[f"KafkaBroker(storage={storage!r})"] = statistics.median(subprocess_times)
            rows["  ... in_process=True"] = statistics.median(thread_times)
            rss_kib[f"kafkapy serve --storage {storage}"] = statistics.median(rss)
    print(f"{'start to first Metadata':36} {'median s':>9}   (runs={args.runs})")
    for name, value in rows.items():
        print(f"{name:36} {value:9.3f}")
    for name, kib in rss_kib.items():
        print(f"{'idle RSS, ' + name:36} {kib / 1024:9.1f} MiB")
    if args.apache_kafka:
        runs = [apache_kafka() for _ in range(min(args.runs, 3))]
        rows["Apache Kafka 4.3.1 (JVM)"] = statistics.median(r[0] for r in runs)
        rss_kib["Apache Kafka 4.3.1 (JVM)"] = statistics.median(r[1] for r in runs)
        print(f"{'Apache Kafka 4.3.1 (JVM)':36} {rows['Apache Kafka 4.3.1 (JVM)']:9.3f}")
        print(f"{'idle RSS, Apache Kafka 4.3.1':36} {rss_kib['Apache Kafka 4.3.1 (JVM)'] / 1024:9.1f} MiB")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"startup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    report = {"median_seconds": rows, "idle_rss_kib": rss_kib, "machine": machine}
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
