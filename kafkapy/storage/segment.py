"""One log segment: a ``.log`` file of record batches plus its offset and time indexes.

Mirrors Kafka's LogSegment. The ``.log`` file holds v2 record batches byte-for-byte as produced
(after offset assignment), so reads can hand file ranges straight to ``sendfile`` (on disk). Only
the 61-byte batch headers are ever parsed on the append and read paths; record bodies are read
during recovery (for the CRC) and by timestamp lookups. Every file is accessed through the
storage's FileSystem (kafkapy.storage.fs), on disk or in memory. The ``.log`` file is open only
while it is among the file system's most recently used ones (``OpenFiles``); the indexes, mirrored
in memory, open their files only to write them.
"""

from __future__ import annotations

import errno
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import crc32c

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import (
    ATTRIBUTES_OFFSET,
    CURRENT_MAGIC,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    NO_TIMESTAMP,
    BatchHeader,
    Record,
    iter_records,
    parse_batch_header,
)
from kafkapy.storage.fs import FileSystem, OpenFile
from kafkapy.storage.index import CorruptIndexError, OffsetIndex, TimeIndex, TimestampOffset
from kafkapy.storage.txn_index import TXN_INDEX_FILE_SUFFIX, TransactionIndex

logger = logging.getLogger("kafkapy.storage")

LOG_FILE_SUFFIX = ".log"
INDEX_FILE_SUFFIX = ".index"
TIME_INDEX_FILE_SUFFIX = ".timeindex"

# Offsets in the indexes are int32 relative to the segment's base offset.
MAX_RELATIVE_OFFSET = 2**31 - 1

# Reads of batch headers fetch this much at a time, so runs of small batches cost one pread.
_HEADER_READ_CHUNK = 8192
# Recovery reads whole batches to check CRCs; larger chunks keep the syscall count low.
_RECOVERY_READ_CHUNK = 1 << 20


# Suffixes of segments on their way out or in (Kafka's LogFileUtils): removed after file.delete.delay.ms,
# written by the cleaner, and cleaned segments ready to replace the originals.
DELETED_FILE_SUFFIX = ".deleted"
CLEANED_FILE_SUFFIX = ".cleaned"
SWAP_FILE_SUFFIX = ".swap"

# Segment file names start with the base offset, zero-padded to 20 digits.
STEM_LENGTH = 20
OFFSET_STEM = re.compile(rf"\d{{{STEM_LENGTH}}}")


def file_stem(base_offset: int) -> str:
    """Kafka's segment file name: the base offset zero-padded to 20 digits."""
    return f"{base_offset:020d}"


class _FileWindow:
    """Positional reads of a file through a small cache, without moving any file offset."""

    def __init__(self, fs: FileSystem, fd: int, end: int, chunk: int) -> None:
        self._fs = fs
        self._fd = fd
        self._end = end
        self._chunk = chunk
        self._start = 0
        self._data = b""

    def get(self, position: int, length: int) -> memoryview:
        """Up to ``length`` bytes at ``position``; fewer only at the end of the file."""
        offset = position - self._start
        if offset < 0 or offset + length > len(self._data):
            want = min(max(length, self._chunk), self._end - position)
            self._data = self._fs.pread_fully(self._fd, want, position)
            self._start = position
            offset = 0
        return memoryview(self._data)[offset : offset + length]


def _with_file_suffix(path: Path, suffix: str) -> Path:
    """``path`` with its segment file type (``.log``, ``.index``, ...) followed by ``suffix`` instead."""
    stem, kind = path.name[:STEM_LENGTH], path.name[STEM_LENGTH:].split(".")[1]
    return path.with_name(f"{stem}.{kind}{suffix}")


