"""The parsers of bench/loadgen.py, on output captured from kafka-tools 4.3.1 (ProducerPerformance,
ConsumerPerformance, EndToEndLatency) run against kafkapy and Tansu."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


loadgen = _load("loadgen")

PRODUCER_OUTPUT = """\
995 records sent, 995.0 records/sec (0.09 MB/sec), 11.7 ms avg latency, 353.0 ms max latency.
1006 records sent, 1001.0 records/sec (0.10 MB/sec), 4.8 ms avg latency, 9.0 ms max latency.
3000 records sent, 995.355010 records/sec (0.09 MB/sec), 6.90 ms avg latency, 353.00 ms max latency, \
5 ms 50th, 24 ms 95th, 29 ms 99th, 33 ms 99.9th.
"""

CONSUMER_OUTPUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-25 18:19:09:790, 2026-11-25 18:19:11:904, 195.3125, 92.3900, 200000, 94607.3794, 702, 1412, \
138.3233, 141643.0595
"""

CONSUMER_TIMED_OUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
WARNING: Exiting before consuming the expected number of records: timeout (10000 ms) exceeded. You can use \
the --timeout option to increase the timeout.
2026-11-25 18:20:00:968, 2026-11-25 18:20:11:046, 0.0000, 0.0000, 0, 0.0000, 0, 10078, 0.0000, 0.0000
"""

E2E_OUTPUT = """\
0\t92.850312
1000\t0.981603
Avg latency: 1.5396 ms
Percentiles: 50th = 1, 99th = 5, 99.9th = 21
"""


def test_producer_summary_is_the_line_with_percentiles() -> None:
    s = loadgen.parse_producer_output(PRODUCER_OUTPUT)
    assert s.records == 3000
    assert s.records_per_s == pytest.approx(995.35501)
    assert s.mib_per_s == pytest.approx(0.09)
    assert (s.avg_ms, s.max_ms) == (pytest.approx(6.9), pytest.approx(353.0))
    assert (s.p50_ms, s.p95_ms, s.p99_ms, s.p999_ms) == (5, 24, 29, 33)


def test_producer_summary_of_a_fast_run() -> None:
    line = (
        "200000 records sent, 78216.660149 records/sec (76.38 MB/sec), 243.71 ms avg latency, "
        "463.00 ms max latency, 250 ms 50th, 445 ms 95th, 454 ms 99th, 457 ms 99.9th."
    )
    s = loadgen.parse_producer_output("some warning on stdout\n" + line + "\n")
    assert (s.records, s.records_per_s, s.p999_ms) == (200000, pytest.approx(78216.660149), 457)


WARMUP_OUTPUT = """\
Warmup first 5000 records. Steady state results will print after the complete test summary.
20000 records sent, 4978.839930 records/sec (4.86 MB/sec), 7.64 ms avg latency, 370.00 ms max latency, \
1 ms 50th, 63 ms 95th, 75 ms 99th, 81 ms 99.9th.
15000 steady state records sent, 4965.243297 records/sec (4.85 MB/sec), 0.97 ms avg latency, \
9.00 ms max latency, 1 ms 50th, 2 ms 95th, 5 ms 99th, 8 ms 99.9th.
"""


def test_producer_with_warmup_has_a_steady_state_line() -> None:
    total = loadgen.parse_producer_output(WARMUP_OUTPUT)
    steady = loadgen.parse_producer_output(WARMUP_OUTPUT, steady_state=True)
    assert (total.records, total.p99_ms) == (20000, 75)
    assert (steady.records, steady.p50_ms, steady.p99_ms, steady.p999_ms) == (15000, 1, 5, 8)
    assert steady.avg_ms == pytest.approx(0.97)
    with pytest.raises(loadgen.LoadgenError):
        loadgen.parse_producer_output(PRODUCER_OUTPUT, steady_state=True)


def test_producer_without_summary_is_an_error() -> None:
    with pytest.raises(loadgen.LoadgenError):
        loadgen.parse_producer_output(PRODUCER_OUTPUT.splitlines()[0])


def test_consumer_totals() -> None:
    s = loadgen.parse_consumer_output(CONSUMER_OUTPUT)
    assert s.records == 200000
    assert s.mib == pytest.approx(195.3125)
    assert (s.rebalance_ms, s.fetch_ms) == (702, 1412)
    assert s.fetch_records_per_s == pytest.approx(141643.0595)
    assert s.records_per_s == pytest.approx(94607.3794)
    assert not s.timed_out


def test_consumer_timeout_is_flagged() -> None:
    s = loadgen.parse_consumer_output(CONSUMER_TIMED_OUT)
    assert s.timed_out
    assert s.records == 0


def test_consumer_without_header_is_an_error() -> None:
    with pytest.raises(loadgen.LoadgenError):
        loadgen.parse_consumer_output(CONSUMER_OUTPUT.splitlines()[-1])


def test_end_to_end() -> None:
    s = loadgen.parse_end_to_end_output(E2E_OUTPUT)
    assert s.avg_ms == pytest.approx(1.5396)
    assert (s.p50_ms, s.p99_ms, s.p999_ms) == (1, 5, 21)
    with pytest.raises(loadgen.LoadgenError):
        loadgen.parse_end_to_end_output("0\t92.8\n")


def test_failure_detail_keeps_the_end_of_stderr() -> None:
    run = loadgen.ToolRun("", "a\n\nb\nERROR boom\n", None, 30.4, True, "timed out after 30s")
    assert run.failure_detail() == "timed out after 30s: a | b | ERROR boom"
    assert loadgen.ToolRun("", "", 1, 2.0, False).failure_detail() == "exit code 1"


def test_baseline_broker_runs_kafkapy_from_the_checkout_kafkapy_baseline_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    brokers = _load("brokers")
    monkeypatch.delenv(brokers.BASELINE_ENV, raising=False)
    with pytest.raises(ValueError, match="KAFKAPY_BASELINE"):
        brokers.make_broker(brokers.BASELINE_KIND, tmp_path)
    checkout = tmp_path / "base"
    (checkout / "kafkapy").mkdir(parents=True)
    (checkout / "kafkapy" / "__main__.py").write_text("")
    monkeypatch.setenv(brokers.BASELINE_ENV, str(checkout))
    baseline = brokers.make_broker(brokers.BASELINE_KIND, tmp_path)
    current = brokers.make_broker("kafkapy-disk", tmp_path)
    assert baseline.kind == brokers.BASELINE_KIND and current.kind == "kafkapy-disk"
    assert baseline.env()["PYTHONPATH"].split(":")[0] == str(checkout.resolve())
    assert current.env()["PYTHONPATH"].split(":")[0] == str(brokers.REPO_ROOT)


def test_ssl_kinds_listen_on_ssl_beside_plaintext_with_the_same_keystore_properties(tmp_path: Path) -> None:
    brokers = _load("brokers")
    kafkapy, kafka = (brokers.make_broker(kind, tmp_path) for kind in brokers.SSL_KINDS)
    assert (kafkapy.kind, kafka.kind) == ("kafkapy-disk-ssl", "kafka-ssl")
    with pytest.raises(RuntimeError, match="not running"):
        kafkapy.bootstrap  # noqa: B018 (the property raises before the start)
    command = kafkapy.command(9092)
    listeners = [command[i + 1] for i, arg in enumerate(command) if arg == "--listener"]
    assert listeners == ["PLAINTEXT://127.0.0.1:9092", f"SSL://127.0.0.1:{kafkapy.ssl_port}"]
    overrides = dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "--override")
    assert overrides == kafkapy.tls.broker_properties()
    assert overrides["ssl.keystore.location"].endswith("broker.p12")
    assert kafkapy.client_settings == {"security.protocol": "SSL", "ssl.ca.location": str(kafkapy.tls.certs.ca)}
    assert kafkapy.java_settings["ssl.truststore.location"] == str(kafkapy.tls.certs.truststore)
    assert brokers.make_broker("kafkapy-disk", tmp_path).client_settings == {}

    kafka._kafka.work_dir.mkdir(parents=True)  # as ReferenceKafka.start() does first
    config = kafka._kafka._write_config(9092, 9093)
    properties = dict(line.split("=", 1) for line in config.read_text().splitlines())  # the last line of a name wins
    ssl_port = kafka._kafka.ssl_port
    assert properties["listeners"].split(",") == [
        "PLAINTEXT://127.0.0.1:9092",
        f"SSL://127.0.0.1:{ssl_port}",
        "CONTROLLER://127.0.0.1:9093",
    ]
    assert properties["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL"
    assert {k: v for k, v in properties.items() if k.startswith("ssl.")} == kafka.tls.broker_properties()
    for broker in (kafkapy, kafka):
        broker.close()


def test_ssl_ratios_set_each_broker_over_tls_against_the_other_and_against_its_plaintext() -> None:
    compare = _load("compare")
    report = _load("compare_report")
    kinds = compare.parse_brokers("kafkapy-disk,kafkapy-disk-ssl,kafka,kafka-ssl")
    assert report.ratio_pairs(kinds) == [
        ("kafkapy-disk", "kafka"),
        ("kafkapy-disk-ssl", "kafka-ssl"),
        ("kafkapy-disk-ssl", "kafkapy-disk"),
        ("kafka-ssl", "kafka"),
    ]
    assert report.ratio_pairs(["kafkapy-disk-ssl", "kafka"]) == []


def test_plain_matrix_is_each_size_at_one_partition_acks_1_uncompressed() -> None:
    compare = _load("compare")
    assert compare.parse_args(["--plain", "--sizes", "1k,16k"]).mode == "plain"
    assert compare.build_matrix([1024, 16384], "plain") == [compare.Workload(1024), compare.Workload(16384)]
    assert len(compare.build_matrix([1024], "quick")) == 4
    assert len(compare.build_matrix([1024], "full")) == 8
