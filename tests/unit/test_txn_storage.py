"""Transactions in a partition's log: LSO, aborted-transaction index, markers and producer snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import build_batch, build_end_txn_marker, decode_records, validate_batches
from kafkapy.storage.fs import FileSystem
from kafkapy.storage.log import Log
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.producer_state import ProducerStateManager
from kafkapy.storage.txn_index import ENTRY_SIZE, AbortedTxn


def data(seq: int, *, producer_id: int = 7, epoch: int = 0, transactional: bool = True, count: int = 2) -> bytearray:
    records = [(b"k", f"v{seq + i}".encode(), [], 1000) for i in range(count)]
    return bytearray(
        build_batch(
            records, producer_id=producer_id, producer_epoch=epoch, base_sequence=seq, transactional=transactional
        )
    )


def marker(commit: bool, *, producer_id: int = 7, epoch: int = 0, coordinator_epoch: int = 0) -> bytearray:
    return bytearray(
        build_end_txn_marker(
            commit, producer_id=producer_id, producer_epoch=epoch, coordinator_epoch=coordinator_epoch, timestamp=1000
        )
    )


def snapshots(fs: FileSystem, directory: Path) -> list[str]:
    return sorted(name for name in fs.listdir(directory) if name.endswith(".snapshot"))


def append(log: Log, buf: bytearray, *, coordinator: bool = False):
    return log.append(buf, validate_batches(buf), now_ms=2000, coordinator=coordinator)


def test_lso_stops_at_the_first_ongoing_transaction(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    append(log, data(0, producer_id=1, transactional=False))
    append(log, data(0, producer_id=2))
    append(log, data(0, producer_id=3))
    assert (log.high_watermark, log.last_stable_offset) == (6, 2)
    append(log, marker(True, producer_id=2), coordinator=True)
    assert log.last_stable_offset == 4
    append(log, marker(False, producer_id=3), coordinator=True)
    assert log.last_stable_offset == log.high_watermark == 8
    assert log.aborted_transactions(0, 8) == [AbortedTxn(3, 4, 7, 8)]
    assert log.aborted_transactions(8, 8) == []
    assert len(fs.read_bytes(log.active_segment.txn_index.path)) == ENTRY_SIZE


def test_markers_end_transactions_and_refuse_older_epochs(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    append(log, data(0, epoch=1))
    with pytest.raises(KafkaError) as old:
        append(log, marker(False, epoch=0), coordinator=True)
    assert old.value.code == ErrorCode.INVALID_PRODUCER_EPOCH
    # An epoch-bumping abort (the coordinator fencing the producer) is accepted.
    append(log, marker(False, epoch=2), coordinator=True)
    with pytest.raises(KafkaError) as fenced:
        append(log, data(2, epoch=1))
    assert fenced.value.code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert log.last_stable_offset == log.high_watermark


def test_non_transactional_write_during_a_transaction_is_refused(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    append(log, data(0))
    with pytest.raises(KafkaError) as bad:
        append(log, data(2, transactional=False))
    assert bad.value.code == ErrorCode.INVALID_TXN_STATE


def test_state_and_index_survive_reopen_via_snapshot(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    append(log, data(0, producer_id=5))
    append(log, marker(False, producer_id=5), coordinator=True)
    append(log, data(0, producer_id=6))
    log.close()
    assert snapshots(fs, tmp_path / "t-0") == [f"{5:020d}.snapshot"]
    reopened = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    assert reopened.last_stable_offset == 3
    assert reopened.aborted_transactions(0, 5) == [AbortedTxn(5, 0, 2, 3)]
    # Producer 6's retry is still recognised as a duplicate.
    assert append(reopened, data(0, producer_id=6)).first_offset == 3


def test_state_is_rebuilt_from_the_log_without_snapshots(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    append(log, data(0, producer_id=5))
    append(log, data(0, producer_id=6))
    append(log, marker(True, producer_id=5), coordinator=True)
    log.close()
    for name in snapshots(fs, tmp_path / "t-0"):
        fs.unlink(tmp_path / "t-0" / name)
    reopened = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    assert reopened.last_stable_offset == 2
    assert reopened.producer_state.entry(6).current_txn_first_offset == 2


def test_truncation_drops_index_entries_and_stale_snapshots(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    append(log, data(0))
    log.close()
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    append(log, marker(False), coordinator=True)
    assert log.aborted_transactions(0, 3) == [AbortedTxn(7, 0, 2, 3)]
    log.truncate_to(2)
    assert log.aborted_transactions(0, 3) == []
    assert log.last_stable_offset == 0


def test_marker_batch_is_a_control_batch(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), fs=fs)
    append(log, data(0))
    append(log, marker(True), coordinator=True)
    region = log.read(2, 1 << 20)
    assert region is not None
    [(header, records)] = list(decode_records(region.read_bytes()))
    assert header.is_control and header.is_transactional and header.base_offset == 2


def test_snapshot_layout_round_trips_the_five_batch_window() -> None:
    state = ProducerStateManager()
    log_headers = []
    for i in range(7):
        buf = data(i * 2, transactional=False)
        [header] = validate_batches(buf)
        log_headers.append(header._replace(base_offset=i * 2))
    for header in log_headers:
        state.update(header)
    loaded = ProducerStateManager.from_snapshot(state.to_snapshot())
    assert [b.first_seq for b in loaded.entry(7).batches] == [4, 6, 8, 10, 12]
    assert loaded.entry(7).producer_epoch == 0
