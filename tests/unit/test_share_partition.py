"""SharePartition record states (KIP-932): acquire, acknowledge, release, reject, lock expiry, delivery
counts and the start offset, with a hand-moved clock."""

from __future__ import annotations

import pytest

from kafkapy.coordinator.share_partition import (
    AcknowledgeType,
    AcquiredRecords,
    BatchInfo,
    RecordState,
    SharePartition,
    StateBatch,
)
from kafkapy.protocol.errors import ErrorCode, KafkaError

LOCK_MS = 30_000
ACCEPT, RELEASE, REJECT, RENEW, GAP = (
    AcknowledgeType.ACCEPT,
    AcknowledgeType.RELEASE,
    AcknowledgeType.REJECT,
    AcknowledgeType.RENEW,
    AcknowledgeType.GAP,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def partition(start: int = 0, limit: int = 3, locks: int = 2000, **kw: object) -> tuple[SharePartition, Clock]:
    clock = Clock()
    sp = SharePartition(
        start, clock_ms=clock, delivery_count_limit=lambda: limit, max_record_locks=lambda: locks, **kw
    )
    return sp, clock


BATCHES = [BatchInfo(0, 9), BatchInfo(10, 19), BatchInfo(20, 29)]


def test_new_batches_are_acquired_whole_with_delivery_count_one() -> None:
    sp, _ = partition()
    assert sp.fetch_offset() == 0
    got = sp.acquire("a", BATCHES, max_records=15, lock_duration_ms=LOCK_MS)
    # Whole batches while under max_records: the second batch passes the limit, the third is not taken.
    assert got == [AcquiredRecords(0, 9, 1), AcquiredRecords(10, 19, 1)]
    assert sp.end_offset == 19 and sp.fetch_offset() == 20
    assert sp.acquired_count("a") == 20


def test_accept_advances_the_start_offset() -> None:
    sp, _ = partition()
    sp.acquire("a", BATCHES[:2], 100, LOCK_MS)
    sp.acknowledge("a", 10, 19, [ACCEPT])
    assert sp.start_offset == 0  # 0..9 still acquired
    sp.acknowledge("a", 0, 9, [ACCEPT])
    assert sp.start_offset == 20 and sp.snapshot() == []


def test_released_records_are_redelivered_with_a_higher_count() -> None:
    sp, _ = partition()
    sp.acquire("a", BATCHES[:1], 100, LOCK_MS)
    # Per-offset types split the batch: 3 released, the others accepted.
    sp.acknowledge("a", 0, 9, [ACCEPT] * 3 + [RELEASE] + [ACCEPT] * 6)
    assert sp.start_offset == 3 and sp.fetch_offset() == 3
    assert sp.state_of(3) == (RecordState.AVAILABLE, 1)
    assert sp.acquire("b", BATCHES[:1], 100, LOCK_MS) == [AcquiredRecords(3, 3, 2)]
    sp.acknowledge("b", 3, 3, [ACCEPT])
    assert sp.start_offset == 10


def test_delivery_count_limit_archives_a_released_record() -> None:
    sp, _ = partition(limit=2)
    sp.acquire("a", [BatchInfo(0, 0)], 100, LOCK_MS)
    sp.acknowledge("a", 0, 0, [RELEASE])
    assert sp.acquire("a", [BatchInfo(0, 0)], 100, LOCK_MS) == [AcquiredRecords(0, 0, 2)]
    sp.acknowledge("a", 0, 0, [RELEASE])
    # Two deliveries made: archived, never delivered again, and the start offset moves past it.
    assert sp.state_of(0) is None and sp.start_offset == 1
    assert sp.acquire("a", [BatchInfo(0, 0)], 100, LOCK_MS) == []


def test_reject_and_gap_archive() -> None:
    sp, _ = partition()
    sp.acquire("a", BATCHES[:1], 100, LOCK_MS)
    sp.acknowledge("a", 0, 4, [REJECT])
    sp.acknowledge("a", 5, 5, [GAP])
    assert sp.start_offset == 6


def test_acknowledging_records_not_acquired_by_the_member_fails_and_changes_nothing() -> None:
    sp, _ = partition()
    sp.acquire("a", BATCHES[:1], 100, LOCK_MS)
    with pytest.raises(KafkaError) as err:
        sp.acknowledge("b", 0, 9, [ACCEPT])
    assert err.value.code == ErrorCode.INVALID_RECORD_STATE
    with pytest.raises(KafkaError) as err:
        sp.acknowledge("a", 5, 12, [ACCEPT])  # 10..12 were never delivered
    assert err.value.code == ErrorCode.INVALID_RECORD_STATE
    assert sp.state_of(5) == (RecordState.ACQUIRED, 1)
    with pytest.raises(KafkaError) as err:
        sp.acknowledge("a", 0, 9, [ACCEPT, ACCEPT])
    assert err.value.code == ErrorCode.INVALID_REQUEST


def test_lock_expiry_makes_records_available_and_renew_extends_it() -> None:
    sp, clock = partition()
    sp.acquire("a", BATCHES[:2], 100, LOCK_MS)
    clock.now += LOCK_MS - 1
    sp.acknowledge("a", 10, 19, [RENEW], lock_duration_ms=LOCK_MS)
    clock.now += 1
    assert sp.fetch_offset() == 0  # 0..9 expired
    assert sp.state_of(0) == (RecordState.AVAILABLE, 1)
    assert sp.state_of(10) == (RecordState.ACQUIRED, 1)
    with pytest.raises(KafkaError):
        sp.acknowledge("a", 0, 9, [ACCEPT])
    assert sp.acquire("b", BATCHES, 100, LOCK_MS) == [
        AcquiredRecords(0, 9, 2),
        AcquiredRecords(20, 29, 1),
    ]


def test_lock_expiry_past_the_limit_archives() -> None:
    sp, clock = partition(limit=1)
    sp.acquire("a", BATCHES[:1], 100, LOCK_MS)
    clock.now += LOCK_MS
    assert sp.fetch_offset() == 10 and sp.start_offset == 10


def test_release_member() -> None:
    sp, _ = partition()
    sp.acquire("a", BATCHES[:1], 100, LOCK_MS)
    sp.acquire("b", BATCHES[1:2], 100, LOCK_MS)
    assert sp.release_member("a") == 10
    assert sp.state_of(0) == (RecordState.AVAILABLE, 1) and sp.state_of(10) == (RecordState.ACQUIRED, 1)


def test_max_record_locks_bounds_new_records() -> None:
    sp, _ = partition(locks=15)
    assert sp.acquire("a", BATCHES, 100, LOCK_MS) == [AcquiredRecords(0, 9, 1), AcquiredRecords(10, 19, 1)]
    assert sp.fetch_offset() is None
    sp.acknowledge("a", 0, 9, [ACCEPT])
    assert sp.fetch_offset() == 20


def test_skipped_batches_are_archived_not_delivered() -> None:
    sp, _ = partition()
    got = sp.acquire("a", [BatchInfo(0, 4), BatchInfo(5, 5, skip=True), BatchInfo(6, 9)], 100, LOCK_MS)
    assert got == [AcquiredRecords(0, 4, 1), AcquiredRecords(6, 9, 1)]
    sp.acknowledge("a", 0, 4, [ACCEPT])
    assert sp.start_offset == 6


def test_snapshot_reload_makes_acquired_records_available_with_their_counts() -> None:
    sp, _ = partition()
    sp.acquire("a", BATCHES, 100, LOCK_MS)
    sp.acknowledge("a", 0, 4, [ACCEPT])
    sp.acknowledge("a", 10, 19, [RELEASE])
    snap = sp.snapshot()
    assert snap == [
        StateBatch(5, 9, RecordState.ACQUIRED, 1),
        StateBatch(10, 19, RecordState.AVAILABLE, 1),
        StateBatch(20, 29, RecordState.ACQUIRED, 1),
    ]
    again, _ = partition(start=sp.start_offset, state_batches=snap)
    assert again.start_offset == 5 and again.end_offset == 29 and again.fetch_offset() == 5
    assert again.acquire("b", BATCHES, 100, LOCK_MS) == [
        AcquiredRecords(5, 9, 2),
        AcquiredRecords(10, 19, 2),
        AcquiredRecords(20, 29, 2),
    ]
