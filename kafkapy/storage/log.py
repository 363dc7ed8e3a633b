"""One partition's log: an ordered list of segments with Kafka's append, read and recovery rules.

Everything here is synchronous. The trio server calls ``append`` and ``read`` directly because
they only touch the page cache; ``flush`` (fsync) is meant to run in a worker thread, so the
state it shares with appends is guarded by a lock.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import NO_PRODUCER_ID, BatchHeader, assign_offsets, parse_batch_header
from kafkapy.storage.index import CorruptIndexError, TimestampOffset
from kafkapy.storage.producer_state import BatchMetadata, ProducerStateManager
from kafkapy.storage.segment import (
    INDEX_FILE_SUFFIX,
    LOG_FILE_SUFFIX,
    MAX_RELATIVE_OFFSET,
    TIME_INDEX_FILE_SUFFIX,
    LogSegment,
)

logger = logging.getLogger("kafkapy.storage")

CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"

# Segment files are named by their base offset, zero-padded to 20 digits.
_SEGMENT_STEM = re.compile(r"\d{20}")

# Kafka writes Long.MAX_VALUE for "never" (flush.messages, flush.ms).
_LONG_MAX = 2**63 - 1


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class LogConfig:
    """Per-topic log settings: Kafka's topic config names in snake_case, with Kafka's defaults."""

    # segment.bytes <- log.segment.bytes, 1 GiB.
    segment_bytes: int = 1024 * 1024 * 1024
    # segment.ms <- log.roll.hours = 168 (7 days).
    segment_ms: int = 7 * 24 * 60 * 60 * 1000
    # index.interval.bytes <- log.index.interval.bytes, 4096.
    index_interval_bytes: int = 4096
    # flush.messages <- log.flush.interval.messages, Long.MAX_VALUE: no forced fsync (None).
    flush_messages: int | None = None
    # flush.ms <- log.flush.interval.ms, unset (falls back to Long.MAX_VALUE): None.
    flush_ms: int | None = None
    # retention.ms <- log.retention.hours = 168 (7 days); -1 means keep forever.
    retention_ms: int = 7 * 24 * 60 * 60 * 1000
    # retention.bytes <- log.retention.bytes, -1: no size limit.
    retention_bytes: int = -1
    # message.timestamp.type <- log.message.timestamp.type, CreateTime.
    message_timestamp_type: str = CREATE_TIME
    # max.message.bytes <- message.max.bytes, 1 MiB plus the 12-byte log overhead.
    max_message_bytes: int = 1024 * 1024 + 12

    def with_overrides(self, configs: dict[str, str]) -> LogConfig:
        """Apply topic config overrides given by Kafka name ("segment.bytes": "1024").

        Other Kafka topic configs (cleanup.policy, compression.type, ...) are accepted and kept
        but not interpreted here; unknown names and bad values raise KafkaError(INVALID_CONFIG).
        """
        changes: dict[str, object] = {}
        for name, raw in configs.items():
            parser = _CONFIG_PARSERS.get(name)
            if parser is None:
                if name not in TOPIC_CONFIG_NAMES:
                    raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")
                continue
            field, convert = parser
            try:
                changes[field] = convert(raw)
            except ValueError as exc:
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"invalid value {raw!r} for {name}: {exc}") from None
        return dataclasses.replace(self, **changes)


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def convert(raw: str) -> int:
        value = int(raw)
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return convert


def _optional_long(minimum: int) -> Callable[[str], int | None]:
    at_least = _int_at_least(minimum)

    def convert(raw: str) -> int | None:
        value = at_least(raw)
        return None if value >= _LONG_MAX else value

    return convert


def _timestamp_type(raw: str) -> str:
    if raw not in (CREATE_TIME, LOG_APPEND_TIME):
        raise ValueError(f"must be {CREATE_TIME} or {LOG_APPEND_TIME}")
    return raw


# Every topic-level config Apache Kafka 4 knows (LogConfig / TopicConfig).
TOPIC_CONFIG_NAMES = frozenset(
    {
        "cleanup.policy",
        "compression.type",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.zstd.level",
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "follower.replication.throttled.replicas",
        "index.interval.bytes",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "max.compaction.lag.ms",
        "max.message.bytes",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.type",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "min.insync.replicas",
        "preallocate",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
        "unclean.leader.election.enable",
    }
)

# Minimums follow Kafka's LogConfig validators.
_CONFIG_PARSERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "segment.bytes": ("segment_bytes", _int_at_least(14)),
    "segment.ms": ("segment_ms", _int_at_least(1)),
    "index.interval.bytes": ("index_interval_bytes", _int_at_least(0)),
    "flush.messages": ("flush_messages", _optional_long(1)),
    "flush.ms": ("flush_ms", _optional_long(0)),
    "retention.ms": ("retention_ms", _int_at_least(-1)),
    "retention.bytes": ("retention_bytes", _int_at_least(-1)),
    "message.timestamp.type": ("message_timestamp_type", _timestamp_type),
    "max.message.bytes": ("max_message_bytes", _int_at_least(0)),
}


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

    ``fd`` belongs to the segment: never close it, and use the slice right away, since closing
    the log or deleting the segment (truncation, later retention) closes the fd.
    """

    fd: int
    position: int
    length: int
    segment_base_offset: int

    def read_bytes(self) -> bytes:
        """The slice's bytes, via pread (for when sendfile cannot be used)."""
        parts: list[bytes] = []
        position, remaining = self.position, self.length
        while remaining > 0:
            chunk = os.pread(self.fd, remaining, position)
            if not chunk:
                break
            parts.append(chunk)
            position += len(chunk)
            remaining -= len(chunk)
        return b"".join(parts)


