"""Tests for kafkapy.storage: segments, indexes, recovery and the log manager.

Tests taking the ``fs`` fixture run twice, on DiskFS and on MemoryFS (tests/unit/conftest.py), and
inspect or damage files through that interface.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import Record, build_batch, decode_records, validate_batches
from kafkapy.storage import (
    AppendInfo,
    CorruptIndexError,
    Log,
    LogConfig,
    LogManager,
    OffsetIndex,
    kafka_string_to_uuid,
    uuid_to_kafka_string,
)
from kafkapy.storage.fs import DISK, FileSystem, MemoryFS
from kafkapy.storage.index import PENDING_WRITE_BYTES

NOW = 1_700_000_000_000


def batch(values: list[bytes], timestamps: list[int] | None = None) -> bytes:
    """A fresh v2 batch of ``values`` (offsets start at 0, assigned on append)."""
    stamps = timestamps or [NOW] * len(values)
    return build_batch([(None, value, [], ts) for value, ts in zip(values, stamps, strict=True)])


def append(log: Log, *batches: bytes, now_ms: int = NOW) -> AppendInfo:
    buf = bytearray(b"".join(batches))
    return log.append(buf, validate_batches(buf), now_ms=now_ms)


def read_records(log: Log, offset: int, max_bytes: int = 1 << 20) -> list[Record]:
    fetched = log.read(offset, max_bytes)
    if fetched is None:
        return []
    return [record for _, records in decode_records(fetched.read_bytes()) for record in records]


def read_everything(log: Log) -> list[Record]:
    """Read the whole log the way a consumer does, fetch after fetch."""
    records: list[Record] = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        fetched = read_records(log, offset, 300)
        assert fetched, f"no progress at offset {offset}"
        records.extend(r for r in fetched if r.offset >= offset)
        offset = fetched[-1].offset + 1
    return records


def open_log(path: Path, fs: FileSystem, **config: object) -> Log:
    return Log.open(path / "topic-0", LogConfig(**config), fs=fs, now_ms=NOW)  # type: ignore[arg-type]


def names(fs: FileSystem, directory: Path, suffix: str = "") -> list[str]:
    """Sorted names in ``directory`` ending with ``suffix``."""
    return sorted(name for name in fs.listdir(directory) if name.endswith(suffix))


def value(i: int) -> bytes:
    return f"value-{i:04d}".encode()


def test_append_and_read_round_trip(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs)
    first = append(log, batch([value(0), value(1)]), batch([value(2)]))
    second = append(log, batch([value(3), value(4), value(5)]))
    assert (first.first_offset, first.last_offset) == (0, 2)
    assert (second.first_offset, second.last_offset) == (3, 5)
    assert first.log_append_time_ms == -1
    assert first.max_timestamp == NOW
    assert log.log_end_offset == log.high_watermark == 6
    records = read_records(log, 0)
    assert [r.offset for r in records] == list(range(6))
    assert [r.value for r in records] == [value(i) for i in range(6)]
    # Starting mid-batch returns the whole batch holding the offset.
    assert [r.offset for r in read_records(log, 4)] == [3, 4, 5]
    log.close()


def test_on_disk_layout_is_kafkas(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs)
    data = batch([value(0)])
    append(log, data)
    log.close()
    partition_dir = tmp_path / "topic-0"
    assert names(fs, partition_dir) == [
        "00000000000000000000.index",
        "00000000000000000000.log",
        "00000000000000000000.timeindex",
    ]
    # The batch is stored byte-for-byte (offset 0 already, so nothing was rewritten).
    assert fs.read_bytes(partition_dir / "00000000000000000000.log") == data


def test_offsets_are_consecutive_across_segments(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, segment_bytes=1000)
    for i in range(0, 60, 3):
        info = append(log, batch([value(i), value(i + 1), value(i + 2)]))
        assert info.first_offset == i
    segments = log.segments
    assert len(segments) >= 3
    for previous, current in zip(segments, segments[1:], strict=False):
        assert current.base_offset == previous.next_offset
        assert previous.size <= 1000
    assert names(fs, tmp_path / "topic-0", ".log") == [f"{s.base_offset:020d}.log" for s in segments]
    assert [r.value for r in read_everything(log)] == [value(i) for i in range(60)]
    # A fetch never spans two segment files.
    for offset in range(60):
        fetched = log.read(offset, 1 << 20)
        assert fetched is not None
        segment = next(s for s in segments if s.base_offset == fetched.segment_base_offset)
        assert fetched.position + fetched.length <= segment.size
        assert read_records(log, offset)[0].offset <= offset
    log.close()


def test_roll_by_segment_ms(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, segment_ms=1000)
    append(log, batch([value(0)]), now_ms=NOW)
    append(log, batch([value(1)]), now_ms=NOW + 1000)
    assert len(log.segments) == 1
    append(log, batch([value(2)]), now_ms=NOW + 1001)
    assert [s.base_offset for s in log.segments] == [0, 2]
    log.close()


def test_sparse_index_and_lookups_after_reopen(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, index_interval_bytes=200)
    positions = {}
    for i in range(40):
        positions[i] = log.active_segment.size
        append(log, batch([value(i)], [NOW + i]))
    segment = log.active_segment
    entries = segment.offset_index.entries()
    # Roughly one entry per index.interval.bytes, each pointing at the start of its batch.
    batch_size = segment.size // 40
    assert 0 < len(entries) <= segment.size // 200
    assert len(entries) >= segment.size // (200 + batch_size) - 1
    for entry in entries:
        assert positions[entry.offset] == entry.position
    time_entries = segment.time_index.entries()
    assert time_entries and all(ts == NOW + off for ts, off in time_entries)
    log.close()

    reopened = open_log(tmp_path, fs, index_interval_bytes=200)
    assert reopened.active_segment.offset_index.entries() == entries
    for offset in range(40):
        fetched = reopened.read(offset, 1)
        assert fetched is not None and fetched.position == positions[offset]
    assert reopened.log_end_offset == 40
    reopened.close()


def test_read_max_bytes_returns_whole_batches(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, index_interval_bytes=100)
    for i in range(20):
        append(log, batch([value(i)]))
    size = log.active_segment.size // 20
    fetched = log.read(0, size * 5 + size // 2)
    assert fetched is not None and fetched.length == size * 5
    assert [r.offset for _, rs in decode_records(fetched.read_bytes()) for r in rs] == [0, 1, 2, 3, 4]
    # Too small for one batch: Kafka still returns the first batch whole.
    fetched = log.read(7, 1)
    assert fetched is not None and fetched.length == size
    assert log.read(7, 1, min_one_batch=False) is None
    # max_offset is an exclusive bound on batch base offsets.
    fetched = log.read(2, 1 << 20, max_offset=6)
    assert fetched is not None and fetched.length == size * 4
    assert log.read(6, 1 << 20, max_offset=6) is None
    # A bound at or past the log end (the high watermark) cuts nothing; one inside the last batch does.
    for bound in (20, 21, 1 << 40):
        fetched = log.read(15, 1 << 20, max_offset=bound)
        assert fetched is not None and fetched.length == size * 5
    fetched = log.read(15, 1 << 20, max_offset=19)
    assert fetched is not None and fetched.length == size * 4
    log.close()


def test_large_batch_exceeding_max_bytes(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs)
    append(log, batch([b"x" * 5000]))
    append(log, batch([b"y"]))
    fetched = log.read(0, 100)
    assert fetched is not None and fetched.length == log.active_segment.size - len(batch([b"y"]))
    log.close()


def test_offset_out_of_range(tmp_path: Path, fs: FileSystem) -> None:
    partition_dir = tmp_path / "topic-0"
    fs.makedirs(partition_dir)
    fs.close(fs.open(partition_dir / "00000000000000000010.log"))
    log = open_log(tmp_path, fs)
    assert log.log_start_offset == log.log_end_offset == 10
    assert log.read(10, 100) is None
    info = append(log, batch([value(0)]))
    assert info.first_offset == 10
    for bad in (9, 12):
        with pytest.raises(KafkaError) as exc_info:
            log.read(bad, 100)
        assert exc_info.value.code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert log.read(11, 100) is None
    log.close()


def test_offset_for_timestamp(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, segment_bytes=300, index_interval_bytes=50)
    # Offsets 0..9 with timestamps 100, 200, ... in two-record batches, across segments.
    for i in range(0, 10, 2):
        append(log, batch([value(i), value(i + 1)], [100 * (i + 1), 100 * (i + 2)]))
    assert len(log.segments) > 1
    assert log.offset_for_timestamp(0) == (0, 100)
    assert log.offset_for_timestamp(100) == (0, 100)
    assert log.offset_for_timestamp(150) == (1, 200)
    assert log.offset_for_timestamp(550) == (5, 600)
    assert log.offset_for_timestamp(1000) == (9, 1000)
    assert log.offset_for_timestamp(1001) is None
    assert log.max_timestamp_and_offset() == (1000, 9)
    log.close()
    reopened = open_log(tmp_path, fs, segment_bytes=300, index_interval_bytes=50)
    assert reopened.offset_for_timestamp(550) == (5, 600)
    assert reopened.max_timestamp_and_offset() == (1000, 9)
    reopened.close()


def test_offset_for_timestamp_with_out_of_order_timestamps(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, index_interval_bytes=0)
    append(log, batch([value(0), value(1)], [500, 300]))
    append(log, batch([value(2)], [400]))
    append(log, batch([value(3)], [500]))
    # The first record with timestamp >= 400 is offset 0 (500); >= 501 there is none.
    assert log.offset_for_timestamp(400) == (0, 500)
    assert log.offset_for_timestamp(501) is None
    assert log.max_timestamp_and_offset() == (500, 0)
    log.close()


def test_log_append_time(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, message_timestamp_type="LogAppendTime")
    info = append(log, batch([value(0), value(1)], [1, 2]), now_ms=NOW + 5)
    assert info.log_append_time_ms == info.max_timestamp == NOW + 5
    assert [r.timestamp for r in read_records(log, 0)] == [NOW + 5, NOW + 5]
    assert log.offset_for_timestamp(NOW) == (0, NOW + 5)
    log.close()


def test_message_too_large(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, max_message_bytes=100)
    with pytest.raises(KafkaError) as exc_info:
        append(log, batch([b"x" * 100]))
    assert exc_info.value.code == ErrorCode.MESSAGE_TOO_LARGE
    assert log.log_end_offset == 0
    log.close()


def _log_file(fs: FileSystem, tmp_path: Path) -> Path:
    return tmp_path / "topic-0" / names(fs, tmp_path / "topic-0", ".log")[-1]


def _rewrite(fs: FileSystem, path: Path, edit: Callable[[bytearray], None]) -> None:
    """Damage a file the way a crash or a bad disk would, through the file system under test."""
    data = bytearray(fs.read_bytes(path))
    edit(data)
    fs.write_atomic(path, bytes(data))


@pytest.mark.parametrize("keep", [1, 30, 70], ids=["torn-header", "torn-header-61", "torn-body"])
def test_recovery_truncates_torn_tail(
    tmp_path: Path, fs: FileSystem, caplog: pytest.LogCaptureFixture, keep: int
) -> None:
    log = open_log(tmp_path, fs)
    append(log, batch([value(0), value(1)]))
    append(log, batch([value(2)]))
    good_size = log.active_segment.size
    append(log, batch([value(3), b"z" * 100]))
    log.close()
    handle = fs.open(_log_file(fs, tmp_path), create=False)
    fs.ftruncate(handle, good_size + keep)
    fs.close(handle)

    with caplog.at_level(logging.WARNING, logger="kafkapy.storage"):
        reopened = open_log(tmp_path, fs)
    [truncation] = [r for r in caplog.records if r.getMessage() == "truncating the log segment"]
    assert (truncation.truncated_bytes, truncation.size) == (keep, good_size + keep)
    assert reopened.log_end_offset == 3
    assert reopened.active_segment.size == good_size
    assert append(reopened, batch([value(9)])).first_offset == 3
    assert [r.value for r in read_everything(reopened)] == [value(0), value(1), value(2), value(9)]
    reopened.close()


def test_recovery_truncates_bad_crc(tmp_path: Path, fs: FileSystem, caplog: pytest.LogCaptureFixture) -> None:
    log = open_log(tmp_path, fs)
    append(log, batch([value(0)]))
    good_size = log.active_segment.size
    append(log, batch([value(1)]))
    append(log, batch([value(2)]))
    log.close()

    def flip(data: bytearray) -> None:
        data[good_size + 70] ^= 0xFF

    _rewrite(fs, _log_file(fs, tmp_path), flip)

    with caplog.at_level(logging.WARNING, logger="kafkapy.storage"):
        reopened = open_log(tmp_path, fs)
    assert any("CRC mismatch" in str(getattr(r, "problem", "")) for r in caplog.records)
    assert reopened.log_end_offset == 1
    assert append(reopened, batch([value(5)])).first_offset == 1
    assert [r.value for r in read_everything(reopened)] == [value(0), value(5)]
    reopened.close()


def test_recovery_truncates_non_increasing_offsets(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs)
    append(log, batch([value(0)]))
    append(log, batch([value(1)]))
    log.close()
    handle = fs.open(_log_file(fs, tmp_path), create=False)
    fs.write_fully(handle, build_batch([(None, value(2), [], NOW)], base_offset=1))
    fs.close(handle)
    reopened = open_log(tmp_path, fs)
    assert reopened.log_end_offset == 2
    reopened.close()


def test_missing_and_corrupt_indexes_are_rebuilt(tmp_path: Path, fs: FileSystem) -> None:
    config = {"segment_bytes": 2000, "index_interval_bytes": 100}
    log = open_log(tmp_path, fs, **config)
    for i in range(100):
        append(log, batch([value(i)], [NOW + i]))
    before = [(s.base_offset, s.offset_index.entries(), s.time_index.entries()) for s in log.segments]
    assert len(before) > 2 and all(entries for _, entries, _ in before)
    log.close()
    partition_dir = tmp_path / "topic-0"
    indexes = names(fs, partition_dir, ".index")
    fs.unlink(partition_dir / indexes[0])
    fs.unlink(partition_dir / names(fs, partition_dir, ".timeindex")[1])
    fs.write_atomic(partition_dir / indexes[2], b"\x00" * 13)

    reopened = open_log(tmp_path, fs, **config)
    after = [(s.base_offset, s.offset_index.entries(), s.time_index.entries()) for s in reopened.segments]
    assert after == before
    assert [r.value for r in read_everything(reopened)] == [value(i) for i in range(100)]
    assert reopened.offset_for_timestamp(NOW + 57) == (57, NOW + 57)
    reopened.close()


def test_index_with_bad_size_fails_to_load(tmp_path: Path, fs: FileSystem) -> None:
    path = tmp_path / "00000000000000000000.index"
    fs.makedirs(tmp_path)
    fs.write_atomic(path, b"\x00" * 9)
    with pytest.raises(CorruptIndexError):
        OffsetIndex(path, 0, fs=fs)


def _on_disk(fs: FileSystem, index: OffsetIndex) -> list[tuple[int, int]]:
    fd = fs.open(index.path)
    try:
        data = fs.pread_fully(fd, fs.fsize(fd), 0)
    finally:
        fs.close(fd)
    return [(index.base_offset + rel, pos) for rel, pos in struct.iter_unpack(">ii", data)]


def test_index_entries_are_written_in_blocks(tmp_path: Path, fs: FileSystem) -> None:
    """One small write per batch was a syscall per produce request: entries wait for a block, and
    lookups see them at once from memory."""
    fs.makedirs(tmp_path)
    index = OffsetIndex(tmp_path / "00000000000000000100.index", 100, fs=fs)
    per_block = PENDING_WRITE_BYTES // index.ENTRY_SIZE
    for i in range(per_block - 1):
        index.append(100 + i, 10 * i)
    assert _on_disk(fs, index) == []
    assert index.lookup(105) == (105, 50)
    index.append(100 + per_block - 1, 10 * (per_block - 1))
    assert _on_disk(fs, index) == [tuple(e) for e in index.entries()]
    index.append(100 + per_block, 10 * per_block)
    assert len(_on_disk(fs, index)) == per_block
    index.close()
    assert len(_on_disk(fs, index)) == per_block + 1


@pytest.mark.parametrize("keep", [0, 3, 520, 600, 700])
def test_index_truncation_spans_written_and_held_back_entries(tmp_path: Path, fs: FileSystem, keep: int) -> None:
    fs.makedirs(tmp_path)
    path = tmp_path / "00000000000000000000.index"
    index = OffsetIndex(path, 0, fs=fs)
    for i in range(650):  # 512 written, 138 held back
        index.append(i, 10 * i)
    index.truncate_to(keep)
    expected = [(i, 10 * i) for i in range(min(keep, 650))]
    assert [tuple(e) for e in index.entries()] == expected
    index.append(1000, 10_000)
    index.close()
    reopened = OffsetIndex(path, 0, fs=fs)
    assert [tuple(e) for e in reopened.entries()] == [*expected, (1000, 10_000)]
    reopened.close()


def test_rolled_segments_write_their_held_back_entries(tmp_path: Path, fs: FileSystem) -> None:
    """Only the active segment's indexes are rebuilt on open, so a rolled one must be complete on disk."""
    log = open_log(tmp_path, fs, segment_bytes=2000, index_interval_bytes=100)
    for i in range(60):
        append(log, batch([value(i)], [NOW + i]))
    assert len(log.segments) > 2
    for segment in log.segments[:-1]:
        assert _on_disk(fs, segment.offset_index) == [tuple(e) for e in segment.offset_index.entries()]
    log.close()


