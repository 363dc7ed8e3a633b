"""The share partitions of every share group, and the share sessions reading them (Kafka 4.3.1's
SharePartitionManager, ShareSessionCache and, inside the broker, its share coordinator; KIP-932).

``broker.share_partitions`` is what the share group coordinator (membership, assignment) and the share
APIs use: ``initialize`` a group's share partitions (start offset from ``share.auto.offset.reset``),
``acquire`` records for a member, ``acknowledge`` them, ``release_member`` when a member's session
closes or it leaves the group, ``delete`` a group's state, and the start offsets for the share group
offsets APIs. Every change an acknowledgement makes is written to ``__share_group_state`` before it is
answered (Kafka's WriteShareGroupState), and reloaded at start-up.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import trio

from kafkapy.clock import Clock
from kafkapy.coordinator.group_configs import GroupConfigs
from kafkapy.coordinator.share_partition import AcquiredRecords, BatchInfo, SharePartition
from kafkapy.coordinator.share_state import PersistedState, ShareKey, ShareStateTopic
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import BatchHeader
from kafkapy.storage.log import FetchSlice, Log
from kafkapy.storage.log_manager import LogManager, TopicState
from kafkapy.storage.txn_index import AbortedTxn

log = logging.getLogger("kafkapy.coordinator")

# Java's Duration.parse syntax, as share.auto.offset.reset's by_duration:<duration> takes it.
_DURATION = re.compile(
    r"^([-+]?)P(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+)(?:[.,](\d{0,9}))?S)?)?$",
    re.IGNORECASE,
)


def parse_duration_ms(text: str) -> int:
    """An ISO-8601 duration (``PT1H30M``, ``P2D``) in milliseconds, as Java's Duration.parse reads it."""
    match = _DURATION.match(text.strip())
    if match is None or match.group(0).upper().endswith("T") or not any(match.groups()[1:5]):
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    sign, days, hours, minutes, seconds, fraction = match.groups()
    ms = (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)) * 1000
    if fraction:
        ms += int(fraction.ljust(3, "0")[:3]) * (-1 if (seconds or "").startswith("-") else 1)
    return -ms if sign == "-" else ms


@dataclass
class ShareSession:
    """One member's share session (Kafka's ShareSession): the partitions it fetches and its next epoch."""

    epoch: int = 1
    partitions: set[tuple[uuid.UUID, int]] = field(default_factory=set)


