"""The file system under the storage layer: every storage module does its file I/O through one of these.

``DiskFS`` (``--storage disk``, the default) is a thin layer over ``os``: Kafka's on-disk layout,
real fsyncs, real file descriptors that fetches hand to ``sendfile``. ``MemoryFS`` (``--storage
memory``) keeps the same files as bytearrays in a tree of dicts and writes nothing anywhere, for the
fastest tests. Everything above this interface (offsets, indexes, recovery, retention, compaction,
transactions) is the same code in both modes.

Files are always opened for reading and appending, as the log, its indexes and every small file
here are written: each ``write`` goes to the end, ``pread`` reads anywhere, ``ftruncate`` cuts.
Handles are integers (file descriptors on disk).

Segment files stay open only while they are in use: each FileSystem keeps a bounded LRU of them
(``OpenFiles``), sized from the process's RLIMIT_NOFILE, so the number of partitions is not
bounded by the file descriptor limit (Kafka keeps one fd per segment and mmaps its indexes).
"""

from __future__ import annotations

import errno
import itertools
import os
import resource
import shutil
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePath

_OPEN_FLAGS = os.O_RDWR | os.O_APPEND
_FILE_MODE = 0o644
TMP_FILE_SUFFIX = ".tmp"

# The share of RLIMIT_NOFILE the LRU of open segment files may take; the rest is headroom for
# client sockets, the listener, directory scans and small files opened for a moment.
OPEN_FILES_SHARE = 0.5
MIN_OPEN_FILES = 16
# When RLIMIT_NOFILE is unlimited.
MAX_OPEN_FILES = 65536


def open_files_capacity() -> int:
    """How many segment files may stay open at once, from the process's soft RLIMIT_NOFILE."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_OPEN_FILES
    return max(MIN_OPEN_FILES, min(MAX_OPEN_FILES, int(soft * OPEN_FILES_SHARE)))


class OpenFile:
    """A handle that is closed when the last reference to it goes.

    Holders are the LRU (``OpenFiles``), code using the handle at the moment (a local variable),
    and a fetch response whose bytes are still being sent from it with sendfile. So evicting a
    file from the LRU never closes an fd that a sendfile or a worker thread's fsync still uses,
    and its number cannot be reused for another file under them. As a context manager it gives
    the OS fd for sendfile (None in memory), and the ``with`` statement holds it until the end.
    """

    __slots__ = ("fs", "handle")

    def __init__(self, fs: FileSystem, handle: int) -> None:
        self.fs = fs
        self.handle = handle

    def __enter__(self) -> int | None:
        return self.fs.sendfile_fd(self.handle)

    def __exit__(self, *exc_info: object) -> None:
        return None

    def __del__(self) -> None:
        with suppress(OSError):
            self.fs.close(self.handle)


class OpenFiles:
    """A bounded LRU of open files, by their owner (a segment); safe from worker threads.

    ``get`` returns the owner's open file, opening it (and evicting the least recently used) when
    it is not open. Eviction only drops the LRU's reference (see ``OpenFile``).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._files: OrderedDict[Hashable, OpenFile] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._files)

    def get(self, owner: Hashable, opener: Callable[[], OpenFile]) -> OpenFile:
        """``owner``'s file, made the most recently used; ``opener`` opens it when it is not open."""
        # The hit path, without the lock: each OrderedDict call is atomic, and a file another
        # thread evicts between the two is still ours to use (we hold a reference).
        file = self._files.get(owner)
        if file is not None:
            try:  # noqa: SIM105 - suppress() would cost an object per hit on the hot path
                self._files.move_to_end(owner)
            except KeyError:
                pass
            return file
        file = opener()
        with self._lock:
            # Another thread may have opened it meanwhile: keep one.
            file = self._files.setdefault(owner, file)
            self._files.move_to_end(owner)
            evicted = [self._files.popitem(last=False)[1] for _ in range(len(self._files) - self.capacity)]
        del evicted  # closed here, outside the lock, unless still in use elsewhere
        return file

    def discard(self, owner: Hashable) -> None:
        """Forget ``owner``'s file (closed once no one else holds it)."""
        with self._lock:
            file = self._files.pop(owner, None)
        del file


