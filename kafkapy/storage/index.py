"""Kafka's sparse segment indexes: the offset index (``.index``) and the time index (``.timeindex``).

Both files have Kafka's on-disk layout so a segment directory is readable by Kafka's tools:

- offset index: 8-byte entries ``relativeOffset int32 | physicalPosition int32`` (big-endian)
- time index: 12-byte entries ``timestamp int64 | relativeOffset int32`` (big-endian)

Offsets are stored relative to the segment's base offset. Kafka preallocates and mmaps these
files; here they are plain files (in the storage's FileSystem), mirrored in memory by ``array``
columns so lookups are binary searches that never touch the file, and opened only to be written,
cut or fsynced: a partition does not hold file descriptors for its indexes. New entries
are written in blocks, not one small write per batch: an index that lacks its newest entries is
still a valid sparse index, the active segment's indexes are rebuilt from the log on every open
anyway, and a segment writes what it holds when it stops being active or is closed.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import NamedTuple

from kafkapy.storage.fs import FileSystem

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_LITTLE_ENDIAN = sys.byteorder == "little"
# Entries are held back until this many bytes (512 offset index entries) are ready to write.
PENDING_WRITE_BYTES = 4096


class CorruptIndexError(Exception):
    """An index file fails its sanity check; the segment's indexes must be rebuilt from the log."""


class OffsetPosition(NamedTuple):
    """An offset index entry: the batch at ``position`` holds offsets up to ``offset``."""

    offset: int
    position: int


class TimestampOffset(NamedTuple):
    """A time index entry: no record at or before ``offset`` has a timestamp above ``timestamp``."""

    timestamp: int
    offset: int


def _big_endian_column(data: bytes, typecode: str) -> array:
    column = array(typecode, data)
    if _LITTLE_ENDIAN:
        column.byteswap()
    return column


class _IndexFile:
    """An append-only file of fixed-size entries mirrored by two in-memory ``array`` columns."""

    ENTRY_SIZE: int

    def __init__(self, path: Path, base_offset: int, *, fs: FileSystem) -> None:
        self.path = path
        self.base_offset = base_offset
        self._fs = fs
        self._pending = bytearray()  # entries in the columns but not yet in the file
        with fs.opened(path) as handle:
            data = fs.pread_fully(handle, fs.fsize(handle), 0)
        if len(data) % self.ENTRY_SIZE:
            raise CorruptIndexError(f"{self.path}: size {len(data)} is not a multiple of {self.ENTRY_SIZE}")
        self._load(data)

    def _load(self, data: bytes) -> None:
        raise NotImplementedError

    def _columns(self) -> tuple[array, array]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._columns()[0])

    def _append_entry(self, entry: bytes, first: int, second: int) -> None:
        self._pending += entry
        a, b = self._columns()
        a.append(first)
        b.append(second)
        if len(self._pending) >= PENDING_WRITE_BYTES:
            self.write_pending()

    def write_pending(self) -> None:
        """Write the entries held back so far (one write)."""
        if self._pending:
            with self._fs.opened(self.path) as handle:
                self._fs.write_fully(handle, self._pending)
            self._pending = bytearray()

    def truncate_to(self, offset: int) -> None:
        """Drop every entry for ``offset`` and above."""
        self._truncate_entries(bisect_left(self._relative_offsets, offset - self.base_offset))

    def reset(self) -> None:
        """Drop every entry (before a rebuild)."""
        self._truncate_entries(0)

    def _truncate_entries(self, keep: int) -> None:
        written = len(self) - len(self._pending) // self.ENTRY_SIZE
        for column in self._columns():
            del column[keep:]
        if keep >= written:
            del self._pending[(keep - written) * self.ENTRY_SIZE :]
        else:
            self._pending = bytearray()
            with self._fs.opened(self.path) as handle:
                self._fs.ftruncate(handle, keep * self.ENTRY_SIZE)

    def flush(self) -> None:
        """fsync what is written; entries held back stay in memory (called from a worker thread, so
        it leaves them to the appending thread)."""
        try:
            with self._fs.opened(self.path, create=False) as handle:
                self._fs.fsync(handle)
        except FileNotFoundError:
            pass  # renamed or removed meanwhile (retention, compaction): not this flush's to sync

    def close(self) -> None:
        """Write the entries held back (the index holds no open file)."""
        self.write_pending()


