"""Retention, DeleteRecords, delayed file deletion, the log start offset checkpoint and topic deletion."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import build_batch, decode_records, validate_batches
from kafkapy.storage.fs import FileSystem
from kafkapy.storage.log import Log
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_manager import LogManager
from kafkapy.storage.retention import delete_old_segments

NOW = 1_700_000_000_000


def append(log: Log, count: int, *, timestamp: int = NOW, key: bytes | None = b"k", size: int = 100) -> None:
    for _ in range(count):
        batch = bytearray(build_batch([(key, b"x" * size, [], timestamp)]))
        log.append(batch, validate_batches(batch), now_ms=NOW)


def names(fs: FileSystem, directory: Path, suffix: str) -> list[str]:
    return [name for name in fs.listdir(directory) if name.endswith(suffix)]


def values(log: Log) -> list[int]:
    found = log.read(log.log_start_offset, 1 << 24)
    return [] if found is None else [r.offset for _, records in decode_records(found.read_bytes()) for r in records]


def test_retention_bytes_and_ms(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=1000, retention_bytes=2500), fs=fs, now_ms=NOW)
    append(log, 40)
    assert len(log.segments) > 4
    assert log.delete_old_segments(NOW) > 0
    assert log.size_in_bytes <= 2500 + 1000 and log.log_start_offset == log.segments[0].base_offset > 0
    timed = Log.open(tmp_path / "u-0", LogConfig(segment_bytes=1000, retention_ms=1000), fs=fs, now_ms=NOW)
    append(timed, 20, timestamp=NOW - 5000)
    assert timed.delete_old_segments(NOW) > 0
    assert (timed.log_start_offset, timed.log_end_offset, values(timed)) == (20, 20, [])
    append(timed, 1)
    assert values(timed) == [20]


def test_compacted_logs_keep_old_segments_and_deleted_files_wait(tmp_path: Path, fs: FileSystem) -> None:
    config = LogConfig(segment_bytes=1000, retention_ms=1, cleanup_policy=("compact",), file_delete_delay_ms=500)
    log = Log.open(tmp_path / "t-0", config, fs=fs, now_ms=NOW)
    append(log, 20, timestamp=NOW - 5000)
    assert log.delete_old_segments(NOW) == 0
    log.update_config(LogConfig(segment_bytes=1000, retention_ms=1, file_delete_delay_ms=500))
    first = log.segments[0]
    fetch = log.read(0, 100)
    assert fetch is not None
    assert log.delete_old_segments(NOW) > 0
    assert first.log_path.name.endswith(".log.deleted") and fs.exists(first.log_path)
    assert fetch.read_bytes()  # an in-flight sendfile still reads the file
    log.purge_deleted(NOW + 100)
    assert fs.exists(first.log_path)
    log.purge_deleted(NOW + 500)
    assert not fs.exists(first.log_path) and not names(fs, tmp_path / "t-0", ".deleted")


def test_delete_records_and_checkpoint_survive_restart(tmp_path: Path, fs: FileSystem) -> None:
    manager = LogManager.open(tmp_path, LogConfig(), fs=fs)
    log = manager.create_topic("t", 1, {"segment.bytes": "1000"}).partitions[0]
    append(log, 30)
    assert log.delete_records_before(13) == 13
    assert log.delete_records_before(5) == 13
    with pytest.raises(KafkaError) as exc_info:
        log.delete_records_before(31)
    assert exc_info.value.code == ErrorCode.OFFSET_OUT_OF_RANGE
    with pytest.raises(KafkaError) as exc_info:
        log.read(12, 100)
    assert exc_info.value.code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert log.segments[0].base_offset <= 13 < log.segments[0].next_offset
    manager.checkpoint_log_start_offsets()
    manager.close()
    reopened = LogManager.open(tmp_path, LogConfig(), fs=fs)
    assert reopened.get_log("t", 0).log_start_offset == 13  # type: ignore[union-attr]
    assert delete_old_segments(reopened, NOW) == 0
    reopened.close()


def test_delete_topic_frees_the_name_and_removes_files_later(tmp_path: Path, fs: FileSystem) -> None:
    manager = LogManager.open(tmp_path, LogConfig(), fs=fs)
    old = manager.create_topic("t", 2, {"file.delete.delay.ms": "1000"})
    append(old.partitions[0], 3)
    fetch = old.partitions[0].read(0, 1000)
    manager.delete_topic("t", now_ms=NOW)
    assert not fs.exists(tmp_path / "t-0")
    new = manager.create_topic("t", 1)
    assert new.topic_id != old.topic_id and new.partitions[0].log_end_offset == 0
    assert fetch is not None and fetch.read_bytes()
    manager.purge_deleted(NOW + 999)
    assert len(names(fs, tmp_path, "-delete")) == 2
    manager.purge_deleted(NOW + 1000)
    assert not names(fs, tmp_path, "-delete") and fs.exists(tmp_path / "t-0")
    manager.close()


def test_deleted_topic_whose_files_vanished_is_purged_with_a_warning(
    tmp_path: Path, fs: FileSystem, caplog: pytest.LogCaptureFixture
) -> None:
    """Its files removed by someone else (a second broker on the data dir), the purge logs it and
    goes on: the retention task does not take the broker down."""
    manager = LogManager.open(tmp_path, LogConfig(), fs=fs)
    old = manager.create_topic("t", 1, {"file.delete.delay.ms": "1000"})
    append(old.partitions[0], 3)
    manager.delete_topic("t", now_ms=NOW)
    for name in names(fs, tmp_path, "-delete"):
        fs.rmtree(tmp_path / name)
    manager.purge_deleted(NOW + 1000)
    assert "could not remove deleted log" in caplog.text
    manager.create_topic("u", 1)
    manager.close()


def test_compacted_topic_refuses_keyless_records_and_recompresses(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "c-0", LogConfig().with_overrides({"cleanup.policy": "compact"}), fs=fs, now_ms=NOW)
    with pytest.raises(KafkaError) as exc_info:
        append(log, 1, key=None)
    assert exc_info.value.code == ErrorCode.INVALID_RECORD
    zstd = Log.open(tmp_path / "z-0", LogConfig().with_overrides({"compression.type": "zstd"}), fs=fs, now_ms=NOW)
    append(zstd, 2)
    stored = zstd.read(0, 1 << 20)
    assert stored is not None
    headers = validate_batches(stored.read_bytes())
    assert [h.compression for h in headers] == [4, 4]


def test_timestamp_limits(tmp_path: Path, fs: FileSystem) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(message_timestamp_before_max_ms=1000), fs=fs, now_ms=NOW)
    for timestamp in (NOW + 3600_001, NOW - 1001):
        with pytest.raises(KafkaError) as exc_info:
            append(log, 1, timestamp=timestamp)
        assert exc_info.value.code == ErrorCode.INVALID_TIMESTAMP
    append(log, 1, timestamp=NOW - 999)
