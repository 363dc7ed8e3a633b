"""Broker for the compatibility tests: `--bootstrap host:port`, or a kafkapy started here.

The started broker is the same `tests/broker_process.py` helper the integration suite uses; with
`--bootstrap` nothing is started and the tests run against whatever listens there (kafkapy or a
real Kafka), which is how a failing test is told apart from a failing broker.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.broker_process import BrokerProcess  # noqa: E402

TEST_TIMEOUT_S = 120


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bootstrap",
        default=None,
        metavar="HOST:PORT",
        help="run compat_tests against this broker instead of starting kafkapy",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A hard per-test timeout (pytest-timeout), so a hung client or broker fails the test."""
    if not config.pluginmanager.hasplugin("timeout"):
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, attach the stderr of the kafkapy broker (when we started one)."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, BrokerProcess):
                report.sections.append((f"broker stderr ({value.log_path})", value.stderr_tail()))
    return report


@pytest.fixture(scope="session")
def compat_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerProcess | None]:
    """The kafkapy broker started for this session, or None when --bootstrap was given."""
    address = request.config.getoption("--bootstrap")
    if address:
        host, _, port = str(address).rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"--bootstrap {address}: cannot connect ({exc})") from exc
        yield None
        return
    base = tmp_path_factory.mktemp("compat-broker")
    b = BrokerProcess(base / "data", log_path=base / "stderr.log")
    b.start()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest, compat_broker: BrokerProcess | None) -> str:
    """bootstrap.servers for the broker under test."""
    if compat_broker is None:
        return str(request.config.getoption("--bootstrap"))
    return compat_broker.bootstrap
