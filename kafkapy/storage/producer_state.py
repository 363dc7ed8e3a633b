"""Per-partition producer state for idempotent producers (Kafka's ProducerStateManager).

For each producer id the partition remembers its epoch and the sequence ranges and offsets of its
last five batches, so a retried batch is answered with its original offsets instead of being
written twice, and a gap in sequence numbers is refused. Built lazily from the batch headers of the
log the first time a partition sees an idempotent batch, so start-up stays fast.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import NO_PRODUCER_ID, BatchHeader

# Kafka keeps five batches per producer: a producer has at most five in flight
# (max.in.flight.requests.per.connection <= 5 with idempotence).
NUM_BATCHES_TO_RETAIN = 5
NO_PRODUCER_EPOCH = -1
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class BatchMetadata:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    max_timestamp: int


@dataclass
class ProducerStateEntry:
    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=NUM_BATCHES_TO_RETAIN))

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


def last_sequence(header: BatchHeader) -> int:
    """The sequence of the batch's last record; sequences wrap at Int32.MAX like Kafka's."""
    last = header.base_sequence + header.last_offset_delta
    return last - INT32_MAX - 1 if last > INT32_MAX else last


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


class ProducerStateManager:
    """Producer ids seen in one partition, with their epoch and recent batches."""

    def __init__(self) -> None:
        self.producers: dict[int, ProducerStateEntry] = {}

    @classmethod
    def rebuild(cls, headers: Iterable[BatchHeader]) -> ProducerStateManager:
        """Replay the headers of the batches in the log (in offset order)."""
        state = cls()
        for header in headers:
            if header.producer_id != NO_PRODUCER_ID and not header.is_control:
                state.update(header)
        return state

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
        """Kafka's epoch and sequence checks for a batch about to be appended."""
        entry = self.producers.get(header.producer_id)
        if entry is None or entry.producer_epoch == NO_PRODUCER_EPOCH:
            # A producer this partition has no state for (new, or its batches are gone).
            return
        if header.producer_epoch < entry.producer_epoch:
            raise KafkaError(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                f"epoch {header.producer_epoch} is older than the current epoch {entry.producer_epoch}",
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

    def update(self, header: BatchHeader) -> None:
        """Record an appended batch (``header`` carries its final offsets)."""
        entry = self.producers.get(header.producer_id)
        if entry is None:
            entry = self.producers[header.producer_id] = ProducerStateEntry(header.producer_id)
        if header.producer_epoch != entry.producer_epoch:
            entry.producer_epoch = header.producer_epoch
            entry.batches.clear()
        entry.batches.append(
            BatchMetadata(
                header.base_sequence,
                last_sequence(header),
                header.base_offset,
                header.last_offset,
                header.max_timestamp,
            )
        )
