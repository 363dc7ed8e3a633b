"""Benchmark kafkapy against Tansu and Apache Kafka side by side: same load generator, same machine, one run.

    python3 bench/compare.py                       # --quick matrix, all four brokers, 3 rounds
    python3 bench/compare.py --brokers kafkapy-disk,kafka --runs 5 --full
    KAFKAPY_BASELINE=/tmp/base python3 bench/compare.py --brokers kafkapy-disk,kafkapy-baseline,kafka
                                                   # before/after: /tmp/base is `git worktree add /tmp/base REV`
    python3 bench/compare.py --brokers kafkapy-disk,kafkapy-disk-ssl,kafka-ssl --sizes 1k   # TLS beside Kafka's

Brokers (bench/brokers.py): kafkapy-disk, kafkapy-memory (`kafkapy serve --storage ...`, default
settings), tansu (Tansu 0.6, memory storage) and kafka (Apache Kafka 4.3.1, single-node KRaft); on request
kafkapy-disk-ssl and kafka-ssl, measured through an SSL listener with the same throwaway certificates. The
load comes from Apache Kafka's own ProducerPerformance / ConsumerPerformance / EndToEndLatency
(bench/loadgen.py), plus one confluent-kafka workload (bench/throughput.py) for "what Python users see".

Each round starts every selected broker afresh, in the same order, and runs every figure on it:
start-up time and idle RSS, then per workload (fresh topic) produce and consume throughput with the
broker's CPU seconds per GB, produce latency at a fixed rate, end-to-end latency, the confluent-kafka
workload, and the RSS after all that. Brokers alternate within a round (disk, memory, tansu, kafka,
then again), so slow drift of the machine hits them all alike; each figure is the median over --runs
rounds. A figure that fails is recorded as "failed: <reason>" and the run goes on. The raw machine
limits of bench/rawlimits.py are measured once at the start.

Prints markdown tables and writes everything (each round, medians, ratios, settings, versions,
machine, git commit) to bench/results/compare-<UTC time>.json (gitignored).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
for _p in (str(REPO_ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import brokers  # noqa: E402
import compare_report  # noqa: E402
import loadgen  # noqa: E402
import rdkafka_perf  # noqa: E402
import throughput  # noqa: E402

RESULTS_DIR = HERE / "results"
T0 = time.monotonic()
QUICK_SIZES = (100, 1024, 16384)
BASE_SIZE = 1024
MB = 1_000_000
PRODUCER_PROPS = {"linger.ms": 5, "batch.size": 1_048_576}
# The produce rate is ProducerPerformance's steady state after this share of the records: the first
# ones run while the client JVM is still compiling its hot paths (~30% slower overall on 200 MB).
PRODUCE_WARMUP_FRACTION = 0.2
MIN_RECORDS_FOR_WARMUP = 1000
# Fast group joins for every broker: Tansu 0.6 holds a classic JoinGroup for a large part of the
# session timeout (~23 s with the default 45 s, ~3.6 s with 6 s); fetch throughput excludes the join anyway.
CONSUMER_PROPS = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
# The latency figure is the broker's round trip at a steady rate, not the producer's batching delay.
LATENCY_PROPS = {"acks": "1", "linger.ms": 0}
LATENCY_WARMUP_S = 1.0
CONSUMER_IDLE_TIMEOUT_MS = 30_000
E2E_TIMEOUT_S = 60.0
IDLE_SETTLE_S = 1.0

Figure = dict[str, object]


@dataclass(frozen=True)
class Workload:
    """One throughput workload: record size, partitions, acks and compression of a fresh topic."""

    size: int
    partitions: int = 1
    acks: str = "1"
    compression: str = "none"

    @property
    def key(self) -> str:
        parts = "partition" if self.partitions == 1 else "partitions"
        return f"{size_label(self.size)}, {self.partitions} {parts}, acks={self.acks}, {self.compression}"

    def records(self, records_bytes: int) -> int:
        """How many records make `records_bytes` of values (at least one)."""
        return max(1, records_bytes // self.size)

    def producer_props(self) -> dict[str, object]:
        return {"acks": self.acks, **PRODUCER_PROPS, "compression.type": self.compression}


def size_label(size: int) -> str:
    """100 -> '100 B', 1024 -> '1 KiB', 16384 -> '16 KiB'."""
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


def parse_sizes(text: str) -> list[int]:
    """'100,1k,16384' -> [100, 1024, 16384] (k = 1024)."""
    sizes = []
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        mult = 1024 if part.endswith("k") else 1
        try:
            value = int(part.rstrip("k")) * mult
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad record size {part!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"record size must be positive, got {part!r}")
        sizes.append(value)
    if not sizes:
        raise argparse.ArgumentTypeError("no record sizes given")
    return sizes


def parse_brokers(text: str) -> list[str]:
    """'kafkapy-disk,kafka' -> ['kafkapy-disk', 'kafka'] (in the given order, checked)."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in brokers.ALL_KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"brokers must be among {','.join(brokers.ALL_KINDS)}; got {text!r}")
    return list(dict.fromkeys(kinds))


