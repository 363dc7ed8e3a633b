"""pytest plugin (entry point ``pytest11``): a real Kafka broker for your test suite.

Fixtures:
- ``kafka_broker`` (session): a kafkapy broker started on first use, stopped at the end (its logs on
  disk, or in memory with ``--kafka-storage=memory``); or the broker at ``--kafka-bootstrap``
  (kafkapy or Apache Kafka) with ``--kafka-broker=external``. Its Kafka properties come from the
  ``kafka_broker_config`` ini option and ``--kafka-broker-config NAME=VALUE``; a module or class
  marked ``@pytest.mark.kafka_broker(config={...})`` gets a broker of its own with those on top
  (``tls=True``: with an SSL listener and test certificates, ``kafka_broker.client_config()``).
- ``kafka_bootstrap``: its ``host:port`` for bootstrap.servers.
- ``kafka_topic``: a fresh, uniquely named topic per test, deleted afterwards. Ask for partitions
  or configs with ``@pytest.mark.kafka_topic(partitions=3, config={"cleanup.policy": "compact"})``.
- ``kafka_broker_factory`` / ``kafka_module_broker_factory``: start brokers with their own
  properties, stopped when the test / the module ends.

When a test fails, the log each embedded subprocess broker wrote during that test is attached
to its report (a "kafkapy broker log" section); the log files stay in pytest's temporary directory.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from kafkapy.broker_config import STORAGE_MODES, BrokerConfig, ConfigError, apply_properties
from kafkapy.client.wire import WireClient
from kafkapy.testing.broker import ExternalKafka, KafkaBroker

# The brokers this plugin started, with the size of their log when the running test began.
_BROKERS = pytest.StashKey[list[KafkaBroker]]()
_LOG_START = pytest.StashKey[dict[int, int]]()
# The test log level of the plugin's brokers: info shows topic, group and transaction events
# without one line per request (debug), so a failing test's section stays readable.
BROKER_LOG_LEVEL = "info"
MARKER_KWARGS = ("config", "storage", "in_process", "num_partitions", "tls")
# How long the session waits for a --kafka-bootstrap broker to answer, as the README's CI recipe
# waits (kafkapy health --timeout 10): enough for one still starting, short for one never started.
EXTERNAL_BROKER_WAIT_S = 10.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kafkapy", "Kafka broker for tests (kafkapy)")
    group.addoption(
        "--kafka-broker",
        choices=("embedded", "external"),
        default=None,
        help="embedded: start a kafkapy broker (default); external: use --kafka-bootstrap",
    )
    group.addoption("--kafka-bootstrap", metavar="HOST:PORT", default=None, help="a running broker to use instead")
    group.addoption(
        "--kafka-in-process",
        action="store_true",
        help="run the embedded broker in a thread of the test process instead of a subprocess",
    )
    group.addoption(
        "--kafka-storage",
        choices=STORAGE_MODES,
        default="disk",
        help="where the embedded broker keeps its logs: disk (default) or memory (nothing written, fastest)",
    )
    group.addoption(
        "--kafka-broker-config",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Kafka property of the embedded brokers (repeatable; over the kafka_broker_config ini option)",
    )
    parser.addini(
        "kafka_broker_config",
        "Kafka properties of the embedded brokers, NAME=VALUE separated by spaces or lines",
        type="args",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kafka_topic(partitions=1, config=None): how kafka_topic creates its topic")
    config.addinivalue_line(
        "markers",
        "kafka_broker(config=None, storage=None, in_process=None, num_partitions=None): "
        "the module's or class's kafka_broker is a broker of its own with these settings",
    )
    if config.getoption("--kafka-broker") == "external" and not config.getoption("--kafka-bootstrap"):
        raise pytest.UsageError("--kafka-broker=external needs --kafka-bootstrap HOST:PORT")
    # A malformed, unknown or invalid property is a usage error now, not an error in every test.
    properties = broker_properties(config)
    if not _is_external(config):
        try:
            apply_properties(BrokerConfig(), properties)
        except ConfigError as exc:
            raise pytest.UsageError(f"kafka_broker_config: {exc}") from None
    config.stash[_BROKERS] = []


def broker_properties(config: pytest.Config) -> dict[str, str]:
    """The ini option's properties, then the command line's."""
    properties: dict[str, str] = {}
    for item in [*config.getini("kafka_broker_config"), *config.getoption("--kafka-broker-config")]:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise pytest.UsageError(f"kafka_broker_config: expected NAME=VALUE, got {item!r}")
        properties[name.strip()] = value.strip()
    return properties


def _is_external(config: pytest.Config) -> bool:
    mode = config.getoption("--kafka-broker")
    return mode == "external" or (mode is None and config.getoption("--kafka-bootstrap") is not None)


class KafkaBrokerFactory:
    """Starts embedded brokers with the suite's settings plus a call's own; ``close()`` stops them all."""

    def __init__(self, config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._config = config
        self._tmp_path_factory = tmp_path_factory
        self.started: list[KafkaBroker] = []

    def __call__(self, *, config: dict[str, str] | None = None, **kwargs: Any) -> KafkaBroker:
        """A started KafkaBroker; ``config`` adds Kafka properties, other arguments are KafkaBroker's."""
        option = self._config.getoption
        settings: dict[str, Any] = {
            "in_process": option("--kafka-in-process"),
            "storage": option("--kafka-storage"),
            "log_level": BROKER_LOG_LEVEL,
            "log_path": self._tmp_path_factory.mktemp("kafkapy-broker") / "kafkapy.log",
        }
        settings.update(kwargs)
        broker = KafkaBroker(config={**broker_properties(self._config), **(config or {})}, **settings)
        self._config.stash[_BROKERS].append(broker)
        self.started.append(broker)
        return broker.start()

    def close(self) -> None:
        for broker in self.started:
            broker.stop()


