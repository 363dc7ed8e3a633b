"""librdkafka's `rdkafka_performance`, built from Debian's librdkafka source package, as a compiled load
generator that does not run out of CPU before the broker does.

On a 2-core machine the JVM of Apache Kafka's ProducerPerformance/ConsumerPerformance spends ten
times the broker's CPU per GB, so a broker's rate there is mostly the client's. rdkafka_performance is
C: built here from the `examples/` of the source package that matches the installed `librdkafka1`
(the library kcat uses), linked against that library, and cached in bench/.cache/.

It runs against the newest librdkafka at hand: the one bundled in the confluent-kafka wheel (pinned
by the test extras; librdkafka keeps its ABI across 2.x) when installed, else Debian's. Tansu 0.6
cannot answer Debian's librdkafka 2.0.2 (its ApiVersions reply reads short: "Read underflow").

The build: `apt-get source --download-only librdkafka=<installed version>` with a temporary deb-src
list made from the machine's Debian sources, `./configure` for the headers' config.h, then one gcc
call. The parsers read the tool's `-u` table output and are unit-tested from captured text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import loadgen

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
BINARY = CACHE / "rdkafka_performance"
LIBRARY_DIR = CACHE / "librdkafka"
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
BUILD_TIMEOUT_S = 300.0
# librdkafka's batch.size default is 1000000; 1 MiB matches the Java producer settings of compare.py.
PRODUCER_CONF = {"linger.ms": 5, "batch.size": 1_048_576}


# The tool's payload is a repeated pattern that lz4 shrinks ~100x: one 1 MiB fetch then inflates to
# more than librdkafka's default 64 MiB fetch queue, and the client backs off for a second
# ("Local: Queue full", fetch.queue.backoff.ms). A queue of librdkafka's maximum size keeps the
# client from pausing, with any broker.
CONSUMER_CONF = {"enable.partition.eof": "false", "queued.max.messages.kbytes": 2_097_151}

# The tool's consumer clock starts at the first message the application receives. librdkafka
# decompresses a whole fetch response before it hands out its first message, so a broker that ignores
# max.partition.fetch.bytes (Tansu 0.6 answers 5 MB of lz4 for 1 MiB asked, ~580k records) gets ~1 s
# of the client's work off the clock. The consume rate is timed instead from the client's first Fetch
# request to its shutdown, read from librdkafka's own fetch debug log, like ConsumerPerformance's
# fetch time (which leaves out the group join).
FETCH_DEBUG = {"debug": "fetch"}
_LOG_TIME = re.compile(r"^%\d\|(\d+\.\d+)\|(\w+)\|")


class BuildError(RuntimeError):
    """rdkafka_performance could not be built on this machine."""


@dataclass(frozen=True)
class PerfSummary:
    """The last row of rdkafka_performance's `-u` table: messages, bytes and milliseconds, and errors."""

    messages: int
    bytes: int
    elapsed_ms: int
    errors: int
    # Consumer only: first Fetch request to shutdown (see FETCH_DEBUG); the rate's clock when known.
    fetch_ms: int | None = None

    @property
    def seconds(self) -> float:
        return max(self.elapsed_ms if self.fetch_ms is None else self.fetch_ms, 1) / 1000


def parse_table(text: str) -> dict[str, str]:
    """The last data row of the `-u` table as {column: value}; LoadgenError if there is none."""
    header: list[str] | None = None
    last: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "elapsed":
            header = cells
        elif header is not None and len(cells) == len(header):
            last = cells
    if header is None or last is None:
        raise loadgen.LoadgenError("no rdkafka_performance table in its output")
    return dict(zip(header, last, strict=True))


def parse_producer(text: str) -> PerfSummary:
    """Delivered messages (`dr`), their bytes and the elapsed time; delivery errors (`dr_err`)."""
    row = parse_table(text)
    messages = int(row["dr"])
    size = int(row["bytes"]) // max(int(row["msgs"]), 1)
    return PerfSummary(messages, messages * size, int(row["elapsed"]), int(row["dr_err"]))