def build_matrix(sizes: list[int], mode: str) -> list[Workload]:
    """full: every size x {1, 6} partitions x acks {1, all} x {none, lz4}. quick: each size at 1 partition,
    acks=1, no compression, then 1 KiB (or the first size) with one change at a time: 6 partitions, acks=all, lz4.
    plain: each size at 1 partition, acks=1, no compression only."""
    if mode == "full":
        combos = itertools.product(sizes, (1, 6), ("1", "all"), ("none", "lz4"))
        return [Workload(s, p, a, c) for s, p, a, c in combos]
    base = BASE_SIZE if BASE_SIZE in sizes else sizes[0]
    plain = [Workload(s) for s in sizes]
    if mode == "plain":
        return plain
    return plain + [Workload(base, partitions=6), Workload(base, acks="all"), Workload(base, compression="lz4")]


# --- one figure ---------------------------------------------------------------------------------------------


def failed(reason: object) -> Figure:
    """A figure that could not be measured, with a one-line reason."""
    return {"error": " ".join(str(reason).split())[:2000]}


def measure(broker: brokers.Broker, fn: Callable[[], Figure]) -> Figure:
    """Run one measurement; any failure (or a broker that already died) becomes failed(reason)."""
    if not broker.is_running():
        return failed(f"broker not running: {broker.log_tail(5)}")
    try:
        return fn()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        reason = f"{type(e).__name__}: {e}"
        if not broker.is_running():
            reason += f" (broker exited: {broker.log_tail(5)})"
        return failed(reason)


def with_cpu(broker: brokers.Broker, fn: Callable[[], Figure]) -> Figure:
    """Run `fn` and add the broker's CPU seconds during it, and per GB of record values moved."""
    before = broker.cpu_seconds()
    figure = fn()
    cpu = broker.cpu_seconds() - before
    nbytes = figure.get("phase_bytes", figure.get("bytes"))
    figure["broker_cpu_s"] = round(cpu, 3)
    if isinstance(nbytes, int) and nbytes > 0:
        figure["cpu_s_per_gb"] = round(cpu / (nbytes / 1e9), 3)
    return figure


def rate_figure(records: int, size: int, seconds: float) -> Figure:
    """records, bytes, seconds, msgs_per_s and mb_per_s (10^6 bytes of record values)."""
    seconds = max(seconds, 1e-3)
    return {
        "records": records,
        "bytes": records * size,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(records / seconds, 1),
        "mb_per_s": round(records * size / MB / seconds, 3),
    }


def produce_phase(broker: brokers.Broker, topic: str, w: Workload, records: int, opts: argparse.Namespace) -> Figure:
    """Unthrottled produce of one workload with the chosen load generator."""
    if opts.loadgen == "java":
        return java_produce_phase(broker, topic, w, records, opts.max_seconds)
    compression = None if w.compression == "none" else w.compression
    run, s = rdkafka_perf.produce(
        broker.bootstrap,
        topic,
        records,
        w.size,
        acks=w.acks,
        compression=compression,
        timeout=opts.max_seconds,
        conf=broker.client_settings,
    )
    figure = rate_figure(s.messages, w.size, s.seconds)
    figure.update(loadgen_cpu_s=run.cpu_seconds, loadgen_wall_s=round(run.seconds, 3))
    return figure


