"""The log cleaner: latest value per key, offsets kept, tombstones and aborted data, crash-safe swaps."""

from __future__ import annotations

from pathlib import Path

import trio

from kafkapy.protocol.records import build_batch, build_end_txn_marker, decode_records, validate_batches
from kafkapy.storage.fs import FileSystem
from kafkapy.storage.log import Log
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_manager import LogManager
from kafkapy.storage.segment import SWAP_FILE_SUFFIX

NOW = 1_700_000_000_000
COMPACT = {"cleanup.policy": "compact", "segment.bytes": "1000", "delete.retention.ms": "100"}


def append(log: Log, key: bytes, value: bytes | None, **kwargs: object) -> None:
    batch = bytearray(build_batch([(key, value, [], NOW)], **kwargs))  # type: ignore[arg-type]
    log.append(batch, validate_batches(batch), now_ms=NOW)


def records(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    out = []
    offset = log.log_start_offset
    while (found := log.read(offset, 1 << 20)) is not None:
        for header, batch in decode_records(found.read_bytes()):
            out += [(r.offset, r.key, r.value) for r in batch if not header.is_control]
            offset = header.next_offset
    return out


def swap_files(fs: FileSystem, directory: Path) -> list[str]:
    return [name for name in fs.listdir(directory) if name.endswith(SWAP_FILE_SUFFIX)]


def clean_until_idle(manager: LogManager, now_ms: int) -> int:
    from kafkapy.storage.cleaner import LogCleaner

    cleaner = LogCleaner(manager, backoff_ms=0, now_ms=lambda: now_ms)

    async def run() -> int:
        passes = 0
        while await cleaner.clean_dirtiest():
            passes += 1
        return passes

    return trio.run(run)


def test_latest_value_per_key_offsets_kept_and_tombstones_removed_later(tmp_path: Path, fs: FileSystem) -> None:
    manager = LogManager.open(tmp_path, LogConfig(), fs=fs)
    log = manager.create_topic("c", 1, COMPACT).partitions[0]
    for i in range(300):
        append(log, b"k%d" % (i % 10), b"v%d" % i)
    append(log, b"k3", None)
    for i in range(40):
        append(log, b"filler", b"f%d" % i)
    assert clean_until_idle(manager, NOW) >= 1
    kept = records(log)
    offsets = [offset for offset, _, _ in kept]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    live = {key: value for _, key, value in kept if key != b"filler"}
    assert live == {**{b"k%d" % k: b"v%d" % (290 + k) for k in range(10) if k != 3}, b"k3": None}
    # The tombstone stays until delete.retention.ms after its first cleaning.
    assert clean_until_idle(manager, NOW + 1000) >= 1
    assert b"k3" not in {key for _, key, _ in records(log)}
    manager.purge_deleted(None)
    manager.close()
    reopened = LogManager.open(tmp_path, LogConfig(), fs=fs)
    assert b"k3" not in {key for _, key, _ in records(reopened.get_log("c", 0))}  # type: ignore[arg-type]
    reopened.close()


def test_aborted_transactions_are_removed_and_markers_kept(tmp_path: Path, fs: FileSystem) -> None:
    manager = LogManager.open(tmp_path, LogConfig(), fs=fs)
    log = manager.create_topic("c", 1, COMPACT).partitions[0]
    append(log, b"a", b"committed", producer_id=7, producer_epoch=0, base_sequence=0, transactional=True)
    marker = bytearray(build_end_txn_marker(True, producer_id=7, producer_epoch=0, coordinator_epoch=0, timestamp=NOW))
    log.append(marker, validate_batches(marker), now_ms=NOW)
    append(log, b"a", b"aborted", producer_id=7, producer_epoch=0, base_sequence=1, transactional=True)
    marker = bytearray(build_end_txn_marker(False, producer_id=7, producer_epoch=0, coordinator_epoch=0, timestamp=NOW))
    log.append(marker, validate_batches(marker), now_ms=NOW)
    for i in range(40):
        append(log, b"filler", b"f%d" % i)
    clean_until_idle(manager, NOW)
    assert [(k, v) for _, k, v in records(log) if k == b"a"] == [(b"a", b"committed")]
    found = log.read(0, 1 << 20)
    assert found is not None
    assert sum(1 for h, _ in decode_records(found.read_bytes()) if h.is_control) == 2
    manager.close()


def test_interrupted_swap_is_completed_at_start_up(tmp_path: Path, fs: FileSystem) -> None:
    manager = LogManager.open(tmp_path, LogConfig(), fs=fs)
    log = manager.create_topic("c", 1, COMPACT).partitions[0]
    for i in range(200):
        append(log, b"k%d" % (i % 5), b"v%d" % i)
    from kafkapy.storage.cleaner import LogCleaner, clean

    cleaner = LogCleaner(manager, backoff_ms=0, now_ms=lambda: NOW)
    plan = cleaner._grab_filthiest(NOW)
    assert plan is not None
    stats = clean(plan)
    plan.close()
    assert swap_files(fs, tmp_path / "c-0")
    # A crash now: the old segments and the complete .swap files are both on disk.
    manager.close()
    reopened = LogManager.open(tmp_path, LogConfig(), fs=fs)
    assert not swap_files(fs, tmp_path / "c-0")
    kept = records(reopened.get_log("c", 0))  # type: ignore[arg-type]
    assert {key: value for _, key, value in kept} == {b"k%d" % k: b"v%d" % (195 + k) for k in range(5)}
    assert len(kept) < 200 and stats.records_kept < stats.records_read
    reopened.close()
