"""The storage file systems: MemoryFS must behave as DiskFS does wherever the storage layer relies on it.

Tests taking ``fs`` run on both (tests/unit/conftest.py), so the disk run pins down the semantics
the memory run has to match.
"""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import pytest

from kafkapy.storage.fs import DISK, FileSystem, MemoryFS, file_system


@pytest.fixture
def root(tmp_path: Path, fs: FileSystem) -> Path:
    fs.makedirs(tmp_path / "root")
    return tmp_path / "root"


def test_append_pread_and_size(fs: FileSystem, root: Path) -> None:
    handle = fs.open(root / "a.log")
    assert fs.fsize(handle) == 0
    assert fs.write(handle, b"hello ") == 6
    fs.write_fully(handle, memoryview(b"world"))
    assert fs.fsize(handle) == 11
    assert fs.pread(handle, 5, 6) == b"world"
    assert fs.pread_fully(handle, 100, 0) == b"hello world"
    # Beyond the end: short, then empty.
    assert fs.pread(handle, 10, 9) == b"ld"
    assert fs.pread(handle, 10, 11) == b""
    assert fs.pread(handle, 10, 500) == b""
    fs.fsync(handle)
    fs.close(handle)
    assert fs.read_bytes(root / "a.log") == b"hello world"


def test_writes_always_append(fs: FileSystem, root: Path) -> None:
    first = fs.open(root / "f")
    fs.write(first, b"abc")
    second = fs.open(root / "f")
    fs.write(second, b"def")
    fs.write(first, b"g")
    assert fs.read_bytes(root / "f") == b"abcdefg"
    fs.close(first)
    fs.close(second)


def test_ftruncate_shrinks_and_zero_extends(fs: FileSystem, root: Path) -> None:
    handle = fs.open(root / "t")
    fs.write(handle, b"0123456789")
    fs.ftruncate(handle, 4)
    assert fs.fsize(handle) == 4
    fs.write(handle, b"x")
    assert fs.pread(handle, 100, 0) == b"0123x"
    fs.ftruncate(handle, 8)
    assert fs.pread(handle, 100, 0) == b"0123x\0\0\0"
    fs.close(handle)