def consume_phase(broker: brokers.Broker, topic: str, w: Workload, records: int, opts: argparse.Namespace) -> Figure:
    """Read one workload back from the beginning with the chosen load generator."""
    if opts.loadgen == "java":
        return java_consume_phase(broker, topic, w, records, opts.max_seconds)
    run, s = rdkafka_perf.consume(
        broker.bootstrap, topic, w.partitions, records, timeout=opts.max_seconds, conf=broker.client_settings
    )
    figure = rate_figure(s.messages, w.size, s.seconds)  # first Fetch to the last record (rdkafka_perf)
    figure.update(
        loadgen_cpu_s=run.cpu_seconds, loadgen_wall_s=round(run.seconds, 3), first_record_to_last_s=s.elapsed_ms / 1000
    )
    return figure


def java_produce_phase(broker: brokers.Broker, topic: str, w: Workload, records: int, max_s: float) -> Figure:
    """ProducerPerformance, unthrottled, with the workload's acks/compression, linger.ms=5, 1 MiB batches."""
    warmup = int(records * PRODUCE_WARMUP_FRACTION) if records >= MIN_RECORDS_FOR_WARMUP else 0
    props = {**w.producer_props(), **broker.java_settings}
    result = loadgen.producer_perf(
        broker.bootstrap, topic, records, w.size, props, warmup_records=warmup, timeout=max_s
    )
    s = result.summary
    figure = rate_figure(s.records, w.size, s.records / s.records_per_s if s.records_per_s else 0.0)
    figure.update(
        phase_records=records,  # records/bytes/seconds above are the steady state; CPU/GB is per phase
        phase_bytes=records * w.size,
        warmup_records=warmup,
        total_msgs_per_s=round(result.total.records_per_s, 1),
        avg_latency_ms=s.avg_ms,
        p99_latency_ms=s.p99_ms,
        loadgen_cpu_s=result.run.cpu_seconds,
        loadgen_wall_s=round(result.run.seconds, 3),
    )
    return figure


def java_consume_phase(broker: brokers.Broker, topic: str, w: Workload, records: int, max_s: float) -> Figure:
    """ConsumerPerformance with a fresh group; the rate is over the fetch time (group join excluded)."""
    idle_ms = int(min(CONSUMER_IDLE_TIMEOUT_MS, max_s * 1000))
    props = {**CONSUMER_PROPS, **broker.java_settings}
    run, s = loadgen.consumer_perf(broker.bootstrap, topic, records, props, idle_timeout_ms=idle_ms, timeout=max_s)
    figure = rate_figure(s.records, w.size, s.fetch_ms / 1000)
    figure.update(group_join_ms=s.rebalance_ms, loadgen_cpu_s=run.cpu_seconds, loadgen_wall_s=round(run.seconds, 3))
    return figure


def create_topic(broker: brokers.Broker, partitions: int) -> str:
    """A fresh topic, created through the listener the load uses (SSL for a TLS kind)."""
    return throughput.create_topic(broker.bootstrap, partitions, timeout=30, client_properties=broker.client_settings)


def workload_figures(broker: brokers.Broker, w: Workload, opts: argparse.Namespace) -> dict[str, Figure]:
    """Produce then consume one workload on a fresh topic: {'produce': ..., 'consume': ...}."""
    records = w.records(opts.records_bytes)
    try:
        topic = create_topic(broker, w.partitions)
    except Exception as e:
        reason = failed(f"create topic: {type(e).__name__}: {e}")
        return {"produce": reason, "consume": reason}
    produced = measure(broker, lambda: with_cpu(broker, lambda: produce_phase(broker, topic, w, records, opts)))
    if "error" in produced:
        return {"produce": produced, "consume": failed("not measured: produce failed")}
    consumed = measure(broker, lambda: with_cpu(broker, lambda: consume_phase(broker, topic, w, records, opts)))
    return {"produce": produced, "consume": consumed}


