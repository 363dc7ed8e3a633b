"""The injectable clock: ManualClock itself, and that the broker's parts read the one they were given."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig
from kafkapy.clock import ManualClock
from kafkapy.storage.fs import FileSystem
from kafkapy.storage.log import LogConfig
from kafkapy.storage.log_manager import LogManager


def test_manual_clock_moves_only_when_advanced() -> None:
    clock = ManualClock(wall_ms=1_000)
    assert (clock.wall_ms(), clock.monotonic_ns(), clock.monotonic()) == (1_000, 0, 0.0)
    clock.advance(5)
    assert (clock.wall_ms(), clock.monotonic_ns(), clock.monotonic()) == (1_005, 5_000_000, 0.005)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_broker_hands_its_clock_to_the_log_manager_and_coordinators(tmp_path: Path) -> None:
    clock = ManualClock()
    broker = Broker.open(BrokerConfig(data_dir=tmp_path / "data"), clock=clock)
    parts = (broker.logs, broker.groups, broker.groups.group_manager, broker.transactions)
    assert broker.clock is clock and all(part.clock is clock for part in parts)
    broker.close()


def test_deleted_topic_files_go_when_the_injected_clock_says(tmp_path: Path, fs: FileSystem) -> None:
    """file.delete.delay.ms counts from the deletion as the log manager's clock reads it (far from the system's)."""
    clock = ManualClock(wall_ms=1_000_000)
    manager = LogManager.open(tmp_path, LogConfig(), fs=fs, clock=clock)
    manager.create_topic("t", 1, {"file.delete.delay.ms": "1000"})
    manager.delete_topic("t")

    def deleted() -> list[str]:
        return [name for name in fs.listdir(tmp_path) if name.endswith("-delete")]

    clock.advance(999)
    manager.purge_deleted(clock.wall_ms())
    assert len(deleted()) == 1
    clock.advance(1)
    manager.purge_deleted(clock.wall_ms())
    assert deleted() == []
    manager.close()
