"""Driver manager for the compat matrix: manifests, builds, one driver process per client, request/reply.

Each client's driver (drivers/<name>/driver.json, protocol in drivers/README.md) is built on first
use, started once per session and per client config (`--client-config`: the security settings of
issue #14's cells), and spoken to in JSON lines. Every request has a timeout; a driver
that misses it, dies or prints garbage is killed and restarted on the next request, so one broken
client fails its own cells and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DRIVERS_DIR = Path(__file__).resolve().parent / "drivers"
if str(DRIVERS_DIR) not in sys.path:
    sys.path.insert(0, str(DRIVERS_DIR))

from pydriver import Message  # noqa: E402

BUILD_TIMEOUT_S = 900.0
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0
# A compiled driver is rebuilt when one of these is newer than its `built` file.
SOURCE_SUFFIXES = frozenset({".go", ".mod", ".sum", ".java", ".xml", ".properties"})


class Unsupported(Exception):
    """The driver answered `unsupported`: the client cannot do this step."""


class Unavailable(Exception):
    """The client cannot run here (a required executable is missing)."""


class DriverBroken(Exception):
    """The driver process failed the protocol: died, timed out, or replied with something not JSON."""


class ClientFailure(Exception):
    """The client reported a failure: `error` is Kafka's error name (or the client's exception class)."""

    def __init__(self, op: str, error: str, message: str) -> None:
        super().__init__(f"{op}: {error}: {message}")
        self.op = op
        self.error = error
        self.message = message


@dataclass(frozen=True)
class Manifest:
    """A driver's driver.json."""

    name: str
    client: str
    version: str
    requires: tuple[str, ...]
    build: tuple[tuple[str, ...], ...]
    built: str
    run: tuple[str, ...]
    folder: Path

    @classmethod
    def load(cls, path: Path) -> Manifest:
        d = json.loads(path.read_text())
        return cls(
            name=d["name"],
            client=d.get("client", d["name"]),
            version=str(d["version"]),
            requires=tuple(d.get("requires", ())),
            build=tuple(tuple(c) for c in d.get("build", ())),
            built=d.get("built", ""),
            run=tuple(d["run"]),
            folder=path.parent,
        )

    def up_to_date(self) -> bool:
        """`built` exists and is newer than every source of a compiled driver (Go, Java, build files)."""
        built = self.folder / self.built
        if not built.exists():
            return False
        sources = (
            f
            for f in self.folder.rglob("*")
            if f.suffix in SOURCE_SUFFIXES and not {"node_modules", "target"} & set(f.relative_to(self.folder).parts)
        )
        newest = max((f.stat().st_mtime for f in sources if f.is_file()), default=0.0)
        return built.stat().st_mtime >= newest

    def missing(self) -> list[str]:
        return [exe for exe in self.requires if shutil.which(exe) is None]

    def command(self, bootstrap: str, client_config: ClientConfig | None = None) -> list[str]:
        """The run command; `python3` means the interpreter running the suite (its packages are the pinned ones).

        A client config travels as one more argument, `--client-config JSON`; without one the driver
        connects as before (PLAINTEXT), so drivers that predate it run unchanged.
        """
        head, *rest = self.run
        cmd = [sys.executable if head in ("python3", "python") else head, *rest, "--bootstrap", bootstrap]
        return cmd + (["--client-config", json.dumps(client_config, sort_keys=True)] if client_config else [])


# A driver's `--client-config`: security_protocol, sasl_mechanism, sasl_username, sasl_password,
# ssl_ca_location, ssl_certificate_location, ssl_key_location, ssl_truststore_location/_password,
# ssl_keystore_location/_password (drivers/README.md). None: PLAINTEXT, no settings.
ClientConfig = dict[str, str]


def config_label(client_config: ClientConfig | None) -> str:
    """A short file-name-safe name for a client config (driver log names), unique per config."""
    if not client_config:
        return ""
    words = [client_config.get(k, "") for k in ("security_protocol", "sasl_mechanism", "sasl_username")]
    readable = re.sub(r"[^a-z0-9]+", "-", "-".join(w for w in words if w).lower())
    digest = hashlib.sha1(json.dumps(client_config, sort_keys=True).encode()).hexdigest()[:6]
    return f"{readable}-{digest}"


def load_manifests(root: Path = DRIVERS_DIR) -> dict[str, Manifest]:
    """Every drivers/<name>/driver.json, by name."""
    found = (Manifest.load(p) for p in sorted(root.glob("*/driver.json")))
    return {m.name: m for m in found}


