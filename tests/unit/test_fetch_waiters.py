"""Long-polling fetches wait on their own partitions: Broker.wait_for_data / after_append."""

from __future__ import annotations

import trio
import trio.testing

from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig


def _broker(tmp_path) -> Broker:
    broker = Broker.open(BrokerConfig(data_dir=tmp_path / "data", storage="memory"))
    broker.logs.create_topic("fetched", 2)
    broker.logs.create_topic("elsewhere", 1)
    return broker


async def test_append_to_a_fetched_partition_releases_the_wait(tmp_path) -> None:
    broker = _broker(tmp_path)
    fetched = broker.logs.topics["fetched"].partitions
    released = trio.Event()

    async def fetch() -> None:
        await broker.wait_for_data(fetched)
        released.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fetch)
        await trio.testing.wait_all_tasks_blocked()
        broker.after_append(fetched[1])
        with trio.fail_after(1):
            await released.wait()
    assert not broker._fetch_waiters, "a released fetch left its waiter registered"


async def test_appends_elsewhere_do_not_release_the_wait(tmp_path) -> None:
    """Kafka's delayed fetches are keyed by partition; an append to another one must not wake
    (and re-read) every parked fetch."""
    broker = _broker(tmp_path)
    fetched = broker.logs.topics["fetched"].partitions
    released = False

    async def fetch() -> None:
        nonlocal released
        with trio.move_on_after(0.3):
            await broker.wait_for_data(fetched)
            released = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fetch)
        await trio.testing.wait_all_tasks_blocked()
        for _ in range(10):
            broker.after_append(broker.logs.topics["elsewhere"].partitions[0])
            await trio.sleep(0)
    assert not released
    assert not broker._fetch_waiters, "a timed-out fetch left its waiter registered"
