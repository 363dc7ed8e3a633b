"""The log cleaner: compaction of topics with cleanup.policy=compact (Kafka's LogCleaner).

One background task picks the dirtiest compacted partition, as Kafka's cleaner thread does, and
cleans it in a worker thread:

1. Plan (event loop): the closed segments up to the first uncleanable offset, which is the active
   segment, a segment younger than min.compaction.lag.ms or the first offset of an open transaction.
   The part already cleaned ends at the first dirty offset (``cleaner-offset-checkpoint``).
2. Map (worker): decode the dirty part and remember the last offset of every key.
3. Copy (worker): rewrite the cleanable segments, merged into groups of at most segment.bytes, into
   ``.cleaned`` files keeping a record when no later record has its key. Offsets, timestamps,
   producer ids, epochs, sequences and the transactional flag stay as they were (gaps are allowed).
   Records of aborted transactions go; markers and the ``.txnindex`` entries stay. A tombstone is
   kept the first time its batch is cleaned, stamped with a delete horizon of now + delete.retention.ms
   (KIP-534), and removed by a cleaning after that. A producer's last batch stays, empty if need be,
   so its sequence survives. Finished files are fsynced and renamed to ``.swap``.
4. Swap (event loop, under the log's lock): the originals are renamed ``.deleted`` (their open fds
   keep serving fetches until file.delete.delay.ms) and the ``.swap`` files take their names.
   ``Log.open`` finishes an interrupted swap (``recover_leftover_files``).

The worker reads through its own duplicated handles, so retention or a topic deletion closing the
segments meanwhile cannot disturb it; the swap then sees the segments changed and aborts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import trio

from kafkapy.protocol.records import (
    DELETE_HORIZON_FLAG,
    NO_PRODUCER_ID,
    BatchHeader,
    Record,
    build_batch,
    iter_records,
    parse_batch_header,
)
from kafkapy.storage.checkpoint import CLEANER_OFFSET_CHECKPOINT, read_checkpoint, write_checkpoint
from kafkapy.storage.log import Log
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_manager import LogManager
from kafkapy.storage.segment import CLEANED_FILE_SUFFIX, MAX_RELATIVE_OFFSET, SWAP_FILE_SUFFIX, LogSegment, iter_batches
from kafkapy.storage.txn_index import AbortedTxn

logger = logging.getLogger("kafkapy.cleaner")

# Cleaned batches are written to the new segment in chunks of about this size.
_WRITE_CHUNK = 1 << 20


@dataclass
class SourceSegment:
    """A closed segment as the worker sees it: its own handle, so nobody can close it under the worker."""

    segment: LogSegment
    fd: int
    size: int
    base_offset: int
    next_offset: int
    aborted: list[AbortedTxn]


@dataclass
class CleaningPlan:
    """What one cleaning of one partition covers."""

    topic: str
    partition: int
    log: Log
    config: LogConfig
    sources: list[SourceSegment]
    # Offsets in [first_dirty, end) are mapped; everything below end is rewritten.
    first_dirty: int
    end: int
    now_ms: int
    dirty_ratio: float

    def close(self) -> None:
        for source in self.sources:
            self.log.fs.close(source.fd)


@dataclass
class CleanerStats:
    """What one cleaning did (for logs and tests)."""

    records_read: int = 0
    records_kept: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    # The earliest delete horizon of a tombstone kept, if any: the log needs cleaning again then.
    next_horizon_ms: int | None = None
    groups: list[tuple[list[LogSegment], LogSegment]] = field(default_factory=list)


class LogCleaner:
    """Compacts every partition of compacted topics in the background (Kafka's LogCleaner + LogCleanerManager)."""

    def __init__(self, logs: LogManager, *, backoff_ms: int, now_ms: Callable[[], int]) -> None:
        self.logs = logs
        self.backoff_ms = backoff_ms
        self._now_ms = now_ms
        self._checkpoint_path = logs.data_dir / CLEANER_OFFSET_CHECKPOINT
        self._first_dirty = read_checkpoint(logs.fs, self._checkpoint_path)
        # Earliest delete horizon of the tombstones each partition keeps (None: none kept); a partition
        # missing here after a restart is due at once if it has been cleaned before.
        self._horizons: dict[tuple[str, int], int | None] = {}
        # Woken by ``trigger`` (a topic became compacted, tests) to skip the rest of the backoff.
        self._wakeup = trio.Event()

    async def run(self) -> None:
        """Clean the dirtiest partition, again and again; sleep log.cleaner.backoff.ms when none is dirty.

        A cleaning that fails is logged and retried after the backoff: it never takes the broker down.
        """
        while True:
            try:
                cleaned = await self.clean_dirtiest()
            except Exception:
                logger.exception("cleaning failed; retrying after log.cleaner.backoff.ms")
                cleaned = False
            if not cleaned:
                self._wakeup = trio.Event()
                with trio.move_on_after(self.backoff_ms / 1000):
                    await self._wakeup.wait()

    def trigger(self) -> None:
        self._wakeup.set()

    async def clean_dirtiest(self) -> bool:
        """Clean the compacted partition that needs it most; False if none does."""
        plan = self._grab_filthiest(self._now_ms())
        if plan is None:
            return False
        try:
            stats = await trio.to_thread.run_sync(clean, plan)
        finally:
            plan.close()
        self._swap(plan, stats)
        return True

    def _grab_filthiest(self, now_ms: int) -> CleaningPlan | None:
        best: CleaningPlan | None = None
        for topic, partition, log in self.logs.logs():
            if not log.config.compact:
                continue
            plan = self._plan(topic, partition, log, now_ms)
            if plan is not None and (best is None or plan.dirty_ratio > best.dirty_ratio):
                if best is not None:
                    best.close()
                best = plan
            elif plan is not None:
                plan.close()
        return best

    def _plan(self, topic: str, partition: int, log: Log, now_ms: int) -> CleaningPlan | None:
        """Kafka's LogCleanerManager.cleanableOffsets and dirty ratio, for one log (on the event loop)."""
        config = log.config
        closed = log.cleanable_segments()
        if not closed:
            return None
        first_dirty = self._first_dirty.get((topic, partition), 0)
        if not log.log_start_offset <= first_dirty <= log.log_end_offset:
            first_dirty = log.log_start_offset
        uncleanable = min(log.active_segment.base_offset, log.last_stable_offset)
        cleanable: list[LogSegment] = []
        for segment in closed:
            if segment.next_offset > uncleanable:
                break
            if segment.base_offset >= first_dirty and now_ms - segment.largest_timestamp < config.min_compaction_lag_ms:
                break
            cleanable.append(segment)
        if not cleanable:
            return None
        clean_bytes = sum(s.size for s in cleanable if s.next_offset <= first_dirty)
        dirty = [s for s in cleanable if s.next_offset > first_dirty]
        dirty_bytes = sum(s.size for s in dirty)
        ratio = dirty_bytes / max(clean_bytes + dirty_bytes, 1)
        tp = (topic, partition)
        horizon = self._horizons.get(tp, 0 if first_dirty > log.log_start_offset else None)
        due = ratio >= config.min_cleanable_dirty_ratio and dirty_bytes > 0
        due = due or (dirty and now_ms - _first_timestamp(dirty[0]) > config.max_compaction_lag_ms)
        due = due or (horizon is not None and horizon <= now_ms)
        if not due:
            return None
        start = cleanable[0].base_offset
        end = cleanable[-1].next_offset
        aborted = log.aborted_transactions(start, end)
        sources = [
            SourceSegment(s, s.dup(), s.size, s.base_offset, s.next_offset, aborted) for s in cleanable
        ]
        return CleaningPlan(topic, partition, log, config, sources, max(first_dirty, start), end, now_ms, ratio)

    def _swap(self, plan: CleaningPlan, stats: CleanerStats) -> None:
        """Swap the cleaned segments in (event loop); abandon the rest if the log changed meanwhile."""
        log = plan.log
        swapped = True
        for old, new in stats.groups:
            if swapped and log.replace_segments(old, new, self._now_ms()):
                continue
            swapped = False
            new.delete()
        if not swapped:
            logger.info(
                "the log changed during cleaning; will retry", extra={"topic": plan.topic, "partition": plan.partition}
            )
            return
        self._horizons[(plan.topic, plan.partition)] = stats.next_horizon_ms
        self._first_dirty[(plan.topic, plan.partition)] = plan.end
        self._write_checkpoint()
        logger.info(
            "cleaned",
            extra={
                "topic": plan.topic,
                "partition": plan.partition,
                "first_offset": plan.sources[0].base_offset,
                "end_offset": plan.end,
                "records_kept": stats.records_kept,
                "records_read": stats.records_read,
                "bytes_read": stats.bytes_read,
                "bytes_written": stats.bytes_written,
            },
        )

    def _write_checkpoint(self) -> None:
        live = {(topic, partition) for topic, partition, _ in self.logs.logs()}
        self._first_dirty = {tp: offset for tp, offset in self._first_dirty.items() if tp in live}
        write_checkpoint(self.logs.fs, self._checkpoint_path, self._first_dirty)

    def forget(self, topic: str) -> None:
        """A topic was deleted: its cleaner checkpoints go with it."""
        self._first_dirty = {tp: offset for tp, offset in self._first_dirty.items() if tp[0] != topic}
        self._horizons = {tp: horizon for tp, horizon in self._horizons.items() if tp[0] != topic}


def _first_timestamp(segment: LogSegment) -> int:
    """The max timestamp of the segment's first batch (Kafka's estimate of when it became dirty)."""
    for _, header in segment.batch_headers():
        return header.max_timestamp
    return segment.largest_timestamp


def _is_aborted(header: BatchHeader, aborted: Sequence[AbortedTxn]) -> bool:
    """Whether a transactional data batch belongs to an aborted transaction."""
    return any(
        a.producer_id == header.producer_id and a.first_offset <= header.base_offset <= a.last_offset for a in aborted
    )


def _offset_map(plan: CleaningPlan) -> tuple[dict[bytes, int], dict[int, int]]:
    """Key -> offset of its last record in the dirty part (Kafka's SkimpyOffsetMap, without hashing), and
    producer id -> base offset of its last data batch in the whole range (kept, even emptied, for its sequence).
    """
    latest: dict[bytes, int] = {}
    last_batches: dict[int, int] = {}
    for source in plan.sources:
        for _, header, data in iter_batches(plan.log.fs, source.fd, 0, source.size):
            if header.producer_id != NO_PRODUCER_ID and not header.is_control:
                last_batches[header.producer_id] = header.base_offset
            if header.is_control or header.last_offset < plan.first_dirty:
                continue
            if header.is_transactional and _is_aborted(header, source.aborted):
                continue
            for record in iter_records(data):
                if record.key is not None and record.offset >= plan.first_dirty:
                    latest[record.key] = record.offset
    return latest, last_batches


def _groups(plan: CleaningPlan) -> list[list[SourceSegment]]:
    """Consecutive sources merged while their total fits segment.bytes and the int32 relative offsets."""
    groups: list[list[SourceSegment]] = []
    for source in plan.sources:
        if groups:
            group = groups[-1]
            size = sum(s.size for s in group) + source.size
            span = source.next_offset - group[0].base_offset
            if size <= plan.config.segment_bytes and span <= MAX_RELATIVE_OFFSET:
                group.append(source)
                continue
        groups.append([source])
    return groups


def clean(plan: CleaningPlan) -> CleanerStats:
    """Build the offset map and write the cleaned ``.swap`` segments (in a worker thread)."""
    stats = CleanerStats()
    latest, last_batches = _offset_map(plan)
    directory = plan.log.dir
    fs = plan.log.fs
    try:
        for group in _groups(plan):
            cleaned = LogSegment(
                directory,
                group[0].base_offset,
                fs=fs,
                index_interval_bytes=plan.config.index_interval_bytes,
                suffix=CLEANED_FILE_SUFFIX,
            )
            stats.groups.append(([s.segment for s in group], cleaned))
            for source in group:
                _copy_segment(plan, source, cleaned, latest, last_batches, stats)
                for entry in source.segment.txn_index.entries:
                    cleaned.txn_index.append(entry)
            cleaned.on_become_inactive()
            cleaned.flush()
            cleaned.rename_suffix(SWAP_FILE_SUFFIX)
        fs.fsync_dir(directory)
    except BaseException:
        for _, cleaned in stats.groups:
            cleaned.delete()
        stats.groups.clear()
        raise
    return stats


def _copy_segment(
    plan: CleaningPlan,
    source: SourceSegment,
    cleaned: LogSegment,
    latest: dict[bytes, int],
    last_batches: dict[int, int],
    stats: CleanerStats,
) -> None:
    """Kafka's cleanInto: the retained part of each batch of ``source`` appended to ``cleaned``."""
    pending = bytearray()
    headers: list[BatchHeader] = []
    for _, header, data in iter_batches(plan.log.fs, source.fd, 0, source.size):
        stats.bytes_read += header.size
        kept = _retain(plan, header, data, source.aborted, latest, last_batches.get(header.producer_id), stats)
        if kept is None:
            continue
        headers.append(parse_batch_header(kept))
        pending += kept
        if len(pending) >= _WRITE_CHUNK:
            cleaned.append(pending, headers, now_ms=plan.now_ms)
            stats.bytes_written += len(pending)
            pending, headers = bytearray(), []
    if pending:
        cleaned.append(pending, headers, now_ms=plan.now_ms)
        stats.bytes_written += len(pending)


def _retain(
    plan: CleaningPlan,
    header: BatchHeader,
    data: memoryview,
    aborted: Sequence[AbortedTxn],
    latest: dict[bytes, int],
    producer_last_batch: int | None,
    stats: CleanerStats,
) -> bytes | None:
    """The batch as it stays in the cleaned log (maybe unchanged, maybe rebuilt or emptied), or None."""
    if header.is_control:
        return bytes(data)
    horizon = header.base_timestamp if header.attributes & DELETE_HORIZON_FLAG else None
    discard_txn = header.is_transactional and _is_aborted(header, aborted)
    kept: list[Record] = []
    has_tombstone = False
    for record in iter_records(data):
        stats.records_read += 1
        if discard_txn or record.key is None or latest.get(record.key, -1) > record.offset:
            continue
        if record.value is None:
            if horizon is not None and plan.now_ms >= horizon:
                continue
            has_tombstone = True
        kept.append(record)
    stats.records_kept += len(kept)
    if has_tombstone:
        horizon = horizon if horizon is not None else plan.now_ms + plan.config.delete_retention_ms
        stats.next_horizon_ms = horizon if stats.next_horizon_ms is None else min(stats.next_horizon_ms, horizon)
    else:
        horizon = None
    if len(kept) == header.records_count and bool(header.attributes & DELETE_HORIZON_FLAG) == (horizon is not None):
        return bytes(data)
    if not kept and producer_last_batch != header.base_offset:
        return None
    return build_batch(
        kept,
        base_offset=header.base_offset,
        compression=header.compression,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        transactional=header.is_transactional,
        partition_leader_epoch=header.partition_leader_epoch,
        log_append_time=header.log_append_time,
        offset_deltas=[record.offset - header.base_offset for record in kept],
        last_offset_delta=header.last_offset_delta,
        delete_horizon_ms=horizon,
    )