def test_open_flags_and_errors(fs: FileSystem, root: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fs.open(root / "missing", create=False)
    with pytest.raises(FileNotFoundError):
        fs.open(root / "no-dir" / "file")
    with pytest.raises(FileNotFoundError):
        fs.read_bytes(root / "missing")
    handle = fs.open(root / "f")
    fs.write(handle, b"old")
    fs.close(handle)
    handle = fs.open(root / "f", truncate=True)
    assert fs.fsize(handle) == 0
    fs.close(handle)
    with pytest.raises(OSError) as closed:
        fs.close(handle)
    assert closed.value.errno == errno.EBADF


def test_dup_is_closed_independently(fs: FileSystem, root: Path) -> None:
    handle = fs.open(root / "f")
    fs.write(handle, b"data")
    duplicate = fs.dup(handle)
    fs.close(handle)
    assert fs.pread(duplicate, 4, 0) == b"data"
    fs.close(duplicate)


def test_write_atomic_replaces_whole_contents(fs: FileSystem, root: Path) -> None:
    path = root / "checkpoint"
    fs.write_text(path, "first version, longer\n")
    reader = fs.open(path, create=False)
    fs.write_atomic(path, b"second\n")
    assert fs.read_text(path) == "second\n"
    assert sorted(fs.listdir(root)) == ["checkpoint"], "the .tmp file is renamed away"
    # A handle opened before the replace still sees the file it opened, as on POSIX.
    assert fs.pread(reader, 100, 0) == b"first version, longer\n"
    fs.close(reader)
    fs.write_atomic(path, b"unsynced", sync=False)
    assert fs.read_bytes(path) == b"unsynced"


def test_rename_and_unlink_keep_open_handles_working(fs: FileSystem, root: Path) -> None:
    handle = fs.open(root / "00.log")
    fs.write(handle, b"batch")
    fs.replace(root / "00.log", root / "00.log.deleted")
    assert not fs.exists(root / "00.log") and fs.exists(root / "00.log.deleted")
    fs.write(handle, b"more")
    assert fs.read_bytes(root / "00.log.deleted") == b"batchmore"
    fs.unlink(root / "00.log.deleted")
    assert fs.pread(handle, 100, 0) == b"batchmore"
    fs.close(handle)
    with pytest.raises(FileNotFoundError):
        fs.unlink(root / "00.log.deleted")
    fs.unlink(root / "00.log.deleted", missing_ok=True)
    with pytest.raises(FileNotFoundError):
        fs.replace(root / "gone", root / "elsewhere")


def test_directories(fs: FileSystem, root: Path) -> None:
    fs.makedirs(root / "t-0")
    fs.makedirs(root / "t-0")
    handle = fs.open(root / "t-0" / "00.log")
    fs.write(handle, b"x")
    fs.write_text(root / "t-0" / "partition.metadata", "id\n")
    fs.write_text(root / "meta.properties", "m\n")
    assert sorted(fs.listdir(root)) == ["meta.properties", "t-0"]
    assert sorted(fs.listdir(root / "t-0")) == ["00.log", "partition.metadata"]
    assert fs.is_dir(root / "t-0") and not fs.is_dir(root / "meta.properties")
    assert not fs.exists(root / "nope") and not fs.is_dir(root / "nope")
    with pytest.raises(FileNotFoundError):
        fs.listdir(root / "nope")
    with pytest.raises(NotADirectoryError):
        fs.listdir(root / "meta.properties")
    with pytest.raises(IsADirectoryError):
        fs.unlink(root / "t-0")
    fs.fsync_dir(root / "t-0")
    # Renaming a directory (topic deletion) moves everything in it; open handles keep working.
    fs.replace(root / "t-0", root / "t-0.abc-delete")
    assert fs.listdir(root / "t-0.abc-delete") and not fs.exists(root / "t-0")
    fs.write(handle, b"y")
    assert fs.read_bytes(root / "t-0.abc-delete" / "00.log") == b"xy"
    fs.makedirs(root / "full")
    fs.write_text(root / "full" / "f", "")
    with pytest.raises(OSError) as not_empty:
        fs.replace(root / "t-0.abc-delete", root / "full")
    assert not_empty.value.errno in (errno.ENOTEMPTY, errno.EEXIST)
    fs.rmtree(root / "t-0.abc-delete")
    fs.rmtree(root / "never-existed")
    assert sorted(fs.listdir(root)) == ["full", "meta.properties"]
    assert fs.pread(handle, 10, 0) == b"xy"
    fs.close(handle)
    with pytest.raises(FileNotFoundError):
        fs.fsync_dir(root / "t-0.abc-delete")


def test_mtime(fs: FileSystem, root: Path) -> None:
    handle = fs.open(root / "f")
    fs.write(handle, b"x")
    fs.close(handle)
    assert abs(fs.mtime_ms(root / "f") - time.time() * 1000) < 60_000
    with pytest.raises(FileNotFoundError):
        fs.mtime_ms(root / "missing")


def test_memory_fs_has_no_os_fds_and_no_volume(tmp_path: Path) -> None:
    memory = MemoryFS()
    memory.makedirs(tmp_path / "data")
    handle = memory.open(tmp_path / "data" / "f")
    assert memory.sendfile_fd(handle) is None
    assert memory.disk_usage(tmp_path) == (-1, -1)
    assert DISK.disk_usage(tmp_path)[0] > 0
    assert not tmp_path.joinpath("data").exists()
    # Each memory storage is its own world; disk is shared.
    assert not MemoryFS().exists(tmp_path / "data")
    assert file_system("disk") is DISK and isinstance(file_system("memory"), MemoryFS)
    with pytest.raises(ValueError):
        file_system("tape")


def test_memory_fs_is_thread_safe(tmp_path: Path) -> None:
    memory = MemoryFS()
    memory.makedirs(tmp_path)
    handle = memory.open(tmp_path / "log")
    chunk = b"0123456789abcdef"

    def writer() -> None:
        for _ in range(2000):
            memory.write(handle, chunk)

    def reader() -> None:
        for _ in range(2000):
            size = memory.fsize(handle)
            assert len(memory.pread_fully(handle, size, 0)) >= size

    threads = [threading.Thread(target=writer) for _ in range(3)] + [threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    data = memory.pread_fully(handle, memory.fsize(handle), 0)
    assert data == chunk * 6000
