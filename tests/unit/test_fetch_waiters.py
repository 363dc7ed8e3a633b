"""Appends tell the broker (Kafka's LogOffsetsListener): long-polling fetches wake, flushes start.

The appends are made on the logs themselves, as every writer (Produce, the coordinators) does: the
log tells the broker, no caller has to remember to.
"""

from __future__ import annotations

from collections.abc import Callable

import trio
import trio.testing

from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig
from kafkapy.clock import SYSTEM_CLOCK
from kafkapy.protocol.records import build_batch, validate_batches
from kafkapy.storage.log import Log


def _broker(tmp_path) -> Broker:
    broker = Broker.open(BrokerConfig(data_dir=tmp_path / "data", storage="memory"))
    broker.logs.create_topic("fetched", 2)
    broker.logs.create_topic("elsewhere", 1)
    return broker


def _append(log: Log) -> None:
    now_ms = SYSTEM_CLOCK.wall_ms()
    batch = bytearray(build_batch([(None, b"v", [], now_ms)]))
    log.append(batch, validate_batches(batch), now_ms=now_ms)


async def _released_by(broker: Broker, watched: list[Log], append: Callable[[], None]) -> None:
    """A fetch parked on ``watched`` returns once ``append`` writes to one of them."""
    released = trio.Event()

    async def fetch() -> None:
        await broker.wait_for_data(watched)
        released.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fetch)
        await trio.testing.wait_all_tasks_blocked()
        append()
        with trio.fail_after(10):
            await released.wait()
    assert not broker._fetch_waiters, "a released fetch left its waiter registered"


async def test_append_to_a_fetched_partition_releases_the_wait(tmp_path) -> None:
    broker = _broker(tmp_path)
    fetched = broker.logs.topics["fetched"].partitions
    await _released_by(broker, fetched, lambda: _append(fetched[1]))


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
            _append(broker.logs.topics["elsewhere"].partitions[0])
            await trio.sleep(0)
    assert not released
    assert not broker._fetch_waiters, "a timed-out fetch left its waiter registered"


async def test_logs_loaded_at_start_up_wake_fetches_too(tmp_path) -> None:
    """Partitions opened before the broker existed (a restart) hear of appends as new ones do."""
    config = BrokerConfig(data_dir=tmp_path / "data")
    first = Broker.open(config)
    first.logs.create_topic("kept", 1)
    first.logs.close()
    broker = Broker.open(config)
    kept = broker.logs.topics["kept"].partitions
    await _released_by(broker, kept, lambda: _append(kept[0]))


async def test_coordinator_appends_wake_fetches(tmp_path) -> None:
    """An offset commit is appended by the group coordinator, not Produce; a fetch of __consumer_offsets wakes."""
    broker = _broker(tmp_path)
    offsets = broker.groups.store.ensure_topic().partitions
    clock = broker.clock
    await _released_by(broker, offsets, lambda: broker.groups.store.append("group", [(b"k", b"v")], clock.wall_ms()))


async def test_appends_schedule_the_flush_their_topic_asks_for(tmp_path) -> None:
    """flush.messages=1: the fsync follows each append, started by the listener, not by the 100 ms check."""
    broker = Broker.open(BrokerConfig(data_dir=tmp_path / "data"))
    broker.logs.create_topic("synced", 1, {"flush.messages": "1"})
    log = broker.logs.topics["synced"].partitions[0]
    async with trio.open_nursery() as nursery:
        await nursery.start(broker.run)
        _append(log)
        assert broker._flushing == {log}, "the append did not start a flush"
        with trio.fail_after(10):
            while log.recovery_point < log.log_end_offset:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