class OffsetIndex(_IndexFile):
    """Maps offsets to file positions of the batches holding them, sparsely (Kafka's OffsetIndex)."""

    ENTRY_SIZE = 8

    def _load(self, data: bytes) -> None:
        # Split the interleaved (offset, position) int32 pairs into two columns.
        both = _big_endian_column(data, "i")
        self._relative_offsets = both[0::2]
        self._positions = both[1::2]

    def _columns(self) -> tuple[array, array]:
        return self._relative_offsets, self._positions

    def sanity_check(self, log_size: int) -> None:
        """Raise CorruptIndexError unless entries strictly increase and point inside the log."""
        offsets, positions = self._relative_offsets, self._positions
        if any(a >= b for a, b in zip(offsets, offsets[1:], strict=False)):
            raise CorruptIndexError(f"{self.path}: offsets are not strictly increasing")
        if any(a > b for a, b in zip(positions, positions[1:], strict=False)):
            raise CorruptIndexError(f"{self.path}: positions are not increasing")
        if offsets and (offsets[0] < 0 or positions[0] < 0 or positions[-1] >= log_size):
            raise CorruptIndexError(f"{self.path}: entries point outside the segment")

    @property
    def last_offset(self) -> int:
        """The largest offset indexed, or the base offset when the index is empty."""
        if not self._relative_offsets:
            return self.base_offset
        return self.base_offset + self._relative_offsets[-1]

    def entries(self) -> list[OffsetPosition]:
        """All entries with absolute offsets (for tests and tools)."""
        return [
            OffsetPosition(self.base_offset + rel, pos)
            for rel, pos in zip(self._relative_offsets, self._positions, strict=True)
        ]

    def append(self, offset: int, position: int) -> None:
        """Add an entry; offsets must strictly increase as in Kafka."""
        relative = offset - self.base_offset
        if self._relative_offsets and relative <= self._relative_offsets[-1]:
            raise ValueError(f"offset {offset} is not larger than the last indexed offset {self.last_offset}")
        self._append_entry(_OFFSET_ENTRY.pack(relative, position), relative, position)

    def lookup(self, offset: int) -> OffsetPosition:
        """The entry with the largest offset <= ``offset``; (base offset, 0) when there is none."""
        slot = bisect_right(self._relative_offsets, offset - self.base_offset) - 1
        if slot < 0:
            return OffsetPosition(self.base_offset, 0)
        return OffsetPosition(self.base_offset + self._relative_offsets[slot], self._positions[slot])

    def lookup_position(self, position: int) -> OffsetPosition:
        """The entry with the largest position <= ``position``; (base offset, 0) when there is none."""
        slot = bisect_right(self._positions, position) - 1
        if slot < 0:
            return OffsetPosition(self.base_offset, 0)
        return OffsetPosition(self.base_offset + self._relative_offsets[slot], self._positions[slot])


class TimeIndex(_IndexFile):
    """Maps timestamps to offsets, sparsely and monotonically (Kafka's TimeIndex)."""

    ENTRY_SIZE = 12

    def _load(self, data: bytes) -> None:
        entries = list(_TIME_ENTRY.iter_unpack(data))
        self._timestamps = array("q", [timestamp for timestamp, _ in entries])
        self._relative_offsets = array("i", [offset for _, offset in entries])

    def _columns(self) -> tuple[array, array]:
        return self._timestamps, self._relative_offsets

    def sanity_check(self, last_offset: int) -> None:
        """Raise CorruptIndexError unless entries are monotonic and within the segment's offsets."""
        stamps, offsets = self._timestamps, self._relative_offsets
        if any(a >= b for a, b in zip(stamps, stamps[1:], strict=False)):
            raise CorruptIndexError(f"{self.path}: timestamps are not strictly increasing")
        if any(a > b for a, b in zip(offsets, offsets[1:], strict=False)):
            raise CorruptIndexError(f"{self.path}: offsets are not increasing")
        if offsets and (offsets[0] < 0 or self.base_offset + offsets[-1] > last_offset):
            raise CorruptIndexError(f"{self.path}: entries point outside the segment")

    @property
    def last_entry(self) -> TimestampOffset:
        """The newest entry, or (-1, base offset) when empty, like Kafka's TimeIndex.lastEntry."""
        if not self._timestamps:
            return TimestampOffset(-1, self.base_offset)
        return TimestampOffset(self._timestamps[-1], self.base_offset + self._relative_offsets[-1])

    def entries(self) -> list[TimestampOffset]:
        """All entries with absolute offsets (for tests and tools)."""
        return [
            TimestampOffset(ts, self.base_offset + rel)
            for ts, rel in zip(self._timestamps, self._relative_offsets, strict=True)
        ]

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add an entry only when ``timestamp`` is newer than the last one (Kafka's maybeAppend)."""
        last = self.last_entry
        if timestamp <= last.timestamp or offset < last.offset:
            return
        relative = offset - self.base_offset
        self._append_entry(_TIME_ENTRY.pack(timestamp, relative), timestamp, relative)

    def lookup(self, timestamp: int) -> TimestampOffset:
        """The newest entry whose timestamp is strictly below ``timestamp``; (-1, base) when none.

        Kafka looks up ``<=``, but an entry equal to the target can sit after earlier records with
        the same timestamp; starting one entry earlier never skips them.
        """
        slot = bisect_left(self._timestamps, timestamp) - 1
        if slot < 0:
            return TimestampOffset(-1, self.base_offset)
        return TimestampOffset(self._timestamps[slot], self.base_offset + self._relative_offsets[slot])
