"""Apache Kafka's own load generators, run as Java processes, and parsers for what they print.

bench/compare.py drives every broker with the same tools from `org.apache.kafka:kafka-tools:4.3.1`
(`bench/loadgen/pom.xml`; the jars are copied to `bench/loadgen/target/lib` by Maven on first use):

- `ProducerPerformance`: N records of S bytes as fast as possible (`--throughput -1`) or at a fixed
  rate; its last line is the summary (records/s, latency percentiles).
- `ConsumerPerformance`: subscribes with a fresh consumer group and reads N records; one CSV line of
  totals, with the group-join ("rebalance") time reported apart from the fetch time.
- `EndToEndLatency`: one record at a time, produce then consume it, N times; avg and percentiles.

Every run is bounded in time: the tool runs in its own process group and the whole group is killed
when the time is up or the caller is interrupted. The parsers are plain functions over the captured
text so they can be unit-tested from real output (tests/unit/test_bench_parsing.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
POM_DIR = HERE / "loadgen"
LIB_DIR = POM_DIR / "target" / "lib"
TOOLS_JAR = LIB_DIR / "kafka-tools-4.3.1.jar"
LOG4J2_PATH = POM_DIR / "target" / "log4j2.properties"
ASSEMBLE_TIMEOUT_S = 600.0
JAVA_HEAP = "1g"
OUTPUT_LINES_KEPT = 500

PRODUCER_MAIN = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER_MAIN = "org.apache.kafka.tools.ConsumerPerformance"
END_TO_END_MAIN = "org.apache.kafka.tools.EndToEndLatency"

# Warnings and errors of the clients go to stderr (kept for failure messages); results go to stdout.
LOG4J2 = """\
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
"""

_NUM = r"([0-9]+(?:\.[0-9]+)?)"
PRODUCER_SUMMARY_RE = re.compile(
    rf"^(\d+) (steady state )?records sent, {_NUM} records/sec \({_NUM} MB/sec\), {_NUM} ms avg latency, "
    rf"{_NUM} ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$",
    re.MULTILINE,
)
CONSUMER_HEADER = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec"
CONSUMER_TIMEOUT_MARK = "WARNING: Exiting before consuming the expected number of records"
E2E_AVG_RE = re.compile(rf"^Avg latency: {_NUM} ms$", re.MULTILINE)
E2E_PERCENTILES_RE = re.compile(r"^Percentiles: 50th = (\d+), 99th = (\d+), 99\.9th = (\d+)$", re.MULTILINE)


class LoadgenError(RuntimeError):
    """A tool could not be built or run, or printed no result we can read."""


@dataclass(frozen=True)
class ProducerSummary:
    """The final line of ProducerPerformance. `mib_per_s` is the tool's "MB/sec" (2^20 bytes)."""

    records: int
    records_per_s: float
    mib_per_s: float
    avg_ms: float
    max_ms: float
    p50_ms: int
    p95_ms: int
    p99_ms: int
    p999_ms: int


@dataclass(frozen=True)
class ConsumerSummary:
    """The totals line of ConsumerPerformance (MB there is 2^20 bytes).

    `rebalance_ms` is the time until the group was joined and partitions assigned; `fetch_ms` is the
    rest, from the assignment to the last record. `timed_out` is set when the tool gave up before
    reading all the records it was asked for."""

    mib: float
    mib_per_s: float
    records: int
    records_per_s: float
    rebalance_ms: int
    fetch_ms: int
    fetch_mib_per_s: float
    fetch_records_per_s: float
    timed_out: bool


@dataclass(frozen=True)
class EndToEndSummary:
    """EndToEndLatency's result: average (float ms) and percentiles (whole ms, as the tool prints)."""

    avg_ms: float
    p50_ms: int
    p99_ms: int
    p999_ms: int