def latency_figure(broker: brokers.Broker, opts: argparse.Namespace) -> Figure:
    """ProducerPerformance at --latency-rate records/s of --latency-size bytes, acks=1, linger.ms=0: the
    steady-state percentiles after LATENCY_WARMUP_S seconds of warm-up records (connections, metadata, JIT)."""
    warmup = max(1, int(opts.latency_rate * LATENCY_WARMUP_S))
    records = warmup + max(1, int(opts.latency_rate * opts.latency_seconds))
    topic = create_topic(broker, 1)
    timeout = min(opts.max_seconds, (opts.latency_seconds + LATENCY_WARMUP_S) * 3 + 30)
    s = loadgen.producer_perf(
        broker.bootstrap,
        topic,
        records,
        opts.latency_size,
        {**LATENCY_PROPS, **broker.java_settings},
        throughput=opts.latency_rate,
        warmup_records=warmup,
        timeout=timeout,
    ).summary
    return {
        "records": s.records,
        "achieved_msgs_per_s": s.records_per_s,
        "avg_ms": s.avg_ms,
        "p50_ms": s.p50_ms,
        "p99_ms": s.p99_ms,
        "p999_ms": s.p999_ms,
        "max_ms": s.max_ms,
    }


def e2e_figure(broker: brokers.Broker, opts: argparse.Namespace) -> Figure:
    """EndToEndLatency: --e2e-records round trips of one --latency-size record (acks=1)."""
    topic = create_topic(broker, 1)
    timeout = min(opts.max_seconds, E2E_TIMEOUT_S)
    _run, s = loadgen.end_to_end(
        broker.bootstrap,
        topic,
        opts.e2e_records,
        opts.latency_size,
        "1",
        timeout=timeout,
        command_config=broker.java_settings,
    )
    return {"records": opts.e2e_records, **loadgen.as_dict(s)}