class SharePartitionManager:
    """Every share partition's state, by (group id, topic id, partition), and the share sessions."""

    def __init__(
        self,
        logs: LogManager,
        group_configs: GroupConfigs,
        store: ShareStateTopic,
        clock: Clock,
        *,
        on_available: Callable[[Log], None] = lambda log: None,
    ) -> None:
        """``on_available``: told of a partition whose records became available again (released, or
        their lock expired), so that share fetches waiting on it look again."""
        self._logs = logs
        self._on_available = on_available
        self._configs = group_configs
        self.store = store
        self._clock = clock
        self.partitions: dict[ShareKey, SharePartition] = {}
        # Creation times, kept for the snapshots (Kafka's CreateTimestamp).
        self._created: dict[ShareKey, int] = {}
        self._snapshot_epochs: dict[ShareKey, int] = {}
        # Share sessions by (group id, member id).
        self.sessions: dict[tuple[str, str], ShareSession] = {}

    # ----------------------------------------------------------------------------------------------
    # state

    def load(self) -> None:
        """Rebuild every share partition from ``__share_group_state`` (acquired records come back available)."""
        self.partitions.clear()
        for key, state in self.store.load().items():
            if self._logs.topic_by_id(key[1]) is not None:
                self._install(key, state)

    def reset(self) -> None:
        """Forget everything held in memory (the broker's reset deleted the topic)."""
        self.partitions.clear()
        self._created.clear()
        self._snapshot_epochs.clear()
        self.sessions.clear()

    def _install(self, key: ShareKey, state: PersistedState) -> SharePartition:
        group_id = key[0]
        sp = SharePartition(
            state.start_offset,
            clock_ms=self._clock.wall_ms,
            delivery_count_limit=lambda: int(self._configs.value(group_id, "share.delivery.count.limit")),
            max_record_locks=lambda: int(self._configs.value(group_id, "share.partition.max.record.locks")),
            state_batches=state.state_batches,
        )
        self.partitions[key] = sp
        self._created[key] = state.create_timestamp
        self._snapshot_epochs[key] = state.snapshot_epoch
        return sp

    def share_partition(self, group_id: str, topic: TopicState, partition: int) -> SharePartition:
        """A group's share partition, initialized now if it has no state yet (Kafka initializes one the
        first time a member is assigned it, or fetches it)."""
        key = (group_id, topic.topic_id, partition)
        sp = self.partitions.get(key)
        if sp is None:
            start = self._initial_offset(group_id, topic.partitions[partition])
            now = self._clock.wall_ms()
            sp = self._install(key, PersistedState(start, create_timestamp=now))
            self.persist(key)
        return sp

    def _initial_offset(self, group_id: str, partition: Log) -> int:
        """Where a new share partition starts: share.auto.offset.reset (latest, earliest, by_duration:...)."""
        reset = str(self._configs.value(group_id, "share.auto.offset.reset")).strip().lower()
        if reset == "earliest":
            return partition.log_start_offset
        if reset.startswith("by_duration:"):
            try:
                found = partition.offset_for_timestamp(self._clock.wall_ms() - parse_duration_ms(reset[12:]))
            except ValueError:
                log.warning("share.auto.offset.reset not understood", extra={"group": group_id, "value": reset})
                found = None
            return found.offset if found is not None else partition.high_watermark
        return partition.high_watermark

    def initialize(self, group_id: str, topic_id: uuid.UUID, topic: str, partitions: Iterable[int]) -> None:
        """Make sure these share partitions have state (Kafka's InitializeShareGroupState), before the share
        group coordinator first hands them out; idempotent. A topic gone meanwhile has nothing to initialize."""
        state = self._logs.topic_by_id(topic_id) or self._logs.topics.get(topic)
        if state is None:
            return
        for partition in partitions:
            if 0 <= partition < len(state.partitions):
                self.share_partition(group_id, state, partition)

    def member_removed(self, group_id: str, member_id: str) -> None:
        """A member left the share group or its session expired: its share session ends and the records it
        acquired become available to the others at once."""
        self.sessions.pop((group_id, member_id), None)
        self.release_member(group_id, member_id)

    def persist(self, key: ShareKey) -> None:
        """Write the share partition's snapshot; raises KafkaError/OSError when it cannot be written."""
        sp = self.partitions[key]
        epoch = self._snapshot_epochs.get(key, -1) + 1
        self._snapshot_epochs[key] = epoch
        state = PersistedState(sp.start_offset, sp.snapshot(), epoch, self._created.get(key, 0))
        self.store.write(key, state, self._clock.wall_ms())

    def group_partitions(self, group_id: str) -> dict[ShareKey, SharePartition]:
        return {key: sp for key, sp in self.partitions.items() if key[0] == group_id}

    def delete(self, group_id: str, topic_ids: Iterable[uuid.UUID] | None = None) -> None:
        """Drop a group's share-partition state (of some topics, or all): Kafka's DeleteShareGroupState."""
        wanted = None if topic_ids is None else set(topic_ids)
        now = self._clock.wall_ms()
        for key in list(self.group_partitions(group_id)):
            if wanted is None or key[1] in wanted:
                self.store.write(key, None, now)
                del self.partitions[key]
                self._created.pop(key, None)
                self._snapshot_epochs.pop(key, None)

    def alter_start_offset(self, group_id: str, topic: TopicState, partition: int, offset: int) -> None:
        """AlterShareGroupOffsets of one share partition: in-flight records are forgotten."""
        key = (group_id, topic.topic_id, partition)
        sp = self.partitions.get(key)
        if sp is None:
            self._install(key, PersistedState(offset, create_timestamp=self._clock.wall_ms()))
        else:
            sp.reset_start(offset)
        self.persist(key)

    def release_member(self, group_id: str, member_id: str) -> None:
        """Make every record the member holds available again (it left the group, or its session closed)."""
        for key, sp in self.group_partitions(group_id).items():
            if sp.release_member(member_id):
                self.persist(key)
                self._available(key)

    def _available(self, key: ShareKey) -> None:
        """Records of the share partition became available again: wake the share fetches waiting on it."""
        topic = self._logs.topic_by_id(key[1])
        if topic is not None and key[2] < len(topic.partitions):
            self._on_available(topic.partitions[key[2]])

    def expire_locks(self) -> None:
        """Release the records whose acquisition lock passed (Kafka's acquisition lock timer task), persist
        the new states and wake the share fetches that may now acquire them."""
        for key, sp in list(self.partitions.items()):
            if sp.expire_locks():
                try:
                    self.persist(key)
                except (KafkaError, OSError) as exc:
                    log.error("could not write share partition state", extra={"group": key[0], "error": repr(exc)})
                self._available(key)

    async def run(self) -> None:
        """Expire acquisition locks every LOCK_CHECK_INTERVAL_S and prune __share_group_state every
        PRUNE_INTERVAL_S, in the broker's nursery."""
        next_prune = trio.current_time() + PRUNE_INTERVAL_S
        while True:
            await trio.sleep(LOCK_CHECK_INTERVAL_S)
            self.expire_locks()
            if trio.current_time() >= next_prune:
                next_prune = trio.current_time() + PRUNE_INTERVAL_S
                try:
                    self.store.prune()
                except (KafkaError, OSError) as exc:
                    log.error("could not prune the share group state topic", extra={"error": repr(exc)})

    # ----------------------------------------------------------------------------------------------
    # records

    def acquire(
        self,
        group_id: str,
        member_id: str,
        topic: TopicState,
        partition: int,
        max_bytes: int,
        max_records: int,
        read_committed: bool,
    ) -> tuple[FetchSlice | None, list[AcquiredRecords]]:
        """Acquire records of one share partition for a member: the batches' bytes as the log holds them
        and the AcquiredRecords ranges (the client delivers only those). A share partition the share group
        coordinator never initialized (no member was assigned it) delivers nothing, as in Kafka 4.3.1."""
        sp = self.partitions.get((group_id, topic.topic_id, partition))
        if sp is None:
            return None, []
        partition_log = topic.partitions[partition]
        if sp.start_offset < partition_log.log_start_offset:
            # Retention or DeleteRecords removed records the group had not finished: they are gone.
            sp.reset_start(partition_log.log_start_offset)
        fetch_offset = sp.fetch_offset()
        if fetch_offset is None:
            return None, []
        end = partition_log.last_stable_offset if read_committed else partition_log.high_watermark
        if fetch_offset >= end:
            # Nothing to deliver yet (a start offset altered past the log end waits for records there).
            return None, []
        region = partition_log.read(fetch_offset, max_bytes, min_one_batch=True, max_offset=end)
        if region is None:
            return None, []
        headers = list(region.segment.batch_headers(region.position, region.position + region.length))
        aborted = (
            partition_log.aborted_transactions(headers[0][1].base_offset, headers[-1][1].next_offset)
            if read_committed
            else []
        )
        batches = [
            BatchInfo(h.base_offset, h.last_offset, h.is_control or _aborted(h, aborted))
            for _, h in headers
        ]
        lock_ms = int(self._configs.value(group_id, "share.record.lock.duration.ms"))
        acquired = sp.acquire(member_id, batches, max_records, lock_ms)
        if not acquired:
            return None, []
        # Send the batches from the first to the last holding an acquired record.
        first, last = acquired[0].first_offset, acquired[-1].last_offset
        start = next(pos for pos, h in headers if h.last_offset >= first)
        stop = next(pos + h.size for pos, h in reversed(headers) if h.base_offset <= last)
        return FetchSlice(region.segment, start, stop - start), acquired

    def acknowledge(
        self, group_id: str, member_id: str, topic: TopicState, partition: int, batches: list[dict]
    ) -> ErrorCode:
        """Apply a partition's AcknowledgementBatches and persist the result before answering."""
        key = (group_id, topic.topic_id, partition)
        sp = self.partitions.get(key)
        if sp is None:
            return ErrorCode.INVALID_RECORD_STATE
        lock_ms = int(self._configs.value(group_id, "share.record.lock.duration.ms"))
        error = ErrorCode.NONE
        before = sp.fetch_offset()
        for batch in batches:
            try:
                sp.acknowledge(
                    member_id, batch["first_offset"], batch["last_offset"], batch["acknowledge_types"], lock_ms
                )
            except KafkaError as exc:
                error = exc.code
        if sp.fetch_offset() != before:
            # Released records (or room under max.record.locks): waiting share fetches may acquire now.
            self._available(key)
        try:
            self.persist(key)
        except (KafkaError, OSError) as exc:
            log.error("could not write share partition state", extra={"group": group_id, "error": repr(exc)})
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        return error

    # ----------------------------------------------------------------------------------------------
    # share sessions

    def session(self, group_id: str, member_id: str, epoch: int) -> ShareSession:
        """The member's share session for a request of ``epoch`` (Kafka's ShareSessionCache): 0 opens a
        new one (replacing any), -1 names the one being closed, any other must be the session's next epoch,
        which then moves on. Raises KafkaError: SHARE_SESSION_NOT_FOUND, INVALID_SHARE_SESSION_EPOCH,
        SHARE_SESSION_LIMIT_REACHED (group.share.max.share.sessions), without a message as Kafka 4.3.1 sends
        them."""
        key = (group_id, member_id)
        if epoch == INITIAL_EPOCH:
            previous = self.sessions.pop(key, None)
            if previous is not None:
                self.release_member(group_id, member_id)
            if len(self.sessions) >= int(self._configs.broker_value("group.share.max.share.sessions")):
                raise KafkaError(ErrorCode.SHARE_SESSION_LIMIT_REACHED)
            session = self.sessions[key] = ShareSession()
            return session
        session = self.sessions.get(key)
        if session is None:
            raise KafkaError(ErrorCode.SHARE_SESSION_NOT_FOUND)
        if epoch == FINAL_EPOCH:
            return session
        if epoch != session.epoch:
            raise KafkaError(ErrorCode.INVALID_SHARE_SESSION_EPOCH)
        session.epoch = 1 if session.epoch == MAX_EPOCH else session.epoch + 1
        return session

    def close_session(self, group_id: str, member_id: str) -> None:
        """End the member's share session; the records it holds become available again."""
        if self.sessions.pop((group_id, member_id), None) is not None:
            self.release_member(group_id, member_id)


# How often acquisition locks are checked for expiry: a lock ends at most this late.
LOCK_CHECK_INTERVAL_S = 0.2
# Kafka's share.coordinator.state.topic.prune.interval.ms default (5 minutes).
PRUNE_INTERVAL_S = 300.0

# Kafka's ShareRequestMetadata: 0 opens a share session, -1 closes it; epochs wrap after Integer.MAX_VALUE.
INITIAL_EPOCH = 0
FINAL_EPOCH = -1
MAX_EPOCH = 2**31 - 1


def _aborted(header: BatchHeader, aborted: list[AbortedTxn]) -> bool:
    """Whether a batch belongs to an aborted transaction (read_committed never delivers it)."""
    return header.is_transactional and any(
        a.producer_id == header.producer_id and a.first_offset <= header.base_offset <= a.last_offset
        for a in aborted
    )