class LogSegment:
    """A segment of one partition's log, named after its base offset (Kafka's LogSegment)."""

    def __init__(
        self, directory: Path, base_offset: int, *, fs: FileSystem, index_interval_bytes: int, suffix: str = ""
    ) -> None:
        """Open (creating if needed) the segment's files in ``fs`` and load its indexes.

        An index that is missing while the log has data, or that fails to load, marks the
        segment ``needs_recovery``; the owning Log then rebuilds it with ``recover()``.
        ``suffix`` follows each file name (Kafka's ``.cleaned`` and ``.swap`` while compacting).
        """
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.fs = fs
        stem = directory / file_stem(base_offset)
        self.log_path = Path(f"{stem}{LOG_FILE_SUFFIX}{suffix}")
        self.index_path = Path(f"{stem}{INDEX_FILE_SUFFIX}{suffix}")
        self.time_index_path = Path(f"{stem}{TIME_INDEX_FILE_SUFFIX}{suffix}")
        self.txn_index = TransactionIndex(Path(f"{stem}{TXN_INDEX_FILE_SUFFIX}{suffix}"), fs=fs)
        self._lock = threading.Lock()
        self._closed = False
        indexes_existed = fs.exists(self.index_path) and fs.exists(self.time_index_path)
        file = fs.open_files.get(self, lambda: OpenFile(fs, fs.open(self.log_path)))
        self._size = fs.fsize(file.handle)
        self.needs_recovery = self._size > 0 and not indexes_existed
        self.offset_index = self._open_index(OffsetIndex, self.index_path)
        self.time_index = self._open_index(TimeIndex, self.time_index_path)
        last_time_entry = self.time_index.last_entry
        self.max_timestamp_so_far = last_time_entry.timestamp
        # Kafka's "shallow" offset: the last offset of the batch holding the max timestamp.
        self.shallow_offset_of_max_timestamp = last_time_entry.offset
        self._bytes_since_last_index_entry = 0
        self._next_offset: int | None = base_offset if self._size == 0 else None
        # Wall-clock ms the segment's age is measured from, for segment.ms rolls.
        self.rolling_base_ms: int | None = None

    def _open_index(self, kind: type[OffsetIndex] | type[TimeIndex], path: Path) -> OffsetIndex | TimeIndex:
        try:
            return kind(path, self.base_offset, fs=self.fs)
        except CorruptIndexError as exc:
            logger.warning("corrupt index; it will be rebuilt", extra={"path": path, "error": exc})
            self.fs.unlink(path)
            self.needs_recovery = True
            return kind(path, self.base_offset, fs=self.fs)

    def file(self) -> OpenFile:
        """The ``.log`` file, reopened if the LRU closed it; hold on to it while using its handle.

        A FetchSlice holds it until its bytes are sent, so it stays open even if evicted meanwhile.
        """
        return self.fs.open_files.get(self, self._reopen)

    def _reopen(self) -> OpenFile:
        if self._closed:
            raise OSError(errno.EBADF, f"{self.log_path}: segment is closed")
        return OpenFile(self.fs, self.fs.open(self.log_path, create=False))

    def pread(self, length: int, position: int) -> bytes:
        """Up to ``length`` bytes of the ``.log`` file at ``position``."""
        file = self.file()
        return self.fs.pread_fully(file.handle, length, position)

    def dup(self) -> int:
        """A handle of its own on the ``.log`` file (the cleaner's), to be closed by the caller."""
        file = self.file()
        return self.fs.dup(file.handle)

    @property
    def size(self) -> int:
        """Bytes in the ``.log`` file."""
        return self._size

    @property
    def next_offset(self) -> int:
        """One past the last offset in the segment (its base offset when empty)."""
        if self._next_offset is None:
            self._next_offset = self._read_next_offset()
        return self._next_offset

    def _read_next_offset(self) -> int:
        """Scan from the last index entry to the end, as Kafka's readNextOffset does."""
        next_offset = self.base_offset
        for _, header in self.batch_headers(self.offset_index.lookup(self.offset_index.last_offset).position):
            next_offset = header.next_offset
        return next_offset

    def sanity_check(self) -> None:
        """Raise CorruptIndexError when an index does not fit the log (Kafka's sanityCheck)."""
        self.offset_index.sanity_check(self._size)
        self.time_index.sanity_check(self.next_offset - 1)

    def batch_headers(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, BatchHeader]]:
        """Yield (position, header) of each whole batch from ``start`` until ``end`` (the size)."""
        end = self._size if end is None else end
        file = self.file()  # held while the generator lives
        window = _FileWindow(self.fs, file.handle, end, _HEADER_READ_CHUNK)
        position = start
        while position + HEADER_SIZE <= end:
            header = parse_batch_header(window.get(position, HEADER_SIZE))
            if position + header.size > end:
                return
            yield position, header
            position += header.size

    def append(self, buf: bytes | bytearray | memoryview, headers: Sequence[BatchHeader], *, now_ms: int) -> None:
        """Write offset-assigned batches with one write, then index them sparsely.

        ``headers`` describe the batches in ``buf`` with their final offsets. Entries are added
        once more than index.interval.bytes were appended since the last one, pointing at the
        current batch, as Kafka does.
        """
        position = self._size
        file = self.file()
        try:
            self.fs.write_fully(file.handle, buf)
        except OSError as exc:
            self.fs.ftruncate(file.handle, position)
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"append to {self.log_path}: {exc}") from exc
        if position == 0:
            self.rolling_base_ms = now_ms
        for header in headers:
            self._index_batch(header, position)
            position += header.size
        self._size = position
        self._next_offset = headers[-1].next_offset

    def _index_batch(self, header: BatchHeader, position: int) -> None:
        """Track the max timestamp and add index entries when the interval has passed."""
        if header.max_timestamp > self.max_timestamp_so_far:
            self.max_timestamp_so_far = header.max_timestamp
            self.shallow_offset_of_max_timestamp = header.last_offset
        if self._bytes_since_last_index_entry > self.index_interval_bytes:
            self.offset_index.append(header.last_offset, position)
            self.time_index.maybe_append(self.max_timestamp_so_far, self.shallow_offset_of_max_timestamp)
            self._bytes_since_last_index_entry = 0
        self._bytes_since_last_index_entry += header.size

    def translate_offset(self, offset: int, start: int = 0) -> tuple[int, BatchHeader] | None:
        """(position, header) of the first batch whose last offset is >= ``offset``, if any."""
        start = max(start, self.offset_index.lookup(offset).position)
        for position, header in self.batch_headers(start):
            if header.last_offset >= offset:
                return position, header
        return None

    def read(
        self,
        start_offset: int,
        max_size: int,
        min_one_batch: bool = True,
        *,
        max_offset: int | None = None,
    ) -> tuple[int, int] | None:
        """(position, length) of whole batches from the one holding ``start_offset``.

        At most ``max_size`` bytes, except that with ``min_one_batch`` the first batch is
        returned whole even when larger (Kafka's minOneMessage). Batches starting at or after
        ``max_offset`` are left out. None when the segment holds nothing at or after
        ``start_offset``; length 0 when nothing fits.
        """
        found = self.translate_offset(start_offset)
        if found is None:
            return None
        start, first = found
        end_limit = self._size
        # A bound at or past this segment's end (the high watermark, usually) cuts nothing: no scan.
        if max_offset is not None and max_offset < self.next_offset:
            if first.base_offset >= max_offset:
                return start, 0
            bound = self.translate_offset(max_offset, start)
            if bound is not None:
                bound_position, bound_header = bound
                end_limit = bound_position
                if bound_header.base_offset < max_offset:
                    end_limit += bound_header.size
        budget = max(max_size, first.size) if min_one_batch else max_size
        target_end = min(start + budget, end_limit)
        end = start + first.size
        if end > target_end:
            return start, 0
        # Index positions are batch boundaries: jump to the last one that still fits, then
        # walk the few headers after it rather than every header from the start.
        end = max(end, self.offset_index.lookup_position(target_end).position)
        for position, header in self.batch_headers(end, target_end):
            end = position + header.size
        return start, end - start

    def find_offset_by_timestamp(self, timestamp: int, starting_offset: int) -> TimestampOffset | None:
        """The first record at or after ``starting_offset`` with a timestamp >= ``timestamp``.

        Kafka's LogSegment.findOffsetByTimestamp: the time index gives a start position, batch
        headers skip batches whose max timestamp is too old, and only the one candidate batch
        is decoded to find the exact record.
        """
        indexed = self.time_index.lookup(timestamp)
        start = self.offset_index.lookup(max(indexed.offset, starting_offset)).position
        for position, header in self.batch_headers(start):
            if header.max_timestamp < timestamp or header.last_offset < starting_offset:
                continue
            for record in self._decode_batch(position, header):
                if record.timestamp >= timestamp and record.offset >= starting_offset:
                    return TimestampOffset(record.timestamp, record.offset)
        return None

    def max_timestamp_and_offset(self) -> TimestampOffset | None:
        """The max timestamp and the offset of the first record carrying it, or None if empty."""
        start = self.offset_index.lookup(self.shallow_offset_of_max_timestamp).position
        for position, header in self.batch_headers(start):
            if header.max_timestamp == self.max_timestamp_so_far:
                for record in self._decode_batch(position, header):
                    if record.timestamp == header.max_timestamp:
                        return TimestampOffset(record.timestamp, record.offset)
                return TimestampOffset(header.max_timestamp, header.base_offset)
        return None

    def _decode_batch(self, position: int, header: BatchHeader) -> Iterator[Record]:
        """The batch's records one at a time: it may hold 10^6 tiny ones."""
        return iter_records(self.pread(header.size, position))

    def recover(self) -> int:
        """Rebuild the indexes from the log, truncating at the first invalid batch.

        Kafka's LogSegment.recover: a torn tail (header or body cut short), a bad CRC, a bad
        magic or offsets that do not increase end the valid data. Returns the bytes truncated.
        """
        self.offset_index.reset()
        self.time_index.reset()
        self.max_timestamp_so_far = NO_TIMESTAMP
        self.shallow_offset_of_max_timestamp = self.base_offset
        self._bytes_since_last_index_entry = 0
        valid_bytes, next_offset, problem = self._scan_valid(self._index_batch)
        truncated = self._size - valid_bytes
        if truncated:
            logger.warning(
                "truncating the log segment",
                extra={
                    "path": self.log_path,
                    "problem": problem,
                    "valid_bytes": valid_bytes,
                    "truncated_bytes": truncated,
                    "size": self._size,
                },
            )
            self._ftruncate(valid_bytes)
            self._size = valid_bytes
        self._next_offset = next_offset
        # Entries are written just before their abort marker: drop those whose marker is gone.
        self.txn_index.truncate_to(next_offset)
        self.time_index.maybe_append(self.max_timestamp_so_far, self.shallow_offset_of_max_timestamp)
        self.needs_recovery = False
        return truncated

    def _scan_valid(self, on_batch: Callable[[BatchHeader, int], None]) -> tuple[int, int, str]:
        """Walk the batches checking each; return (valid bytes, next offset, why it stopped)."""
        file = self.file()
        window = _FileWindow(self.fs, file.handle, self._size, _RECOVERY_READ_CHUNK)
        position = 0
        next_offset = self.base_offset
        while position < self._size:
            head = window.get(position, HEADER_SIZE)
            if len(head) < HEADER_SIZE:
                return position, next_offset, f"torn batch header ({len(head)} bytes)"
            if head[MAGIC_OFFSET] != CURRENT_MAGIC:
                return position, next_offset, f"bad magic {head[MAGIC_OFFSET]}"
            header = parse_batch_header(head)
            if header.batch_length < HEADER_SIZE - LOG_OVERHEAD or header.last_offset_delta < 0:
                return position, next_offset, f"bad batch length {header.batch_length}"
            body = window.get(position, header.size)
            if len(body) < header.size:
                return position, next_offset, f"torn batch ({len(body)} of {header.size} bytes)"
            if crc32c.crc32c(body[ATTRIBUTES_OFFSET:]) != header.crc:
                return position, next_offset, "CRC mismatch"
            if header.base_offset < next_offset:
                return position, next_offset, f"offset {header.base_offset} below {next_offset}"
            if header.last_offset - self.base_offset > MAX_RELATIVE_OFFSET:
                return position, next_offset, f"offset {header.last_offset} out of the segment's range"
            on_batch(header, position)
            position += header.size
            next_offset = header.next_offset
        return position, next_offset, ""

    def load_rolling_base(self, now_ms: int) -> None:
        """Age a reopened segment from its first batch's max timestamp, as Kafka does.

        ``now_ms`` stands in when that batch has no timestamp; an empty segment starts aging
        at its first append.
        """
        self.rolling_base_ms = None
        for _, header in self.batch_headers(0):
            self.rolling_base_ms = header.max_timestamp if header.max_timestamp >= 0 else now_ms
            return

    def truncate_to(self, offset: int) -> int:
        """Remove the batch holding ``offset`` and everything after; return bytes removed."""
        found = self.translate_offset(offset)
        if found is None:
            return 0
        position = found[0]
        removed = self._size - position
        self._ftruncate(position)
        self._size = position
        self.recover()
        if position == 0:
            self.rolling_base_ms = None
        return removed

    def _ftruncate(self, length: int) -> None:
        file = self.file()
        self.fs.ftruncate(file.handle, length)

    def on_become_inactive(self) -> None:
        """Record the final max timestamp in the time index when the segment stops being active.

        Kafka does this on roll and close, so the last time index entry of an inactive segment
        is its exact max timestamp, which the Log reads back on open. Index entries held back are
        written now: only the active segment's indexes are rebuilt on open.
        """
        self.time_index.maybe_append(self.max_timestamp_so_far, self.shallow_offset_of_max_timestamp)
        self.offset_index.write_pending()
        self.time_index.write_pending()

    def flush(self) -> None:
        """fsync the log and both indexes; a no-op once closed (safe from a worker thread)."""
        with self._lock:
            if self._closed:
                return
            file = self.file()
            self.fs.fsync(file.handle)
            self.offset_index.flush()
            self.time_index.flush()
            self.txn_index.flush()

    def close(self) -> None:
        """Write what the indexes hold back and let the ``.log`` file go (a fetch still sending keeps it open)."""
        with self._lock:
            if self._closed:
                return
            self.on_become_inactive()
            self._closed = True
            self.fs.open_files.discard(self)
            self.offset_index.close()
            self.time_index.close()

    @property
    def largest_timestamp(self) -> int:
        """Kafka's largestTimestamp: the max record timestamp, else the file's modification time (retention)."""
        if self.max_timestamp_so_far > 0:
            return self.max_timestamp_so_far
        return self.fs.mtime_ms(self.log_path)

    def moved_to(self, directory: Path) -> None:
        """Point the file paths into ``directory`` (the partition directory was renamed)."""
        for index in (self.offset_index, self.time_index, self.txn_index):
            index.path = directory / index.path.name
        self.index_path = self.offset_index.path
        self.time_index_path = self.time_index.path
        self.log_path = directory / self.log_path.name

    def rename_suffix(self, suffix: str) -> None:
        """Rename the segment's files to end with ``suffix`` ("" for live, ``.deleted``, ...); fds stay open.

        The log file goes last, so a crash leaves it under its old name with whatever indexes
        recovery rebuilds anyway.
        """
        for index in (self.offset_index, self.time_index, self.txn_index):
            new = _with_file_suffix(index.path, suffix)
            if self.fs.exists(index.path):
                self.fs.replace(index.path, new)
            index.path = new
        self.index_path = self.offset_index.path
        self.time_index_path = self.time_index.path
        new_log = _with_file_suffix(self.log_path, suffix)
        self.fs.replace(self.log_path, new_log)
        self.log_path = new_log

    def delete(self) -> None:
        """Close and remove the segment's files."""
        self.close()
        for path in (self.log_path, self.index_path, self.time_index_path):
            self.fs.unlink(path, missing_ok=True)
        self.txn_index.delete()

    def __repr__(self) -> str:
        return f"LogSegment(base_offset={self.base_offset}, size={self._size})"


