"""One share partition's record states (Kafka 4.3.1's SharePartition, KIP-932): pure, with an injected clock.

A share group consumes a partition cooperatively: any member may acquire any available record. The
partition keeps the share-partition start offset (SPSO: every record before it is done) and the
in-flight records from there on, by offset range, each range in one state:

    AVAILABLE --acquire--> ACQUIRED --ACCEPT--> ACKNOWLEDGED
        ^                     |  --REJECT / GAP--> ARCHIVED
        +---RELEASE / lock expiry (ARCHIVED once delivery.count.limit deliveries were made)

An acquisition holds a lock of share.record.lock.duration.ms for its member (RENEW extends it). The SPSO
moves over acknowledged and archived records, which are then forgotten. Ranges are whole record batches
as the log holds them, split only where an acknowledgement or a state change cuts through one: a queue
drained batch by batch never looks at single records.

Nothing here does I/O: the SharePartitionManager reads the log, hands its batch headers here and
persists what ``snapshot`` returns.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from kafkapy.protocol.errors import ErrorCode, KafkaError


class RecordState(IntEnum):
    """Kafka's RecordState ids (as ShareSnapshot/ShareUpdate records persist them)."""

    AVAILABLE = 0
    ACQUIRED = 1
    ACKNOWLEDGED = 2
    ARCHIVED = 4


class AcknowledgeType(IntEnum):
    """ShareFetch/ShareAcknowledge AcknowledgeTypes: 0 gap, 1 accept, 2 release, 3 reject, 4 renew (4.3)."""

    GAP = 0
    ACCEPT = 1
    RELEASE = 2
    REJECT = 3
    RENEW = 4


# What an acknowledgement makes of an acquired record (RELEASE is AVAILABLE, or ARCHIVED at the limit).
_ACKNOWLEDGED_STATE = {
    AcknowledgeType.GAP: RecordState.ARCHIVED,
    AcknowledgeType.ACCEPT: RecordState.ACKNOWLEDGED,
    AcknowledgeType.RELEASE: RecordState.AVAILABLE,
    AcknowledgeType.REJECT: RecordState.ARCHIVED,
}

_TERMINAL = (RecordState.ACKNOWLEDGED, RecordState.ARCHIVED)

# Kafka's InvalidRecordStateException message for an acknowledgement of records the member does not hold.
INVALID_RECORD_STATE_MESSAGE = "The record state is invalid. The acknowledgement of delivery could not be completed."


class BatchInfo(NamedTuple):
    """A record batch of the log as the share partition sees it (its header alone)."""

    base_offset: int
    last_offset: int
    # Control batches (transaction markers) and aborted transactions' batches (read_committed) are never
    # delivered: they are archived as they are reached.
    skip: bool = False


class AcquiredRecords(NamedTuple):
    """ShareFetch's AcquiredRecords entry."""

    first_offset: int
    last_offset: int
    delivery_count: int


class StateBatch(NamedTuple):
    """A persisted range (ShareSnapshot/ShareUpdate StateBatches): offsets, state, delivery count."""

    first_offset: int
    last_offset: int
    state: RecordState
    delivery_count: int


def delivery_complete_count(batches: Iterable[StateBatch]) -> int:
    """Kafka's DeliveryCompleteCount: in-flight offsets (past the start offset) whose delivery is done."""
    return sum(b.last_offset - b.first_offset + 1 for b in batches if b.state in _TERMINAL)


@dataclass
class _Range:
    """Records first..last (inclusive) in one state."""

    first: int
    last: int
    state: RecordState
    delivery_count: int
    member_id: str | None = None
    # The wall-clock millisecond an acquisition lock ends (ACQUIRED only).
    lock_deadline_ms: int = 0


