"""Broker for the compatibility tests: `--bootstrap host:port`, `--reference-kafka`, or a kafkapy started here.

The started broker is the same `tests/broker_process.py` helper the integration suite uses; with
`--bootstrap` nothing is started and the tests run against whatever listens there (kafkapy or a
real Kafka), which is how a failing test is told apart from a failing broker. `--reference-kafka`
assembles and starts Apache Kafka itself (reference_kafka.py). The client × scenario table of
test_matrix.py is printed at the end of the run.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from reference_kafka import ReferenceKafka, ReferenceKafkaError, assemble  # noqa: E402
from scenarios import Target  # noqa: E402
from secured import SecuredBroker, start_secured  # noqa: E402
from wire_diff import WirePair  # noqa: E402

from tests.broker_process import BrokerProcess  # noqa: E402

TEST_TIMEOUT_S = 120


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bootstrap",
        default=None,
        metavar="HOST:PORT",
        help="run compat_tests against this broker instead of starting kafkapy",
    )
    parser.addoption(
        "--reference-kafka",
        action="store_true",
        help="assemble Apache Kafka from Maven Central, start it on loopback and run compat_tests against it",
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
    """On failure, attach the stderr of the kafkapy broker (when we started one) and the drivers' logs."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, BrokerProcess):
                report.sections.append((f"broker stderr ({value.log_path})", value.stderr_tail()))
            if isinstance(value, Target | SecuredBroker) and value.process is not None:
                report.sections.append((f"broker stderr ({value.process.log_path})", value.process.stderr_tail()))
        for name, paths in item.user_properties:
            for path in paths if name == "driver_logs" else ():
                lines = Path(path).read_text("utf-8", "replace").splitlines()[-60:]
                report.sections.append((f"driver log ({path})", "\n".join(lines)))
    return report


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The broker under test: --bootstrap, --reference-kafka, or a kafkapy started (and restartable) here."""
    address = request.config.getoption("--bootstrap")
    if address:
        host, _, port = str(address).rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"--bootstrap {address}: cannot connect ({exc})") from exc
        yield Target(str(address), "--bootstrap broker")
        return
    if request.config.getoption("--reference-kafka"):
        with ReferenceKafka(tmp_path_factory.mktemp("reference-kafka")) as kafka:
            yield Target(kafka.bootstrap, "reference Apache Kafka")
        return
    base = tmp_path_factory.mktemp("compat-broker")
    b = BrokerProcess(base / "data", log_path=base / "stderr.log")
    b.start()
    try:
        yield Target(b.bootstrap, "kafkapy", b)
    finally:
        b.close()


@pytest.fixture(scope="session")
def secured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """The security cells' broker (secured.py): kafkapy, or with --reference-kafka Apache Kafka, configured
    the same way; started once per session, only when a security cell runs."""
    if request.config.getoption("--bootstrap"):
        pytest.skip("the security cells need a secured broker the suite starts and configures (--bootstrap given)")
    kind = "reference" if request.config.getoption("--reference-kafka") else "kafkapy"
    with start_secured(kind, tmp_path_factory.mktemp("secured-broker")) as broker:
        yield broker


# kafkapy settings that differ from its defaults so both brokers of a wire diff are configured alike
# (reference_kafka.py's server.properties).
WIRE_DIFF_OVERRIDES = ("offsets.topic.num.partitions=3",)


@pytest.fixture(scope="session")
def wire_pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WirePair]:
    """A fresh kafkapy and a reference Apache Kafka 4.3.1 for wire diffs (wire_diff.py), started once per
    session when a test_wire_* test first runs. Skipped with --bootstrap (no second broker to compare) and
    with --reference-kafka (the kafkapy pass already compared both)."""
    if request.config.getoption("--bootstrap") or request.config.getoption("--reference-kafka"):
        pytest.skip("wire diffs start both brokers themselves and run in the kafkapy pass")
    try:
        assemble()
    except ReferenceKafkaError as exc:
        pytest.skip(f"no reference Kafka to compare with: {exc}")
    base = tmp_path_factory.mktemp("wire-diff")
    overrides = tuple(arg for o in WIRE_DIFF_OVERRIDES for arg in ("--override", o))
    ours = BrokerProcess(base / "kafkapy", log_path=base / "kafkapy.log", extra_args=overrides)
    ours.start()
    try:
        with ReferenceKafka(base / "reference") as kafka:
            yield WirePair(ours.bootstrap, kafka.bootstrap)
    finally:
        ours.close()


@pytest.fixture(scope="session")
def compat_broker(target: Target) -> BrokerProcess | None:
    """The kafkapy broker started for this session, or None when the broker is external."""
    return target.process


@pytest.fixture
def bootstrap(target: Target) -> str:
    """bootstrap.servers for the broker under test (current: a restart may have moved it)."""
    return target.bootstrap


# --- the summary table -------------------------------------------------------------------------

# (table, row, column) -> outcome, filled as reports arrive; one pytest session per process.
MATRIX_RESULTS: dict[tuple[str, str, str], str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember each matrix cell's outcome: pass, FAIL, unsup (the driver said so) or skip."""
    props: dict[str, Any] = dict(report.user_properties)
    cell = props.get("matrix_cell")
    if cell is None or (report.when != "call" and report.passed):
        return
    if report.failed:
        outcome = "FAIL" if report.when == "call" else "ERROR"
    elif report.skipped:
        outcome = "unsup" if "unsupported" in props else "skip"
    else:
        outcome = f"pass:{props['codec']}" if props.get("codec") else "pass"
    MATRIX_RESULTS[tuple(cell)] = outcome


def render_table(title: str, cells: dict[tuple[str, str], str], rows: list[str], columns: list[str]) -> list[str]:
    """A fixed-width text table; '-' where a cell was not run."""
    width = max([len(c) for c in columns] + [len(v) for v in cells.values()] + [4])
    first = max(len(r) for r in rows + [title])
    lines = [f"{title:<{first}}  " + "  ".join(f"{c:<{width}}" for c in columns)]
    for r in rows:
        lines.append(f"{r:<{first}}  " + "  ".join(f"{cells.get((r, c), '-'):<{width}}" for c in columns))
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = MATRIX_RESULTS
    if not results:
        return
    for table, title, heading in (
        ("scenario", "compat matrix: scenario × client", "scenario"),
        ("cross", "cross-client round trips: producer (row) × consumer (column), codec used", "producer"),
        ("security", "security cells (issue #14): cell × client, on the secured broker", "cell"),
    ):
        cells = {(row, col): v for (t, row, col), v in results.items() if t == table}
        if not cells:
            continue
        rows = list(dict.fromkeys(r for r, _ in cells))
        columns = sorted({c for _, c in cells})
        terminalreporter.write_sep("=", title)
        for line in render_table(heading, cells, rows, columns):
            terminalreporter.write_line(line)
