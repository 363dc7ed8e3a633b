"""KafkaBroker: a real kafkapy broker for a test, started in a subprocess or a background thread.

    with KafkaBroker() as kafka:
        producer = Producer({"bootstrap.servers": kafka.bootstrap_servers})

A subprocess (the default) keeps a client bug in the test from wedging the broker and allows
crash tests; ``in_process=True`` runs the broker's trio loop in a thread of this process, which
starts faster. Either way it is the same broker as ``kafkapy serve``, on a free loopback port.
``storage="memory"`` keeps the logs in memory (``kafkapy serve --storage memory``): nothing is
written, and a restart starts empty. ``tls=True`` adds an SSL listener with throwaway certificates:

    with KafkaBroker(tls=True) as kafka:
        producer = Producer(kafka.client_config())  # over TLS, with the test client certificate
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import trio

from kafkapy.broker_config import BrokerConfig, apply_properties, check_config
from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.specs import ApiKey
from kafkapy.security.sasl import sasl_properties
from kafkapy.server.startup import StartupError, first_exception
from kafkapy.testing.process import BrokerProcess, BrokerStartError

if TYPE_CHECKING:
    from kafkapy.broker import Broker
    from kafkapy.security.certs import TestCerts

# client_config's kinds of client, and the name each gives bootstrap.servers.
BOOTSTRAP_KEY = {"confluent": "bootstrap.servers", "kafka-python": "bootstrap_servers", "java": "bootstrap.servers"}
CLIENT_KINDS = tuple(BOOTSTRAP_KEY)
# Start-up takes ~0.2 s; the margin is for loaded CI machines, where a slow start is not a failure.
DEFAULT_STARTUP_TIMEOUT = 30.0


class _ThreadBroker:
    """``serve`` running in its own trio loop on a daemon thread."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.port: int | None = None
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._error: BaseException | None = None
        self._broker: Broker | None = None
        self._thread = threading.Thread(target=self._run, name="kafkapy-broker", daemon=True)

    def start(self, timeout: float) -> None:
        """Start the thread and wait until the broker listens; StartupError as ``kafkapy serve`` prints it."""
        self._thread.start()
        if self._ready.wait(timeout) and self.port is not None:
            return
        if isinstance(self._error, BaseExceptionGroup):
            refused, _ = self._error.split(StartupError)
            if refused is not None:
                raise first_exception(refused) from None
        raise RuntimeError(f"in-process broker did not start: {self._error!r}")

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        from kafkapy.server.server import serve

        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._cancel = scope
            async with trio.open_nursery() as nursery:
                self.port = await nursery.start(
                    lambda task_status: serve(self.config, on_open=self._opened, task_status=task_status)
                )
                self._ready.set()

    def _opened(self, broker: Broker) -> None:
        self._broker = broker

    def reset(self) -> None:
        """Broker.reset, run in the broker's trio loop between two requests."""
        if self._token is None or self._broker is None:
            raise RuntimeError("the broker is not running")
        trio.from_thread.run_sync(self._broker.reset, trio_token=self._token)

    def stop(self) -> None:
        if self._token is not None and self._cancel is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._cancel.cancel, trio_token=self._token)
        self._thread.join(timeout=10)


class _TopicAdmin:
    """Topic housekeeping over the wire, for any broker reachable at ``bootstrap_servers``."""

    bootstrap_servers: str

    def client(self, **kwargs: Any) -> WireClient:
        """A raw wire client connected to the broker (kafkapy.client.wire); kwargs are WireClient's."""
        return WireClient.connect(self.bootstrap_servers, **kwargs)

    def create_topic(self, name: str, partitions: int = 1, config: dict[str, str] | None = None) -> uuid.UUID:
        """Create a topic (CreateTopics v7); returns its topic id. KafkaError if the broker refuses."""
        configs = [{"name": k, "value": v} for k, v in (config or {}).items()]
        topic = {"name": name, "num_partitions": partitions, "replication_factor": 1, "configs": configs}
        with self.client() as client:
            result = client.request(ApiKey.CREATE_TOPICS, 7, {"topics": [topic], "timeout_ms": 30000}).topics[0]
        if result.error_code != ErrorCode.NONE:
            raise KafkaError(ErrorCode(result.error_code), result.error_message)
        return result.topic_id

    def delete_topic(self, name: str) -> None:
        """Delete a topic (DeleteTopics v6); missing topics are ignored."""
        with self.client() as client:
            result = client.request(
                ApiKey.DELETE_TOPICS, 6, {"topics": [{"name": name}], "timeout_ms": 30000}
            ).responses[0]
        if result.error_code not in (ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION):
            raise KafkaError(ErrorCode(result.error_code), result.error_message)


