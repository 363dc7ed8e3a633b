"""The transaction coordinator (Kafka's kafka.coordinator.transaction.TransactionCoordinator).

Runs on the trio event loop and never awaits in the middle of a transition, so a transactional id's
state needs no locks or pending transitions. Every state change is appended to ``__transaction_state``
before it takes effect (Kafka's appendTransactionToLog); ending a transaction writes PrepareCommit or
PrepareAbort, then a COMMIT/ABORT marker to every partition of the transaction (and hands committed
transactional offsets to the group coordinator), then CompleteCommit/CompleteAbort. ``load`` finishes
any transaction left in a Prepare state by a crash, so none stays half-visible.

``run`` (in the broker's nursery) aborts transactions older than their timeout, fencing the producer
by bumping its epoch (Kafka's PrepareEpochFence, which never reaches the log), retries completions a
failed write left prepared, and expires transactional ids idle for transactional.id.expiration.ms.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable

import trio

from kafkapy.broker_config import BrokerConfig
from kafkapy.clock import Clock
from kafkapy.coordinator.group_coordinator import GroupCoordinator
from kafkapy.coordinator.group_records import partition_for
from kafkapy.coordinator.internal_topics import OFFSETS_TOPIC
from kafkapy.coordinator.producer_ids import ProducerIdManager
from kafkapy.coordinator.transaction_log import (
    NO_PRODUCER_EPOCH,
    TransactionMetadata,
    TransactionStateTopic,
    TxnState,
)
from kafkapy.protocol.common import TopicPartition
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import NO_PRODUCER_ID, build_end_txn_marker, validate_batches
from kafkapy.storage.log_manager import LogManager

log = logging.getLogger("kafkapy.coordinator")

# One broker leads every __transaction_state partition for good: its coordinator epoch never changes.
COORDINATOR_EPOCH = 0
# Kafka's TransactionMetadata.isEpochExhausted: Short.MaxValue - 1.
MAX_PRODUCER_EPOCH = 2**15 - 2

_COMPLETE = {True: TxnState.COMPLETE_COMMIT, False: TxnState.COMPLETE_ABORT}
_PREPARE = {True: TxnState.PREPARE_COMMIT, False: TxnState.PREPARE_ABORT}
# Coordinator errors Kafka's ReplicaManager answers an implicitly adding Produce with NOT_ENOUGH_REPLICAS
# (retriable for every producer) instead.
_RETRIED_BY_PRODUCERS = frozenset(
    (
        ErrorCode.NOT_COORDINATOR,
        ErrorCode.COORDINATOR_NOT_AVAILABLE,
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode.CONCURRENT_TRANSACTIONS,
    )
)


class TransactionCoordinator:
    """Every transactional id of this broker and the timers that abort and expire them."""

    def __init__(
        self,
        config: BrokerConfig,
        logs: LogManager,
        producer_ids: ProducerIdManager,
        groups: GroupCoordinator,
        store: TransactionStateTopic,
        *,
        clock: Clock,
    ) -> None:
        self.config = config
        self.clock = clock
        self.logs = logs
        self.producer_ids = producer_ids
        self.groups = groups
        self.store = store
        self.transactions: dict[str, TransactionMetadata] = {}

    # Start-up and timers.

    def load(self) -> None:
        """Rebuild every transactional id and complete the transactions a crash left in a Prepare state."""
        self.transactions = self.store.load()
        self.complete_prepared()
        log.info("loaded transactions", extra={"transactional_ids": len(self.transactions)})

    def reset(self) -> None:
        """Forget every transactional id (KafkaBroker.reset; ``__transaction_state`` is deleted with the topics).

        Producers of an ongoing transaction then meet the errors of a fresh broker's coordinator.
        """
        self.transactions = {}

    def complete_prepared(self) -> None:
        """Write the markers of transactions left in a Prepare state (by a crash or a failed write)."""
        for meta in list(self.transactions.values()):
            if meta.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
                log.info(
                    "completing transaction found in a prepare state",
                    extra={"transactional_id": meta.transactional_id, "state": meta.state.kafka_name},
                )
                self._write_markers_and_complete(meta, meta.state == TxnState.PREPARE_COMMIT)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Abort timed-out transactions and expire idle transactional ids, as Kafka's scheduler does."""
        abort_interval = self.config.transaction_abort_timed_out_transaction_cleanup_interval_ms / 1000
        expire_interval = self.config.transaction_remove_expired_transaction_cleanup_interval_ms / 1000
        now = trio.current_time()
        next_abort, next_expire = now + abort_interval, now + expire_interval
        task_status.started()
        while True:
            await trio.sleep_until(min(next_abort, next_expire))
            now = trio.current_time()
            if now >= next_abort:
                self.complete_prepared()
                self.abort_timed_out_transactions(self.clock.wall_ms())
                next_abort = now + abort_interval
            if now >= next_expire:
                self.expire_transactional_ids(self.clock.wall_ms())
                next_expire = now + expire_interval

    def abort_timed_out_transactions(self, now_ms: int) -> None:
        """Kafka's abortTimedOutTransactions: fence the producer with a new epoch and abort."""
        for meta in list(self.transactions.values()):
            if meta.state == TxnState.ONGOING and meta.start_ms + meta.timeout_ms < now_ms:
                log.info("aborting timed-out transaction", extra={"transactional_id": meta.transactional_id})
                self._fence_and_abort(meta)

    def expire_transactional_ids(self, now_ms: int) -> None:
        """Remove ids whose last transaction ended longer than transactional.id.expiration.ms ago."""
        expiration = self.config.transactional_id_expiration_ms
        for txn_id, meta in list(self.transactions.items()):
            idle = meta.state in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)
            if idle and meta.last_update_ms + expiration <= now_ms:
                try:
                    self.store.append(txn_id, None, now_ms)
                except (KafkaError, OSError) as exc:
                    log.error("writing a transactional id tombstone failed", extra={"error": str(exc)})
                    continue
                del self.transactions[txn_id]
                log.info("expired transactional id", extra={"transactional_id": txn_id})

    # Persistence.

    def _transition(self, meta: TransactionMetadata, **changes: object) -> ErrorCode:
        """Write ``meta`` with ``changes`` to the log, then apply them (Kafka's TxnTransitMetadata)."""
        now = self.clock.wall_ms()
        updated = dataclasses.replace(meta, last_update_ms=now, **changes)
        try:
            self.store.append(meta.transactional_id, updated, now)
        except KafkaError as exc:
            log.error("writing to the transaction log failed", extra={"error": str(exc)})
            return (
                ErrorCode.NOT_COORDINATOR
                if exc.code == ErrorCode.KAFKA_STORAGE_ERROR
                else ErrorCode.UNKNOWN_SERVER_ERROR
            )
        except OSError as exc:
            log.error("writing to the transaction log failed", extra={"error": str(exc)})
            return ErrorCode.NOT_COORDINATOR
        meta.__dict__.update(updated.__dict__)
        self.transactions[meta.transactional_id] = meta
        return ErrorCode.NONE

    # InitProducerId.

    def init_producer_id(
        self, txn_id: str, timeout_ms: int, expected: tuple[int, int] | None
    ) -> tuple[ErrorCode, int, int]:
        """Kafka's handleInitProducerId for a transactional id: (error, producer id, epoch)."""
        if not txn_id:
            return ErrorCode.INVALID_REQUEST, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        if not 0 < timeout_ms <= self.config.transaction_max_timeout_ms:
            return ErrorCode.INVALID_TRANSACTION_TIMEOUT, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        meta = self.transactions.get(txn_id)
        if meta is None:
            meta = TransactionMetadata(txn_id, self.producer_ids.next_producer_id(), timeout_ms=timeout_ms)
            meta.last_update_ms = self.clock.wall_ms()
        if expected is not None and not self._valid_expected_producer(meta, expected):
            return ErrorCode.PRODUCER_FENCED, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        if meta.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return ErrorCode.CONCURRENT_TRANSACTIONS, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        if meta.state == TxnState.ONGOING:
            # Fence the current producer and abort its transaction; the client retries and gets a
            # second bump (Kafka's PrepareEpochFence).
            error = self._fence_and_abort(meta)
            return error or ErrorCode.CONCURRENT_TRANSACTIONS, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        base = {"state": TxnState.EMPTY, "partitions": set(), "start_ms": -1, "timeout_ms": timeout_ms}
        if meta.producer_epoch >= MAX_PRODUCER_EPOCH and (expected is None or expected[1] == meta.producer_epoch):
            # Epochs exhausted: rotate to a new producer id.
            changes = {
                **base,
                "last_producer_id": meta.producer_id,
                "producer_id": self.producer_ids.next_producer_id(),
                "producer_epoch": 0,
                "last_producer_epoch": NO_PRODUCER_EPOCH,
            }
        elif expected is None or meta.producer_epoch == NO_PRODUCER_EPOCH or expected[1] == meta.producer_epoch:
            last = NO_PRODUCER_EPOCH if expected is None else meta.producer_epoch
            changes = {**base, "producer_epoch": meta.producer_epoch + 1, "last_producer_epoch": last}
        elif expected[1] == meta.last_producer_epoch:
            # A retry of a bump whose response was lost.
            changes = base
        else:
            return ErrorCode.PRODUCER_FENCED, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        error = self._transition(meta, **changes)
        if error != ErrorCode.NONE:
            return error, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        log.info(
            "initialized transactional id",
            extra={"transactional_id": txn_id, "producer_id": meta.producer_id, "epoch": meta.producer_epoch},
        )
        return ErrorCode.NONE, meta.producer_id, meta.producer_epoch

    @staticmethod
    def _valid_expected_producer(meta: TransactionMetadata, expected: tuple[int, int]) -> bool:
        producer_id, epoch = expected
        return (
            meta.producer_epoch == NO_PRODUCER_EPOCH
            or producer_id == meta.producer_id
            or (producer_id == meta.last_producer_id and epoch >= MAX_PRODUCER_EPOCH)
        )

    def _fence_and_abort(self, meta: TransactionMetadata) -> ErrorCode:
        """Bump the epoch (unless exhausted) and abort the ongoing transaction with it."""
        epoch = meta.producer_epoch + 1 if meta.producer_epoch < MAX_PRODUCER_EPOCH else meta.producer_epoch
        return self._end(meta, commit=False, epoch=epoch, last_epoch=NO_PRODUCER_EPOCH)

    # AddPartitionsToTxn and AddOffsetsToTxn.

    def _check_producer(
        self, txn_id: str, producer_id: int, epoch: int
    ) -> tuple[ErrorCode, TransactionMetadata | None]:
        if not txn_id:
            return ErrorCode.INVALID_REQUEST, None
        meta = self.transactions.get(txn_id)
        if meta is None or meta.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING, None
        if meta.producer_epoch != epoch:
            return ErrorCode.PRODUCER_FENCED, None
        return ErrorCode.NONE, meta

    def add_partitions(
        self, txn_id: str, producer_id: int, epoch: int, partitions: Iterable[TopicPartition]
    ) -> ErrorCode:
        """Kafka's handleAddPartitionsToTransaction (the caller checked that the partitions exist)."""
        error, meta = self._check_producer(txn_id, producer_id, epoch)
        if meta is None:
            return error
        wanted = set(partitions)
        if meta.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return ErrorCode.CONCURRENT_TRANSACTIONS
        if meta.state == TxnState.ONGOING:
            if wanted <= meta.partitions:
                return ErrorCode.NONE
            return self._transition(meta, partitions=meta.partitions | wanted)
        return self._transition(meta, state=TxnState.ONGOING, partitions=wanted, start_ms=self.clock.wall_ms())

    def verify_partitions(
        self, txn_id: str, producer_id: int, epoch: int, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, ErrorCode]:
        """AddPartitionsToTxn v4+ verify_only: which partitions are already in the ongoing transaction (the
        others are TRANSACTION_ABORTABLE, KIP-890)."""
        error, meta = self._check_producer(txn_id, producer_id, epoch)
        result = {}
        for tp in partitions:
            if meta is None:
                result[tp] = error
            elif meta.state == TxnState.ONGOING and tp in meta.partitions:
                result[tp] = ErrorCode.NONE
            else:
                result[tp] = ErrorCode.TRANSACTION_ABORTABLE
        return result

    def verify_produce(
        self, txn_id: str | None, producer_id: int, epoch: int, partition: TopicPartition, *, implicit_add: bool
    ) -> None:
        """Kafka's transaction verification of a transactional batch (KIP-890); raises KafkaError.

        The batch must come with its transactional id and the id's current producer and epoch (another
        epoch, older or newer, is PRODUCER_FENCED, which Produce answers as INVALID_PRODUCER_EPOCH by the
        specs' error line, as Kafka's AddPartitionsToTxnManager does). A partition outside the ongoing
        transaction is added to it when ``implicit_add`` (transaction version 2: Produce v12+ does what
        AddPartitionsToTxn did; a coordinator busy ending the transaction gets NOT_ENOUGH_REPLICAS, which
        producers retry), else TRANSACTION_ABORTABLE.
        """
        if not txn_id:
            raise KafkaError(ErrorCode.INVALID_RECORD, "transactional records without a transactional id")
        meta = self.transactions.get(txn_id)
        if meta is None or meta.producer_id != producer_id:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if epoch != meta.producer_epoch:
            raise KafkaError(ErrorCode.PRODUCER_FENCED)
        if meta.state == TxnState.ONGOING and partition in meta.partitions:
            return
        if not implicit_add:
            # Kafka's answer (TRANSACTION_ABORTABLE) carries no message; older versions get INVALID_TXN_STATE
            # with one from the specs' error line.
            raise KafkaError(ErrorCode.TRANSACTION_ABORTABLE)
        error = self.add_partitions(txn_id, producer_id, epoch, [partition])
        if error in _RETRIED_BY_PRODUCERS:
            raise KafkaError(ErrorCode.NOT_ENOUGH_REPLICAS)
        if error != ErrorCode.NONE:
            raise KafkaError(error)

    def offsets_partition(self, group_id: str) -> TopicPartition:
        """The __consumer_offsets partition holding ``group_id``'s offsets (created if needed)."""
        topic = self.groups.store.ensure_topic()
        return OFFSETS_TOPIC, partition_for(group_id, len(topic.partitions))

    def check_txn_offset_commit(
        self, txn_id: str, producer_id: int, epoch: int, group_id: str, *, implicit_add: bool
    ) -> ErrorCode:
        """TxnOffsetCommit needs the producer's ongoing transaction to hold the group's offsets partition, else
        TRANSACTION_ABORTABLE (KIP-890; INVALID_TXN_STATE before v4, by the specs' error line); under
        transaction version 2 (``implicit_add``, TxnOffsetCommit v5+) it adds the partition itself, as
        AddOffsetsToTxn did."""
        error, meta = self._check_producer(txn_id, producer_id, epoch)
        if meta is None:
            return error
        partition = self.offsets_partition(group_id)
        if meta.state == TxnState.ONGOING and partition in meta.partitions:
            return ErrorCode.NONE
        if implicit_add:
            return self.add_partitions(txn_id, producer_id, epoch, [partition])
        return ErrorCode.TRANSACTION_ABORTABLE

    # EndTxn.

    def end_txn(
        self, txn_id: str, producer_id: int, epoch: int, commit: bool, bump_epoch: bool
    ) -> tuple[ErrorCode, int, int]:
        """Kafka's handleEndTransaction from a client; ``bump_epoch`` for transaction version 2 (EndTxn v5+)."""
        if not txn_id:
            return ErrorCode.INVALID_REQUEST, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        meta = self.transactions.get(txn_id)
        if meta is None or (meta.producer_id != producer_id and not self._retry_on_overflow(meta, producer_id, epoch)):
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        if bump_epoch:
            error = self._end_txn_v2(meta, producer_id, epoch, commit)
        elif epoch != meta.producer_epoch:
            error = ErrorCode.PRODUCER_FENCED
        elif meta.state == TxnState.ONGOING:
            error = self._end(meta, commit, epoch=epoch, last_epoch=meta.last_producer_epoch)
        else:
            error = self._ended_error(meta.state, commit, ErrorCode.NONE)
        if error != ErrorCode.NONE:
            return error, NO_PRODUCER_ID, NO_PRODUCER_EPOCH
        return ErrorCode.NONE, meta.producer_id, meta.producer_epoch

    @staticmethod
    def _retry_on_overflow(meta: TransactionMetadata, producer_id: int, epoch: int) -> bool:
        """A retry of the end that rotated the producer id: it names the old id at its last epoch."""
        return meta.last_producer_id == producer_id and epoch == MAX_PRODUCER_EPOCH and meta.producer_epoch == 0

    def _end_txn_v2(self, meta: TransactionMetadata, producer_id: int, epoch: int, commit: bool) -> ErrorCode:
        """Kafka's endTransaction for transaction version 2, where every end bumps the epoch.

        A retry comes with the epoch before the bump (or the old producer id, rotated) and finds the end
        done; the current epoch of an ended transaction asks for the next end, which only an abort can
        be (an empty transaction, bumping the epoch again). Any other epoch is fenced.
        """
        retried = (meta.producer_id == producer_id and meta.producer_epoch == epoch + 1) or self._retry_on_overflow(
            meta, producer_id, epoch
        )
        if meta.state in (TxnState.ONGOING, TxnState.EMPTY):
            valid = epoch == meta.producer_epoch
        elif meta.state in _PREPARE.values():
            valid = retried
        else:
            valid = retried or epoch == meta.producer_epoch
        if not valid:
            return ErrorCode.PRODUCER_FENCED
        if meta.state == TxnState.ONGOING or not (commit or retried):
            return self._end_with_new_epoch(meta, commit)
        return self._ended_error(meta.state, commit, ErrorCode.NONE if retried else ErrorCode.INVALID_TXN_STATE)

    @staticmethod
    def _ended_error(state: TxnState, commit: bool, done: ErrorCode) -> ErrorCode:
        """EndTxn's answer for a transaction not ongoing: ``done`` when it ended as asked, a retry when it
        is still ending so, else INVALID_TXN_STATE."""
        if state == _COMPLETE[commit]:
            return done
        if state == _PREPARE[commit]:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        return ErrorCode.INVALID_TXN_STATE

    def _end_with_new_epoch(self, meta: TransactionMetadata, commit: bool) -> ErrorCode:
        """End the transaction under the next epoch; with the epochs exhausted, the markers take the last
        one and the completion hands out a new producer id at epoch 0 (Kafka's nextProducerId)."""
        epoch = meta.producer_epoch
        next_id = self.producer_ids.next_producer_id() if epoch >= MAX_PRODUCER_EPOCH else NO_PRODUCER_ID
        return self._end(meta, commit, epoch=epoch + 1, last_epoch=epoch, tv2=True, next_producer_id=next_id)

    def _end(
        self,
        meta: TransactionMetadata,
        commit: bool,
        *,
        epoch: int,
        last_epoch: int,
        tv2: bool = False,
        next_producer_id: int = NO_PRODUCER_ID,
    ) -> ErrorCode:
        """PrepareCommit/PrepareAbort in the log, then the markers, then CompleteCommit/CompleteAbort."""
        changes: dict[str, object] = {
            "state": _PREPARE[commit],
            "producer_epoch": epoch,
            "last_producer_epoch": last_epoch,
            "next_producer_id": next_producer_id,
        }
        if tv2:
            changes["client_txn_version"] = 2
        error = self._transition(meta, **changes)
        if error != ErrorCode.NONE:
            return error
        self._write_markers_and_complete(meta, commit)
        return ErrorCode.NONE

    def _write_markers_and_complete(self, meta: TransactionMetadata, commit: bool) -> None:
        """Kafka's TransactionMarkerChannelManager and its completion, done in place."""
        now = self.clock.wall_ms()
        for topic, index in sorted(meta.partitions):
            partition = self.logs.get_log(topic, index)
            if partition is None:
                log.warning("skipping the marker of a partition that no longer exists", extra={"topic": topic})
                continue
            marker = bytearray(
                build_end_txn_marker(
                    commit,
                    producer_id=meta.producer_id,
                    producer_epoch=meta.producer_epoch,
                    coordinator_epoch=COORDINATOR_EPOCH,
                    timestamp=now,
                )
            )
            try:
                partition.append(marker, validate_batches(marker), now_ms=now, coordinator=True)
            except KafkaError as exc:
                # An older epoch's marker is refused when a newer one fenced it: nothing to end here.
                log.warning("writing a transaction marker failed", extra={"topic": topic, "error": str(exc)})
                continue
            if topic == OFFSETS_TOPIC:
                self.groups.complete_txn_offsets(meta.producer_id, commit)
        error = self._transition(meta, state=_COMPLETE[commit], partitions=set(), **self._rotation(meta))
        if error != ErrorCode.NONE:
            log.error(
                "completing a transaction failed; it stays prepared", extra={"transactional_id": meta.transactional_id}
            )
        else:
            log.info(
                "transaction completed",
                extra={"transactional_id": meta.transactional_id, "state": meta.state.kafka_name},
            )

    @staticmethod
    def _rotation(meta: TransactionMetadata) -> dict[str, int]:
        """The completion's move to the next producer id, when the end chose one."""
        if meta.next_producer_id == NO_PRODUCER_ID:
            return {}
        return {
            "producer_id": meta.next_producer_id,
            "producer_epoch": 0,
            "last_producer_id": meta.producer_id,
            "last_producer_epoch": NO_PRODUCER_EPOCH,
            "next_producer_id": NO_PRODUCER_ID,
        }

    def rewrite_state_topic(self) -> None:
        """Write every transactional id's state again, after DeleteTopics took ``__transaction_state``.

        Kafka 4.3.1 accepts that deletion; the coordinator keeps its transactions (ongoing ones must
        still end, or their partitions' last stable offset would never move), so the new topic gets them.
        """
        now = self.clock.wall_ms()
        for txn_id, meta in self.transactions.items():
            try:
                self.store.append(txn_id, meta, now)
            except (KafkaError, OSError) as exc:
                log.error("writing a transaction state failed", extra={"transactional_id": txn_id, "error": str(exc)})

    # DescribeTransactions and ListTransactions.

    def describe(self, txn_id: str) -> dict:
        """One DescribeTransactions entry."""
        if not txn_id:
            return {"error_code": ErrorCode.INVALID_REQUEST, "transactional_id": txn_id}
        meta = self.transactions.get(txn_id)
        if meta is None or meta.state == TxnState.DEAD:
            return {"error_code": ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, "transactional_id": txn_id}
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(meta.partitions):
            by_topic.setdefault(topic, []).append(partition)
        return {
            "error_code": ErrorCode.NONE,
            "transactional_id": txn_id,
            "transaction_state": meta.state.kafka_name,
            "transaction_timeout_ms": meta.timeout_ms,
            "transaction_start_time_ms": meta.start_ms,
            "producer_id": meta.producer_id,
            "producer_epoch": meta.producer_epoch,
            "topics": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()],
        }

    def list(
        self, states: set[TxnState], producer_ids: set[int], min_duration_ms: int, pattern: str | None
    ) -> list[TransactionMetadata]:
        """Kafka's listTransactionStates with its filters (duration: running at least that long)."""
        regex = re.compile(pattern) if pattern else None
        now = self.clock.wall_ms()
        out = []
        for meta in self.transactions.values():
            if meta.state == TxnState.DEAD:
                continue
            if states and meta.state not in states:
                continue
            if producer_ids and meta.producer_id not in producer_ids:
                continue
            if min_duration_ms >= 0 and now - meta.start_ms < min_duration_ms:
                continue
            if regex is not None and not regex.fullmatch(meta.transactional_id):
                continue
            out.append(meta)
        return out