@pytest.fixture(scope="session")
def _kafka_session_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBroker | ExternalKafka]:
    """The suite's broker, started on first use and kept for the session."""
    if _is_external(request.config):
        yield _external(request.config.getoption("--kafka-bootstrap"))
        return
    with _open_factory(request, tmp_path_factory) as factory:
        yield factory()


def _external(bootstrap: str) -> ExternalKafka:
    """The --kafka-bootstrap broker once it answers ApiVersions; if it never does, one line saying
    so for every test that needs it, instead of a connection traceback in each."""
    deadline = time.monotonic() + EXTERNAL_BROKER_WAIT_S
    while True:
        try:
            with WireClient.connect(bootstrap, timeout=2) as client:
                client.request(18, 0, {})
            return ExternalKafka(bootstrap)
        except Exception as exc:  # refused, unknown host, not Kafka: anything but an answer
            problem = exc
        if time.monotonic() >= deadline:
            pytest.fail(
                f"no Kafka broker answering at {bootstrap} (--kafka-bootstrap) within {EXTERNAL_BROKER_WAIT_S:g}s:"
                f" {problem}; start it first (kafkapy serve, or docker compose ... up -d --wait)",
                pytrace=False,
            )
        time.sleep(0.1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests under ``@pytest.mark.kafka_broker(...)`` get a module-scoped broker with those settings."""
    marker = metafunc.definition.get_closest_marker("kafka_broker")
    if marker is None or "kafka_broker" not in metafunc.fixturenames:
        return
    unknown = set(marker.kwargs) - set(MARKER_KWARGS)
    if marker.args or unknown:
        wrong = [*map(repr, marker.args), *sorted(unknown)]
        raise pytest.UsageError(f"the kafka_broker marker takes keyword arguments {MARKER_KWARGS}, not {wrong}")
    settings = {k: v for k, v in marker.kwargs.items() if v is not None}
    label = ",".join(f"{k}={v}" for k, v in sorted({**settings.pop("config", {}), **settings}.items()))
    metafunc.parametrize("kafka_broker", [marker.kwargs], indirect=True, ids=[label or "kafka_broker"], scope="module")


@pytest.fixture(scope="session")
def kafka_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBroker | ExternalKafka]:
    """The broker the tests talk to (see the module docstring)."""
    marked = getattr(request, "param", None)
    if marked is None:
        yield request.getfixturevalue("_kafka_session_broker")
        return
    if _is_external(request.config):
        pytest.skip(f"needs an embedded broker with {marked} (kafka_broker marker), not --kafka-broker=external")
    with _open_factory(request, tmp_path_factory) as factory:
        yield factory(**{k: v for k, v in marked.items() if v is not None})


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker | ExternalKafka) -> str:
    return kafka_broker.bootstrap_servers


@pytest.fixture
def kafka_topic(request: pytest.FixtureRequest, kafka_broker: KafkaBroker | ExternalKafka) -> Iterator[str]:
    """A new topic named after the test, deleted when the test ends."""
    marker = request.node.get_closest_marker("kafka_topic")
    settings = marker.kwargs if marker is not None else {}
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name)[:180].strip("-")
    name = f"test-{slug}-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(name, settings.get("partitions", 1), settings.get("config"))
    yield name
    kafka_broker.delete_topic(name)


@pytest.fixture
def kafka_broker_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., KafkaBroker]]:
    """``kafka_broker_factory(config={...}, storage=..., in_process=...)``: brokers stopped after the test."""
    with _open_factory(request, tmp_path_factory) as factory:
        yield factory


@pytest.fixture(scope="module")
def kafka_module_broker_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., KafkaBroker]]:
    """Like ``kafka_broker_factory``, for module-scoped fixtures: brokers stopped after the module."""
    with _open_factory(request, tmp_path_factory) as factory:
        yield factory


@contextmanager
def _open_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBrokerFactory]:
    """A factory for the fixture's lifetime; its brokers stop when the fixture is torn down."""
    factory = KafkaBrokerFactory(request.config, tmp_path_factory)
    try:
        yield factory
    finally:
        factory.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Note where each broker's log stands before the test and its fixtures start."""
    item.stash[_LOG_START] = {id(b): b.log_size() for b in item.config.stash.get(_BROKERS, [])}
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """On failure, attach what each broker logged since the test began; then forget stopped brokers."""
    report: pytest.TestReport = yield
    brokers = item.config.stash.get(_BROKERS, [])
    if report.failed:
        starts = item.stash.get(_LOG_START, {})
        for broker in brokers:
            text = broker.log_text(starts.get(id(broker), 0))
            if text.strip():
                report.sections.append((f"kafkapy broker log ({broker.log_path})", text))
    if call.when == "teardown":
        brokers[:] = [b for b in brokers if b.is_running()]
    return report

