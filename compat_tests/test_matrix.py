"""The client × scenario matrix, and producer × consumer for cross-client round trips.

One pytest item per cell. A cell is `unsupported` only when the client's driver says so (the item
is skipped with that reason and shown as `unsup` in the summary table); everything else must pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from matrix import Client, DriverPool, Unavailable, Unsupported, load_manifests
from scenarios import SCENARIOS, Ctx, Skipped, Target, cross_client

CLIENTS = sorted(load_manifests())
PAIRS = [(p, c) for p in CLIENTS for c in CLIENTS if p != c]


def used_clients(items: list[pytest.Item], pool_fixture: str = "driver_pool") -> list[str]:
    """Clients the selected items using `pool_fixture` need, so a narrowed run (-k) starts only those drivers."""
    names: set[str] = set()
    for item in items:
        if pool_fixture not in getattr(item, "fixturenames", ()):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        names.update(v for k, v in params.items() if k in ("client_name", "producer_name", "consumer_name"))
    return sorted(names)


@pytest.fixture(scope="session")
def driver_pool(target: Target, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    DriverPool
]:
    """Every client's driver, built and started in parallel once for the session."""
    pool = DriverPool(target.bootstrap, Path(tmp_path_factory.mktemp("drivers")))
    pool.prepare(used_clients(request.session.items))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def ctx(target: Target, driver_pool: DriverPool) -> Ctx:
    return Ctx(target, driver_pool)


def run_cell(node: pytest.Item, cell: tuple[str, str, str], clients: list[str], pool: DriverPool,
             body: Callable[[list[Client]], object]) -> object:  # fmt: skip
    """Run one cell: record where it goes in the summary table, map unsupported/unavailable to skips."""
    node.user_properties.append(("matrix_cell", cell))
    try:
        opened = [pool.get(name) for name in clients]
        node.user_properties.append(("driver_logs", [str(c.log_path) for c in opened]))
        return body(opened)
    except Unavailable as exc:
        pytest.skip(str(exc))
    except Unsupported as exc:
        node.user_properties.append(("unsupported", str(exc)))
        pytest.skip(f"unsupported: {exc}")
    except Skipped as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("scenario_name", list(SCENARIOS))
@pytest.mark.parametrize("client_name", CLIENTS)
def test_scenario(request: pytest.FixtureRequest, ctx: Ctx, client_name: str, scenario_name: str) -> None:
    run_cell(
        request.node, ("scenario", scenario_name, client_name), [client_name], ctx.pool,
        lambda clients: SCENARIOS[scenario_name](ctx, clients[0]),
    )  # fmt: skip


@pytest.mark.parametrize(("producer_name", "consumer_name"), PAIRS, ids=[f"{p}-to-{c}" for p, c in PAIRS])
def test_cross_client(request: pytest.FixtureRequest, ctx: Ctx, producer_name: str, consumer_name: str) -> None:
    codec = run_cell(
        request.node, ("cross", producer_name, consumer_name), [producer_name, consumer_name], ctx.pool,
        lambda clients: cross_client(ctx, clients[0], clients[1], PAIRS.index((producer_name, consumer_name))),
    )  # fmt: skip
    request.node.user_properties.append(("codec", codec))
