"""The LRU of open segment files: partitions are not bounded by the fd limit, and nothing sent is cut short.

On 564df81 every segment held its .log, .index and .timeindex open for its whole life (three fds
per partition), so the fd counts below grew with the partition count.
"""

from __future__ import annotations

import os
from pathlib import Path

from kafkapy.protocol.records import build_batch, decode_records, validate_batches
from kafkapy.storage import Log, LogConfig
from kafkapy.storage.fs import DiskFS, FileSystem, MemoryFS, OpenFile, OpenFiles, open_files_capacity

NOW = 1_700_000_000_000
CAPACITY = 8


def _append(log: Log, value: bytes) -> None:
    buf = bytearray(build_batch([(None, value, [], NOW)]))
    log.append(buf, validate_batches(buf), now_ms=NOW)


def _values(data: bytes) -> list[bytes | None]:
    return [record.value for _, records in decode_records(data) for record in records]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _logs(fs: FileSystem, root: Path, count: int) -> list[Log]:
    return [Log.open(root / f"t-{n}", LogConfig(), fs=fs, now_ms=NOW) for n in range(count)]


def test_fds_stay_bounded_with_many_partitions(tmp_path: Path) -> None:
    fs = DiskFS()
    fs.open_files.capacity = CAPACITY
    before = _open_fds()
    logs = _logs(fs, tmp_path, 200)
    for n, log in enumerate(logs):
        _append(log, b"v%d" % n)
    assert _open_fds() - before <= CAPACITY
    assert len(fs.open_files) == CAPACITY
    for n, log in enumerate(logs):
        fetched = log.read(0, 1 << 20)
        assert fetched is not None
        assert _values(fetched.read_bytes()) == [b"v%d" % n]
        del fetched
    assert _open_fds() - before <= CAPACITY
    for log in logs:
        log.close()
    assert _open_fds() == before
    reopened = _logs(fs, tmp_path, 200)
    assert [log.log_end_offset for log in reopened] == [1] * 200
    for log in reopened:
        log.close()


def test_a_slice_being_sent_keeps_its_file_open_through_eviction(tmp_path: Path) -> None:
    """While a slice is sent its fd stays open even when evicted: its number is not reused for another file."""
    fs = DiskFS()
    fs.open_files.capacity = CAPACITY
    first, *others = _logs(fs, tmp_path, 3 * CAPACITY)
    _append(first, b"first")
    fetched = first.read(0, 1 << 20)
    assert fetched is not None
    out_path = tmp_path / "out"
    with open(out_path, "wb") as out, fetched.opened() as fd:
        assert fd is not None
        for n, log in enumerate(others):
            _append(log, b"other%d" % n)
            other = log.read(0, 1 << 20)
            assert other is not None and _values(other.read_bytes()) == [b"other%d" % n]
        assert len(fs.open_files) == CAPACITY
        sent = os.sendfile(out.fileno(), fd, fetched.position, fetched.length)
    assert sent == fetched.length
    assert _values(out_path.read_bytes()) == [b"first"]
    # Slices pin nothing until sent: thousands of them in one fetch response hold no fds.
    before = _open_fds()
    slices = [log.read(0, 1 << 20) for log in [first, *others] for _ in range(10)]
    assert all(s is not None for s in slices) and _open_fds() <= before
    # The evicted file was closed once sent; reading it again reopens it.
    again = first.read(0, 1 << 20)
    assert again is not None and _values(again.read_bytes()) == [b"first"]
    for log in [first, *others]:
        log.close()


class _CountingFS(DiskFS):
    def __init__(self) -> None:
        super().__init__()
        self.opens = 0

    def open(self, path, *, create: bool = True, truncate: bool = False) -> int:  # type: ignore[override]
        self.opens += 1
        return super().open(path, create=create, truncate=truncate)


def test_the_hot_path_does_not_reopen_files(tmp_path: Path) -> None:
    fs = _CountingFS()
    fs.open_files.capacity = CAPACITY
    log = Log.open(tmp_path / "hot-0", LogConfig(), fs=fs, now_ms=NOW)
    opens = fs.opens
    for n in range(200):
        _append(log, b"v%d" % n)
        fetched = log.read(n, 1 << 20)
        assert fetched is not None and _values(fetched.read_bytes()) == [b"v%d" % n]
    assert fs.opens == opens
    log.close()


def test_lru_evicts_least_recently_used_and_capacity_follows_rlimit() -> None:
    fs = MemoryFS()
    files = OpenFiles(2)
    owners = ["a", "b", "c"]
    for owner in owners:
        files.get(owner, lambda: OpenFile(fs, 0))
    files.get("b", lambda: OpenFile(fs, 0))
    opened: list[str] = []
    files.get("a", lambda: (opened.append("a"), OpenFile(fs, 0))[1])
    assert opened == ["a"] and len(files) == 2
    files.get("b", lambda: (opened.append("b"), OpenFile(fs, 0))[1])
    assert opened == ["a"]
    assert 16 <= open_files_capacity() <= 65536
    assert fs.max_open_files() > 10**9, "memory handles are not fds: no LRU limit"