class DriverProcess:
    """One running driver: a subprocess with a thread turning its stdout into a queue of lines."""

    def __init__(
        self, manifest: Manifest, bootstrap: str, log_path: Path, client_config: ClientConfig | None = None
    ) -> None:
        self.manifest = manifest
        self.log_path = log_path
        command = manifest.command(bootstrap, client_config)
        with log_path.open("ab") as log:
            log.write(f"\n===== {' '.join(command)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                command,
                cwd=manifest.folder,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.lines.get(timeout=timeout)
        except (BrokenPipeError, OSError) as exc:
            raise DriverBroken(f"{self.manifest.name}: cannot write to driver ({exc})") from exc
        except queue.Empty:
            raise DriverBroken(f"{self.manifest.name}: no reply to {request['op']} within {timeout:.0f}s") from None
        if line is None:
            raise DriverBroken(f"{self.manifest.name}: driver exited ({self.proc.poll()}) during {request['op']}")
        try:
            reply = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DriverBroken(f"{self.manifest.name}: reply is not JSON: {line[:300]!r}") from exc
        if not isinstance(reply, dict) or "ok" not in reply:
            raise DriverBroken(f"{self.manifest.name}: reply without 'ok': {line[:300]!r}")
        return reply

    def close(self, timeout: float = 10.0) -> None:
        """Close stdin (the driver's signal to exit), then kill it if it lingers."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)


class Client:
    """A client as scenarios see it: typed steps over its driver, which is (re)started on demand.

    One scenario uses a client at a time: a driver answers one request at a time, in order. A client
    with a `client_config` is a driver process of its own, applying those settings to all it creates.
    """

    def __init__(
        self, manifest: Manifest, bootstrap: str, log_dir: Path, client_config: ClientConfig | None = None
    ) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.bootstrap = bootstrap
        self.client_config = client_config
        label = config_label(client_config)
        self.log_path = log_dir / f"driver-{manifest.name}{'-' + label if label else ''}.log"
        self.hello: dict[str, Any] = {}
        self._proc: DriverProcess | None = None

    def start(self) -> None:
        if self._proc is None:
            self._proc = DriverProcess(self.manifest, self.bootstrap, self.log_path, self.client_config)
            self.hello = self.call("hello", timeout=START_TIMEOUT_S)

    def restart(self, bootstrap: str) -> None:
        self.close()
        self.bootstrap = bootstrap
        self.start()

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "<no log>"

    def call(self, op: str, timeout: float = REQUEST_TIMEOUT_S, **fields: Any) -> dict[str, Any]:
        """One step; Unsupported / ClientFailure when the driver says so, DriverBroken if it misbehaves."""
        self.start()
        assert self._proc is not None
        try:
            reply = self._proc.call({"op": op, **fields}, timeout)
        except DriverBroken:
            self.close()
            raise
        if reply["ok"]:
            return reply
        if reply.get("unsupported"):
            raise Unsupported(f"{self.name}: {op}: {reply.get('message', '')}")
        raise ClientFailure(op, str(reply.get("error")), str(reply.get("message", "")))

    def produce(self, topic: str, messages: list[Message], **options: Any) -> list[tuple[int | None, int | None]]:
        """Produce in order; (partition, offset) per message, None where the client does not report it."""
        reply = self.produce_reply(topic, messages, **options)
        return [(r.get("partition"), r.get("offset")) for r in reply["results"]]

    def produce_reply(self, topic: str, messages: list[Message], **options: Any) -> dict[str, Any]:
        """The whole `produce` reply (`results`, and `throttle_time_ms` where the client reports it)."""
        options.setdefault("compression", "none")
        options.setdefault("acks", "all")
        options.setdefault("idempotent", False)
        return self.call("produce", topic=topic, messages=[m.to_wire() for m in messages], **options)

    def consume(
        self,
        topic: str,
        count: int,
        start: str | dict[int, int] = "earliest",
        partitions: list[int] | None = None,
        timeout_ms: int = 10000,
        **options: Any,
    ) -> list[Message]:
        """By assign(); `options` are further request fields (e.g. isolation_level)."""
        wire_start = {str(p): o for p, o in start.items()} if isinstance(start, dict) else start
        reply = self.call(
            "consume",
            timeout=timeout_ms / 1000 + REQUEST_TIMEOUT_S,
            topic=topic,
            partitions=partitions,
            start=wire_start,
            count=count,
            timeout_ms=timeout_ms,
            **options,
        )
        return [Message.from_wire(m) for m in reply["messages"]]

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        reply = self.call("watermarks", topic=topic, partition=partition)
        return int(reply["low"]), int(reply["high"])

    def offsets_for_times(self, topic: str, partition: int, timestamp: int) -> int:
        return int(self.call("offsets_for_times", topic=topic, partition=partition, timestamp=timestamp)["offset"])

    def metadata(self, topics: list[str] | None = None, timeout_ms: int | None = None) -> dict[str, Any]:
        """Metadata as the client sees it; `timeout_ms` bounds a step expected to fail (drivers may ignore it)."""
        return self.call("metadata", topics=topics, **({"timeout_ms": timeout_ms} if timeout_ms else {}))

    def create_topic(self, topic: str, partitions: int = 1, configs: dict[str, str] | None = None) -> None:
        self.call("create_topic", topic=topic, partitions=partitions, replication_factor=1, configs=configs or {})

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.close()


class DriverPool:
    """All clients of a session: built and started on first use (in parallel by `prepare`), closed at the end.

    `clients` holds the drivers started without a client config (by name); `get` with a client config
    (and its listener's bootstrap) starts one more driver process per (client, config, bootstrap).
    """

    def __init__(self, bootstrap: str, log_dir: Path, manifests: dict[str, Manifest] | None = None) -> None:
        self.bootstrap = bootstrap
        self.log_dir = log_dir
        self.manifests = load_manifests() if manifests is None else manifests
        self.clients: dict[str, Client] = {}
        self.configured: dict[tuple[str, str, str], Client] = {}
        self.failures: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self.manifests)

    def _build(self, m: Manifest) -> None:
        if not m.built or m.up_to_date():
            return
        with (self.log_dir / f"build-{m.name}.log").open("ab") as log:
            for cmd in m.build:
                log.write(f"\n===== {' '.join(cmd)}\n".encode())
                log.flush()
                try:
                    subprocess.run(
                        cmd, cwd=m.folder, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        timeout=BUILD_TIMEOUT_S, check=True,
                    )  # fmt: skip
                except (subprocess.SubprocessError, OSError) as exc:
                    raise DriverBroken(f"{m.name}: build step {cmd} failed ({exc}); see {log.name}") from exc

    def _installed(self, name: str) -> Manifest:
        """The client's manifest once its executables are there and its driver is built."""
        m = self.manifests[name]
        if missing := m.missing():
            raise Unavailable(f"{name}: {', '.join(missing)} not on PATH")
        self._build(m)
        return m

    def _remember(self, name: str, exc: BaseException) -> None:
        with self._lock:
            self.failures[name] = exc

    def _open(self, name: str) -> Client:
        client = Client(self._installed(name), self.bootstrap, self.log_dir)
        client.start()
        return client

    def get(self, name: str, client_config: ClientConfig | None = None, bootstrap: str | None = None) -> Client:
        """The started client, or the reason it cannot run (remembered, so a broken build fails fast).

        With `client_config`, the driver process for that config on `bootstrap` (default: the pool's),
        started on first use.
        """
        with self._lock:
            if not client_config and name in self.clients:
                return self.clients[name]
            if name in self.failures:
                raise self.failures[name]
        if client_config:
            return self._get_configured(name, client_config, bootstrap or self.bootstrap)
        try:
            client = self._open(name)
        except (Unavailable, DriverBroken, ClientFailure) as exc:
            self._remember(name, exc)
            raise
        with self._lock:
            self.clients[name] = client
        return client

    def _get_configured(self, name: str, client_config: ClientConfig, bootstrap: str) -> Client:
        """get() for a client config: one driver per (client, config, bootstrap), kept for the session.

        A missing executable or a failed build is remembered for the client; a driver that fails to
        start with this config fails only this call (the next one starts it again).
        """
        key = (name, json.dumps(client_config, sort_keys=True), bootstrap)
        with self._lock:
            client = self.configured.get(key)
        if client is None:
            client = Client(self.install(name), bootstrap, self.log_dir, client_config)
            with self._lock:
                client = self.configured.setdefault(key, client)
        client.start()
        return client

    def install(self, name: str) -> Manifest:
        """_installed, its failure remembered for the client (get() raises it from then on)."""
        with self._lock:
            if name in self.failures:
                raise self.failures[name]
        try:
            return self._installed(name)
        except (Unavailable, DriverBroken) as exc:
            self._remember(name, exc)
            raise

    def prepare(self, names: list[str], start: bool = True) -> None:
        """Build and start these clients concurrently (JVM and Node start-up overlap); failures surface on get().

        `start=False` only builds: a pool whose drivers all run with client configs starts them per config.
        """
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            for future in [pool.submit(self.get if start else self.install, n) for n in names]:
                future.exception()

    def restart_all(self, bootstrap: str) -> None:
        """Point every started driver at a (possibly moved) broker."""
        self.bootstrap = bootstrap
        with ThreadPoolExecutor(max_workers=max(1, len(self.clients))) as pool:
            list(pool.map(lambda c: c.restart(bootstrap), self.clients.values()))

    def close(self) -> None:
        everyone = [*self.clients.values(), *self.configured.values()]
        with ThreadPoolExecutor(max_workers=max(1, len(everyone))) as pool:
            list(pool.map(lambda c: c.close(), everyone))