def parse_consumer(text: str, log: str = "") -> PerfSummary:
    """Received messages, bytes, the tool's elapsed time, errors, and the fetch window of `log`."""
    row = parse_table(text)
    summary = PerfSummary(int(row["msgs"]), int(row["bytes"]), int(row["elapsed"]), int(row["rx_err"]))
    return replace(summary, fetch_ms=fetch_window_ms(log)) if log else summary


class FetchLogFilter:
    """Of the consumer's stderr, keeps what is not debug log, the first Fetch request and the shutdown:
    the tool's output keeps only its last lines, and a run logs three lines per Fetch."""

    def __init__(self) -> None:
        self._fetched = False

    def __call__(self, line: str) -> bool:
        if not line.startswith("%7|"):
            return True
        if not self._fetched and ": Fetch topic " in line:
            self._fetched = True
            return True
        return "Terminating instance" in line


def fetch_window_ms(log: str) -> int:
    """Milliseconds from the first Fetch request librdkafka logs to "Terminating instance"."""
    first: float | None = None
    for line in log.splitlines():
        m = _LOG_TIME.match(line)
        if m is None:
            continue
        if first is None and m.group(2) == "FETCH" and ": Fetch topic " in line:
            first = float(m.group(1))
        elif first is not None and m.group(2) == "DESTROY" and "Terminating instance" in line:
            return round((float(m.group(1)) - first) * 1000)
    raise loadgen.LoadgenError("no Fetch request or no shutdown in rdkafka_performance's debug log")


# --- building --------------------------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed: {(proc.stdout + proc.stderr)[-2000:]}")
    return proc.stdout


def installed_version() -> str:
    """The Debian version of the installed librdkafka1 (the library the binary links against)."""
    try:
        return _run(["dpkg-query", "-W", "-f=${Version}", "librdkafka1"]).strip()
    except (BuildError, FileNotFoundError) as e:
        raise BuildError(f"librdkafka1 is not installed (apt-get install librdkafka1, or kcat): {e}") from None


def _fetch_source(version: str, workdir: Path) -> Path:
    """Download and unpack the librdkafka source package of `version`; returns the source tree."""
    if not DEBIAN_SOURCES.exists():
        raise BuildError(f"{DEBIAN_SOURCES} not found: cannot derive a deb-src list")
    parts = workdir / "sources.list.d"
    lists = workdir / "lists"
    (lists / "partial").mkdir(parents=True)
    parts.mkdir()
    text = re.sub(r"(?m)^Types:.*$", "Types: deb-src", DEBIAN_SOURCES.read_text())
    (parts / "debian-src.sources").write_text(text)
    apt = [
        "apt-get",
        "-o",
        f"Dir::Etc::SourceParts={parts}",
        "-o",
        "Dir::Etc::SourceList=/dev/null",
        "-o",
        f"Dir::State::Lists={lists}",
    ]
    _run([*apt, "update"])
    _run([*apt, "source", "--download-only", f"librdkafka={version}"], cwd=workdir)
    orig = next(workdir.glob("librdkafka_*.orig.tar.gz"), None)
    if orig is None:
        raise BuildError("apt-get source left no librdkafka_*.orig.tar.gz")
    with tarfile.open(orig) as tar:
        tar.extractall(workdir, filter="data")
    tree = next((p for p in workdir.glob("librdkafka-*") if p.is_dir()), None)
    if tree is None:
        raise BuildError("the librdkafka source tarball has no librdkafka-* directory")
    return tree


def ensure_binary() -> Path:
    """Build bench/.cache/rdkafka_performance once (see the module docstring); its path."""
    if BINARY.exists():
        return BINARY
    gcc = shutil.which("gcc")
    if gcc is None or shutil.which("apt-get") is None:
        raise BuildError("gcc and apt-get are needed to build rdkafka_performance")
    version = installed_version()
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rdkafka-src-") as tmp:
        tree = _fetch_source(version, Path(tmp))
        # configure writes config.h, which the example's internal headers (rd.h) include.
        _run(["./configure", "--disable-ssl", "--disable-sasl"], cwd=tree)
        out = Path(tmp) / "rdkafka_performance"
        _run(
            [gcc, "-O2", "-Isrc", "-I.", "examples/rdkafka_performance.c", "-o", str(out)]
            + ["-l:librdkafka.so.1", "-lm", "-lpthread"],
            cwd=tree,
        )
        shutil.copy2(out, BINARY)
    return BINARY


