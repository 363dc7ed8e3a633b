"""The transaction coordinator in-process: crash recovery of prepared transactions, timeouts, expiry."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig
from kafkapy.clock import SYSTEM_CLOCK, Clock, ManualClock
from kafkapy.coordinator.group import OffsetAndMetadata
from kafkapy.coordinator.group_records import offset_commit_record
from kafkapy.coordinator.transaction_log import TRANSACTION_STATE_TOPIC, TxnState
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import build_batch, validate_batches


def open_broker(tmp_path: Path, clock: Clock = SYSTEM_CLOCK) -> Broker:
    return Broker.open(BrokerConfig(data_dir=tmp_path / "data"), clock=clock)


def start_txn(broker: Broker, txn_id: str = "tid", group: str | None = None) -> tuple[int, int]:
    """A transaction with one record in t-0 (and an offset commit for ``group``), left ongoing."""
    if "t" not in broker.logs.topics:
        broker.logs.create_topic("t", 1)
    coordinator = broker.transactions
    error, pid, epoch = coordinator.init_producer_id(txn_id, 60000, None)
    assert error == ErrorCode.NONE
    assert coordinator.add_partitions(txn_id, pid, epoch, [("t", 0)]) == ErrorCode.NONE
    batch = bytearray(
        build_batch(
            [(None, b"v", [], None)], producer_id=pid, producer_epoch=epoch, base_sequence=0, transactional=True
        )
    )
    now_ms = broker.clock.wall_ms()
    broker.partition("t", 0).append(batch, validate_batches(batch), now_ms=now_ms)
    if group is not None:
        assert coordinator.add_partitions(txn_id, pid, epoch, [coordinator.offsets_partition(group)]) == ErrorCode.NONE
        record = offset_commit_record(group, "t", 0, OffsetAndMetadata(1, -1, "", now_ms))
        broker.groups.store.append(group, [record], now_ms, producer=(pid, epoch))
    return pid, epoch


def test_prepared_commit_is_completed_at_start_up(tmp_path: Path) -> None:
    broker = open_broker(tmp_path)
    start_txn(broker, group="g")
    coordinator = broker.transactions
    # A crash right after PrepareCommit reached the log: no markers written yet.
    assert coordinator._transition(coordinator.transactions["tid"], state=TxnState.PREPARE_COMMIT) == ErrorCode.NONE
    assert broker.partition("t", 0).last_stable_offset == 0
    broker.close()
    reopened = open_broker(tmp_path)
    assert reopened.transactions.transactions["tid"].state == TxnState.COMPLETE_COMMIT
    log = reopened.partition("t", 0)
    assert log.last_stable_offset == log.high_watermark == 2
    assert log.aborted_transactions(0, 2) == []
    assert reopened.groups.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 1
    reopened.close()


def test_prepared_abort_is_completed_and_its_offsets_dropped(tmp_path: Path) -> None:
    broker = open_broker(tmp_path)
    pid, _ = start_txn(broker, group="g")
    coordinator = broker.transactions
    assert coordinator._transition(coordinator.transactions["tid"], state=TxnState.PREPARE_ABORT) == ErrorCode.NONE
    broker.close()
    reopened = open_broker(tmp_path)
    assert reopened.transactions.transactions["tid"].state == TxnState.COMPLETE_ABORT
    log = reopened.partition("t", 0)
    assert log.last_stable_offset == 2
    assert [a.producer_id for a in log.aborted_transactions(0, 2)] == [pid]
    assert reopened.groups.fetch_offsets("g", [("t", 0)])[("t", 0)] is None
    reopened.close()


def test_ongoing_transaction_and_pending_offsets_survive_restart(tmp_path: Path) -> None:
    broker = open_broker(tmp_path)
    pid, epoch = start_txn(broker, group="g")
    broker.close()
    reopened = open_broker(tmp_path)
    assert reopened.partition("t", 0).last_stable_offset == 0
    assert reopened.groups.store.pending_txn.is_pending("g", "t", 0)
    assert reopened.transactions.end_txn("tid", pid, epoch, True, bump_epoch=False)[0] == ErrorCode.NONE
    assert reopened.groups.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 1
    reopened.close()


def test_timed_out_transaction_is_aborted_with_a_new_epoch(tmp_path: Path) -> None:
    clock = ManualClock()
    broker = open_broker(tmp_path, clock)
    pid, epoch = start_txn(broker)
    coordinator = broker.transactions
    clock.advance(60_000)
    coordinator.abort_timed_out_transactions(clock.wall_ms())
    assert coordinator.transactions["tid"].state == TxnState.ONGOING, "aborted at, not after, its timeout"
    clock.advance(1)
    coordinator.abort_timed_out_transactions(clock.wall_ms())
    meta = coordinator.transactions["tid"]
    assert (meta.state, meta.producer_epoch) == (TxnState.COMPLETE_ABORT, epoch + 1)
    assert broker.partition("t", 0).last_stable_offset == 2
    assert coordinator.end_txn("tid", pid, epoch, True, bump_epoch=False)[0] == ErrorCode.PRODUCER_FENCED
    broker.close()


def test_idle_transactional_ids_expire(tmp_path: Path) -> None:
    clock = ManualClock()
    broker = open_broker(tmp_path, clock)
    broker.transactions.init_producer_id("old", 60000, None)
    clock.advance(broker.config.transactional_id_expiration_ms - 1)
    broker.transactions.expire_transactional_ids(clock.wall_ms())
    assert "old" in broker.transactions.transactions
    clock.advance(1)
    broker.transactions.expire_transactional_ids(clock.wall_ms())
    assert "old" not in broker.transactions.transactions
    assert TRANSACTION_STATE_TOPIC in broker.logs.topics
    broker.close()
    assert "old" not in open_broker(tmp_path).transactions.transactions


def test_transaction_version_2_end_bumps_the_epoch_and_only_a_retry_finds_it_done(tmp_path: Path) -> None:
    """EndTxn v5 (KIP-890), as Kafka 4.3.1's endTransaction: a retry comes with the epoch before the bump; the
    new epoch asks for the next end, which only an abort (of an empty transaction) can be; other epochs are
    fenced (compat_tests/test_wire_features.py compares the same steps with the reference)."""
    broker = open_broker(tmp_path)
    pid, epoch = start_txn(broker)
    coordinator = broker.transactions
    assert coordinator.end_txn("tid", pid, epoch, True, bump_epoch=True) == (ErrorCode.NONE, pid, epoch + 1)
    assert coordinator.end_txn("tid", pid, epoch, True, bump_epoch=True) == (ErrorCode.NONE, pid, epoch + 1)
    assert coordinator.end_txn("tid", pid, epoch, False, bump_epoch=True)[0] == ErrorCode.INVALID_TXN_STATE
    assert coordinator.end_txn("tid", pid, epoch + 1, True, bump_epoch=True)[0] == ErrorCode.INVALID_TXN_STATE
    assert coordinator.end_txn("tid", pid, epoch + 5, True, bump_epoch=True)[0] == ErrorCode.PRODUCER_FENCED
    # Transaction version 1 keeps answering a repeated end of the current epoch as done.
    assert coordinator.end_txn("tid", pid, epoch + 1, True, bump_epoch=False)[0] == ErrorCode.NONE
    assert broker.partition("t", 0).last_stable_offset == 2
    assert coordinator.end_txn("tid", pid, epoch + 1, False, bump_epoch=True) == (ErrorCode.NONE, pid, epoch + 2)
    assert coordinator.end_txn("tid", pid, epoch + 1, False, bump_epoch=True) == (ErrorCode.NONE, pid, epoch + 2)
    assert coordinator.end_txn("tid", pid, epoch, False, bump_epoch=True)[0] == ErrorCode.PRODUCER_FENCED
    assert coordinator.transactions["tid"].state == TxnState.COMPLETE_ABORT
    broker.close()


def test_a_producer_whose_transaction_timed_out_learns_the_new_epoch_from_its_abort(tmp_path: Path) -> None:
    """The timeout bumped the epoch and aborted; under transaction version 2 the producer's own abort is
    the retry of that end (Kafka's retryOnEpochBump), and its commit is refused."""
    clock = ManualClock()
    broker = open_broker(tmp_path, clock)
    pid, epoch = start_txn(broker)
    clock.advance(60_001)
    broker.transactions.abort_timed_out_transactions(clock.wall_ms())
    assert broker.transactions.end_txn("tid", pid, epoch, True, bump_epoch=True)[0] == ErrorCode.INVALID_TXN_STATE
    assert broker.transactions.end_txn("tid", pid, epoch, False, bump_epoch=True) == (ErrorCode.NONE, pid, epoch + 1)
    broker.close()


def test_transaction_version_2_produce_adds_its_partition(tmp_path: Path) -> None:
    broker = open_broker(tmp_path)
    broker.logs.create_topic("t", 2)
    coordinator = broker.transactions
    _, pid, epoch = coordinator.init_producer_id("tid", 60000, None)
    with pytest.raises(KafkaError) as refused:
        coordinator.verify_produce("tid", pid, epoch, ("t", 0), implicit_add=False)
    # The coordinator's newest vocabulary; Produce's error lines map it down for versions before v11.
    assert refused.value.code == ErrorCode.TRANSACTION_ABORTABLE
    coordinator.verify_produce("tid", pid, epoch, ("t", 0), implicit_add=True)
    coordinator.verify_produce("tid", pid, epoch, ("t", 1), implicit_add=True)
    meta = coordinator.transactions["tid"]
    assert (meta.state, meta.partitions) == (TxnState.ONGOING, {("t", 0), ("t", 1)})
    for other_epoch in (epoch - 1, epoch + 1):
        with pytest.raises(KafkaError) as fenced:
            coordinator.verify_produce("tid", pid, other_epoch, ("t", 0), implicit_add=True)
        assert fenced.value.code == ErrorCode.PRODUCER_FENCED
    with pytest.raises(KafkaError) as unknown:
        coordinator.verify_produce("tid", pid + 1, epoch, ("t", 0), implicit_add=True)
    assert unknown.value.code == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    broker.close()


def test_transaction_version_2_rotates_the_producer_id_when_its_epochs_run_out(tmp_path: Path) -> None:
    """Kafka's nextProducerId: the end of a transaction at epoch 32766 writes its markers at 32767 and hands
    out a new producer id at epoch 0; a retry names the old id at 32766; the rotation survives a restart."""
    broker = open_broker(tmp_path)
    pid, _ = start_txn(broker)
    coordinator = broker.transactions
    exhausted = 2**15 - 2
    meta = coordinator.transactions["tid"]
    assert coordinator._transition(meta, producer_epoch=exhausted) == ErrorCode.NONE
    error, new_pid, new_epoch = coordinator.end_txn("tid", pid, exhausted, True, bump_epoch=True)
    assert (error, new_epoch) == (ErrorCode.NONE, 0) and new_pid != pid
    assert broker.partition("t", 0).last_stable_offset == 2
    assert coordinator.end_txn("tid", pid, exhausted, True, bump_epoch=True) == (ErrorCode.NONE, new_pid, 0)
    broker.close()

    reopened = open_broker(tmp_path)
    meta = reopened.transactions.transactions["tid"]
    assert (meta.producer_id, meta.producer_epoch, meta.last_producer_id) == (new_pid, 0, pid)
    assert reopened.transactions.end_txn("tid", pid, exhausted, True, bump_epoch=True) == (ErrorCode.NONE, new_pid, 0)
    assert reopened.transactions.end_txn("tid", pid, exhausted - 1, True, bump_epoch=True)[0] == (
        ErrorCode.INVALID_PRODUCER_ID_MAPPING
    )
    reopened.close()


def test_a_rotation_left_prepared_by_a_crash_completes_at_start_up(tmp_path: Path) -> None:
    broker = open_broker(tmp_path)
    pid, _ = start_txn(broker)
    coordinator = broker.transactions
    meta = coordinator.transactions["tid"]
    changes = {"state": TxnState.PREPARE_COMMIT, "next_producer_id": pid + 1000, "client_txn_version": 2}
    assert coordinator._transition(meta, **changes) == ErrorCode.NONE
    broker.close()
    reopened = open_broker(tmp_path)
    meta = reopened.transactions.transactions["tid"]
    assert (meta.state, meta.producer_id, meta.producer_epoch) == (TxnState.COMPLETE_COMMIT, pid + 1000, 0)
    assert reopened.partition("t", 0).last_stable_offset == 2
    reopened.close()
