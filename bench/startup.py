"""Startup time and idle memory of kafkapy: from "start" to the first answered Metadata request.

    python3 bench/startup.py [--runs 7]

Three ways a test suite starts a broker: `kafkapy serve` as a process (what KafkaBroker does by
default and what a CI service does), KafkaBroker() in a subprocess, and KafkaBroker(in_process=True).
Each is timed from the call to the first Metadata response on a fresh data dir, median of --runs.
The idle RSS of the `kafkapy serve` process is read from /proc right after. Results are printed and
written to bench/results/startup-<UTC time>.json (gitignored).
"""

from __future__ import annotations

import argparse
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

from kafkapy.testing import KafkaBroker
from kafkapy.testing.wire import WireClient

RESULTS = Path(__file__).resolve().parent / "results"
DEADLINE_S = 15.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_metadata(port: int, deadline: float) -> None:
    """Connect and ask Metadata until it answers (the broker may not listen yet)."""
    while True:
        try:
            with WireClient("127.0.0.1", port, timeout=2) as client:
                client.request(3, 12, {"topics": None})
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def serve_process(data_dir: Path) -> tuple[float, int]:
    """Seconds from Popen to the first Metadata answer, and the process's RSS in KiB then."""
    port = _free_port()
    cmd = [sys.executable, "-m", "kafkapy", "serve", "--port", str(port), "--data-dir", str(data_dir)]
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


def testing_broker(in_process: bool) -> float:
    started = time.perf_counter()
    with KafkaBroker(in_process=in_process) as kafka:
        _first_metadata(kafka.port, time.monotonic() + DEADLINE_S)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    serve_times, rss = [], []
    subprocess_times, thread_times = [], []
    with tempfile.TemporaryDirectory(prefix="kafkapy-startup-") as tmp:
        for run in range(args.runs):
            seconds, kib = serve_process(Path(tmp) / f"serve-{run}")
            serve_times.append(seconds)
            rss.append(kib)
            subprocess_times.append(testing_broker(in_process=False))
            thread_times.append(testing_broker(in_process=True))
    rows = {
        "kafkapy serve (process)": statistics.median(serve_times),
        "KafkaBroker() subprocess": statistics.median(subprocess_times),
        "KafkaBroker(in_process=True)": statistics.median(thread_times),
    }
    print(f"{'start to first Metadata':32} {'median s':>9}   (runs={args.runs})")
    for name, value in rows.items():
        print(f"{name:32} {value:9.3f}")
    print(f"{'idle RSS of kafkapy serve':32} {statistics.median(rss) / 1024:9.1f} MiB")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"startup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    report = {"median_seconds": rows, "idle_rss_kib": statistics.median(rss), "machine": machine}
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