@dataclass(frozen=True)
class ToolRun:
    """What one tool process printed, how it ended, and how long it took (wall clock)."""

    stdout: str
    stderr: str
    returncode: int | None
    seconds: float
    timed_out: bool
    why_killed: str | None = None
    cpu_seconds: float | None = None

    def failure_detail(self, lines: int = 6) -> str:
        """A short reason for a failure message: how it ended and the tail of stderr."""
        how = self.why_killed or f"exit code {self.returncode}"
        tail = [ln for ln in self.stderr.splitlines() if ln.strip()][-lines:]
        return how + (": " + " | ".join(t.strip()[:300] for t in tail) if tail else "")


def as_dict(summary: ProducerSummary | ConsumerSummary | EndToEndSummary) -> dict[str, object]:
    """A summary as a JSON-ready dict."""
    return asdict(summary)


# --- parsers -------------------------------------------------------------------------------------------


def parse_producer_output(text: str, *, steady_state: bool = False) -> ProducerSummary:
    """The summary line of ProducerPerformance (progress lines have no percentiles). With `steady_state`,
    the extra line printed after it with --warmup-records ("N steady state records sent, ...")."""
    matches = [m for m in PRODUCER_SUMMARY_RE.findall(text) if bool(m[1]) == steady_state]
    if not matches:
        what = "steady state summary" if steady_state else "summary"
        raise LoadgenError(f"no ProducerPerformance {what} line (N records sent, ... 99.9th.) in its output")
    records, _steady, rate, mib_s, avg, mx, p50, p95, p99, p999 = matches[-1]
    return ProducerSummary(
        records=int(records),
        records_per_s=float(rate),
        mib_per_s=float(mib_s),
        avg_ms=float(avg),
        max_ms=float(mx),
        p50_ms=int(p50),
        p95_ms=int(p95),
        p99_ms=int(p99),
        p999_ms=int(p999),
    )


def parse_consumer_output(text: str) -> ConsumerSummary:
    """The CSV totals line of ConsumerPerformance, which follows its header line.

    Columns: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
    rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec."""
    lines = text.splitlines()
    header_at = next((i for i, ln in enumerate(lines) if ln.startswith(CONSUMER_HEADER)), None)
    if header_at is None:
        raise LoadgenError("no ConsumerPerformance header line in its output")
    for line in lines[header_at + 1 :]:
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 10:
            continue
        try:
            return ConsumerSummary(
                mib=float(fields[2]),
                mib_per_s=float(fields[3]),
                records=int(fields[4]),
                records_per_s=float(fields[5]),
                rebalance_ms=int(fields[6]),
                fetch_ms=int(fields[7]),
                fetch_mib_per_s=float(fields[8]),
                fetch_records_per_s=float(fields[9]),
                timed_out=CONSUMER_TIMEOUT_MARK in text,
            )
        except ValueError:
            continue
    raise LoadgenError("no ConsumerPerformance totals line after its header")


def parse_end_to_end_output(text: str) -> EndToEndSummary:
    """`Avg latency: X ms` and `Percentiles: 50th = A, 99th = B, 99.9th = C` of EndToEndLatency."""
    avg = E2E_AVG_RE.search(text)
    pct = E2E_PERCENTILES_RE.search(text)
    if avg is None or pct is None:
        raise LoadgenError("no EndToEndLatency 'Avg latency' / 'Percentiles' lines in its output")
    return EndToEndSummary(float(avg.group(1)), int(pct.group(1)), int(pct.group(2)), int(pct.group(3)))


# --- building and running ------------------------------------------------------------------------------


