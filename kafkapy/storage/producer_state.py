"""Per-partition producer state for idempotent and transactional producers (Kafka's ProducerStateManager).

For each producer id the partition remembers its epoch, the sequence ranges and offsets of its last
five batches (so a retried batch is answered with its original offsets instead of being written
twice, and a gap in sequence numbers is refused), the epoch of the coordinator that wrote its last
marker and the first offset of its ongoing transaction. The earliest such first offset bounds the
partition's last stable offset (LSO).

The state is snapshotted to ``<offset>.snapshot`` files in Kafka's layout (version 1):

    version int16 | crc uint32 (CRC32C of what follows) | count int32 | entries...
    entry: producerId int64 | epoch int16 | lastSequence int32 | lastOffset int64 | offsetDelta int32 |
           timestamp int64 | coordinatorEpoch int32 | currentTxnFirstOffset int64 (-1: none)

Kafka writes one entry per producer (its last batch). kafkapy writes one entry per retained batch,
oldest first, so its snapshots keep the five-batch window; Kafka's reader keeps the last entry of each
producer id, which is exactly the entry it would have written itself.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import crc32c

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import NO_PRODUCER_ID, BatchHeader
from kafkapy.storage.fs import FileSystem
from kafkapy.storage.segment import OFFSET_STEM, file_stem

logger = logging.getLogger("kafkapy.storage")

# Kafka keeps five batches per producer: a producer has at most five in flight
# (max.in.flight.requests.per.connection <= 5 with idempotence).
NUM_BATCHES_TO_RETAIN = 5
NO_PRODUCER_EPOCH = -1
NO_COORDINATOR_EPOCH = -1
INT32_MAX = 2**31 - 1

# Kafka's producer.id.expiration.ms (1 day since Kafka 3.0; the broker's setting is passed down): a producer id
# that wrote nothing for this long, by its last batch's timestamp, is forgotten unless its transaction is open.
PRODUCER_ID_EXPIRATION_MS = 86_400_000

SNAPSHOT_FILE_SUFFIX = ".snapshot"
# Producer state snapshots kept per partition (Kafka keeps one per segment; the newest matter).
SNAPSHOTS_TO_KEEP = 2
SNAPSHOT_VERSION = 1
_SNAPSHOT_HEAD = struct.Struct(">hI")
_COUNT = struct.Struct(">i")
_SNAPSHOT_ENTRY = struct.Struct(">qhiqiqiq")


class CorruptSnapshotError(Exception):
    """A snapshot file fails its CRC or layout checks; the state is rebuilt from the log instead."""


@dataclass(frozen=True)
class BatchMetadata:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    max_timestamp: int


class CompletedTxn(NamedTuple):
    """A transaction ended by a marker in this partition (Kafka's CompletedTxn)."""

    producer_id: int
    # First offset of the transaction's data here; None when it wrote nothing to this partition.
    first_offset: int | None
    # The marker's offset.
    last_offset: int
    aborted: bool


@dataclass
class ProducerStateEntry:
    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=NUM_BATCHES_TO_RETAIN))
    coordinator_epoch: int = NO_COORDINATOR_EPOCH
    current_txn_first_offset: int | None = None
    last_timestamp: int = -1

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1

    def set_epoch(self, epoch: int) -> None:
        """A new epoch restarts the sequence numbers, so the retained batches no longer apply."""
        if epoch != self.producer_epoch:
            self.producer_epoch = epoch
            self.batches.clear()


def last_sequence(header: BatchHeader) -> int:
    """The sequence of the batch's last record; sequences wrap at Int32.MAX like Kafka's."""
    last = header.base_sequence + header.last_offset_delta
    return last - INT32_MAX - 1 if last > INT32_MAX else last


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


def snapshot_file_name(offset: int) -> str:
    return file_stem(offset) + SNAPSHOT_FILE_SUFFIX


def list_snapshots(fs: FileSystem, directory: Path) -> list[tuple[int, Path]]:
    """(offset, path) of a partition's producer state snapshots, oldest first (Kafka's listSnapshotFiles)."""
    found = []
    for name in fs.listdir(directory):
        stem = name[: -len(SNAPSHOT_FILE_SUFFIX)]
        if name.endswith(SNAPSHOT_FILE_SUFFIX) and OFFSET_STEM.fullmatch(stem):
            found.append((int(stem), directory / name))
    return sorted(found)