class ExternalKafka(_TopicAdmin):
    """A broker someone else runs (kafkapy or Apache Kafka), for the same test code."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers

    def reset(self) -> None:
        """Not possible: reset is a control of the kafkapy process (KafkaBroker.reset), not a Kafka request."""
        raise RuntimeError(
            f"reset() needs a broker this process started (KafkaBroker); {self.bootstrap_servers} is external: "
            "isolate tests with their own topics and groups (kafka_topic) instead"
        )

    def __repr__(self) -> str:
        return f"<ExternalKafka {self.bootstrap_servers}>"


class KafkaBroker(_TopicAdmin):
    """A kafkapy broker on a free loopback port, with its own data dir unless one is given.

    ``storage`` is ``"disk"`` (Kafka-format segment files in ``data_dir``) or ``"memory"`` (the data
    dir is never created; everything is gone when the broker stops). ``config`` holds Kafka
    properties (``{"num.partitions": "3"}``); ``num_partitions``, when given, wins over them. A
    subprocess broker's log goes to ``log_path``; by default into the broker's temporary
    directory, removed by ``stop()``. ``sasl=("PLAIN", {"alice": "alice-secret"})`` adds a
    SASL_PLAINTEXT listener (``listener_bootstrap_servers("SASL_PLAINTEXT")``) with that mechanism and
    those users (SASL_SSL with ``tls=True``); ``sasl=("OAUTHBEARER", {})`` accepts unsigned JWTs, as
    Kafka's unsecured validator.
    """

    def __init__(
        self,
        *,
        data_dir: str | Path | None = None,
        port: int = 0,
        in_process: bool = False,
        storage: str = "disk",
        num_partitions: int | None = None,
        config: dict[str, str] | None = None,
        log_level: str = "warning",
        log_path: str | Path | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        tls: bool = False,
        sasl: tuple[str, dict[str, str]] | None = None,
    ) -> None:
        self._own_dir = data_dir is None
        # A temporary data dir is made by start(), so a broker that never starts leaves nothing behind.
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self.port = port
        self.in_process = in_process
        self.storage = storage
        self.num_partitions = num_partitions
        sasl_defaults = sasl_properties(*sasl, tls=tls) if sasl is not None else {}
        self.properties = {**sasl_defaults, **(config or {})}
        self.log_level = log_level
        self._log_path = Path(log_path) if log_path is not None else None
        self.startup_timeout = startup_timeout
        self.tls = tls
        self.sasl = sasl
        # The test certificates of a tls=True broker, made by start() and removed by stop().
        self.certs: TestCerts | None = None
        self._process: BrokerProcess | None = None
        self._thread: _ThreadBroker | None = None

    @property
    def data_dir(self) -> Path:
        """The broker's data dir (a temporary one exists from the first ``start()`` until ``stop()``)."""
        if self._data_dir is None:
            raise RuntimeError("the broker has no data dir before start()")
        return self._data_dir

    @property
    def log_path(self) -> Path | None:
        """Where the subprocess broker writes its log; None in-process (the logging module has it)."""
        if self.in_process or self._log_path is not None:
            return None if self.in_process else self._log_path
        return self._data_dir.parent / "kafkapy.log" if self._data_dir is not None else None

    def log_size(self) -> int:
        """Bytes in the log file so far: pass it to ``log_text`` to read what a test added."""
        path = self.log_path
        try:
            return path.stat().st_size if path is not None else 0
        except FileNotFoundError:
            return 0

    def log_text(self, since: int = 0) -> str:
        """The subprocess broker's log from byte ``since`` on ("" in-process or before any start)."""
        path = self.log_path
        if path is None:
            return ""
        try:
            with path.open("rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    @property  # type: ignore[override]
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT`` for a client's bootstrap.servers."""
        if self._process is not None and self._process.port is not None:
            return self._process.bootstrap
        if self._thread is not None and self._thread.port is not None:
            return f"127.0.0.1:{self._thread.port}"
        raise RuntimeError("the broker is not running")

    @property
    def listeners(self) -> dict[str, str]:
        """Listener name -> ``host:port`` of every listener (``{"PLAINTEXT": "127.0.0.1:40123", "SSL": ...}``)."""
        if self._process is not None and self._process.port is not None:
            return dict(self._process.listeners)
        if self._thread is not None and self._thread.port is not None:
            return {listener.name: listener.address for listener in self._thread.config.client_listeners()}
        raise RuntimeError("the broker is not running")

    def listener_bootstrap_servers(self, listener_name: str) -> str:
        """bootstrap.servers for a client of one listener (``"SSL"``); KeyError naming the listeners there are."""
        listeners = self.listeners
        try:
            return listeners[listener_name.upper()]
        except KeyError:
            raise KeyError(f"no listener {listener_name}; the broker has {', '.join(listeners)}") from None

    def is_running(self) -> bool:
        return (self._process is not None and self._process.is_running()) or self._thread is not None

    def start(self) -> KafkaBroker:
        """Start and return once the broker accepts connections.

        If it cannot start, the temporary directory made for it is removed before the error is raised.
        """
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="kafkapy-")) / "data"
        # A broker the program never stops (no ``with``, no stop()) is stopped when it exits, rather
        # than a subprocess left serving and a temporary dir left behind.
        atexit.register(self.stop)
        try:
            if self.in_process:
                self._start_thread()
            else:
                self._start_process()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def ssl_bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT`` of the SSL listener (``tls=True``)."""
        return self.listener_bootstrap_servers("SSL")

    def client_config(self, client: str = "confluent", *, client_certificate: bool = True) -> dict[str, Any]:
        """Ready-made settings for a client of this broker: ``confluent`` (confluent-kafka, librdkafka
        names), ``kafka-python`` (its keyword arguments) or ``java`` (Java client properties).

        With ``tls=True`` they connect to the SSL listener, trusting the test CA and presenting the
        test client certificate (``CN=client``) unless ``client_certificate=False``; otherwise plaintext.
        """
        if client not in CLIENT_KINDS:
            raise ValueError(f"client is one of {', '.join(CLIENT_KINDS)}, not {client!r}")
        if self.certs is None:
            return {BOOTSTRAP_KEY[client]: self.bootstrap_servers}
        return tls_client_config(client, self.ssl_bootstrap_servers, self.certs, client_certificate)

    def sasl_client_config(self, client: str = "confluent", user: str | None = None) -> dict[str, Any]:
        """Settings for a client of the SASL listener (``sasl=...``): its mechanism, and ``user`` (the first
        one by default) with its password; over TLS, trusting the test CA, with ``tls=True``. OAUTHBEARER
        clients send an unsigned JWT for ``user`` (confluent and java; kafka-python needs a token provider)."""
        if self.sasl is None:
            raise ValueError("the broker has no SASL listener: start it with sasl=(MECHANISM, {user: password})")
        mechanism, users = self.sasl
        mechanism = mechanism.split(",")[0].strip().upper()
        user = user if user is not None else next(iter(users), "alice")
        listener = "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
        bootstrap = self.listener_bootstrap_servers(listener)
        if self.certs is not None:
            settings = tls_client_config(client, bootstrap, self.certs, client_certificate=False)
        elif client in CLIENT_KINDS:
            settings = {BOOTSTRAP_KEY[client]: bootstrap}
        else:
            raise ValueError(f"client is one of {', '.join(CLIENT_KINDS)}, not {client!r}")
        return {**settings, **sasl_client_settings(client, listener, mechanism, user, users.get(user, ""))}

    def _tls_properties(self) -> dict[str, str]:
        """The SSL listener and its certificates, under the properties the caller gave (theirs win)."""
        if self.certs is None:
            # Imported here: cryptography is needed only by tls=True brokers.
            from kafkapy.security.certs import make_test_certs

            self.certs = make_test_certs(tempfile.mkdtemp(prefix="kafkapy-certs-"))
        defaults = {
            "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            "ssl.keystore.location": str(self.certs.broker_pem_keystore),
            "ssl.truststore.location": str(self.certs.ca),
            # A client certificate is verified and named as the principal when given, not required.
            "ssl.client.auth": "requested",
        }
        return {**defaults, **self.properties}

    def _all_properties(self) -> dict[str, str]:
        return self._tls_properties() if self.tls else self.properties

    def _config(self) -> BrokerConfig:
        """The broker's config; ConfigError (as ``kafkapy serve`` prints it) for a property it refuses."""
        config = BrokerConfig(port=self.port, data_dir=self.data_dir, storage=self.storage)
        apply_properties(config, self._all_properties())
        if self.num_partitions is not None:
            config.num_partitions = self.num_partitions
        check_config(config)
        return config

    def _start_thread(self) -> None:
        self._thread = _ThreadBroker(self._config())
        self._thread.start(self.startup_timeout)
        self.port = self._thread.port or 0

    def _start_process(self) -> None:
        # Checked here too, so a bad property is the same ConfigError as in-process, not an exit code.
        self._config()
        overrides = tuple(arg for k, v in self._all_properties().items() for arg in ("--override", f"{k}={v}"))
        self._process = BrokerProcess(
            self.data_dir,
            port=self.port,
            num_partitions=self.num_partitions,
            log_level=self.log_level,
            extra_args=("--storage", self.storage, *overrides),
            log_path=self.log_path,
            ready_timeout=self.startup_timeout,
        )
        try:
            self._process.start()
        except BrokerStartError as exc:
            if exc.problem is None:
                raise
            raise StartupError(exc.problem) from exc
        self.port = self._process.port or 0

    def stop(self, *, remove_data: bool | None = None, keep_log: bool = False) -> None:
        """Shut down cleanly; a temporary data dir is removed unless ``remove_data=False``.

        With ``keep_log`` the log stays in the temporary directory (removed otherwise) for a failure
        report to show. A ``log_path`` given to the constructor is never removed.
        """
        atexit.unregister(self.stop)
        self._halt()
        if self.certs is not None:
            shutil.rmtree(self.certs.directory, ignore_errors=True)
            self.certs = None
        if self._data_dir is None or not (remove_data if remove_data is not None else self._own_dir):
            return
        keep_parent = keep_log and self._own_dir and self.log_path is not None and self._log_path is None
        doomed = self._data_dir.parent if self._own_dir and not keep_parent else self._data_dir
        shutil.rmtree(doomed, ignore_errors=True)
        if self._own_dir:
            self._data_dir = None

    def _halt(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def restart(self) -> KafkaBroker:
        """Stop and start again on the same data dir and port.

        With disk storage everything acknowledged is kept; with memory storage the broker starts empty.
        """
        self._halt()
        return self.start()

    def reset(self) -> None:
        """Empty the running broker without a restart: topics, consumer groups, transactions.

        It takes milliseconds and keeps the port, so one broker can serve a whole test session with
        each test starting from nothing. Clients still connected see a fresh broker (unknown topics
        and members); a topic created again starts at offset 0. In-process the call runs in the
        broker's loop; a subprocess gets SIGUSR1 (kafkapy's own control, which no Kafka client can
        send) and this returns once it prints that the reset is done.
        """
        if self._thread is not None:
            self._thread.reset()
        elif self._process is not None:
            self._process.reset()
        else:
            raise RuntimeError("the broker is not running")

    def kill(self) -> None:
        """SIGKILL the subprocess (a crash); ``start()`` then recovers the data dir (memory: starts empty)."""
        if self._process is None:
            raise RuntimeError("kill() needs the subprocess mode")
        self._process.kill9()

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop; when the block failed, a subprocess broker's log is kept and its path added to the error."""
        log_path = self.log_path
        if not isinstance(exc, Exception) or log_path is None or not log_path.exists():
            self.stop()
            return
        self.stop(keep_log=True)
        exc.add_note(f"kafkapy broker log: {log_path}")

    def __repr__(self) -> str:
        mode = "in-process" if self.in_process else "subprocess"
        return f"<KafkaBroker {mode} storage={self.storage} port={self.port} data_dir={self._data_dir}>"


def tls_client_config(client: str, bootstrap: str, certs: TestCerts, client_certificate: bool) -> dict[str, Any]:
    """TLS settings for a client (see KafkaBroker.client_config) trusting ``certs``' CA."""
    if client == "confluent":
        config = {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": str(certs.ca)}
        if client_certificate:
            config["ssl.certificate.location"] = str(certs.client_cert)
            config["ssl.key.location"] = str(certs.client_key)
        return config
    if client == "kafka-python":
        settings: dict[str, Any] = {"bootstrap_servers": bootstrap, "security_protocol": "SSL"}
        settings["ssl_cafile"] = str(certs.ca)
        if client_certificate:
            settings.update({"ssl_certfile": str(certs.client_cert), "ssl_keyfile": str(certs.client_key)})
        return settings
    java = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SSL",
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(certs.truststore),
        "ssl.truststore.password": certs.password,
    }
    if client_certificate:
        java.update(
            {
                "ssl.keystore.type": "PKCS12",
                "ssl.keystore.location": str(certs.client_keystore),
                "ssl.keystore.password": certs.password,
                "ssl.key.password": certs.password,
            }
        )
    return java


def sasl_client_settings(client: str, protocol: str, mechanism: str, user: str, password: str) -> dict[str, Any]:
    """A client's SASL settings (see KafkaBroker.sasl_client_config)."""
    if client == "confluent":
        settings: dict[str, Any] = {"security.protocol": protocol, "sasl.mechanism": mechanism}
        if mechanism == "OAUTHBEARER":
            settings["enable.sasl.oauthbearer.unsecure.jwt"] = True
            settings["sasl.oauthbearer.config"] = f"principal={user}"
        else:
            settings.update({"sasl.username": user, "sasl.password": password})
        return settings
    if client == "kafka-python":
        if mechanism == "OAUTHBEARER":
            raise ValueError("kafka-python's OAUTHBEARER needs sasl_oauth_token_provider: give it one of your own")
        return {
            "security_protocol": protocol,
            "sasl_mechanism": mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
    module = {
        "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
        "OAUTHBEARER": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
    }.get(mechanism, "org.apache.kafka.common.security.scram.ScramLoginModule")
    options = (
        f"unsecuredLoginStringClaim_sub={_jaas_quoted(user)}"
        if mechanism == "OAUTHBEARER"
        else f"username={_jaas_quoted(user)} password={_jaas_quoted(password)}"
    )
    jaas = f"{module} required {options};"
    return {"security.protocol": protocol, "sasl.mechanism": mechanism, "sasl.jaas.config": jaas}


def _jaas_quoted(value: str) -> str:
    """A JAAS option value quoted, its quotes and backslashes escaped (kafkapy.security.jaas reads it back)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@asynccontextmanager
async def open_kafka_broker(**kwargs: Any) -> AsyncIterator[KafkaBroker]:
    """The async flavour, for asyncio and trio alike: ``async with open_kafka_broker() as kafka: ...``.

    Takes KafkaBroker's arguments. Starting and stopping run in a worker thread (anyio), so the
    caller's event loop keeps running; ``await anyio.to_thread.run_sync(kafka.reset)`` likewise.
    """
    broker = KafkaBroker(**kwargs)
    await anyio.to_thread.run_sync(broker.start)
    try:
        yield broker
    finally:
        await anyio.to_thread.run_sync(broker.stop)
