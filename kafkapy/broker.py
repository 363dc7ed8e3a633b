"""The broker's shared state: configuration, the log manager, and fetch wake-ups."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import trio

from kafkapy.acl import Authorizer, allow_everything
from kafkapy.broker_config import BrokerConfig
from kafkapy.clock import SYSTEM_CLOCK, Clock
from kafkapy.coordinator.consumer_group_coordinator import ConsumerGroupCoordinator, OffsetsHolder
from kafkapy.coordinator.group_config_store import GroupConfigStore
from kafkapy.coordinator.group_configs import GroupConfigs
from kafkapy.coordinator.group_coordinator import GroupCoordinator
from kafkapy.coordinator.group_metadata_manager import GroupMetadataManager
from kafkapy.coordinator.group_migration import GroupMigration
from kafkapy.coordinator.group_types import GroupRegistry
from kafkapy.coordinator.internal_topics import OFFSETS_TOPIC, SHARE_GROUP_STATE_TOPIC, TRANSACTION_STATE_TOPIC
from kafkapy.coordinator.producer_ids import ProducerIdManager, producer_ids_in_use
from kafkapy.coordinator.share_group_coordinator import ShareGroupCoordinator
from kafkapy.coordinator.share_group_records import RECORD_TYPES as SHARE_GROUP_RECORD_TYPES
from kafkapy.coordinator.share_partitions import SharePartitionManager
from kafkapy.coordinator.share_state import ShareStateTopic
from kafkapy.coordinator.streams_group_coordinator import StreamsGroupCoordinator
from kafkapy.coordinator.transaction_coordinator import TransactionCoordinator
from kafkapy.coordinator.transaction_log import TransactionStateTopic
from kafkapy.dynamic_broker_config import MIN_INSYNC_REPLICAS, DynamicBrokerConfig
from kafkapy.features import FeatureStore
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.security.quotas.store import ClientQuotaStore
from kafkapy.security.quotas.throttle import ClientQuotaManager
from kafkapy.security.scram_credentials import ScramCredentialStore
from kafkapy.storage.cleaner import LogCleaner
from kafkapy.storage.fs import file_system
from kafkapy.storage.log import Log
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_manager import LogManager, TopicState
from kafkapy.storage.retention import run_retention
from kafkapy.topic_configs import broker_topic_defaults

if TYPE_CHECKING:
    from kafkapy.apis.dispatch import PreHandlerHook
    from kafkapy.security.authorizer import StandardAuthorizer

log = logging.getLogger("kafkapy.broker")

# How often logs with flush.ms set are checked between appends.
FLUSH_CHECK_INTERVAL_S = 0.1


def log_config(config: BrokerConfig, dynamic: DynamicBrokerConfig | None = None) -> LogConfig:
    """Broker-wide log defaults (Kafka's log.* settings, the dynamic ones over server.properties) as the
    storage's per-log config."""
    props = config.log_properties if dynamic is None else dynamic.log_properties(config.log_properties)
    return LogConfig().with_overrides(broker_topic_defaults(props))


def _standard_authorizer(config: BrokerConfig, logs: LogManager) -> StandardAuthorizer | None:
    """The StandardAuthorizer with its stored ACLs if configured; its module is imported only then."""
    if not (config.security_property("authorizer.class.name") or "").strip():
        return None
    from kafkapy.security.authorizer import authorizer_from_config

    return authorizer_from_config(config, logs.fs)


class Broker:
    """One Kafka node: owns the logs and wakes long-polling fetches when data arrives."""

    def __init__(self, config: BrokerConfig, logs: LogManager) -> None:
        self.config = config
        self.logs = logs
        # Broker configs changed at run time (AlterConfigs on a BROKER resource), over server.properties;
        # kept in the data dir, where the first start seeds the cluster's min.insync.replicas (KIP-966).
        self.dynamic_config = DynamicBrokerConfig(
            logs.data_dir, logs.fs, min_insync_replicas=config.log_properties.get(MIN_INSYNC_REPLICAS, "1")
        )
        # Finalized feature levels (ApiVersions, UpdateFeatures); transaction.version picks the protocol.
        self.features = FeatureStore.open(config.data_dir, logs.fs, config.node_id)
        # Every append, whoever makes it (Produce, the coordinators), wakes fetches and schedules flushes.
        logs.set_offsets_listener(self)
        # The one wall clock (kafkapy/clock.py): the log manager's, handed to everything that reads the time.
        self.clock = logs.clock
        self.producer_ids = ProducerIdManager(config.data_dir, logs.fs, self._producer_ids_in_use)
        self.groups = GroupCoordinator(config, GroupMetadataManager(config, logs, clock=self.clock), clock=self.clock)
        # Every kind of group (classic, KIP-848 consumer, share, streams) under one id namespace, and
        # the group configs they read (broker defaults, dynamic broker configs, per-group overrides).
        self.group_registry = GroupRegistry()
        self.group_registry.register(self.groups)
        self.group_configs = GroupConfigs(config.group_properties, lambda name: self.dynamic_config.value(name, None))
        # The GROUP config resources: per-group overrides kept in the data dir, loaded into group_configs.
        self.group_config_store = GroupConfigStore(logs.data_dir, logs.fs, self.group_configs)
        self.consumer_groups = ConsumerGroupCoordinator(
            logs,
            self.group_configs,
            self.groups.store,
            OffsetsHolder(self.groups.delete_offsets_of, self.groups.member_count),
            clock=self.clock,
        )
        self.group_registry.register(self.consumer_groups)
        # Classic groups and consumer groups convert into each other (Kafka's online migration).
        migration = GroupMigration(self.groups, self.consumer_groups, self.group_configs)
        self.groups.migration = self.consumer_groups.migration = migration
        self.groups.owned_elsewhere = self.group_registry.owned_elsewhere
        self.groups.offsets_owner = self.group_registry.offsets_owner
        # Share groups' share partitions and share sessions, kept in __share_group_state (KIP-932).
        self.share_partitions = SharePartitionManager(
            logs,
            self.group_configs,
            ShareStateTopic(logs, config.share_coordinator_state_topic_num_partitions),
            self.clock,
            on_available=self.wake_fetches,
        )
        # KIP-932 share groups: membership and assignment (the share partitions' state is kept apart).
        self.share_groups = ShareGroupCoordinator(
            self.groups.store, lambda: logs.topics, self.group_configs, self.group_registry, self.clock.wall_ms
        )
        self.group_registry.register(self.share_groups)
        self.share_groups.share_states = self.share_partitions
        self.streams_groups = StreamsGroupCoordinator(self)
        self.group_registry.register(self.streams_groups)
        self.groups.group_manager.subscribed_elsewhere = self._subscribed_elsewhere
        self.transactions = TransactionCoordinator(
            config,
            logs,
            self.producer_ids,
            self.groups,
            TransactionStateTopic(logs, config.transaction_state_log_num_partitions),
            clock=self.clock,
        )
        self.cleaner = LogCleaner(logs, backoff_ms=config.log_cleaner_backoff_ms, now_ms=self.clock.wall_ms)
        self.dynamic_config.listeners.append(self.apply_dynamic_config)
        self.apply_dynamic_config()
        # Who may do what, and the checks run before every handler (faults, quotas): kafkapy/apis/dispatch.py.
        # The ACLs, when authorizer.class.name asks for Kafka's StandardAuthorizer (the ACL APIs edit them).
        self.acls = _standard_authorizer(config, logs)
        self.authorizer: Authorizer = self.acls or allow_everything
        self.request_hooks: list[PreHandlerHook] = []
        # SCRAM users: what the SCRAM mechanisms check and AlterUserScramCredentials changes.
        self.scram_credentials = ScramCredentialStore.open(config.data_dir, logs.fs, config.sasl_users)
        # Client quotas (AlterClientQuotas) and their throttling in the request door.
        self.client_quotas = ClientQuotaManager(config, ClientQuotaStore(config.data_dir, logs.fs), self.clock)
        # Long-polling fetches, by the partition logs they wait on.
        self._fetch_waiters: dict[Log, set[trio.Event]] = {}
        self._nursery: trio.Nursery | None = None
        self._flushing: set[Log] = set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Background work (flushes) lives in this nursery until the broker is cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._flush_scheduler)
            nursery.start_soon(
                lambda: run_retention(
                    self.logs,
                    check_interval_ms=self.config.log_retention_check_interval_ms,
                    now_ms=self.clock.wall_ms,
                )
            )
            nursery.start_soon(self._expire_producers)
            if self.config.log_cleaner_enable:
                nursery.start_soon(self.cleaner.run)
            await nursery.start(self.groups.run)
            await nursery.start(self.consumer_groups.run)
            await nursery.start(self.share_groups.run)
            nursery.start_soon(self.share_partitions.run)
            await nursery.start(self.streams_groups.run)
            await nursery.start(self.transactions.run)
            task_status.started()
            await trio.sleep_forever()

    @classmethod
    def open(cls, config: BrokerConfig, *, clock: Clock = SYSTEM_CLOCK) -> Broker:
        """Open (and recover) the data dir, load the consumer groups, then the transactions.

        The data dir lives in the file system ``config.storage`` names (in memory: nothing on disk).
        ``clock`` is what every part of the broker reads the time from (a ManualClock in tests).
        Loading the transactions completes those a crash left prepared, which may commit offsets.
        """
        fs = file_system(config.storage)
        logs = LogManager.open(
            config.data_dir,
            log_config(config),
            node_id=config.node_id,
            fs=fs,
            max_partitions=config.max_broker_partitions,
            clock=clock,
            producer_id_expiration_ms=config.producer_id_expiration_ms,
        )
        broker = cls(config, logs)
        broker.groups.load()
        broker.consumer_groups.load(broker.groups.group_manager.loaded)
        broker.share_groups.load(broker.groups.group_manager.loaded.records_of(SHARE_GROUP_RECORD_TYPES))
        broker.share_partitions.load()
        broker.streams_groups.load()
        broker.transactions.load()
        return broker

    def apply_dynamic_config(self) -> None:
        """Make the dynamic broker configs take effect: the broker-level topic defaults for every topic
        without its own override, producer.id.expiration.ms and the log cleaner's backoff. (The other
        dynamic configs are stored and described; kafkapy has no thread pools or replica fetchers for them
        to resize.)"""
        dynamic, static = self.dynamic_config, self.config
        self.logs.set_default_config(log_config(static, dynamic))
        expiration = dynamic.value("producer.id.expiration.ms", str(static.producer_id_expiration_ms))
        self.logs.set_producer_id_expiration_ms(int(expiration or static.producer_id_expiration_ms))
        backoff = dynamic.value("log.cleaner.backoff.ms", str(static.log_cleaner_backoff_ms))
        self.cleaner.backoff_ms = int(backoff or static.log_cleaner_backoff_ms)
        self.cleaner.trigger()

    def _subscribed_elsewhere(self, group_id: str, topic: str) -> bool:
        """Whether a consumer or streams group with this id reads the topic: its offsets then do not
        expire (Kafka's isSubscribedToTopic)."""
        return self.consumer_groups.is_subscribed(group_id, topic) or self.streams_groups.is_subscribed(group_id, topic)

    def _producer_ids_in_use(self) -> Iterator[int]:
        """For a damaged producer-ids file: the ids partitions and transactional ids still hold."""
        metas = self.transactions.transactions.values()
        transactional = [pid for meta in metas for pid in (meta.producer_id, meta.last_producer_id)]
        return producer_ids_in_use(self.logs, transactional)

    @property
    def node_id(self) -> int:
        return self.config.node_id

    @property
    def cluster_id(self) -> str:
        return self.logs.cluster_id

    @property
    def registered_brokers(self) -> frozenset[int]:
        """The node ids a partition may be placed on (Kafka's registered brokers): this node alone."""
        return frozenset({self.node_id})

    def replicas(self, topic: str, partition: int) -> list[int]:
        """A partition's replica set, leader first (Kafka's PartitionRegistration.replicas), as Metadata
        and the reassignment APIs read it: on one node every partition lives here, so a reassignment to
        it leaves this unchanged; a simulated multi-broker mode keeps its placements behind this."""
        return [self.node_id]

    def topic(self, name: str, *, auto_create: bool = False) -> TopicState | None:
        """The topic called ``name``; created with num.partitions when asked and allowed (an internal
        topic as its coordinator creates it).

        Raises KafkaError for a topic that cannot be created: INVALID_TOPIC_EXCEPTION (illegal
        name), POLICY_VIOLATION (kafkapy.max.broker.partitions), KAFKA_STORAGE_ERROR (its files
        could not be made; nothing is left behind).
        """
        state = self.logs.topics.get(name)
        if state is None and auto_create and self.config.auto_create_topics_enable:
            if name == OFFSETS_TOPIC:
                # As Kafka's AutoTopicCreationManager: internal topics get their own partition count and configs.
                return self.groups.store.ensure_topic()
            if name == TRANSACTION_STATE_TOPIC:
                return self.transactions.store.ensure_topic()
            if name == SHARE_GROUP_STATE_TOPIC:
                return self.share_partitions.store.ensure_topic()
            state = self.logs.create_topic(name, self.config.num_partitions)
            log.info("auto-created topic", extra={"topic": name, "partitions": self.config.num_partitions})
        return state

    def partition(self, topic: str, partition: int) -> Log:
        """The log of a partition; KafkaError(UNKNOWN_TOPIC_OR_PARTITION) if there is none."""
        found = self.logs.get_log(topic, partition)
        if found is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return found

    def on_high_watermark_updated(self, log: Log, high_watermark: int) -> None:
        """An append to ``log`` (Kafka's LogOffsetsListener): wake the fetches waiting on it, and fsync
        in a worker thread when its flush policy says so."""
        self.wake_fetches(log)
        self._maybe_flush(log)

    def wake_fetches(self, log: Log) -> None:
        """End the long polls waiting on ``log``: it has new records, or (share groups) records that
        became available again."""
        for waiter in self._fetch_waiters.pop(log, ()):
            waiter.set()

    def _maybe_flush(self, log: Log) -> None:
        """Start an fsync of ``log`` if its flush policy asks and none is running for it."""
        if self._nursery is not None and log not in self._flushing and log.needs_flush(self.clock.wall_ms()):
            self._flushing.add(log)
            self._nursery.start_soon(self._flush, log)

    async def _flush(self, log: Log) -> None:
        try:
            await trio.to_thread.run_sync(log.flush)
        finally:
            self._flushing.discard(log)

    async def _flush_scheduler(self) -> None:
        """flush.ms must hold even when no more appends come to trigger the check."""
        while True:
            await trio.sleep(FLUSH_CHECK_INTERVAL_S)
            for _, _, log in self.logs.logs():
                self._maybe_flush(log)

    async def _expire_producers(self) -> None:
        """Kafka's producer expiration check, every producer.id.expiration.check.interval.ms."""
        while True:
            await trio.sleep(self.config.producer_id_expiration_check_interval_ms / 1000)
            self.logs.remove_expired_producers(self.clock.wall_ms())

    async def wait_for_data(self, logs: Iterable[Log]) -> None:
        """Return at the next append to any of ``logs`` (only those fetches wake: no thundering herd)."""
        waiter = trio.Event()
        watched = list(logs)
        for log in watched:
            self._fetch_waiters.setdefault(log, set()).add(waiter)
        try:
            await waiter.wait()
        finally:
            for log in watched:
                waiters = self._fetch_waiters.get(log)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._fetch_waiters[log]

    def reset(self) -> None:
        """Empty the broker without a restart (kafkapy-only, for test suites: KafkaBroker.reset).

        Every topic is deleted as by DeleteTopics, internal ones included, so consumer groups,
        committed offsets, transactions and the producer state kept per partition go with them;
        the coordinators then forget what they hold in memory, every ACL is deleted (super.users
        stay), client quotas are removed, the dynamic broker and group configs are a new data dir's and finalized
        features go back to their first levels.
        Connected clients see a fresh broker: UNKNOWN_TOPIC_OR_PARTITION, unknown members, offsets
        starting at 0 for re-created topics.
        Producer ids keep counting up so that an id is never handed out twice (ProducerIdManager).
        """
        for name in list(self.logs.topics):
            self.logs.delete_topic(name)
        self.groups.reset()
        self.consumer_groups.reset()
        self.share_groups.reset()
        self.share_partitions.reset()
        self.streams_groups.reset()
        self.transactions.reset()
        if self.acls is not None:
            self.acls.clear()
        self.client_quotas.store.clear()
        self.dynamic_config.reset()
        self.group_config_store.reset()
        self.features.reset()
        # Long-polling fetches on deleted logs return now and see the topic gone.
        for waiters in self._fetch_waiters.values():
            for waiter in waiters:
                waiter.set()
        log.info(
            "reset: every topic, group, transaction, ACL, client quota, dynamic broker and group config removed,"
            " features as first finalized"
        )

    def close(self) -> None:
        self.logs.close()