def python_client_figures(broker: brokers.Broker, opts: argparse.Namespace) -> dict[str, Figure]:
    """bench/throughput.py's confluent-kafka produce and consume: 1 KiB, 1 partition, acks=1, no compression."""
    size = BASE_SIZE
    count = max(1, opts.python_bytes // size)
    args = argparse.Namespace(
        bootstrap=broker.bootstrap,
        acks="1",
        linger_ms=PRODUCER_PROPS["linger.ms"],
        batch_size=PRODUCER_PROPS["batch.size"],
        compression="none",
        max_seconds=opts.max_seconds,
        partitions=1,
        client_properties=broker.client_settings,
    )
    label = f"{count}x{size}"

    def as_figure(r: throughput.PhaseResult) -> Figure:
        if not r.complete or r.errors:
            raise RuntimeError(f"{r.phase} incomplete: {r.messages} of {count} messages, {r.errors} errors")
        return rate_figure(r.messages, size, r.seconds)

    try:
        topic = create_topic(broker, 1)
    except Exception as e:
        reason = failed(f"create topic: {type(e).__name__}: {e}")
        return {"produce": reason, "consume": reason}
    produced = measure(
        broker, lambda: with_cpu(broker, lambda: as_figure(throughput.produce(args, topic, label, count, size)))
    )
    if "error" in produced:
        return {"produce": produced, "consume": failed("not measured: produce failed")}
    done = int(produced["records"])  # type: ignore[call-overload]
    consumed = measure(
        broker, lambda: with_cpu(broker, lambda: as_figure(throughput.consume(args, topic, label, done)))
    )
    return {"produce": produced, "consume": consumed}


# --- one broker, one round -------------------------------------------------------------------------------


def log(msg: str) -> None:
    """Progress on stderr with the time since the run began."""
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def broker_round(kind: str, workloads: list[Workload], opts: argparse.Namespace) -> dict[str, object]:
    """Start a fresh broker of `kind`, measure every figure on it, stop it; a dict of figures."""
    out: dict[str, object] = {}
    broker = brokers.make_broker(kind, opts.data_root)
    with broker:
        try:
            info = broker.start()
        except Exception as e:
            log(f"  {kind}: start failed: {e}")
            out["startup"] = failed(f"start failed: {type(e).__name__}: {e}")
            return out
        time.sleep(IDLE_SETTLE_S)
        out["startup"] = {
            "seconds": round(info.startup_seconds, 4),
            **{k: round(v, 4) for k, v in info.extra.items()},
            "idle_rss_kib": broker.rss_kib(),
        }
        log(f"  {kind}: started in {info.startup_seconds:.3f}s on {broker.bootstrap}")
        tls = broker.tls
        if tls is not None:
            out["tls"] = measure(broker, lambda: tls.handshake(broker.bootstrap))
        tput: dict[str, dict[str, Figure]] = {}
        for w in workloads:
            tput[w.key] = workload_figures(broker, w, opts)
            log(f"  {kind}: {w.key}: " + ", ".join(f"{ph} {_short(f)}" for ph, f in tput[w.key].items()))
        out["throughput"] = tput
        if opts.latency_seconds > 0:
            out["latency"] = measure(broker, lambda: latency_figure(broker, opts))
            log(f"  {kind}: latency {_short(out['latency'], 'p99_ms')}")  # type: ignore[arg-type]
        if opts.e2e_records > 0:
            out["e2e"] = measure(broker, lambda: e2e_figure(broker, opts))
            log(f"  {kind}: end-to-end {_short(out['e2e'], 'p99_ms')}")  # type: ignore[arg-type]
        if opts.python_bytes > 0:
            out["python_client"] = python_client_figures(broker, opts)
            log(f"  {kind}: confluent-kafka " + ", ".join(f"{p} {_short(f)}" for p, f in out["python_client"].items()))  # type: ignore[union-attr]
        out["rss_after_load_kib"] = broker.rss_kib() if broker.is_running() else None
    return out


def _short(figure: Figure, key: str = "mb_per_s") -> str:
    if "error" in figure:
        return "FAILED: " + str(figure["error"])[:160]
    return f"{key}={figure.get(key)}"


# --- the run ---------------------------------------------------------------------------------------------


def install_all(kinds: list[str], skip_missing: bool) -> tuple[list[str], dict[str, str]]:
    """Install every broker kind; return the usable kinds and {kind: reason} for the skipped ones."""
    usable, skipped = [], {}
    for kind in kinds:
        try:
            brokers.broker_class(kind).install()
            usable.append(kind)
        except Exception as e:
            if not skip_missing:
                raise SystemExit(f"cannot install {kind}: {e}\n(use --skip-missing to go on without it)") from e
            skipped[kind] = f"{type(e).__name__}: {e}"
            print(f"SKIPPING {kind}: install failed: {e}", file=sys.stderr)
    return usable, skipped


def raw_limits(nbytes: int, runs: int) -> dict[str, object]:
    """tcp_to_file and sendfile MB/s from bench/rawlimits.py (median of `runs` calls), if that module exists."""
    if nbytes <= 0:
        return {"skipped": "--raw-bytes 0"}
    try:
        import rawlimits
    except ImportError as e:
        print(f"NOTE: bench/rawlimits.py not importable ({e}); raw machine limits skipped", file=sys.stderr)
        return {"skipped": f"bench/rawlimits.py not importable: {e}"}
    out: dict[str, object] = {"bytes": nbytes, "runs": runs}
    for name in ("tcp_to_file_mb_s", "sendfile_mb_s"):
        fn = getattr(rawlimits, name, None)
        if fn is None:
            out[name] = None
            out[f"{name}_error"] = f"bench/rawlimits.py has no {name}()"
            continue
        try:
            values = [round(fn(nbytes), 1) for _ in range(runs)]
        except Exception as e:
            out[name] = None
            out[f"{name}_error"] = f"{type(e).__name__}: {e}"
            continue
        out[name] = statistics.median(values)
        out[f"{name}_runs"] = values
    return out


def run(opts: argparse.Namespace, kinds: list[str], workloads: list[Workload]) -> dict[str, list[dict[str, object]]]:
    """Every round: every broker in order, fresh. {kind: [round figures, ...]}."""
    rounds: dict[str, list[dict[str, object]]] = {k: [] for k in kinds}
    for r in range(opts.runs):
        log(f"round {r + 1}/{opts.runs}")
        for kind in kinds:
            began = time.monotonic()
            figures = broker_round(kind, workloads, opts)
            figures["round"] = r + 1
            figures["wall_seconds"] = round(time.monotonic() - began, 1)
            rounds[kind].append(figures)
    return rounds


def _first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (out.stdout + out.stderr).strip().splitlines()
    return lines[0] if lines else None


def machine_info(data_root: Path | None) -> dict[str, object]:
    """CPU model, cores, memory, kernel, and the file system the brokers' data dirs live on."""
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    import tempfile

    where = Path(data_root or tempfile.gettempdir())
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_kib": mem_kib,
        "kernel": platform.release(),
        "platform": platform.platform(),
        "data_dir_fs": _mount_of(where),
        "loadavg_at_start": os.getloadavg(),
    }


