"""bench/compare.py end to end on a tiny workload: kafkapy-memory only, one round, every figure produced."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPARE = ROOT / "bench" / "compare.py"
TOOLS_JAR = ROOT / "bench" / "loadgen" / "target" / "lib" / "kafka-tools-4.3.1.jar"
RDKAFKA_PERFORMANCE = ROOT / "bench" / ".cache" / "rdkafka_performance"


def debian_package_installed(name: str) -> bool:
    """dpkg says the package is installed (not merely known, or removed with its config files left)."""
    if shutil.which("dpkg-query") is None:
        return False
    query = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True, check=False)
    return query.stdout == "install ok installed"


@pytest.mark.skipif(shutil.which("java") is None, reason="java not on PATH (the load generator is Java)")
@pytest.mark.skipif(
    shutil.which("mvn") is None and not TOOLS_JAR.exists(), reason="mvn not on PATH to fetch kafka-tools"
)
@pytest.mark.skipif(
    not RDKAFKA_PERFORMANCE.exists() and (shutil.which("gcc") is None or shutil.which("apt-get") is None),
    reason="gcc and apt-get build rdkafka_performance (Debian's librdkafka source)",
)
@pytest.mark.skipif(
    not RDKAFKA_PERFORMANCE.exists() and not debian_package_installed("librdkafka1"),
    reason="rdkafka_performance is built from the source of the installed librdkafka1 (apt-get install librdkafka1)",
)
@pytest.mark.timeout(600)
def test_compare_kafkapy_memory_tiny(tmp_path: Path) -> None:
    # Building the load generators (first use only) is not part of the run being timed.
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import loadgen
        import rdkafka_perf

        loadgen.ensure_jars()
        rdkafka_perf.ensure_binary()
    finally:
        sys.path.remove(str(ROOT / "bench"))

    cmd = [sys.executable, str(COMPARE), "--brokers", "kafkapy-memory", "--runs", "1", "--sizes", "1024"]
    cmd += ["--records-bytes", "2000000", "--latency-seconds", "1", "--latency-rate", "2000", "--e2e-records", "50"]
    cmd += ["--python-bytes", "1000000", "--raw-bytes", "10000000", "--max-seconds", "30", "--out", str(tmp_path)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert elapsed < 60, f"took {elapsed:.0f}s"
    assert "### Throughput" in proc.stdout

    (path,) = tmp_path.glob("compare-*.json")
    report = json.loads(path.read_text())
    assert report["brokers"] == ["kafkapy-memory"]
    assert report["machine"]["cores"] and report["git"]["commit"]
    medians = report["medians"]["kafkapy-memory"]
    keys = [w["key"] for w in report["settings"]["workloads"]]
    assert len(keys) == 4  # 1 KiB plain, 6 partitions, acks=all, lz4
    for key in keys:
        for phase in ("produce", "consume"):
            figure = medians["throughput"][key][phase]
            assert figure["runs_failed"] == 0, figure["errors"]
            assert figure["median"]["msgs_per_s"] > 0 and figure["median"]["mb_per_s"] > 0
    assert medians["startup"]["median"]["seconds"] > 0
    assert medians["startup"]["median"]["idle_rss_kib"] > 0
    assert medians["rss_after_load_kib"] > 0
    for figure in ("latency", "e2e"):
        assert medians[figure]["runs_failed"] == 0, medians[figure]["errors"]
        assert medians[figure]["median"]["p99_ms"] >= 0
    for phase in ("produce", "consume"):
        assert medians["python_client"][phase]["median"]["msgs_per_s"] > 0


def test_request_cost_every_workload() -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "request_cost.py"), "--requests", "30", "--fetch-batches", "5"]
    done = subprocess.run([*cmd, "--storage", "memory"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["produce-lz4", "produce-16k", "fetch-1m"]
    assert all("30 requests" in line and "broker CPU per request: user" in line for line in lines)