class FileSystem(ABC):
    """What the storage layer needs from a file system; subclasses supply the primitives."""

    def __init__(self) -> None:
        self.open_files = OpenFiles(self.max_open_files())

    def max_open_files(self) -> int:
        """How many segment files the LRU keeps open (from RLIMIT_NOFILE: handles are fds on disk)."""
        return open_files_capacity()

    @abstractmethod
    def open(self, path: PurePath, *, create: bool = True, truncate: bool = False) -> int:
        """A handle on ``path`` for pread and appends; FileNotFoundError if it is missing and not ``create``."""

    @abstractmethod
    def write(self, handle: int, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; returns how many bytes were written."""

    @abstractmethod
    def pread(self, handle: int, length: int, position: int) -> bytes:
        """Up to ``length`` bytes at ``position``; fewer (or none) only at the end of the file."""

    @abstractmethod
    def ftruncate(self, handle: int, length: int) -> None:
        """Cut (or zero-extend) the file to ``length`` bytes."""

    @abstractmethod
    def fsize(self, handle: int) -> int:
        """The file's size in bytes."""

    @abstractmethod
    def fsync(self, handle: int) -> None:
        """Make the file's contents durable."""

    @abstractmethod
    def close(self, handle: int) -> None:
        """Release the handle."""

    @abstractmethod
    def dup(self, handle: int) -> int:
        """A second handle on the same file, closed independently (the cleaner's own view of a segment)."""

    @abstractmethod
    def sendfile_fd(self, handle: int) -> int | None:
        """The OS file descriptor behind ``handle`` for ``os.sendfile``, or None when there is none."""

    @abstractmethod
    def replace(self, source: PurePath, target: PurePath) -> None:
        """Rename a file or directory, replacing ``target`` (os.replace); open handles stay valid."""

    @abstractmethod
    def unlink(self, path: PurePath, *, missing_ok: bool = False) -> None:
        """Remove a file; open handles keep reading it until closed."""

    @abstractmethod
    def exists(self, path: PurePath) -> bool: ...

    @abstractmethod
    def is_dir(self, path: PurePath) -> bool: ...

    @abstractmethod
    def listdir(self, path: PurePath) -> list[str]:
        """Names of the entries of a directory, in no particular order."""

    @abstractmethod
    def makedirs(self, path: PurePath) -> None:
        """Create a directory and its parents; no error if it exists."""

    @abstractmethod
    def rmtree(self, path: PurePath) -> None:
        """Remove a directory and everything under it, ignoring errors."""

    @abstractmethod
    def fsync_dir(self, path: PurePath) -> None:
        """Make renames and removals in a directory durable."""

    @abstractmethod
    def mtime_ms(self, path: PurePath) -> int:
        """The file's last modification time in ms (retention of segments without timestamps)."""

    @abstractmethod
    def disk_usage(self, path: PurePath) -> tuple[int, int]:
        """(total, free) bytes of the volume holding ``path``; (-1, -1) when unknown (Kafka's UNKNOWN_VOLUME_BYTES)."""

    @contextmanager
    def opened(self, path: PurePath, *, create: bool = True, truncate: bool = False) -> Iterator[int]:
        """A handle on ``path`` for the ``with`` block (``open``, then ``close`` however the block ends)."""
        handle = self.open(path, create=create, truncate=truncate)
        try:
            yield handle
        finally:
            self.close(handle)

    def pread_fully(self, handle: int, length: int, position: int) -> bytes:
        """pread until ``length`` bytes or the end of the file."""
        parts: list[bytes] = []
        while length > 0:
            chunk = self.pread(handle, length, position)
            if not chunk:
                break
            parts.append(chunk)
            length -= len(chunk)
            position += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def write_fully(self, handle: int, data: bytes | bytearray | memoryview) -> None:
        """Append all of ``data``, however many writes that takes."""
        view = memoryview(data)
        while view:
            view = view[self.write(handle, view) :]

    def read_bytes(self, path: PurePath) -> bytes:
        """A whole file; FileNotFoundError if missing."""
        with self.opened(path, create=False) as handle:
            return self.pread_fully(handle, self.fsize(handle), 0)

    def read_text(self, path: PurePath) -> str:
        return self.read_bytes(path).decode("utf-8")

    def write_atomic(self, path: PurePath, data: bytes, *, sync: bool = True) -> None:
        """Replace a small file so a crash leaves the old or the new contents (write a .tmp, rename).

        With ``sync`` the new file and the rename are fsynced before returning.
        """
        tmp = path.with_name(path.name + TMP_FILE_SUFFIX)
        with self.opened(tmp, truncate=True) as handle:
            self.write_fully(handle, data)
            if sync:
                self.fsync(handle)
        self.replace(tmp, path)
        if sync:
            self.fsync_dir(path.parent)

    def write_text(self, path: PurePath, text: str, *, sync: bool = True) -> None:
        """``write_atomic`` of UTF-8 text."""
        self.write_atomic(path, text.encode("utf-8"), sync=sync)


class DiskFS(FileSystem):
    """The real file system: handles are file descriptors, so fetches can ``sendfile`` from them."""

    write = staticmethod(os.write)  # type: ignore[assignment]
    pread = staticmethod(os.pread)  # type: ignore[assignment]
    ftruncate = staticmethod(os.ftruncate)  # type: ignore[assignment]
    fsync = staticmethod(os.fsync)  # type: ignore[assignment]
    close = staticmethod(os.close)  # type: ignore[assignment]
    dup = staticmethod(os.dup)  # type: ignore[assignment]

    def open(self, path: PurePath, *, create: bool = True, truncate: bool = False) -> int:
        flags = _OPEN_FLAGS | (os.O_CREAT if create else 0) | (os.O_TRUNC if truncate else 0)
        return os.open(path, flags, _FILE_MODE)

    def fsize(self, handle: int) -> int:
        return os.fstat(handle).st_size

    def sendfile_fd(self, handle: int) -> int | None:
        return handle

    def replace(self, source: PurePath, target: PurePath) -> None:
        os.replace(source, target)

    def unlink(self, path: PurePath, *, missing_ok: bool = False) -> None:
        Path(path).unlink(missing_ok=missing_ok)

    def exists(self, path: PurePath) -> bool:
        return os.path.exists(path)

    def is_dir(self, path: PurePath) -> bool:
        return os.path.isdir(path)

    def listdir(self, path: PurePath) -> list[str]:
        return os.listdir(path)

    def makedirs(self, path: PurePath) -> None:
        os.makedirs(path, exist_ok=True)

    def rmtree(self, path: PurePath) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def fsync_dir(self, path: PurePath) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def mtime_ms(self, path: PurePath) -> int:
        return int(os.stat(path).st_mtime * 1000)

    def disk_usage(self, path: PurePath) -> tuple[int, int]:
        usage = shutil.disk_usage(path)
        return usage.total, usage.free

    def read_bytes(self, path: PurePath) -> bytes:
        return Path(path).read_bytes()

    def __repr__(self) -> str:
        return "DiskFS()"


class _MemFile:
    """A file's contents; handles and directory entries share it, as inodes are shared on disk."""

    __slots__ = ("data", "mtime_ms")

    def __init__(self) -> None:
        self.data = bytearray()
        self.mtime_ms = int(time.time() * 1000)


class _MemDir:
    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[str, _MemFile | _MemDir] = {}


def _oserror(code: int, path: PurePath | int) -> OSError:
    return OSError(code, os.strerror(code), str(path))


class MemoryFS(FileSystem):
    """Files as bytearrays in a tree of directories kept in memory: nothing is written anywhere.

    POSIX semantics where the storage layer relies on them: renames and unlinks leave open handles
    working, opening a file needs its directory, ``os.replace`` onto a non-empty directory fails.
    fsync is a no-op. A lock makes it safe from worker threads (flushes, the cleaner).
    """

    def __init__(self) -> None:
        super().__init__()
        self._root = _MemDir()
        self._handles: dict[int, _MemFile] = {}
        self._next_handle = itertools.count(1)
        self._lock = threading.Lock()

    @staticmethod
    def _parts(path: PurePath) -> tuple[str, ...]:
        return PurePath(os.path.normpath(path)).parts

    def _lookup(self, path: PurePath) -> _MemFile | _MemDir | None:
        node: _MemFile | _MemDir = self._root
        for part in self._parts(path):
            if not isinstance(node, _MemDir):
                return None
            found = node.entries.get(part)
            if found is None:
                return None
            node = found
        return node

    def _parent(self, path: PurePath) -> tuple[_MemDir, str]:
        """The directory that holds ``path``, and its name there; FileNotFoundError if there is none."""
        parts = self._parts(path)
        parent = self._lookup(PurePath(*parts[:-1])) if len(parts) > 1 else self._root
        if not isinstance(parent, _MemDir):
            raise _oserror(errno.ENOENT, path)
        return parent, parts[-1]

    def _file(self, handle: int) -> _MemFile:
        try:
            return self._handles[handle]
        except KeyError:
            raise _oserror(errno.EBADF, handle) from None

    def open(self, path: PurePath, *, create: bool = True, truncate: bool = False) -> int:
        with self._lock:
            parent, name = self._parent(path)
            node = parent.entries.get(name)
            if node is None:
                if not create:
                    raise _oserror(errno.ENOENT, path)
                node = parent.entries[name] = _MemFile()
            elif isinstance(node, _MemDir):
                raise _oserror(errno.EISDIR, path)
            elif truncate:
                node.data.clear()
            handle = next(self._next_handle)
            self._handles[handle] = node
            return handle

    def write(self, handle: int, data: bytes | bytearray | memoryview) -> int:
        with self._lock:
            file = self._file(handle)
            file.data += data
            file.mtime_ms = int(time.time() * 1000)
            return len(data)

    def pread(self, handle: int, length: int, position: int) -> bytes:
        # One copy: slicing the bytearray first would make two.
        with self._lock, memoryview(self._file(handle).data) as view:
            return bytes(view[position : position + length])

    def ftruncate(self, handle: int, length: int) -> None:
        with self._lock:
            data = self._file(handle).data
            if length < len(data):
                del data[length:]
            else:
                data.extend(bytes(length - len(data)))

    def fsize(self, handle: int) -> int:
        with self._lock:
            return len(self._file(handle).data)

    def fsync(self, handle: int) -> None:
        with self._lock:
            self._file(handle)

    def close(self, handle: int) -> None:
        with self._lock:
            if self._handles.pop(handle, None) is None:
                raise _oserror(errno.EBADF, handle)

    def dup(self, handle: int) -> int:
        with self._lock:
            file = self._file(handle)
            duplicate = next(self._next_handle)
            self._handles[duplicate] = file
            return duplicate

    def sendfile_fd(self, handle: int) -> int | None:
        return None

    def replace(self, source: PurePath, target: PurePath) -> None:
        with self._lock:
            source_dir, source_name = self._parent(source)
            node = source_dir.entries.get(source_name)
            if node is None:
                raise _oserror(errno.ENOENT, source)
            target_dir, target_name = self._parent(target)
            existing = target_dir.entries.get(target_name)
            if existing is node:
                return
            if isinstance(existing, _MemDir) and (existing.entries or not isinstance(node, _MemDir)):
                raise _oserror(errno.ENOTEMPTY if existing.entries else errno.EISDIR, target)
            if isinstance(node, _MemDir) and isinstance(existing, _MemFile):
                raise _oserror(errno.ENOTDIR, target)
            del source_dir.entries[source_name]
            target_dir.entries[target_name] = node

    def unlink(self, path: PurePath, *, missing_ok: bool = False) -> None:
        with self._lock:
            try:
                parent, name = self._parent(path)
            except FileNotFoundError:
                if missing_ok:
                    return
                raise
            node = parent.entries.get(name)
            if node is None:
                if missing_ok:
                    return
                raise _oserror(errno.ENOENT, path)
            if isinstance(node, _MemDir):
                raise _oserror(errno.EISDIR, path)
            del parent.entries[name]

    def exists(self, path: PurePath) -> bool:
        with self._lock:
            return self._lookup(path) is not None

    def is_dir(self, path: PurePath) -> bool:
        with self._lock:
            return isinstance(self._lookup(path), _MemDir)

    def listdir(self, path: PurePath) -> list[str]:
        with self._lock:
            node = self._lookup(path)
            if node is None:
                raise _oserror(errno.ENOENT, path)
            if not isinstance(node, _MemDir):
                raise _oserror(errno.ENOTDIR, path)
            return list(node.entries)

    def makedirs(self, path: PurePath) -> None:
        with self._lock:
            node = self._root
            for part in self._parts(path):
                child = node.entries.get(part)
                if child is None:
                    child = node.entries[part] = _MemDir()
                elif not isinstance(child, _MemDir):
                    raise _oserror(errno.EEXIST, path)
                node = child

    def rmtree(self, path: PurePath) -> None:
        with self._lock:
            try:
                parent, name = self._parent(path)
            except FileNotFoundError:
                return
            if isinstance(parent.entries.get(name), _MemDir):
                del parent.entries[name]

    def fsync_dir(self, path: PurePath) -> None:
        if not self.is_dir(path):
            raise _oserror(errno.ENOENT, path)

    def mtime_ms(self, path: PurePath) -> int:
        with self._lock:
            node = self._lookup(path)
            if not isinstance(node, _MemFile):
                raise _oserror(errno.ENOENT, path)
            return node.mtime_ms

    def disk_usage(self, path: PurePath) -> tuple[int, int]:
        return -1, -1

    def max_open_files(self) -> int:
        """No limit: memory handles are not file descriptors."""
        return sys.maxsize

    def __repr__(self) -> str:
        return f"MemoryFS(open_handles={len(self._handles)})"


# DiskFS holds no state but the LRU of open files, which is per process anyway: one instance
# serves every caller that does not choose.
DISK = DiskFS()


def file_system(storage: str) -> FileSystem:
    """The file system for a ``--storage`` mode: ``disk`` (shared DiskFS) or ``memory`` (a fresh MemoryFS)."""
    if storage == "disk":
        return DISK
    if storage == "memory":
        return MemoryFS()
    raise ValueError(f"unknown storage {storage!r}: expected disk or memory")
