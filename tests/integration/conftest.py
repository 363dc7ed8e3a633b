"""Fixtures that start the real kafkapy broker as a subprocess for the integration tests.

`broker` gives each test a fresh broker and data directory (needed for crash/restart tests);
`shared_broker` is one broker per module, for tests that only need their own topic. When a test
fails, the broker's stderr log is attached to the pytest report.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The helper lives in tests/broker_process.py and is shared with compat_tests/ and bench/,
# so the repository root has to be importable however pytest was invoked.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.broker_process import BrokerProcess  # noqa: E402

TEST_TIMEOUT_S = 120
STARTED = pytest.StashKey[list[BrokerProcess]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every integration test a hard timeout (pytest-timeout) on top of the loop deadlines."""
    if not config.pluginmanager.hasplugin("timeout"):
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, attach the stderr of every broker the test used to its report."""
    report = yield
    if report.failed:
        brokers = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, BrokerProcess)]
        brokers += [b for b in item.stash.get(STARTED, []) if b not in brokers]
        for b in brokers:
            report.sections.append((f"broker stderr ({b.log_path})", b.stderr_tail()))
    return report


@pytest.fixture
def broker_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., BrokerProcess]]:
    """Start brokers with custom CLI options; every one is stopped at teardown."""
    started = request.node.stash.setdefault(STARTED, [])

    def start(name: str = "broker", **kwargs: object) -> BrokerProcess:
        b = BrokerProcess(tmp_path / name, log_path=tmp_path / f"{name}.stderr.log", **kwargs)  # type: ignore[arg-type]
        started.append(b)
        return b.start()

    yield start
    for b in started:
        b.close()


@pytest.fixture
def broker(broker_factory: Callable[..., BrokerProcess]) -> BrokerProcess:
    """A fresh broker with default settings (auto-create on, 1 partition) and its own data dir."""
    return broker_factory()


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for a whole module; tests isolate themselves with unique topic names."""
    base = tmp_path_factory.mktemp("shared-broker")
    b = BrokerProcess(base / "data", log_path=base / "stderr.log")
    b.start()
    try:
        yield b
    finally:
        b.close()
