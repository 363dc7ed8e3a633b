"""A single-node Apache Kafka (KRaft) on loopback: the reference broker the compat suite is checked against.

Every expectation in compat_tests must hold on real Kafka too, so this module assembles Kafka from
Maven Central (`apache-kafka/pom.xml`: kafka_2.13 and its runtime dependencies, copied into
`apache-kafka/target/lib`), formats a fresh KRaft log dir (`kafka.tools.StorageTool format
--standalone`), and runs `kafka.Kafka` as a combined broker+controller on 127.0.0.1 with two free
ports. Start and stop are bounded in time; the process never outlives its owner's `close()`.

    python3 compat_tests/reference_kafka.py             # assemble, start, print bootstrap, run until Ctrl-C
    python3 -m pytest compat_tests --reference-kafka    # the whole suite against it
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
POM_DIR = HERE / "apache-kafka"
LIB_DIR = POM_DIR / "target" / "lib"
ASSEMBLE_TIMEOUT_S = 600.0
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
READY_LINE = "Kafka Server started"
# The broker and the admin tools (kafka_tools.py); a lib dir missing one is assembled again.
REQUIRED_JARS = ("kafka_2.13-4.3.1.jar", "kafka-tools-4.3.1.jar")

LOG4J2 = """\
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


class ReferenceKafkaError(RuntimeError):
    """Kafka could not be assembled, formatted or started in time."""


def assemble(timeout: float = ASSEMBLE_TIMEOUT_S) -> Path:
    """Download Kafka and its runtime dependencies into apache-kafka/target/lib (once); return that dir."""
    if all((LIB_DIR / jar).exists() for jar in REQUIRED_JARS):
        return LIB_DIR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ReferenceKafkaError("mvn not on PATH: Maven is needed to fetch Kafka from Maven Central")
    proc = subprocess.run(
        [mvn, "-q", "-B", "dependency:copy-dependencies"],
        cwd=POM_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        output = proc.stdout[-4000:] + proc.stderr[-4000:]
        raise ReferenceKafkaError(f"mvn dependency:copy-dependencies failed:\n{output}")
    return LIB_DIR


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ReferenceKafka:
    """One Kafka process with its own temporary config and log dir; `start()`, then `bootstrap`, then `close()`."""

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        start_timeout: float = START_TIMEOUT_S,
        listeners: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
    ) -> None:
        """`listeners`: more listeners beside PLAINTEXT, by name -> security protocol (each gets a free
        port, in `ports`); `properties`: more server.properties (security settings), written as given."""
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="reference-kafka-"))
        self.start_timeout = start_timeout
        self.log_path = self.work_dir / "kafka.log"
        self.port: int | None = None
        self.listeners = dict(listeners or {})
        self.properties = dict(properties or {})
        self.ports: dict[str, int] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise RuntimeError("reference Kafka is not running")
        return f"127.0.0.1:{self.port}"

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise ReferenceKafkaError("java not on PATH (Java 17+ is needed for the reference Kafka)")
        return [
            java,
            f"-Xmx{heap}",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
            "-cp",
            f"{assemble()}/*",
            main,
            *args,
        ]

    def server_properties(self, port: int, controller_port: int) -> dict[str, str]:
        """The server.properties this Kafka runs with (test_wire_brokercfg.py gives kafkapy the same)."""
        ports = {"PLAINTEXT": port, **self.ports, "CONTROLLER": controller_port}
        protocols = {"PLAINTEXT": "PLAINTEXT", **self.listeners, "CONTROLLER": "PLAINTEXT"}
        addresses = ",".join(f"{name}://127.0.0.1:{p}" for name, p in ports.items())
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
            "listeners": addresses,
            "advertised.listeners": addresses,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(f"{name}:{proto}" for name, proto in protocols.items()),
            "log.dirs": str(self.work_dir / "data"),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            **self.properties,
        }

    def _write_config(self, port: int, controller_port: int) -> Path:
        config = self.work_dir / "server.properties"
        settings = self.server_properties(port, controller_port)
        config.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        (self.work_dir / "log4j2.properties").write_text(LOG4J2)
        return config

    def start(self) -> ReferenceKafka:
        """Format a fresh log dir and start Kafka; block until it reports started (or raise with its log)."""
        if self._proc is not None:
            raise RuntimeError("reference Kafka already started")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        port, controller_port = free_port(), free_port()
        self.ports = {name: free_port() for name in self.listeners}
        config = self._write_config(port, controller_port)
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's Uuid.randomUuid: "-..." reads as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        fmt = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config), "--standalone"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if fmt.returncode != 0:
            raise ReferenceKafkaError(f"kafka-storage format failed:\n{fmt.stdout}{fmt.stderr}")
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._java("kafka.Kafka", str(config), heap="1g"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while READY_LINE not in self.log_text():
            if self._proc.poll() is not None:
                raise ReferenceKafkaError(f"Kafka exited with {self._proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.close()
                raise ReferenceKafkaError(f"Kafka not started within {self.start_timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)
        self.port = port
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "<empty>"

    def close(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; remove the temporary dir if we made it."""
        proc, self._proc, self.port = self._proc, None, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> ReferenceKafka:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    parser.add_argument("--assemble-only", action="store_true", help="only download the jars")
    args = parser.parse_args(argv)
    assemble()
    if args.assemble_only:
        print(f"Kafka jars in {LIB_DIR}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with ReferenceKafka() as kafka:
        print(f"reference Kafka listening on {kafka.bootstrap} (log: {kafka.log_path})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(args.seconds if args.seconds is not None else 10**9)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