class ProducerStateManager:
    """Producer ids seen in one partition, with their epochs, recent batches and open transactions."""

    def __init__(self) -> None:
        self.producers: dict[int, ProducerStateEntry] = {}
        # producer id -> first offset of its ongoing transaction, in the order transactions began.
        self.ongoing: dict[int, int] = {}

    @classmethod
    def load(
        cls, fs: FileSystem, directory: Path, log_end_offset: int, *, now_ms: int, expiration_ms: int
    ) -> tuple[ProducerStateManager, int | None]:
        """Kafka's loadProducerState: the newest readable snapshot in ``directory``, and its offset.

        Snapshots past the log end are stale (the log was cut) and go, as do unreadable ones. With
        none left: an empty state and None, and the caller replays the log from its start. Producers
        expired by ``now_ms`` are not loaded (Kafka's loadFromSnapshot), so a restart resurrects none.
        """
        state: ProducerStateManager | None = None
        snapshot_offset = None
        for offset, path in reversed(list_snapshots(fs, directory)):
            if offset > log_end_offset:
                fs.unlink(path, missing_ok=True)
                continue
            if state is not None:
                continue
            try:
                state = cls.from_snapshot(fs.read_bytes(path))
                snapshot_offset = offset
            except (OSError, CorruptSnapshotError) as exc:
                logger.warning("unreadable producer state snapshot; ignoring it", extra={"path": path, "error": exc})
                fs.unlink(path, missing_ok=True)
        if state is None:
            return cls(), None
        state.remove_expired(now_ms, expiration_ms)
        return state, snapshot_offset

    def take_snapshot(self, fs: FileSystem, directory: Path, offset: int) -> None:
        """Kafka's takeSnapshot: write the state as the snapshot at ``offset``; keep the newest SNAPSHOTS_TO_KEEP."""
        path = directory / snapshot_file_name(offset)
        try:
            fs.write_atomic(path, self.to_snapshot(), sync=False)
            for _, old in list_snapshots(fs, directory)[:-SNAPSHOTS_TO_KEEP]:
                fs.unlink(old, missing_ok=True)
        except OSError as exc:
            logger.warning("producer state snapshot failed", extra={"path": path, "error": exc})

    def replay(self, headers: Iterable[tuple[BatchHeader, CompletedTxn | None]]) -> None:
        """Apply the log's batches after the snapshot, in offset order (markers with what they completed)."""
        for header, completed in headers:
            if header.producer_id == NO_PRODUCER_ID:
                continue
            if header.is_control:
                if completed is not None:
                    self.complete_txn(header, completed.aborted, NO_COORDINATOR_EPOCH)
            else:
                self.update(header)

    def remove_expired(self, now_ms: int, expiration_ms: int) -> list[int]:
        """Kafka's removeExpiredProducers: forget the producers whose last batch or marker is at least
        ``expiration_ms`` older than ``now_ms``, never one with an ongoing transaction; their ids.

        A retry of such a producer's old batch is then appended again, and it may start at any sequence.
        """
        expired = [
            producer_id
            for producer_id, entry in self.producers.items()
            if entry.current_txn_first_offset is None and now_ms - entry.last_timestamp >= expiration_ms
        ]
        for producer_id in expired:
            del self.producers[producer_id]
        return expired

    def entry(self, producer_id: int) -> ProducerStateEntry | None:
        return self.producers.get(producer_id)

    def first_unstable_offset(self) -> int | None:
        """First offset of the earliest ongoing transaction, if any."""
        return min(self.ongoing.values(), default=None)

    def find_duplicate(self, header: BatchHeader) -> BatchMetadata | None:
        """The stored batch this one repeats (same producer, epoch and sequence range), if any."""
        entry = self.producers.get(header.producer_id)
        if entry is None or entry.producer_epoch != header.producer_epoch:
            return None
        first, last = header.base_sequence, last_sequence(header)
        for batch in entry.batches:
            if batch.first_seq == first and batch.last_seq == last:
                return batch
        return None

    def check(self, header: BatchHeader) -> None:
        """Kafka's epoch, sequence and transaction checks for a client batch about to be appended."""
        entry = self.producers.get(header.producer_id)
        if entry is None or entry.producer_epoch == NO_PRODUCER_EPOCH:
            # A producer this partition has no state for (new, or its batches are gone): Kafka
            # accepts any sequence rather than answering UNKNOWN_PRODUCER_ID (KIP-360).
            return
        if header.producer_epoch < entry.producer_epoch:
            raise KafkaError(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                f"epoch {header.producer_epoch} is older than the current epoch {entry.producer_epoch}",
            )
        if not header.is_transactional and entry.current_txn_first_offset is not None:
            raise KafkaError(
                ErrorCode.INVALID_TXN_STATE,
                f"non-transactional batch from producer {header.producer_id} while its transaction is ongoing",
            )
        if header.producer_epoch > entry.producer_epoch:
            if header.base_sequence != 0:
                raise KafkaError(
                    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                    f"a new epoch {header.producer_epoch} must start at sequence 0, not {header.base_sequence}",
                )
            return
        if not _in_sequence(entry.last_seq, header.base_sequence):
            raise KafkaError(
                ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                f"sequence {header.base_sequence} after {entry.last_seq} for producer {header.producer_id}",
            )

    def check_marker(self, header: BatchHeader, coordinator_epoch: int) -> None:
        """Kafka's checks for a transaction marker: no older producer or coordinator epoch."""
        entry = self.producers.get(header.producer_id)
        if entry is None:
            return
        if header.producer_epoch < entry.producer_epoch:
            raise KafkaError(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                f"marker epoch {header.producer_epoch} is older than the current epoch {entry.producer_epoch}",
            )
        if coordinator_epoch < entry.coordinator_epoch:
            raise KafkaError(
                ErrorCode.TRANSACTION_COORDINATOR_FENCED,
                f"coordinator epoch {coordinator_epoch} is older than {entry.coordinator_epoch}",
            )

    def _entry_for(self, producer_id: int) -> ProducerStateEntry:
        entry = self.producers.get(producer_id)
        if entry is None:
            entry = self.producers[producer_id] = ProducerStateEntry(producer_id)
        return entry

    def update(self, header: BatchHeader) -> None:
        """Record an appended data batch (``header`` carries its final offsets)."""
        entry = self._entry_for(header.producer_id)
        entry.set_epoch(header.producer_epoch)
        entry.batches.append(
            BatchMetadata(
                header.base_sequence,
                last_sequence(header),
                header.base_offset,
                header.last_offset,
                header.max_timestamp,
            )
        )
        entry.last_timestamp = header.max_timestamp
        if header.is_transactional and entry.current_txn_first_offset is None:
            entry.current_txn_first_offset = header.base_offset
            self.ongoing[header.producer_id] = header.base_offset

    def preview_completion(self, header: BatchHeader, aborted: bool) -> CompletedTxn:
        """What appending the marker ``header`` (with its final offset) will complete."""
        entry = self.producers.get(header.producer_id)
        first = entry.current_txn_first_offset if entry is not None else None
        return CompletedTxn(header.producer_id, first, header.base_offset, aborted)

    def last_stable_offset_after(self, completed: CompletedTxn) -> int:
        """The LSO once ``completed`` is done (Kafka's lastStableOffset(completedTxn))."""
        others = (offset for pid, offset in self.ongoing.items() if pid != completed.producer_id)
        return min(others, default=completed.last_offset + 1)

    def complete_txn(self, header: BatchHeader, aborted: bool, coordinator_epoch: int) -> CompletedTxn:
        """Record an appended marker: the producer's transaction in this partition is over."""
        completed = self.preview_completion(header, aborted)
        entry = self._entry_for(header.producer_id)
        entry.set_epoch(header.producer_epoch)
        if coordinator_epoch != NO_COORDINATOR_EPOCH:
            entry.coordinator_epoch = coordinator_epoch
        entry.current_txn_first_offset = None
        entry.last_timestamp = header.max_timestamp
        self.ongoing.pop(header.producer_id, None)
        return completed

    def to_snapshot(self) -> bytes:
        """The state in Kafka's snapshot layout (one entry per retained batch)."""
        body = bytearray()
        count = 0
        for entry in self.producers.values():
            txn_first = -1 if entry.current_txn_first_offset is None else entry.current_txn_first_offset
            batches = list(entry.batches) or [None]
            for batch in batches:
                if batch is None:
                    last_seq, last_offset, delta, timestamp = -1, -1, 0, entry.last_timestamp
                else:
                    last_seq, last_offset = batch.last_seq, batch.last_offset
                    delta, timestamp = batch.last_offset - batch.first_offset, batch.max_timestamp
                body += _SNAPSHOT_ENTRY.pack(
                    entry.producer_id,
                    entry.producer_epoch,
                    last_seq,
                    last_offset,
                    delta,
                    timestamp,
                    entry.coordinator_epoch,
                    txn_first,
                )
                count += 1
        body = _COUNT.pack(count) + body
        return _SNAPSHOT_HEAD.pack(SNAPSHOT_VERSION, crc32c.crc32c(body)) + body

    @classmethod
    def from_snapshot(cls, data: bytes) -> ProducerStateManager:
        """Load a snapshot; raises CorruptSnapshotError."""
        if len(data) < _SNAPSHOT_HEAD.size + _COUNT.size:
            raise CorruptSnapshotError("snapshot too short")
        version, crc = _SNAPSHOT_HEAD.unpack_from(data)
        body = data[_SNAPSHOT_HEAD.size :]
        if version != SNAPSHOT_VERSION:
            raise CorruptSnapshotError(f"snapshot version {version}")
        if crc32c.crc32c(body) != crc:
            raise CorruptSnapshotError("snapshot CRC mismatch")
        (count,) = _COUNT.unpack_from(body)
        if len(body) != _COUNT.size + count * _SNAPSHOT_ENTRY.size:
            raise CorruptSnapshotError("snapshot length does not match its entry count")
        state = cls()
        for i in range(count):
            pid, epoch, last_seq, last_offset, delta, timestamp, coordinator_epoch, txn_first = (
                _SNAPSHOT_ENTRY.unpack_from(body, _COUNT.size + i * _SNAPSHOT_ENTRY.size)
            )
            entry = state._entry_for(pid)
            entry.set_epoch(epoch)
            entry.coordinator_epoch = coordinator_epoch
            entry.last_timestamp = timestamp
            if last_offset >= 0:
                first_seq = last_seq - delta if last_seq >= 0 else -1
                entry.batches.append(BatchMetadata(first_seq, last_seq, last_offset - delta, last_offset, timestamp))
            if txn_first >= 0:
                entry.current_txn_first_offset = txn_first
                state.ongoing[pid] = txn_first
        return state
