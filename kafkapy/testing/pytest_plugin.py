"""pytest plugin (entry point ``pytest11``): a real Kafka broker for your test suite.

Fixtures:
- ``kafka_broker`` (session): a kafkapy broker started on first use, stopped at the end (its logs on
  disk, or in memory with ``--kafka-storage=memory``); or the broker at ``--kafka-bootstrap``
  (kafkapy or Apache Kafka) with ``--kafka-broker=external``.
- ``kafka_bootstrap``: its ``host:port`` for bootstrap.servers.
- ``kafka_topic``: a fresh, uniquely named topic per test, deleted afterwards. Ask for partitions
  or configs with ``@pytest.mark.kafka_topic(partitions=3, config={"cleanup.policy": "compact"})``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from kafkapy.config import STORAGE_MODES
from kafkapy.testing.broker import ExternalKafka, KafkaBroker


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kafka_topic(partitions=1, config=None): how kafka_topic creates its topic")


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[KafkaBroker | ExternalKafka]:
    """The broker the tests talk to (see the module docstring)."""
    option = request.config.getoption
    bootstrap = option("--kafka-bootstrap")
    mode = option("--kafka-broker") or ("external" if bootstrap else "embedded")
    if mode == "external":
        if not bootstrap:
            raise pytest.UsageError("--kafka-broker=external needs --kafka-bootstrap HOST:PORT")
        yield ExternalKafka(bootstrap)
        return
    with KafkaBroker(in_process=option("--kafka-in-process"), storage=option("--kafka-storage")) as broker:
        yield broker


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