class SharePartition:
    """The in-flight records of one share partition of one share group."""

    def __init__(
        self,
        start_offset: int,
        *,
        clock_ms: Callable[[], int],
        delivery_count_limit: Callable[[], int],
        max_record_locks: Callable[[], int],
        state_batches: Iterable[StateBatch] = (),
    ) -> None:
        """``delivery_count_limit`` and ``max_record_locks`` are read at each use, so that a group config
        changed at run time applies at once. ``state_batches``: what was persisted, acquired records
        coming back AVAILABLE with their delivery counts (as Kafka's SharePartition.maybeInitialize)."""
        self.start_offset = start_offset
        self._clock_ms = clock_ms
        self._delivery_count_limit = delivery_count_limit
        self._max_record_locks = max_record_locks
        self._ranges: list[_Range] = []
        # The first offset never taken into the in-flight ranges (every offset below it is in a range
        # or before the start offset).
        self._next_offset = start_offset
        for batch in sorted(state_batches):
            if batch.last_offset < self.start_offset:
                continue
            state = RecordState.AVAILABLE if batch.state == RecordState.ACQUIRED else batch.state
            first = max(batch.first_offset, self.start_offset)
            if first > self._next_offset:
                # A hole between persisted ranges holds records never delivered: available, count 0.
                self._ranges.append(_Range(self._next_offset, first - 1, RecordState.AVAILABLE, 0))
            self._ranges.append(_Range(first, batch.last_offset, state, batch.delivery_count))
            self._next_offset = batch.last_offset + 1
        self._advance_start()

    # ----------------------------------------------------------------------------------------------
    # reading the state

    @property
    def end_offset(self) -> int:
        """Kafka's share-partition end offset (SPEO): the last offset in flight (start - 1 if none)."""
        return self._next_offset - 1

    def fetch_offset(self) -> int | None:
        """Where the next acquisition reads the log: the first available in-flight record, else the first
        offset never delivered; None when max.record.locks in-flight records leave no room."""
        self.expire_locks()
        for r in self._ranges:
            if r.state == RecordState.AVAILABLE:
                return r.first
        if self._next_offset - self.start_offset >= self._max_record_locks():
            return None
        return self._next_offset

    def acquired_count(self, member_id: str | None = None) -> int:
        """Records locked (by one member, or by any)."""
        return sum(
            r.last - r.first + 1
            for r in self._ranges
            if r.state == RecordState.ACQUIRED and (member_id is None or r.member_id == member_id)
        )

    def state_of(self, offset: int) -> tuple[RecordState, int] | None:
        """The state and delivery count of one in-flight offset (None outside the in-flight ranges)."""
        i = self._find(offset)
        if i is None:
            return None
        r = self._ranges[i]
        return r.state, r.delivery_count

    def snapshot(self) -> list[StateBatch]:
        """The in-flight ranges as Kafka persists them (ShareSnapshot's StateBatches), neighbours merged."""
        out: list[StateBatch] = []
        for r in self._ranges:
            if out and out[-1].last_offset + 1 == r.first and out[-1][2:] == (r.state, r.delivery_count):
                out[-1] = out[-1]._replace(last_offset=r.last)
            else:
                out.append(StateBatch(r.first, r.last, r.state, r.delivery_count))
        return out

    # ----------------------------------------------------------------------------------------------
    # changing it

    def acquire(
        self, member_id: str, batches: Iterable[BatchInfo], max_records: int, lock_duration_ms: int
    ) -> list[AcquiredRecords]:
        """Lock available records of ``batches`` (read from the log at ``fetch_offset``) for ``member_id``.

        Whole batches are acquired while fewer than ``max_records`` records are (Kafka's batch-optimized
        mode may pass the limit to end on a batch boundary). Batches past the in-flight ranges become
        in-flight here (delivery count 1); skipped ones (control, aborted) are archived, never delivered.
        """
        self.expire_locks()
        deadline = self._clock_ms() + lock_duration_ms
        acquired: list[AcquiredRecords] = []
        count = 0
        for batch in batches:
            if count >= max_records:
                break
            if batch.last_offset < self.start_offset:
                continue
            count += self._acquire_in_flight(member_id, batch, deadline, acquired)
            if batch.last_offset >= self._next_offset and count < max_records:
                count += self._acquire_new(member_id, batch, deadline, acquired)
        self._advance_start()
        return acquired

    def _acquire_in_flight(
        self, member_id: str, batch: BatchInfo, deadline: int, acquired: list[AcquiredRecords]
    ) -> int:
        """Acquire the AVAILABLE in-flight records of ``batch``; returns how many."""
        count = 0
        for r in self._overlapping(batch.base_offset, batch.last_offset):
            if r.state != RecordState.AVAILABLE:
                continue
            if batch.skip:
                r.state = RecordState.ARCHIVED
                continue
            r.state, r.member_id, r.lock_deadline_ms = RecordState.ACQUIRED, member_id, deadline
            r.delivery_count += 1
            acquired.append(AcquiredRecords(r.first, r.last, r.delivery_count))
            count += r.last - r.first + 1
        return count

    def _acquire_new(self, member_id: str, batch: BatchInfo, deadline: int, acquired: list[AcquiredRecords]) -> int:
        """Take the part of ``batch`` past the in-flight ranges into them, acquired; returns how many."""
        if self._next_offset - self.start_offset >= self._max_record_locks():
            return 0
        first = max(self._next_offset, batch.base_offset)
        if first > self._next_offset:
            # Offsets the log no longer holds (compacted away) between two batches: nothing to deliver.
            self._ranges.append(_Range(self._next_offset, first - 1, RecordState.ARCHIVED, 0))
        self._next_offset = batch.last_offset + 1
        if batch.skip:
            self._ranges.append(_Range(first, batch.last_offset, RecordState.ARCHIVED, 0))
            return 0
        self._ranges.append(_Range(first, batch.last_offset, RecordState.ACQUIRED, 1, member_id, deadline))
        acquired.append(AcquiredRecords(first, batch.last_offset, 1))
        return batch.last_offset - first + 1

    def acknowledge(
        self, member_id: str, first_offset: int, last_offset: int, types: list[int], lock_duration_ms: int = 0
    ) -> None:
        """Apply one AcknowledgementBatch: one type for the whole range, or one per offset.

        Raises KafkaError(INVALID_RECORD_STATE) when a record of the range is not acquired by
        ``member_id`` (Kafka checks the whole batch before changing any), INVALID_REQUEST for a malformed
        batch. RENEW extends the member's lock by ``lock_duration_ms`` from now.
        """
        if last_offset < first_offset or len(types) not in (1, last_offset - first_offset + 1):
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Invalid acknowledgement batch")
        try:
            kinds = [AcknowledgeType(t) for t in types]
        except ValueError:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Invalid acknowledge type") from None
        self.expire_locks()
        ranges = self._overlapping(first_offset, last_offset)
        covered = sum(r.last - r.first + 1 for r in ranges)
        if covered != last_offset - first_offset + 1 or any(
            r.state != RecordState.ACQUIRED or r.member_id != member_id for r in ranges
        ):
            raise KafkaError(ErrorCode.INVALID_RECORD_STATE, INVALID_RECORD_STATE_MESSAGE)
        if len(kinds) == 1:
            for r in ranges:
                self._apply(r, kinds[0], lock_duration_ms)
        else:
            for offset, kind in zip(range(first_offset, last_offset + 1), kinds, strict=True):
                # Distinct types per offset: split down to the record (rare: mixed acknowledgements).
                (single,) = self._overlapping(offset, offset)
                self._apply(single, kind, lock_duration_ms)
        self._advance_start()

    def _apply(self, r: _Range, kind: AcknowledgeType, lock_duration_ms: int) -> None:
        if kind == AcknowledgeType.RENEW:
            r.lock_deadline_ms = self._clock_ms() + lock_duration_ms
            return
        self._set_state(r, _ACKNOWLEDGED_STATE[kind])

    def _set_state(self, r: _Range, state: RecordState) -> None:
        """Move ``r`` out of ACQUIRED; a record made available after its last allowed delivery is archived."""
        if state == RecordState.AVAILABLE and r.delivery_count >= self._delivery_count_limit():
            state = RecordState.ARCHIVED
        r.state, r.member_id, r.lock_deadline_ms = state, None, 0

    def release_member(self, member_id: str) -> int:
        """Make every record ``member_id`` holds available again (its share session closed, or it left the
        group); returns how many."""
        released = 0
        for r in self._ranges:
            if r.state == RecordState.ACQUIRED and r.member_id == member_id:
                released += r.last - r.first + 1
                self._set_state(r, RecordState.AVAILABLE)
        self._advance_start()
        return released

    def expire_locks(self) -> bool:
        """Release the records whose acquisition lock has passed; whether any was."""
        now = self._clock_ms()
        expired = False
        for r in self._ranges:
            if r.state == RecordState.ACQUIRED and r.lock_deadline_ms <= now:
                self._set_state(r, RecordState.AVAILABLE)
                expired = True
        if expired:
            self._advance_start()
        return expired

    def reset_start(self, start_offset: int) -> None:
        """Forget every in-flight record and start at ``start_offset`` (AlterShareGroupOffsets, or the log
        start offset moving past the SPSO)."""
        self._ranges.clear()
        self.start_offset = self._next_offset = start_offset

    # ----------------------------------------------------------------------------------------------
    # ranges

    def _find(self, offset: int) -> int | None:
        i = bisect.bisect_right(self._ranges, offset, key=lambda r: r.first) - 1
        if i >= 0 and self._ranges[i].last >= offset:
            return i
        return None

    def _split_at(self, offset: int) -> None:
        """Make ``offset`` the first offset of a range, if it lies inside one."""
        i = self._find(offset)
        if i is None or self._ranges[i].first == offset:
            return
        r = self._ranges[i]
        tail = _Range(offset, r.last, r.state, r.delivery_count, r.member_id, r.lock_deadline_ms)
        r.last = offset - 1
        self._ranges.insert(i + 1, tail)

    def _overlapping(self, first: int, last: int) -> list[_Range]:
        """The ranges within first..last, split at both ends so that they lie wholly inside."""
        self._split_at(first)
        self._split_at(last + 1)
        lo = bisect.bisect_left(self._ranges, first, key=lambda r: r.first)
        hi = bisect.bisect_right(self._ranges, last, key=lambda r: r.first)
        return self._ranges[lo:hi]

    def _advance_start(self) -> None:
        """Move the SPSO over the acknowledged and archived records at the front (they are done)."""
        done = 0
        for r in self._ranges:
            if r.state not in _TERMINAL:
                break
            done += 1
        if done:
            self.start_offset = self._ranges[done - 1].last + 1
            del self._ranges[:done]
        if not self._ranges:
            self.start_offset = max(self.start_offset, self._next_offset)