def ensure_jars(timeout: float = ASSEMBLE_TIMEOUT_S) -> Path:
    """Copy kafka-tools 4.3.1 and its runtime dependencies into bench/loadgen/target/lib (once)."""
    if not TOOLS_JAR.exists():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LoadgenError("mvn not on PATH: Maven is needed to fetch kafka-tools from Maven Central")
        try:
            proc = subprocess.run(
                [mvn, "-q", "-B", "dependency:copy-dependencies"],
                cwd=POM_DIR,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LoadgenError(f"mvn dependency:copy-dependencies took more than {timeout:.0f}s") from None
        if proc.returncode != 0 or not TOOLS_JAR.exists():
            raise LoadgenError(f"mvn dependency:copy-dependencies failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    LOG4J2_PATH.parent.mkdir(parents=True, exist_ok=True)
    if not LOG4J2_PATH.exists() or LOG4J2_PATH.read_text() != LOG4J2:
        LOG4J2_PATH.write_text(LOG4J2)
    return LIB_DIR


def java_command(main: str, args: Sequence[str]) -> list[str]:
    """`java ... -cp target/lib/* MAIN ARGS` with a fixed heap and the WARN-to-stderr logging config."""
    java = shutil.which("java")
    if java is None:
        raise LoadgenError("java not on PATH (Java 17+ runs the load generator)")
    return [
        java,
        f"-Xmx{JAVA_HEAP}",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J2_PATH}",
        "-cp",
        f"{ensure_jars()}/*",
        main,
        *args,
    ]


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the tool's whole process group and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _drain(
    stream: IO[str],
    sink: deque[str],
    first_line: threading.Event | None = None,
    keep: Callable[[str], bool] | None = None,
) -> None:
    """Read a pipe to its end, keeping the last lines that `keep` accepts (all without it); the deque
    is bounded, so a chatty tool cannot fill memory."""
    for line in stream:
        if keep is None or keep(line):
            sink.append(line)
        if first_line is not None:
            first_line.set()


def run_tool(main: str, args: Sequence[str], timeout: float, *, first_output_timeout: float | None = None) -> ToolRun:
    """Run one Java tool (see run_command)."""
    return run_command(java_command(main, args), timeout, first_output_timeout=first_output_timeout)


def run_command(
    cmd: Sequence[str],
    timeout: float,
    *,
    first_output_timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    keep_stderr: Callable[[str], bool] | None = None,
) -> ToolRun:
    """Run one tool in its own process group; kill the group after `timeout` s, if it printed nothing
    on stdout within `first_output_timeout` s, or on any exception (Ctrl-C included). Of stderr, only
    the lines `keep_stderr` accepts are kept (all without it)."""
    started = time.perf_counter()
    cpu_before = _children_cpu()
    proc = subprocess.Popen(
        list(cmd),
        env=None if env is None else {**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    out: deque[str] = deque(maxlen=OUTPUT_LINES_KEPT)
    err: deque[str] = deque(maxlen=OUTPUT_LINES_KEPT)
    first = threading.Event()
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out, first), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err, None, keep_stderr), daemon=True),
    ]
    for r in readers:
        r.start()
    why = None
    try:
        while proc.poll() is None:
            elapsed = time.perf_counter() - started
            if elapsed > timeout:
                why = f"timed out after {elapsed:.0f}s"
            elif first_output_timeout is not None and not first.is_set() and elapsed > first_output_timeout:
                why = f"printed nothing within {first_output_timeout:.0f}s"
            if why:
                break
            time.sleep(0.05)
    finally:
        _kill_group(proc)
        for r in readers:
            r.join(timeout=10)
    code = None if why else proc.returncode
    seconds = time.perf_counter() - started
    cpu = round(_children_cpu() - cpu_before, 3)
    return ToolRun("".join(out), "".join(err), code, seconds, why is not None, why, cpu)


