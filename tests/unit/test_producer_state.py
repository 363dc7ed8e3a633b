"""Idempotent producer state: duplicates answered with original offsets, gaps and stale epochs refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkapy.clock import ManualClock
from kafkapy.coordinator.producer_ids import BLOCK_SIZE, ProducerIdManager
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import build_batch, validate_batches
from kafkapy.storage.fs import FileSystem
from kafkapy.storage.log import Log
from kafkapy.storage.log_config import LogConfig


def batch(seq: int, count: int = 2, *, producer_id: int = 7, epoch: int = 0) -> bytearray:
    records = [(b"k", f"v{seq + i}".encode(), [], 1000) for i in range(count)]
    return bytearray(build_batch(records, producer_id=producer_id, producer_epoch=epoch, base_sequence=seq))


def append(log: Log, buf: bytearray):
    return log.append(buf, validate_batches(buf), now_ms=2000)


def test_retried_batch_gets_original_offsets_and_is_not_written(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    assert append(log, batch(0)).first_offset == 0
    assert append(log, batch(2)).first_offset == 2
    retry = append(log, batch(0))
    assert (retry.first_offset, retry.last_offset) == (0, 1)
    assert log.log_end_offset == 4


def test_sequence_gap_and_old_epoch_are_refused(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    append(log, batch(0, epoch=1))
    with pytest.raises(KafkaError) as gap:
        append(log, batch(5, epoch=1))
    assert gap.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    with pytest.raises(KafkaError) as stale:
        append(log, batch(2, epoch=0))
    assert stale.value.code == ErrorCode.INVALID_PRODUCER_EPOCH
    with pytest.raises(KafkaError) as new_epoch:
        append(log, batch(3, epoch=2))
    assert new_epoch.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert append(log, batch(0, epoch=2)).first_offset == 2
    assert log.log_end_offset == 4


def test_only_the_last_five_batches_are_deduplicated(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    for i in range(6):
        append(log, batch(i * 2))
    # Sequence 0 fell out of the window, so it is no longer a duplicate but out of order.
    with pytest.raises(KafkaError) as old:
        append(log, batch(0))
    assert old.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert append(log, batch(2)).first_offset == 2


def test_state_is_rebuilt_from_the_log_after_reopen(tmp_path: Path, fs: FileSystem) -> None:
    # The batches' timestamps are 1000: a clock at 2000 keeps the producer from expiring.
    clock = ManualClock(wall_ms=2000)
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs, clock=clock)
    append(log, batch(0))
    append(log, batch(2))
    log.close()
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs, clock=clock)
    assert append(log, batch(2)).first_offset == 2
    with pytest.raises(KafkaError):
        append(log, batch(9))
    assert append(log, batch(4)).first_offset == 4


def test_producer_ids_are_unique_across_restarts(tmp_path: Path, fs: FileSystem) -> None:
    fs.makedirs(tmp_path)
    first = ProducerIdManager(tmp_path, fs)
    ids = {first.next_producer_id() for _ in range(3)}
    # A crash loses the rest of the block: the next manager starts after it.
    second = ProducerIdManager(tmp_path, fs)
    assert second.next_producer_id() == BLOCK_SIZE
    assert ids == {0, 1, 2}


EXPIRATION_MS = 60_000


def expiring_log(directory: Path, fs: FileSystem, clock: ManualClock) -> Log:
    """A log whose producers expire EXPIRATION_MS after their last batch's timestamp (1000 in ``batch``)."""
    return Log.open(directory, LogConfig(), fs=fs, clock=clock, producer_id_expiration_ms=EXPIRATION_MS)


def test_an_idle_producer_expires_and_its_sequences_start_fresh(tmp_path: Path, fs: FileSystem) -> None:
    clock = ManualClock(wall_ms=2000)
    log = expiring_log(tmp_path / "t-0", fs, clock)
    append(log, batch(0, producer_id=7))
    append(log, batch(0, producer_id=8))
    assert log.remove_expired_producers(1000 + EXPIRATION_MS - 1) == []
    assert append(log, batch(0, producer_id=7)).first_offset == 0  # still a duplicate
    assert sorted(log.remove_expired_producers(1000 + EXPIRATION_MS)) == [7, 8]
    assert log.producer_state.producers == {}
    # Forgotten: an old batch is appended again, and a new sequence needs no predecessor (as in Kafka).
    assert append(log, batch(0, producer_id=7)).first_offset == 4
    assert append(log, batch(40, producer_id=8)).first_offset == 6


def test_a_producer_with_an_ongoing_transaction_never_expires(tmp_path: Path, fs: FileSystem) -> None:
    clock = ManualClock(wall_ms=2000)
    log = expiring_log(tmp_path / "t-0", fs, clock)
    records = [(b"k", b"v", [], 1000)]
    buf = bytearray(build_batch(records, producer_id=9, producer_epoch=0, base_sequence=0, transactional=True))
    append(log, buf)
    assert log.remove_expired_producers(1000 + 100 * EXPIRATION_MS) == []
    assert log.producer_state.entry(9) is not None
    assert log.last_stable_offset == 0


@pytest.mark.parametrize("snapshot", [True, False])
def test_a_reopened_log_does_not_resurrect_expired_producers(tmp_path: Path, fs: FileSystem, snapshot: bool) -> None:
    clock = ManualClock(wall_ms=2000)
    log = expiring_log(tmp_path / "t-0", fs, clock)
    append(log, batch(0))
    log.close()
    if not snapshot:
        for name in fs.listdir(tmp_path / "t-0"):
            if name.endswith(".snapshot"):
                fs.unlink(tmp_path / "t-0" / name)
    assert expiring_log(tmp_path / "t-0", fs, clock).producer_state.entry(7) is not None
    clock.advance(EXPIRATION_MS)
    assert expiring_log(tmp_path / "t-0", fs, clock).producer_state.entry(7) is None