def _mount_of(path: Path) -> dict[str, str]:
    """Device, mount point and type of the file system holding `path` (from /proc/mounts)."""
    best = {"mount": "", "device": "?", "type": "?"}
    with contextlib.suppress(OSError):
        resolved = str(path.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            if (resolved == mount or resolved.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best["mount"]):
                best = {"mount": mount, "device": device, "type": fstype}
    return best


def versions(kinds: list[str]) -> dict[str, object]:
    """Versions of the brokers, the load generator and the Python client."""
    import confluent_kafka

    return {
        "brokers": {k: brokers.broker_class(k).version() for k in kinds},
        "loadgen": "Apache Kafka kafka-tools 4.3.1 (ProducerPerformance, ConsumerPerformance, EndToEndLatency)",
        "throughput_loadgen": "rdkafka_performance (librdkafka's example, built from Debian's source package) "
        f"with librdkafka {rdkafka_perf.library_version()}",
        "java": _first_line(["java", "-version"]),
        "python": platform.python_version(),
        "confluent_kafka": _version_string(confluent_kafka.version()),
        "librdkafka": _version_string(confluent_kafka.libversion()),
    }


def _version_string(v: object) -> str:
    """confluent_kafka.version() is a string in some releases and a (string, int) tuple in others."""
    return str(v[0]) if isinstance(v, tuple) else str(v)


def git_state() -> dict[str, object]:
    """HEAD commit and whether the work tree had local changes."""
    commit = _first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"])
    try:
        status = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        status = ""
    return {"commit": commit, "dirty": bool(status.strip())}


def settings(opts: argparse.Namespace, workloads: list[Workload]) -> dict[str, object]:
    """Everything that shaped the numbers, for the JSON."""
    return {
        "mode": opts.mode,
        "runs": opts.runs,
        "records_bytes": opts.records_bytes,
        "max_seconds": opts.max_seconds,
        "workloads": [
            {
                "key": w.key,
                "size": w.size,
                "partitions": w.partitions,
                "acks": w.acks,
                "compression": w.compression,
                "records": w.records(opts.records_bytes),
            }
            for w in workloads
        ],
        "producer_props": PRODUCER_PROPS,
        "produce_warmup_fraction": PRODUCE_WARMUP_FRACTION,
        "consumer_props": CONSUMER_PROPS,
        "latency": {
            "rate": opts.latency_rate,
            "size": opts.latency_size,
            "seconds": opts.latency_seconds,
            "props": LATENCY_PROPS,
            "warmup_seconds": LATENCY_WARMUP_S,
        },
        "e2e_records": opts.e2e_records,
        "python_client_bytes": opts.python_bytes,
        "raw_bytes": opts.raw_bytes,
        "data_root": str(opts.data_root) if opts.data_root else None,
    }


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGINT/SIGTERM/SIGHUP into KeyboardInterrupt so every `finally` (broker and tool cleanup) runs.
    SIGINT is set explicitly: a shell starts background jobs with it ignored, and Python keeps that."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--brokers",
        type=parse_brokers,
        default=list(brokers.BROKER_KINDS),
        help=f"comma-separated, in round order (default {','.join(brokers.BROKER_KINDS)})",
    )
    ap.add_argument(
        "--loadgen",
        choices=("rdkafka", "java"),
        default="rdkafka",
        help="throughput load generator: librdkafka's rdkafka_performance (C, default) or Kafka's "
        "ProducerPerformance/ConsumerPerformance (JVM; on 2 cores it runs out of CPU before the brokers)",
    )
    ap.add_argument("--runs", type=int, default=3, help="rounds; every figure is the median over them (default 3)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="reduced matrix (the default)")
    mode.add_argument("--full", action="store_true", help="sizes x {1,6} partitions x acks {1,all} x {none,lz4}")
    mode.add_argument("--plain", action="store_true", help="each size at 1 partition, acks=1, no compression only")
    ap.add_argument("--sizes", type=parse_sizes, default=list(QUICK_SIZES), help="record sizes (default 100,1k,16k)")
    ap.add_argument(
        "--records-bytes",
        type=int,
        default=1_000_000_000,
        help="record bytes per produce phase; record count = this / size (default 1000000000)",
    )
    ap.add_argument("--max-seconds", type=float, default=120.0, help="time bound of each phase (default 120)")
    ap.add_argument("--latency-rate", type=int, default=5000, help="records/s of the latency phase (default 5000)")
    ap.add_argument("--latency-size", type=int, default=1024, help="record size of the latency phases (default 1024)")
    ap.add_argument("--latency-seconds", type=float, default=10.0, help="length of the latency phase; 0 skips it")
    ap.add_argument("--e2e-records", type=int, default=1000, help="EndToEndLatency round trips; 0 skips it")
    ap.add_argument(
        "--python-bytes",
        type=int,
        default=100_000_000,
        help="bytes of the confluent-kafka workload (1 KiB records); 0 skips it (default 100000000)",
    )
    ap.add_argument("--raw-bytes", type=int, default=1 << 30, help="bytes per raw-limit transfer; 0 skips them")
    ap.add_argument("--skip-missing", action="store_true", help="go on without a broker whose install fails")
    ap.add_argument("--data-root", type=Path, default=None, help="where brokers' temp dirs go (default system temp)")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory of the JSON report")
    opts = ap.parse_args(argv)
    opts.mode = "full" if opts.full else "plain" if opts.plain else "quick"
    if opts.runs < 1:
        ap.error("--runs must be at least 1")
    if opts.records_bytes <= 0 or opts.max_seconds <= 0:
        ap.error("--records-bytes and --max-seconds must be positive")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    workloads = build_matrix(opts.sizes, opts.mode)
    started_at = datetime.now(UTC)
    with sigterm_as_interrupt():
        try:
            loadgen.ensure_jars()
            if opts.loadgen == "rdkafka":
                rdkafka_perf.ensure_binary()
        except (loadgen.LoadgenError, rdkafka_perf.BuildError) as e:
            print(f"cannot build the load generator: {e}", file=sys.stderr)
            return 2
        kinds, skipped = install_all(opts.brokers, opts.skip_missing)
        if not kinds:
            print("no broker left to measure", file=sys.stderr)
            return 2
        log(f"brokers {','.join(kinds)}; {len(workloads)} workloads x {opts.runs} rounds; raw limits first")
        raw = raw_limits(opts.raw_bytes, opts.runs)
        log(f"raw limits: {raw}")
        rounds = run(opts, kinds, workloads)
    summary = compare_report.summarize(rounds, [w.key for w in workloads])
    report = {
        "when": started_at.isoformat(timespec="seconds"),
        "elapsed_seconds": round(time.monotonic() - T0, 1),
        "git": git_state(),
        "machine": machine_info(opts.data_root),
        "versions": versions(kinds),
        "settings": settings(opts, workloads),
        "brokers": kinds,
        "skipped_brokers": skipped,
        "raw_limits": raw,
        "medians": summary,
        "ratios": compare_report.ratios(summary, [w.key for w in workloads]),
        "raw_fractions": compare_report.raw_fractions(summary, raw, workloads_keys_by_size(workloads)),
        "rounds": rounds,
    }
    print(compare_report.markdown(report))
    opts.out.mkdir(parents=True, exist_ok=True)
    path = opts.out / f"compare-{started_at:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


def workloads_keys_by_size(workloads: list[Workload]) -> dict[int, str]:
    """{size: key} of the plain workloads (1 partition, acks=1, no compression)."""
    return {w.size: w.key for w in workloads if (w.partitions, w.acks, w.compression) == (1, "1", "none")}


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupt:
        print(f"interrupted ({interrupt}); brokers and load generators stopped", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