def test_truncate_to(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, segment_bytes=500)
    for i in range(0, 30, 2):
        append(log, batch([value(i), value(i + 1)]))
    log.truncate_to(13)
    # Kafka cuts at batch boundaries: the batch 12-13 goes too.
    assert log.log_end_offset == 12
    assert all(s.base_offset < 12 for s in log.segments)
    assert append(log, batch([value(99)])).first_offset == 12
    assert [r.offset for r in read_everything(log)] == list(range(13))
    log.truncate_to(0)
    assert log.log_start_offset == log.log_end_offset == 0
    assert len(log.segments) == 1 and log.active_segment.size == 0
    log.close()


def test_flush_policy(tmp_path: Path, fs: FileSystem) -> None:
    log = open_log(tmp_path, fs, flush_messages=3)
    assert not log.needs_flush(NOW)
    append(log, batch([value(0), value(1)]))
    assert not log.needs_flush(NOW)
    append(log, batch([value(2)]))
    assert log.needs_flush(NOW)
    worker = threading.Thread(target=log.flush)
    worker.start()
    append(log, batch([value(3)]))
    worker.join()
    assert log.recovery_point >= 3
    log.flush()
    assert log.recovery_point == 4 and not log.needs_flush(NOW)
    log.close()

    timed = open_log(tmp_path / "timed", fs, flush_ms=1000)
    append(timed, batch([value(0)]))
    assert not timed.needs_flush(NOW + 999)
    assert timed.needs_flush(NOW + 1000)
    timed.flush(now_ms=NOW + 1000)
    append(timed, batch([value(1)]))
    assert not timed.needs_flush(NOW + 1999)
    timed.close()