class OffsetAndTimestamp(NamedTuple):
    """ListOffsets' answer for a timestamp: the first record at or after it."""

    offset: int
    timestamp: int


class Log:
    """One partition's log on disk: ``<data_dir>/<topic>-<partition>/`` (Kafka's UnifiedLog)."""

    def __init__(self, directory: Path, config: LogConfig, segments: list[LogSegment], *, now_ms: int) -> None:
        """Wrap already-opened, recovered segments; use ``Log.open``."""
        self._dir = directory
        self._config = config
        self._segments = segments
        self._base_offsets = [segment.base_offset for segment in segments]
        self._log_end_offset = segments[-1].next_offset
        self._lock = threading.Lock()
        # Kafka's recoveryPoint: everything below it is known to be fsynced.
        self._recovery_point = self._log_end_offset
        self._last_flush_ms = now_ms
        self._dir_needs_fsync = False
        self._producer_state: ProducerStateManager | None = None

    @classmethod
    def open(cls, directory: Path, config: LogConfig, *, now_ms: int | None = None) -> Log:
        """Load the partition's segments, recovering the active one and any with a bad index.

        A fresh directory gets an empty segment at offset 0.
        """
        now_ms = _now_ms() if now_ms is None else now_ms
        directory.mkdir(parents=True, exist_ok=True)
        base_offsets = sorted(
            int(path.stem) for path in directory.glob("*" + LOG_FILE_SUFFIX) if _SEGMENT_STEM.fullmatch(path.stem)
        )
        for suffix in (INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX):
            for path in directory.glob("*" + suffix):
                if not path.with_suffix(LOG_FILE_SUFFIX).exists():
                    logger.warning("%s: deleting index file without a log file", path)
                    path.unlink()
        if not base_offsets:
            base_offsets = [0]
        segments = [
            LogSegment(directory, base, index_interval_bytes=config.index_interval_bytes) for base in base_offsets
        ]
        for segment in segments[:-1]:
            if not segment.needs_recovery:
                try:
                    segment.sanity_check()
                except CorruptIndexError as exc:
                    logger.warning("%s; rebuilding the indexes of %s", exc, segment.log_path)
                    segment.needs_recovery = True
            if segment.needs_recovery:
                segment.recover()
                segment.on_become_inactive()
        # Like Kafka after an unclean shutdown, always re-check the active segment's tail.
        active = segments[-1]
        active.recover()
        active.load_rolling_base(now_ms)
        return cls(directory, config, segments, now_ms=now_ms)

    @property
    def dir(self) -> Path:
        return self._dir

    @property
    def config(self) -> LogConfig:
        return self._config

    def update_config(self, config: LogConfig) -> None:
        """Switch to new settings; they apply from the next append or roll."""
        self._config = config

    @property
    def segments(self) -> tuple[LogSegment, ...]:
        return tuple(self._segments)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments[-1]

    @property
    def log_start_offset(self) -> int:
        return self._segments[0].base_offset

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
    ) -> AppendInfo:
        """Assign offsets to validated batches (in place) and append them to the active segment.

        ``headers`` are validate_batches' result for ``buf``. Rolls a new segment first when
        the batches would overflow segment.bytes or the segment is older than segment.ms.
        Raises KafkaError MESSAGE_TOO_LARGE for a batch over max.message.bytes and
        RECORD_LIST_TOO_LARGE when the data cannot fit in any segment.
        """
        config = self._config
        if not headers:
            return AppendInfo(-1, -1, -1, -1, -1, self.log_start_offset)
        for header in headers:
            if header.size > config.max_message_bytes:
                raise KafkaError(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"batch of {header.size} bytes exceeds max.message.bytes {config.max_message_bytes}",
                )
        if len(buf) > config.segment_bytes:
            raise KafkaError(
                ErrorCode.RECORD_LIST_TOO_LARGE,
                f"{len(buf)} bytes exceed segment.bytes {config.segment_bytes}",
            )
        append_time = now_ms if config.message_timestamp_type == LOG_APPEND_TIME else None
        duplicate = self._check_producers(headers)
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
            segment = self._maybe_roll(len(buf), next_offset - 1, now_ms)
            segment.append(buf, assigned, now_ms=now_ms)
            self._log_end_offset = next_offset
        for header in assigned:
            if header.producer_id != NO_PRODUCER_ID:
                self.producer_state.update(header)
        newest = max(assigned, key=lambda header: header.max_timestamp)
        if append_time is not None:
            max_timestamp, offset_of_max = append_time, first_offset
        else:
            max_timestamp, offset_of_max = newest.max_timestamp, newest.last_offset
        return AppendInfo(
            first_offset=first_offset,
            last_offset=next_offset - 1,
            log_append_time_ms=-1 if append_time is None else append_time,
            max_timestamp=max_timestamp,
            offset_of_max_timestamp=offset_of_max,
            log_start_offset=self.log_start_offset,
        )

    @property
    def producer_state(self) -> ProducerStateManager:
        """Idempotent producers' state, rebuilt from the batch headers on first use."""
        if self._producer_state is None:
            self._producer_state = ProducerStateManager.rebuild(
                header for segment in self._segments for _, header in segment.batch_headers()
            )
        return self._producer_state

    def _check_producers(self, headers: list[BatchHeader]) -> BatchMetadata | None:
        """Sequence/epoch checks of idempotent batches; the original of a retried single batch."""
        idempotent = [h for h in headers if h.producer_id != NO_PRODUCER_ID]
        if not idempotent:
            return None
        state = self.producer_state
        if len(headers) == 1:
            duplicate = state.find_duplicate(headers[0])
            if duplicate is not None:
                return duplicate
        for header in idempotent:
            state.check(header)
        return None

    def _maybe_roll(self, append_size: int, last_offset: int, now_ms: int) -> LogSegment:
        """Kafka's shouldRoll: full, too old, or the offsets would not fit the int32 index."""
        segment = self._segments[-1]
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
            if self._segments[-1].size == 0:
                return self._segments[-1]
            return self._roll()

    def _roll(self) -> LogSegment:
        self._segments[-1].on_become_inactive()
        segment = LogSegment(self._dir, self._log_end_offset, index_interval_bytes=self._config.index_interval_bytes)
        self._segments.append(segment)
        self._base_offsets.append(segment.base_offset)
        self._dir_needs_fsync = True
        return segment

    def _segment_index_for(self, offset: int) -> int:
        """Index of the segment whose range holds ``offset`` (the floor by base offset)."""
        return max(bisect_right(self._base_offsets, offset) - 1, 0)

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
        for segment in self._segments[self._segment_index_for(offset) :]:
            found = segment.read(offset, max_bytes, min_one_batch, max_offset=max_offset)
            if found is None:
                continue
            position, length = found
            if length == 0:
                return None
            return FetchSlice(segment.fd, position, length, segment.base_offset)
        return None

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
            first = self._segment_index_for(self._recovery_point)
            segments = self._segments[first:]
            fsync_dir, self._dir_needs_fsync = self._dir_needs_fsync, False
        for segment in segments:
            segment.flush()
        if fsync_dir:
            dir_fd = os.open(self._dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        with self._lock:
            self._recovery_point = max(self._recovery_point, target)
            self._last_flush_ms = _now_ms() if now_ms is None else now_ms

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
            if offset <= self._segments[0].base_offset:
                self._truncate_fully_and_start_at(offset)
                return
            while self._segments[-1].base_offset >= offset:
                self._segments.pop().delete()
                self._base_offsets.pop()
            active = self._segments[-1]
            active.truncate_to(offset)
            active.load_rolling_base(_now_ms())
            self._log_end_offset = active.next_offset
            self._recovery_point = min(self._recovery_point, self._log_end_offset)
            self._dir_needs_fsync = True

    def _truncate_fully_and_start_at(self, offset: int) -> None:
        for segment in self._segments:
            segment.delete()
        segment = LogSegment(self._dir, offset, index_interval_bytes=self._config.index_interval_bytes)
        self._segments = [segment]
        self._base_offsets = [offset]
        self._log_end_offset = offset
        self._recovery_point = offset
        self._dir_needs_fsync = True

    def close(self) -> None:
        """Close every segment; the bytes stay in the page cache (call flush first for fsync)."""
        with self._lock:
            for segment in self._segments:
                segment.close()

    def delete(self) -> None:
        """Close the log and remove its directory."""
        self.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __repr__(self) -> str:
        return (
            f"Log({self._dir.name}, log_start_offset={self.log_start_offset}, "
            f"log_end_offset={self._log_end_offset}, segments={len(self._segments)})"
        )