def recover_leftover_files(fs: FileSystem, directory: Path, index_interval_bytes: int) -> None:
    """Kafka's start-up cleanup of a partition directory before its segments are loaded.

    ``.deleted`` files (deletion was pending) and ``.cleaned`` files (compaction was interrupted
    before its output was complete) are removed. A ``.log.swap`` is a complete cleaned segment
    whose swap was interrupted: the segments it replaces (those inside its offset range) are
    removed and it takes its final name.
    """
    for name in fs.listdir(directory):
        if name.endswith((DELETED_FILE_SUFFIX, CLEANED_FILE_SUFFIX)):
            fs.unlink(directory / name, missing_ok=True)
    for name in sorted(_names_ending(fs, directory, LOG_FILE_SUFFIX + SWAP_FILE_SUFFIX)):
        base_offset = int(name[:STEM_LENGTH])
        swap = LogSegment(
            directory, base_offset, fs=fs, index_interval_bytes=index_interval_bytes, suffix=SWAP_FILE_SUFFIX
        )
        swap.recover()
        end = swap.next_offset
        for live in _names_ending(fs, directory, LOG_FILE_SUFFIX):
            if base_offset <= int(live[:STEM_LENGTH]) < max(end, base_offset + 1):
                stem = live[:STEM_LENGTH]
                for kind in (LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, TXN_INDEX_FILE_SUFFIX):
                    fs.unlink(directory / f"{stem}{kind}", missing_ok=True)
        swap.on_become_inactive()
        swap.rename_suffix("")
        swap.close()
        logger.warning("completed an interrupted compaction swap", extra={"path": directory / name})
    for name in _names_ending(fs, directory, SWAP_FILE_SUFFIX):
        fs.unlink(directory / name, missing_ok=True)


def _names_ending(fs: FileSystem, directory: Path, suffix: str) -> list[str]:
    """Names in ``directory`` ending with ``suffix`` (``glob("*" + suffix)``)."""
    return [name for name in fs.listdir(directory) if name.endswith(suffix)]


def iter_batches(fs: FileSystem, fd: int, start: int, end: int) -> Iterator[tuple[int, BatchHeader, memoryview]]:
    """(position, header, bytes) of each whole batch in ``fd`` between ``start`` and ``end``, read in large chunks."""
    window = _FileWindow(fs, fd, end, _RECOVERY_READ_CHUNK)
    position = start
    while position + HEADER_SIZE <= end:
        header = parse_batch_header(window.get(position, HEADER_SIZE))
        if position + header.size > end:
            return
        yield position, header, window.get(position, header.size)
        position += header.size
