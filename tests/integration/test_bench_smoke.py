"""bench/compare.py end to end on tiny workloads, one round, every figure produced: kafkapy-memory, and
kafkapy through an SSL listener; the SSL broker kinds (kafkapy's and Apache Kafka's) serve the load only through TLS."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def build_load_generators() -> None:
    """Build the load generators (first use only), which is not part of a run being timed."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import loadgen
        import rdkafka_perf

        loadgen.ensure_jars()
        rdkafka_perf.ensure_binary()
    finally:
        sys.path.remove(str(ROOT / "bench"))


needs_load_generators = pytest.mark.skipif(
    shutil.which("java") is None
    or (shutil.which("mvn") is None and not TOOLS_JAR.exists())
    or (
        not RDKAFKA_PERFORMANCE.exists()
        and (
            shutil.which("gcc") is None
            or shutil.which("apt-get") is None
            or not debian_package_installed("librdkafka1")
        )
    ),
    reason="java, kafka-tools (mvn) and rdkafka_performance (gcc, librdkafka1) run the load",
)


def tiny_compare(tmp_path: Path, kinds: str, raw_bytes: int) -> tuple[str, dict[str, Any]]:
    """compare.py on one round of 2 MB produce phases of 1 KiB records with the other figures short; the
    markdown it prints and its JSON report, after checking that every broker's figures all succeeded."""
    build_load_generators()
    cmd = [sys.executable, str(COMPARE), "--brokers", kinds, "--runs", "1", "--sizes", "1024"]
    cmd += ["--records-bytes", "2000000", "--latency-seconds", "1", "--latency-rate", "2000", "--e2e-records", "50"]
    cmd += ["--python-bytes", "1000000", "--raw-bytes", str(raw_bytes), "--max-seconds", "30", "--out", str(tmp_path)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120 * len(kinds.split(",")), check=False)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert elapsed < 60 * len(kinds.split(",")), f"took {elapsed:.0f}s"
    assert "### Throughput" in proc.stdout
    (path,) = tmp_path.glob("compare-*.json")
    report = json.loads(path.read_text())
    assert report["brokers"] == kinds.split(",")
    keys = [w["key"] for w in report["settings"]["workloads"]]
    assert len(keys) == 4  # 1 KiB plain, 6 partitions, acks=all, lz4
    for medians in report["medians"].values():
        for key in keys:
            for phase in ("produce", "consume"):
                figure = medians["throughput"][key][phase]
                assert figure["runs_failed"] == 0, figure["errors"]
                assert figure["median"]["msgs_per_s"] > 0 and figure["median"]["mb_per_s"] > 0
        for figure in ("latency", "e2e"):
            assert medians[figure]["runs_failed"] == 0, medians[figure]["errors"]
            assert medians[figure]["median"]["p99_ms"] >= 0
        for phase in ("produce", "consume"):
            assert medians["python_client"][phase]["median"]["msgs_per_s"] > 0
    return proc.stdout, report


@needs_load_generators
@pytest.mark.timeout(600)
def test_compare_kafkapy_memory_tiny(tmp_path: Path) -> None:
    _, report = tiny_compare(tmp_path, "kafkapy-memory", raw_bytes=10_000_000)
    assert report["machine"]["cores"] and report["git"]["commit"]
    medians = report["medians"]["kafkapy-memory"]
    assert medians["startup"]["median"]["seconds"] > 0
    assert medians["startup"]["median"]["idle_rss_kib"] > 0
    assert medians["rss_after_load_kib"] > 0


@needs_load_generators
@pytest.mark.timeout(600)
def test_compare_tls_kind_runs_every_figure_through_its_ssl_listener(tmp_path: Path) -> None:
    markdown, report = tiny_compare(tmp_path, "kafkapy-disk,kafkapy-disk-ssl", raw_bytes=0)
    assert "kafkapy-disk-ssl: SSL listener, TLSv1.3" in markdown
    (round_,) = report["rounds"]["kafkapy-disk-ssl"]
    assert round_["tls"]["protocol"] == "TLSv1.3"
    for key in [w["key"] for w in report["settings"]["workloads"]]:
        for phase in ("produce", "consume"):
            assert report["ratios"][key][phase]["kafkapy-disk-ssl/kafkapy-disk"] > 0


@needs_load_generators
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["kafkapy-disk-ssl", "kafka-ssl"])
def test_ssl_kind_serves_the_load_generators_only_through_tls(kind: str, tmp_path: Path) -> None:
    build_load_generators()
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import brokers
        import loadgen
        import rdkafka_perf
        import throughput
    finally:
        sys.path.remove(str(ROOT / "bench"))
    if kind == "kafka-ssl":
        try:
            brokers.ApacheKafkaBroker.install()
        except brokers.BrokerError as e:
            pytest.skip(f"Apache Kafka not available: {e}")
    with brokers.make_broker(kind, tmp_path) as broker:
        broker.start()
        assert broker.bootstrap != f"127.0.0.1:{broker.port}"
        assert broker.tls.handshake(broker.bootstrap)["protocol"] == "TLSv1.3"
        topic = throughput.create_topic(broker.bootstrap, 1, timeout=60, client_properties=broker.client_settings)
        conf = broker.client_settings
        _, produced = rdkafka_perf.produce(
            broker.bootstrap, topic, 2000, 1024, acks="1", compression=None, timeout=60, conf=conf
        )
        _, consumed = rdkafka_perf.consume(broker.bootstrap, topic, 1, 2000, timeout=60, conf=conf)
        assert produced.messages == consumed.messages == 2000
        # Without the SSL settings the same tool gets nothing through the same port.
        with pytest.raises(loadgen.LoadgenError):
            rdkafka_perf.produce(broker.bootstrap, topic, 10, 1024, acks="1", compression=None, timeout=10)


def test_request_cost_every_workload() -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "request_cost.py"), "--requests", "30", "--fetch-batches", "5"]
    done = subprocess.run([*cmd, "--storage", "memory"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["produce-lz4", "produce-16k", "fetch-1m"]
    assert all("30 requests" in line and "broker CPU per request: user" in line for line in lines)