def test_fetch_slice_fd_supports_sendfile(tmp_path: Path) -> None:
    log = open_log(tmp_path, DISK)
    append(log, batch([value(0)]), batch([value(1)]))
    fetched = log.read(0, 1 << 20)
    assert fetched is not None
    out_path = tmp_path / "out"
    with open(out_path, "wb") as out, fetched.opened() as fd:
        assert fd is not None
        sent = os.sendfile(out.fileno(), fd, fetched.position, fetched.length)
    assert sent == fetched.length
    assert out_path.read_bytes() == fetched.read_bytes()
    log.close()


def test_memory_fetch_slice_has_no_fd(tmp_path: Path) -> None:
    """Without an OS fd the server sends ``read_bytes()`` instead of using sendfile."""
    log = open_log(tmp_path, MemoryFS())
    append(log, batch([value(0)]), batch([value(1)]))
    fetched = log.read(0, 1 << 20)
    assert fetched is not None
    with fetched.opened() as fd:
        assert fd is None
    assert [r.value for _, rs in decode_records(fetched.read_bytes()) for r in rs] == [value(0), value(1)]
    log.close()


def test_log_config_overrides() -> None:
    config = LogConfig().with_overrides(
        {"segment.bytes": "1024", "flush.messages": str(2**63 - 1), "cleanup.policy": "compact"}
    )
    assert config.segment_bytes == 1024 and config.flush_messages is None
    assert LogConfig().segment_bytes == 1073741824 and LogConfig().max_message_bytes == 1048588
    for bad in ({"segment.bytes": "abc"}, {"message.timestamp.type": "Now"}, {"segment.ms": "0"}):
        with pytest.raises(KafkaError) as exc_info:
            LogConfig().with_overrides(bad)
        assert exc_info.value.code == ErrorCode.INVALID_CONFIG


