"""One partition's log: an ordered list of segments with Kafka's append, read and recovery rules.

Split along Kafka's own classes: the settings are ``log_config.LogConfig``, the checks of what may
be appended ``log_validator`` (LogValidator), the segments by base offset ``log_segments.LogSegments``,
the producer ids and their snapshot files ``producer_state.ProducerStateManager``; this module is
UnifiedLog (offsets, rolling, reads, retention, truncation), and it tells its LogOffsetsListener of
every append.

Everything here is synchronous. The trio server calls ``append`` and ``read`` directly because
they only touch the page cache; ``flush`` (fsync) is meant to run in a worker thread, so the
state it shares with appends is guarded by a lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

from kafkapy.clock import SYSTEM_CLOCK, Clock
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import (
    NO_PRODUCER_ID,
    BatchHeader,
    assign_offsets,
    parse_batch_header,
)
from kafkapy.storage.fs import DISK, FileSystem, OpenFile
from kafkapy.storage.index import CorruptIndexError, TimestampOffset
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_segments import LogSegments
from kafkapy.storage.log_validator import Marker, read_marker, validate
from kafkapy.storage.producer_state import (
    PRODUCER_ID_EXPIRATION_MS,
    BatchMetadata,
    CompletedTxn,
    ProducerStateManager,
)
from kafkapy.storage.segment import (
    DELETED_FILE_SUFFIX,
    INDEX_FILE_SUFFIX,
    LOG_FILE_SUFFIX,
    MAX_RELATIVE_OFFSET,
    OFFSET_STEM,
    TIME_INDEX_FILE_SUFFIX,
    LogSegment,
    recover_leftover_files,
)
from kafkapy.storage.txn_index import TXN_INDEX_FILE_SUFFIX, AbortedTxn

logger = logging.getLogger("kafkapy.storage")

# A failed append (a full disk, mostly) is logged the first time per partition, then at most once
# per this interval, with the number of failures since: producers retry, and each retry fails too.
STORAGE_ERROR_LOG_INTERVAL_MS = 60_000




@dataclass(frozen=True)
class AppendInfo:
    """What an append did, for the produce response (Kafka's LogAppendInfo)."""

    first_offset: int
    last_offset: int
    # -1 unless the topic uses LogAppendTime.
    log_append_time_ms: int
    max_timestamp: int
    # Kafka's shallow offset: the last offset of the batch holding the max timestamp.
    offset_of_max_timestamp: int
    log_start_offset: int


@dataclass(frozen=True)
class FetchSlice:
    """A byte range of one segment file holding whole record batches, ready for sendfile.

    It holds no open file: a fetch of thousands of partitions must not pin thousands of fds. The
    file is taken from the LRU of open files (reopened if need be) when the slice is sent, and held
    until it is (``opened``). A segment deleted meanwhile keeps its renamed files for
    file.delete.delay.ms, so the slice still reads them; one that is gone raises OSError.
    """

    segment: LogSegment
    position: int
    length: int

    @property
    def segment_base_offset(self) -> int:
        return self.segment.base_offset

    @property
    def fs(self) -> FileSystem:
        return self.segment.fs

    def opened(self) -> OpenFile:
        """``with slice.opened() as fd``: the OS fd to ``sendfile`` from (None in memory), open for the block.

        Open means open: the LRU may evict the file meanwhile, but it closes only when the block ends.
        """
        return self.segment.file()

    def read_bytes(self) -> bytes:
        """The slice's bytes, via pread (for when sendfile cannot be used)."""
        return self.segment.pread(self.length, self.position)


class LogOffsetsListener(Protocol):
    """Kafka's LogOffsetsListener: told each time an append moves a log's high watermark.

    On one broker every append commits, so this is every append that wrote something (a retried
    batch answered from the producer state writes nothing). The broker wakes the fetches parked on
    the log and schedules its flush from here; it runs on the appending thread, under no lock.
    """

    def on_high_watermark_updated(self, log: Log, high_watermark: int) -> None: ...


class OffsetMetadata(NamedTuple):
    """Where an offset's batch lies: its segment and byte position there (Kafka's LogOffsetMetadata)."""

    segment_base_offset: int
    position: int


class OffsetAndTimestamp(NamedTuple):
    """ListOffsets' answer for a timestamp: the first record at or after it."""

    offset: int
    timestamp: int


class Log:
    """One partition's log: ``<data_dir>/<topic>-<partition>/`` in its FileSystem (Kafka's UnifiedLog)."""

    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        segments: list[LogSegment],
        *,
        fs: FileSystem,
        now_ms: int,
        log_start_offset: int = 0,
        clock: Clock = SYSTEM_CLOCK,
        producer_id_expiration_ms: int = PRODUCER_ID_EXPIRATION_MS,
    ) -> None:
        """Wrap already-opened, recovered segments; use ``Log.open``."""
        self._dir = directory
        self._fs = fs
        self._clock = clock
        self._config = config
        self._segments = LogSegments(segments)
        self._log_end_offset = segments[-1].next_offset
        self._lock = threading.Lock()
        # Kafka's recoveryPoint: everything below it is known to be fsynced.
        self._recovery_point = self._log_end_offset
        self._last_flush_ms = now_ms
        self._dir_needs_fsync = False
        self._producer_state: ProducerStateManager | None = None
        # Kafka's logStartOffset: may lie inside the first segment after DeleteRecords.
        self._log_start_offset = max(log_start_offset, segments[0].base_offset)
        # Segments renamed to .deleted, with the wall-clock ms their files may go (file.delete.delay.ms).
        self._deleted: list[tuple[int, LogSegment]] = []
        self._moved = False
        self._storage_errors_unlogged = 0
        self._storage_error_logged_ms: int | None = None
        # Who hears of appends (the broker, through LogManager.set_offsets_listener); None in bare logs.
        self.offsets_listener: LogOffsetsListener | None = None
        # The broker's producer.id.expiration.ms.
        self.producer_id_expiration_ms = producer_id_expiration_ms

    @classmethod
    def open(
        cls,
        directory: Path,
        config: LogConfig,
        *,
        fs: FileSystem = DISK,
        now_ms: int | None = None,
        log_start_offset: int = 0,
        clock: Clock = SYSTEM_CLOCK,
        producer_id_expiration_ms: int = PRODUCER_ID_EXPIRATION_MS,
    ) -> Log:
        """Load the partition's segments from ``fs``, recovering the active one and any with a bad index.

        A fresh directory gets an empty segment at offset 0. Leftovers of deletion and compaction
        are dealt with first (``recover_leftover_files``). ``log_start_offset`` comes from the
        log-start-offset-checkpoint file; ``producer_id_expiration_ms`` is the broker's producer.id.expiration.ms.
        """
        now_ms = clock.wall_ms() if now_ms is None else now_ms
        fs.makedirs(directory)
        recover_leftover_files(fs, directory, config.index_interval_bytes)
        names = fs.listdir(directory)
        log_stems = {name[: -len(LOG_FILE_SUFFIX)] for name in names if name.endswith(LOG_FILE_SUFFIX)}
        base_offsets = sorted(int(stem) for stem in log_stems if OFFSET_STEM.fullmatch(stem))
        index_suffixes = (INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, TXN_INDEX_FILE_SUFFIX)
        for name in names:
            if name.endswith(index_suffixes) and name.rsplit(".", 1)[0] not in log_stems:
                logger.warning("deleting an index file without a log file", extra={"path": directory / name})
                fs.unlink(directory / name)
        segments = [
            LogSegment(directory, base, fs=fs, index_interval_bytes=config.index_interval_bytes)
            for base in base_offsets or [0]
        ]
        for segment in segments[:-1]:
            if not segment.needs_recovery:
                try:
                    segment.sanity_check()
                except CorruptIndexError as exc:
                    logger.warning("rebuilding the indexes", extra={"path": segment.log_path, "error": exc})
                    segment.needs_recovery = True
            if segment.needs_recovery:
                segment.recover()
                segment.on_become_inactive()
        # Like Kafka after an unclean shutdown, always re-check the active segment's tail.
        active = segments[-1]
        active.recover()
        active.load_rolling_base(now_ms)
        return cls(
            directory,
            config,
            segments,
            fs=fs,
            now_ms=now_ms,
            log_start_offset=log_start_offset,
            clock=clock,
            producer_id_expiration_ms=producer_id_expiration_ms,
        )

    @property
    def dir(self) -> Path:
        return self._dir

    @property
    def fs(self) -> FileSystem:
        """Where the log's files live."""
        return self._fs

    @property
    def config(self) -> LogConfig:
        return self._config

    def update_config(self, config: LogConfig) -> None:
        """Switch to new settings; they apply from the next append or roll."""
        self._config = config

    @property
    def segments(self) -> tuple[LogSegment, ...]:
        return self._segments.values()

    @property
    def active_segment(self) -> LogSegment:
        return self._segments.active

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The next offset to assign (Kafka's LEO)."""
        return self._log_end_offset

    @property
    def high_watermark(self) -> int:
        """Everything appended is committed on a single broker, so the HW is the LEO."""
        return self._log_end_offset

    @property
    def recovery_point(self) -> int:
        """Offsets below this are fsynced."""
        return self._recovery_point

    @property
    def size_in_bytes(self) -> int:
        return sum(segment.size for segment in self._segments)

    def append(
        self,
        buf: bytearray,
        headers: list[BatchHeader],
        *,
        leader_epoch: int = 0,
        now_ms: int,
        coordinator: bool = False,
        inspected: bool = False,
    ) -> AppendInfo:
        """Assign offsets to validated batches (in place) and append them to the active segment.

        ``headers`` are validate_batches' result for ``buf``; ``inspected`` says inspect_records
        already ran on them (produce does it first, in a worker thread for compressed batches).
        The checks are kafkapy.storage.log_validator's; offsets are assigned here, under the lock.
        ``coordinator`` marks an append by a coordinator (Kafka's AppendOrigin.COORDINATOR: markers,
        transactional offset commits), whose sequence numbers are not checked. Control batches must
        be COMMIT/ABORT markers. Rolls a new segment first when the batches would overflow
        segment.bytes or the segment is older than segment.ms.
        Raises KafkaError MESSAGE_TOO_LARGE for a batch over max.message.bytes and
        RECORD_LIST_TOO_LARGE when the data cannot fit in any segment.
        """
        if not headers:
            return AppendInfo(-1, -1, -1, -1, -1, self.log_start_offset)
        validated = validate(buf, headers, self._config, now_ms, partition=self._dir.name, inspected=inspected)
        buf, headers, markers = validated.buffer, validated.headers, validated.markers
        append_time = validated.log_append_time_ms
        duplicate = self._check_producers(headers, markers, check_sequences=not coordinator)
        if duplicate is not None:
            return AppendInfo(
                first_offset=duplicate.first_offset,
                last_offset=duplicate.last_offset,
                log_append_time_ms=-1,
                max_timestamp=duplicate.max_timestamp,
                offset_of_max_timestamp=duplicate.last_offset,
                log_start_offset=self.log_start_offset,
            )
        with self._lock:
            first_offset = self._log_end_offset
            next_offset = assign_offsets(
                buf, headers, first_offset, partition_leader_epoch=leader_epoch, log_append_time_ms=append_time
            )
            assigned: list[BatchHeader] = []
            position = 0
            for header in headers:
                assigned.append(parse_batch_header(buf, position))
                position += header.size
            try:
                segment = self._maybe_roll(len(buf), next_offset - 1, now_ms)
                self._index_aborted_txns(segment, assigned, markers)
                segment.append(buf, assigned, now_ms=now_ms)
            except KafkaError as exc:
                if exc.code == ErrorCode.KAFKA_STORAGE_ERROR:
                    self._log_storage_error(exc.message, now_ms)
                raise
            except OSError as exc:
                self._log_storage_error(str(exc), now_ms)
                raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"append to {self._dir.name}: {exc}") from exc
            self._log_end_offset = next_offset
        for header, marker in zip(assigned, markers, strict=True):
            if header.producer_id == NO_PRODUCER_ID:
                continue
            if marker is None:
                self.producer_state.update(header)
            else:
                self.producer_state.complete_txn(header, marker.aborted, marker.coordinator_epoch)
        newest = max(assigned, key=lambda header: header.max_timestamp)
        if append_time is not None:
            max_timestamp, offset_of_max = append_time, first_offset
        else:
            max_timestamp, offset_of_max = newest.max_timestamp, newest.last_offset
        if self.offsets_listener is not None:
            self.offsets_listener.on_high_watermark_updated(self, self.high_watermark)
        return AppendInfo(
            first_offset=first_offset,
            last_offset=next_offset - 1,
            log_append_time_ms=-1 if append_time is None else append_time,
            max_timestamp=max_timestamp,
            offset_of_max_timestamp=offset_of_max,
            log_start_offset=self.log_start_offset,
        )

    def _log_storage_error(self, problem: str | None, now_ms: int) -> None:
        """Log a failed write once per partition, then at most once per STORAGE_ERROR_LOG_INTERVAL_MS."""
        self._storage_errors_unlogged += 1
        last = self._storage_error_logged_ms
        if last is not None and now_ms - last < STORAGE_ERROR_LOG_INTERVAL_MS:
            return
        logger.error(
            "appends failed, answered KAFKA_STORAGE_ERROR (disk full?)",
            extra={"partition": self._dir.name, "failed_appends": self._storage_errors_unlogged, "error": problem},
        )
        self._storage_errors_unlogged = 0
        self._storage_error_logged_ms = now_ms

    def _index_aborted_txns(
        self, segment: LogSegment, assigned: list[BatchHeader], markers: list[Marker | None]
    ) -> None:
        """Add the transactions that abort markers end to ``segment``'s .txnindex, before the markers."""
        for header, marker in zip(assigned, markers, strict=True):
            if marker is None or not marker.aborted:
                continue
            state = self.producer_state
            completed = state.preview_completion(header, aborted=True)
            if completed.first_offset is not None:
                lso = state.last_stable_offset_after(completed)
                entry = AbortedTxn(header.producer_id, completed.first_offset, header.base_offset, lso)
                segment.txn_index.append(entry)

    @property
    def producer_state(self) -> ProducerStateManager:
        """Producers' state, loaded on first use from the newest snapshot plus the batches after it."""
        if self._producer_state is None:
            self._producer_state = self._load_producer_state()
        return self._producer_state

    def _load_producer_state(self) -> ProducerStateManager:
        """The newest usable snapshot, then the batches after it (or the whole log without one).

        Expired producers are dropped from the snapshot as Kafka does, and from the replayed batches too
        (Kafka leaves those to its next expiration check), so no restart brings an expired producer back.
        """
        now_ms, expiration_ms = self._clock.wall_ms(), self.producer_id_expiration_ms
        state, snapshot_offset = ProducerStateManager.load(
            self._fs, self._dir, self._log_end_offset, now_ms=now_ms, expiration_ms=expiration_ms
        )
        state.replay(self._batches_from(self.log_start_offset if snapshot_offset is None else snapshot_offset))
        state.remove_expired(now_ms, expiration_ms)
        return state

    def remove_expired_producers(self, now_ms: int) -> list[int]:
        """Kafka's UnifiedLog.removeExpiredProducers; the producer ids forgotten. A state not loaded yet
        is left alone: loading it drops what has expired by then."""
        if self._producer_state is None:
            return []
        return self._producer_state.remove_expired(now_ms, self.producer_id_expiration_ms)

    def _batches_from(self, start_offset: int) -> Iterator[tuple[BatchHeader, CompletedTxn | None]]:
        """Headers of the batches from ``start_offset`` on, each marker with what it completes."""
        for segment in self._segments.from_floor(start_offset):
            for position, header in segment.batch_headers():
                if header.base_offset < start_offset:
                    continue
                completed = None
                if header.is_control and header.producer_id != NO_PRODUCER_ID:
                    marker = read_marker(segment.pread(header.size, position))
                    if marker is not None:
                        completed = CompletedTxn(header.producer_id, None, header.base_offset, marker.aborted)
                yield header, completed

    def take_snapshot(self) -> None:
        """Write the producer state at the log end offset (on roll and close, as Kafka does)."""
        if self._producer_state is not None:
            self._producer_state.take_snapshot(self._fs, self._dir, self._log_end_offset)

    @property
    def last_stable_offset(self) -> int:
        """The first offset of the earliest ongoing transaction, else the high watermark (Kafka's LSO)."""
        first = self.producer_state.first_unstable_offset()
        return self.high_watermark if first is None else min(first, self.high_watermark)

    def aborted_transactions(self, start_offset: int, end_offset: int) -> list[AbortedTxn]:
        """Aborted transactions that may hold records in [start_offset, end_offset), from the .txnindex files."""
        segments = self._segments.from_floor(start_offset)
        return [entry for s in segments for entry in s.txn_index.overlapping(start_offset, end_offset)]

    def _check_producers(
        self, headers: list[BatchHeader], markers: list[Marker | None], *, check_sequences: bool
    ) -> BatchMetadata | None:
        """Sequence/epoch checks of idempotent batches and markers; the original of a retried single batch."""
        if all(h.producer_id == NO_PRODUCER_ID for h in headers):
            return None
        state = self.producer_state
        if not check_sequences:
            for header, marker in zip(headers, markers, strict=True):
                if marker is not None:
                    state.check_marker(header, marker.coordinator_epoch)
            return None
        if len(headers) == 1 and markers[0] is None:
            duplicate = state.find_duplicate(headers[0])
            if duplicate is not None:
                return duplicate
        for header, marker in zip(headers, markers, strict=True):
            if header.producer_id == NO_PRODUCER_ID:
                continue
            if marker is None:
                state.check(header)
            else:
                state.check_marker(header, marker.coordinator_epoch)
        return None

    def _maybe_roll(self, append_size: int, last_offset: int, now_ms: int) -> LogSegment:
        """Kafka's shouldRoll: full, too old, or the offsets would not fit the int32 index."""
        segment = self._segments.active
        if segment.size == 0:
            return segment
        config = self._config
        full = segment.size > config.segment_bytes - append_size
        old = segment.rolling_base_ms is not None and now_ms - segment.rolling_base_ms > config.segment_ms
        overflow = last_offset - segment.base_offset > MAX_RELATIVE_OFFSET
        if full or old or overflow:
            return self._roll()
        return segment

    def roll(self) -> LogSegment:
        """Start a new active segment at the log end offset (no-op if the active one is empty)."""
        with self._lock:
            if self._segments.active.size == 0:
                return self._segments.active
            return self._roll()

    def _roll(self) -> LogSegment:
        self._segments.active.on_become_inactive()
        self.take_snapshot()
        segment = LogSegment(
            self._dir, self._log_end_offset, fs=self._fs, index_interval_bytes=self._config.index_interval_bytes
        )
        self._segments.add(segment)
        self._dir_needs_fsync = True
        return segment

    def read(
        self,
        offset: int,
        max_bytes: int,
        *,
        min_one_batch: bool = True,
        max_offset: int | None = None,
    ) -> FetchSlice | None:
        """Locate whole batches from the one holding ``offset``, within one segment file.

        Up to ``max_bytes``, but with ``min_one_batch`` at least the first batch whole even if
        larger (Kafka's behaviour, so consumers always progress). ``max_offset`` is an
        exclusive bound on batch base offsets (for read_committed). None when there is nothing
        to return: ``offset`` is the log end offset, or nothing fits the limits. Raises
        KafkaError(OFFSET_OUT_OF_RANGE) outside [log start offset, log end offset].
        """
        log_end_offset = self._log_end_offset
        if offset == log_end_offset:
            return None
        if offset < self.log_start_offset or offset > log_end_offset:
            raise KafkaError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"offset {offset} is outside [{self.log_start_offset}, {log_end_offset}]",
            )
        if max_offset is not None and offset >= max_offset:
            return None
        for segment in self._segments.from_floor(offset):
            found = segment.read(offset, max_bytes, min_one_batch, max_offset=max_offset)
            if found is None:
                continue
            position, length = found
            if length == 0:
                return None
            return FetchSlice(segment, position, length)
        return None

    def offset_metadata(self, offset: int) -> OffsetMetadata:
        """The segment and position of the batch holding ``offset``; the log end offset (or anything
        past the last batch) is the end of the active segment, as Kafka's log end offset metadata is.

        A delayed fetch compares the metadata of its fetch offset with the high watermark's (or LSO's)
        to know whether the data it waits for is already there.
        """
        for segment in self._segments.from_floor(offset):
            found = segment.translate_offset(offset) if offset < segment.next_offset else None
            if found is not None:
                return OffsetMetadata(segment.base_offset, found[0])
        active = self._segments.active
        return OffsetMetadata(active.base_offset, active.size)

    def offset_for_timestamp(self, timestamp: int) -> OffsetAndTimestamp | None:
        """The first record whose timestamp is >= ``timestamp`` (ListOffsets); None if none.

        Only real timestamps: the caller maps ListOffsets' -1 (latest) and -2 (earliest) to
        ``log_end_offset`` and ``log_start_offset``, and -3 to ``max_timestamp_and_offset``.
        """
        start_offset = self.log_start_offset
        for segment in self._segments:
            if segment.max_timestamp_so_far < timestamp:
                continue
            found = segment.find_offset_by_timestamp(timestamp, start_offset)
            if found is not None:
                return OffsetAndTimestamp(found.offset, found.timestamp)
        return None

    def max_timestamp_and_offset(self) -> TimestampOffset | None:
        """(timestamp, offset) of the first record with the largest timestamp (ListOffsets -3)."""
        if self._log_end_offset == self.log_start_offset:
            return None
        newest = max(self._segments, key=lambda segment: segment.max_timestamp_so_far)
        return newest.max_timestamp_and_offset()

    def needs_flush(self, now_ms: int) -> bool:
        """Whether flush.messages or flush.ms asks for an fsync now (both off by default)."""
        unflushed = self._log_end_offset - self._recovery_point
        if unflushed <= 0:
            return False
        config = self._config
        if config.flush_messages is not None and unflushed >= config.flush_messages:
            return True
        return config.flush_ms is not None and now_ms - self._last_flush_ms >= config.flush_ms

    def flush(self, *, now_ms: int | None = None) -> None:
        """fsync every segment holding unflushed data; safe to call from a worker thread.

        The fsyncs run outside the append lock, so the event loop keeps appending meanwhile;
        the recovery point only advances to what was appended when the flush started.
        """
        with self._lock:
            target = self._log_end_offset
            if target <= self._recovery_point and not self._dir_needs_fsync:
                return
            segments = self._segments.from_floor(self._recovery_point)
            fsync_dir, self._dir_needs_fsync = self._dir_needs_fsync, False
        for segment in segments:
            segment.flush()
        if fsync_dir:
            try:
                self._fs.fsync_dir(self._dir)
            except FileNotFoundError:
                return  # the topic was deleted meanwhile
        with self._lock:
            self._recovery_point = max(self._recovery_point, target)
            self._last_flush_ms = self._clock.wall_ms() if now_ms is None else now_ms

    # Retention, DeleteRecords and compaction: all run on the event loop (see kafkapy.storage.retention
    # and kafkapy.storage.cleaner), so readers never see the segment list change under them.

    def delete_records_before(self, offset: int) -> int:
        """DeleteRecords: move the log start offset up to ``offset`` and drop segments wholly below it.

        Returns the new log start offset. Raises KafkaError(OFFSET_OUT_OF_RANGE) past the high watermark.
        """
        if offset > self.high_watermark or offset < 0:
            raise KafkaError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"Cannot increment the log start offset to {offset} of partition {self._dir.name} "
                f"since it is larger than the high watermark {self.high_watermark}",
            )
        if offset > self._log_start_offset:
            self._log_start_offset = offset
            self.delete_old_segments(self._clock.wall_ms(), retention=False)
        return self._log_start_offset

    def delete_old_segments(self, now_ms: int, *, retention: bool = True) -> int:
        """Kafka's deleteOldSegments: segments below the log start offset, past retention.ms or over retention.bytes.

        The time and size limits apply only with cleanup.policy delete (and ``retention``). An expired
        active segment is rolled first, as Kafka does. Returns how many segments were deleted.
        """
        config = self._config
        by_time = retention and config.delete and config.retention_ms >= 0
        excess = self.size_in_bytes - config.retention_bytes if retention and config.delete else -1
        excess = excess if config.retention_bytes >= 0 else -1
        doomed: list[LogSegment] = []
        segments = self._segments.values()
        for index, segment in enumerate(segments):
            is_active = index == len(segments) - 1
            if is_active and segment.size == 0:
                break
            below_start = not is_active and segments[index + 1].base_offset <= self._log_start_offset
            expired = by_time and now_ms - segment.largest_timestamp > config.retention_ms
            oversized = excess >= segment.size
            if not (below_start or expired or oversized):
                break
            excess -= segment.size
            doomed.append(segment)
        if not doomed:
            return 0
        with self._lock:
            if doomed[-1] is self._segments.active:
                self._roll()
            self._segments.remove_first(len(doomed))
            self._log_start_offset = max(self._log_start_offset, self._segments.first.base_offset)
            self._retire(doomed, now_ms)
        logger.info(
            "deleted segments",
            extra={"partition": self._dir.name, "segments": len(doomed), "log_start_offset": self._log_start_offset},
        )
        return len(doomed)

    def _retire(self, segments: Sequence[LogSegment], now_ms: int) -> None:
        """Rename removed segments to .deleted; their fds stay open for in-flight sendfiles until purged."""
        due = now_ms + self._config.file_delete_delay_ms
        for segment in segments:
            try:
                segment.rename_suffix(DELETED_FILE_SUFFIX)
            except OSError as exc:
                logger.warning("renaming a deleted segment failed", extra={"path": segment.log_path, "error": exc})
            self._deleted.append((due, segment))
        self._dir_needs_fsync = True

    def purge_deleted(self, now_ms: int | None = None) -> None:
        """Close and remove the .deleted segments whose file.delete.delay.ms is over (all of them if now_ms is None)."""
        keep = []
        for due, segment in self._deleted:
            if now_ms is None or due <= now_ms:
                segment.delete()
            else:
                keep.append((due, segment))
        self._deleted = keep

    def moved_to(self, directory: Path) -> None:
        """The partition directory was renamed for deletion: point every file there, and refuse swaps."""
        self._dir = directory
        self._moved = True
        for segment in [*self._segments, *(segment for _, segment in self._deleted)]:
            segment.moved_to(directory)

    def cleanable_segments(self) -> list[LogSegment]:
        """The closed segments (everything but the active one), for the cleaner."""
        return self._segments.closed()

    def replace_segments(self, old: Sequence[LogSegment], new: LogSegment, now_ms: int) -> bool:
        """Swap a cleaned ``.swap`` segment in for ``old`` (Kafka's replaceSegments); False if ``old`` changed.

        ``old`` must still be consecutive closed segments of this log: retention, DeleteRecords or
        a deletion of the topic during cleaning make the swap abort.
        """
        with self._lock:
            if self._moved or not self._segments.holds_closed_run(old):
                return False
            self._retire(old, now_ms)
            new.rename_suffix("")
            self._segments.replace(old, new)
        return True

    def truncate_to(self, offset: int) -> None:
        """Remove everything from ``offset`` on (Kafka's truncateTo, used when rewinding).

        Kafka cuts at batch boundaries, so a batch straddling ``offset`` goes entirely and the
        log end offset becomes the end of the last batch kept. At or below the first segment's
        base offset the log is emptied and restarts at ``offset``.
        """
        with self._lock:
            if offset >= self._log_end_offset:
                return
            self._producer_state = None
            if offset <= self._segments.first.base_offset:
                self._truncate_fully_and_start_at(offset)
                return
            for segment in self._segments.remove_from(offset):
                segment.delete()
            active = self._segments.active
            active.truncate_to(offset)
            active.load_rolling_base(self._clock.wall_ms())
            self._log_end_offset = active.next_offset
            self._log_start_offset = min(self._log_start_offset, self._log_end_offset)
            self._recovery_point = min(self._recovery_point, self._log_end_offset)
            self._dir_needs_fsync = True

    def _truncate_fully_and_start_at(self, offset: int) -> None:
        for segment in self._segments:
            segment.delete()
        segment = LogSegment(self._dir, offset, fs=self._fs, index_interval_bytes=self._config.index_interval_bytes)
        self._segments.reset(segment)
        self._log_end_offset = offset
        self._log_start_offset = offset
        self._recovery_point = offset
        self._dir_needs_fsync = True

    def close(self) -> None:
        """Snapshot the producer state and close every segment (call flush first for fsync)."""
        with self._lock:
            self.take_snapshot()
            for segment in self._segments:
                segment.close()
        self.purge_deleted()

    def delete(self) -> None:
        """Close the log and remove its directory."""
        self.close()
        self._fs.rmtree(self._dir)

    def __repr__(self) -> str:
        return (
            f"Log({self._dir.name}, log_start_offset={self.log_start_offset}, "
            f"log_end_offset={self._log_end_offset}, segments={len(self._segments)})"
        )