def library_env() -> dict[str, str]:
    """LD_LIBRARY_PATH to a librdkafka.so.1 link to confluent-kafka's bundled library, if installed."""
    try:
        import confluent_kafka
    except ImportError:
        return {}
    bundled = sorted((Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs").glob("librdkafka*.so*"))
    if not bundled:
        return {}
    LIBRARY_DIR.mkdir(parents=True, exist_ok=True)
    link = LIBRARY_DIR / "librdkafka.so.1"
    if not link.exists() or link.resolve() != bundled[0].resolve():
        link.unlink(missing_ok=True)
        link.symlink_to(bundled[0])
    return {"LD_LIBRARY_PATH": str(LIBRARY_DIR)}


def library_version() -> str:
    """The librdkafka version rdkafka_performance runs with."""
    env = library_env()
    if env:
        import confluent_kafka

        return f"{confluent_kafka.libversion()[0]} (bundled with confluent-kafka {confluent_kafka.version()[0]})"
    return f"{installed_version()} (Debian librdkafka1)"


# --- running ---------------------------------------------------------------------------------------------


def _conf(conf: Mapping[str, object]) -> list[str]:
    return [arg for k, v in conf.items() for arg in ("-X", f"{k}={v}")]


def produce(
    bootstrap: str,
    topic: str,
    records: int,
    size: int,
    *,
    acks: str,
    compression: str | None,
    timeout: float,
    conf: Mapping[str, object] | None = None,
) -> tuple[loadgen.ToolRun, PerfSummary]:
    """`records` messages of `size` bytes as fast as possible, spread over the partitions at random;
    `conf`: more librdkafka settings (security.protocol=SSL and its CA for an SSL listener)."""
    cmd = [str(ensure_binary()), "-P", "-t", topic, "-s", str(size), "-c", str(records), "-b", bootstrap]
    cmd += ["-a", acks, "-q", "-u", *_conf(PRODUCER_CONF), *_conf(conf or {})]
    if compression:
        cmd += ["-z", compression]
    run = loadgen.run_command(cmd, timeout, env=library_env())
    if run.timed_out or run.returncode != 0:
        raise loadgen.LoadgenError(f"rdkafka_performance -P {run.failure_detail()}")
    summary = parse_producer(run.stdout)
    if summary.messages != records or summary.errors:
        raise loadgen.LoadgenError(
            f"rdkafka_performance delivered {summary.messages} of {records} ({summary.errors} errors)"
        )
    return run, summary


def consume(
    bootstrap: str,
    topic: str,
    partitions: int,
    records: int,
    *,
    timeout: float,
    conf: Mapping[str, object] | None = None,
) -> tuple[loadgen.ToolRun, PerfSummary]:
    """Read `records` messages from the beginning of every partition (assigned, no consumer group);
    `conf`: more librdkafka settings, as for produce."""
    cmd = [str(ensure_binary()), "-C", "-t", topic, "-o", "beginning", "-c", str(records), "-b", bootstrap]
    for partition in range(partitions):
        cmd += ["-p", str(partition)]
    cmd += ["-q", "-u", *_conf(CONSUMER_CONF), *_conf(FETCH_DEBUG), *_conf(conf or {})]
    run = loadgen.run_command(cmd, timeout, env=library_env(), keep_stderr=FetchLogFilter())
    if run.timed_out or run.returncode != 0:
        raise loadgen.LoadgenError(f"rdkafka_performance -C {run.failure_detail()}")
    summary = parse_consumer(run.stdout, run.stderr)
    if summary.messages < records or summary.errors:
        raise loadgen.LoadgenError(
            f"rdkafka_performance read {summary.messages} of {records} ({summary.errors} errors)"
        )
    return run, summary