def test_kafka_uuid_strings() -> None:
    topic_id = uuid.UUID("d5e1c2a0-44b1-4b27-9c58-0d3e9a1f5b6c")
    text = uuid_to_kafka_string(topic_id)
    assert len(text) == 22 and "=" not in text
    assert kafka_string_to_uuid(text) == topic_id
    assert uuid_to_kafka_string(uuid.UUID(int=1)) == "AAAAAAAAAAAAAAAAAAAAAQ"


def test_log_manager_persists_identity_and_topics(tmp_path: Path, fs: FileSystem) -> None:
    manager = LogManager.open(tmp_path, LogConfig(), node_id=3, fs=fs)
    cluster_id = manager.cluster_id
    assert len(cluster_id) == 22
    topic = manager.create_topic("orders", 3, {"segment.bytes": "4096", "cleanup.policy": "delete"})
    assert topic.log_config.segment_bytes == 4096
    assert len(topic.partitions) == 3
    manager.create_topic("plain", 1)
    log = manager.get_log("orders", 1)
    assert log is not None
    append(log, batch([value(0)]), batch([value(1)]))
    meta = fs.read_text(tmp_path / "meta.properties")
    assert f"cluster.id={cluster_id}\n" in meta and "node.id=3\n" in meta and "version=1\n" in meta
    metadata = fs.read_text(tmp_path / "orders-2" / "partition.metadata")
    assert metadata == f"version: 0\ntopic_id: {uuid_to_kafka_string(topic.topic_id)}\n"
    manager.close()

    reopened = LogManager.open(tmp_path, LogConfig(), node_id=3, fs=fs)
    assert reopened.cluster_id == cluster_id
    assert sorted(reopened.topics) == ["orders", "plain"]
    orders = reopened.topics["orders"]
    assert orders.topic_id == topic.topic_id
    assert orders.configs == {"segment.bytes": "4096", "cleanup.policy": "delete"}
    assert orders.log_config.segment_bytes == 4096
    assert reopened.topics["plain"].configs == {}
    assert reopened.topic_by_id(topic.topic_id) is orders
    assert reopened.topic_by_id(uuid.uuid4()) is None
    log = reopened.get_log("orders", 1)
    assert log is not None and log.log_end_offset == 2
    assert [r.value for r in read_records(log, 0)] == [value(0), value(1)]
    assert reopened.get_log("orders", 3) is None and reopened.get_log("nope", 0) is None
    reopened.delete_topic("plain")
    assert not fs.exists(tmp_path / "plain-0")
    reopened.close()

    with pytest.raises(ValueError):
        LogManager.open(tmp_path, LogConfig(), node_id=4, fs=fs)


@pytest.mark.parametrize(
    ("name", "partitions", "code"),
    [
        ("", 1, ErrorCode.INVALID_TOPIC_EXCEPTION),
        (".", 1, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ("..", 1, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ("a" * 250, 1, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ("bad/name", 1, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ("my.topic", 1, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ("my_topic", 1, ErrorCode.TOPIC_ALREADY_EXISTS),
        ("fresh", 0, ErrorCode.INVALID_PARTITIONS),
        ("fresh", 1, None),
        ("a" * 249, 1, None),
    ],
)
def test_create_topic_validation(
    tmp_path: Path, fs: FileSystem, name: str, partitions: int, code: ErrorCode | None
) -> None:
    manager = LogManager.open(tmp_path, LogConfig(), fs=fs)
    manager.create_topic("my_topic", 1)
    if code is None:
        manager.create_topic(name, partitions)
        assert name in manager.topics
    else:
        with pytest.raises(KafkaError) as exc_info:
            manager.create_topic(name, partitions)
        assert exc_info.value.code == code
    manager.close()