def _children_cpu() -> float:
    """User+system CPU seconds of this process's reaped children: around one tool run (and nothing else
    reaped meanwhile, as the runs are sequential) the difference is that tool's JVM."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _props(props: Mapping[str, object]) -> list[str]:
    return [f"{k}={v}" for k, v in props.items()]


@dataclass(frozen=True)
class ProducerResult:
    """One ProducerPerformance run: the process, its whole-run summary and, with --warmup-records, the
    steady-state summary of the records after the warm-up (None without)."""

    run: ToolRun
    total: ProducerSummary
    steady: ProducerSummary | None

    @property
    def summary(self) -> ProducerSummary:
        """The steady state if there was a warm-up, else the whole run."""
        return self.steady or self.total


def producer_perf(
    bootstrap: str,
    topic: str,
    records: int,
    record_size: int,
    props: Mapping[str, object],
    *,
    throughput: int = -1,
    warmup_records: int = 0,
    timeout: float,
) -> ProducerResult:
    """ProducerPerformance: `records` of `record_size` bytes at `throughput` records/s (-1: unthrottled);
    with `warmup_records`, its steady-state line (the records after those) is parsed too.

    Raises LoadgenError (with the tool's stderr) if it failed, timed out, or fewer records were acked."""
    args = ["--topic", topic, "--num-records", str(records), "--record-size", str(record_size)]
    args += ["--throughput", str(throughput), "--bootstrap-server", bootstrap]
    if warmup_records:
        args += ["--warmup-records", str(warmup_records)]
    args += ["--command-property", *_props(props)]
    run = run_tool(PRODUCER_MAIN, args, timeout)
    if run.timed_out or run.returncode != 0:
        raise LoadgenError(f"ProducerPerformance {run.failure_detail()}")
    total = parse_producer_output(run.stdout)
    if total.records != records:
        raise LoadgenError(f"ProducerPerformance acked {total.records} of {records} records: {run.failure_detail()}")
    steady = parse_producer_output(run.stdout, steady_state=True) if warmup_records else None
    return ProducerResult(run, total, steady)


def consumer_perf(
    bootstrap: str,
    topic: str,
    records: int,
    props: Mapping[str, object],
    *,
    idle_timeout_ms: int,
    timeout: float,
) -> tuple[ToolRun, ConsumerSummary]:
    """ConsumerPerformance: read `records` from `topic` with a fresh consumer group (from the earliest offset).

    `idle_timeout_ms` is the tool's --timeout (longest wait between two batches of records)."""
    args = ["--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records)]
    args += ["--timeout", str(idle_timeout_ms), "--group", f"bench-{os.getpid()}-{time.monotonic_ns()}"]
    args += ["--command-property", *_props(props)]
    run = run_tool(CONSUMER_MAIN, args, timeout)
    if run.timed_out or run.returncode != 0:
        raise LoadgenError(f"ConsumerPerformance {run.failure_detail()}")
    summary = parse_consumer_output(run.stdout)
    if summary.timed_out or summary.records < records:
        raise LoadgenError(
            f"ConsumerPerformance read {summary.records} of {records} records "
            f"(no record for {idle_timeout_ms} ms): {run.failure_detail()}"
        )
    return run, summary


def end_to_end(
    bootstrap: str,
    topic: str,
    records: int,
    record_size: int,
    acks: str,
    *,
    timeout: float,
    first_output_timeout: float = 15.0,
    command_config: Mapping[str, object] | None = None,
) -> tuple[ToolRun, EndToEndSummary]:
    """EndToEndLatency: `records` round trips (produce one record, poll until it is consumed).

    The tool prints a line after its first round trip; if that has not come within
    `first_output_timeout` s the broker is not delivering (the tool itself would wait 60 s per poll).
    `command_config`: client settings of its producer and consumer (the tool reads them from a file)."""
    args = ["--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records)]
    args += ["--producer-acks", acks, "--record-size", str(record_size)]
    with tempfile.TemporaryDirectory(prefix="e2e-") as tmp:
        if command_config:
            path = Path(tmp) / "client.properties"
            path.write_text("".join(f"{line}\n" for line in _props(command_config)))
            args += ["--command-config", str(path)]
        run = run_tool(END_TO_END_MAIN, args, timeout, first_output_timeout=first_output_timeout)
    if run.timed_out or run.returncode != 0:
        raise LoadgenError(f"EndToEndLatency {run.failure_detail()}")
    return run, parse_end_to_end_output(run.stdout)
