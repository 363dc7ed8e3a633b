"""Broker configuration, with Kafka's config names and defaults.

Settings come from a Kafka-style properties file (``--config server.properties``) and command-line
flags; the flags win. Only the names listed in ``_PROPERTIES`` are understood; others are logged and
ignored so an existing server.properties can be reused as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from kafkapy.configs import BROKER_SYNONYMS, validate_broker_property
from kafkapy.storage.log_manager import DEFAULT_MAX_BROKER_PARTITIONS, MAX_BROKER_PARTITIONS_CONFIG

log = logging.getLogger("kafkapy.config")

# kafkapy.storage: where the logs live. disk: Kafka-format segment files in data_dir; memory: the
# same storage code over an in-memory file system (kafkapy.storage.fs), nothing written, lost on exit.
STORAGE_MODES = ("disk", "memory")


@dataclass
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 9092
    # Where clients are told to connect; defaults to host/port.
    advertised_host: str | None = None
    advertised_port: int | None = None
    data_dir: Path = Path("kafkapy-data")
    storage: str = "disk"
    node_id: int = 1
    # Kafka's num.partitions is 1 and auto.create.topics.enable is true.
    num_partitions: int = 1
    auto_create_topics_enable: bool = True
    default_replication_factor: int = 1
    # Kafka's socket.request.max.bytes is 100 MiB.
    socket_request_max_bytes: int = 100 * 1024 * 1024
    # Broker-level defaults of topic configs by their Kafka broker names (log.retention.hours,
    # message.max.bytes, log.cleanup.policy, ...); kafkapy.configs.TOPIC_CONFIGS defines them all.
    log_properties: dict[str, str] = field(default_factory=dict)
    # Kafka's log.retention.check.interval.ms (5 minutes), log.cleaner.enable and log.cleaner.backoff.ms.
    log_retention_check_interval_ms: int = 300000
    log_cleaner_enable: bool = True
    log_cleaner_backoff_ms: int = 15000
    # kafkapy.strict.replication.factor: false accepts any replication factor and creates one replica
    # (metadata reports that one); true refuses more replicas than brokers, as a one-node Kafka does.
    strict_replication_factor: bool = False
    # kafkapy.max.broker.partitions: the partitions of all topics together (Kafka has no such cap;
    # KIP-578 proposed max.broker.partitions). CreateTopics, CreatePartitions and auto-creation past
    # it get POLICY_VIOLATION. Kafka's own cap of 10,000 partitions per request applies as well.
    max_broker_partitions: int = DEFAULT_MAX_BROKER_PARTITIONS
    # Kafka's create.topic.policy.class.name / alter.config.policy.class.name, naming Python classes
    # (kafkapy.policy); unset by default as in Kafka.
    create_topic_policy_class_name: str = ""
    alter_config_policy_class_name: str = ""
    # Consumer groups. Kafka's group.initial.rebalance.delay.ms is 3000; 0 here so that a test
    # broker does not hold every new group's first JoinGroup for 3 s.
    group_initial_rebalance_delay_ms: int = 0
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1800000
    group_max_size: int = 2**31 - 1
    # Kafka's offsets.topic.num.partitions is 50; one partition suits a single test broker.
    offsets_topic_num_partitions: int = 1
    # Kafka's offsets.retention.minutes is 10080 (7 days), checked every 10 minutes.
    offsets_retention_ms: int = 7 * 24 * 3600 * 1000
    offsets_retention_check_interval_ms: int = 600000
    offset_metadata_max_bytes: int = 4096
    # Transactions, with Kafka's defaults except transaction.state.log.num.partitions (50 in Kafka).
    transaction_state_log_num_partitions: int = 1
    transaction_max_timeout_ms: int = 900000
    transactional_id_expiration_ms: int = 7 * 24 * 3600 * 1000
    transaction_abort_timed_out_transaction_cleanup_interval_ms: int = 10000
    transaction_remove_expired_transaction_cleanup_interval_ms: int = 3600000

    @property
    def advertised(self) -> tuple[str, int]:
        return self.advertised_host or self.host, self.advertised_port or self.port


def _storage_mode(value: str) -> str:
    if value not in STORAGE_MODES:
        raise ValueError(f"kafkapy.storage must be one of {', '.join(STORAGE_MODES)}, not {value!r}")
    return value


# Kafka property name -> (attribute, converter)
_PROPERTIES: dict[str, tuple[str, Callable[[str], object]]] = {
    "node.id": ("node_id", int),
    "broker.id": ("node_id", int),
    "log.dirs": ("data_dir", Path),
    "log.dir": ("data_dir", Path),
    "kafkapy.storage": ("storage", _storage_mode),
    "num.partitions": ("num_partitions", int),
    "auto.create.topics.enable": ("auto_create_topics_enable", bool),
    "default.replication.factor": ("default_replication_factor", int),
    "socket.request.max.bytes": ("socket_request_max_bytes", int),
    "log.retention.check.interval.ms": ("log_retention_check_interval_ms", int),
    "log.cleaner.enable": ("log_cleaner_enable", bool),
    "log.cleaner.backoff.ms": ("log_cleaner_backoff_ms", int),
    "kafkapy.strict.replication.factor": ("strict_replication_factor", bool),
    MAX_BROKER_PARTITIONS_CONFIG: ("max_broker_partitions", int),
    "create.topic.policy.class.name": ("create_topic_policy_class_name", str),
    "alter.config.policy.class.name": ("alter_config_policy_class_name", str),
    "group.initial.rebalance.delay.ms": ("group_initial_rebalance_delay_ms", int),
    "group.min.session.timeout.ms": ("group_min_session_timeout_ms", int),
    "group.max.session.timeout.ms": ("group_max_session_timeout_ms", int),
    "group.max.size": ("group_max_size", int),
    "offsets.topic.num.partitions": ("offsets_topic_num_partitions", int),
    "offsets.retention.check.interval.ms": ("offsets_retention_check_interval_ms", int),
    "offset.metadata.max.bytes": ("offset_metadata_max_bytes", int),
    "transaction.state.log.num.partitions": ("transaction_state_log_num_partitions", int),
    "transaction.max.timeout.ms": ("transaction_max_timeout_ms", int),
    "transactional.id.expiration.ms": ("transactional_id_expiration_ms", int),
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": (
        "transaction_abort_timed_out_transaction_cleanup_interval_ms",
        int,
    ),
    "transaction.remove.expired.transaction.cleanup.interval.ms": (
        "transaction_remove_expired_transaction_cleanup_interval_ms",
        int,
    ),
}
_MINUTES = {"offsets.retention.minutes": "offsets_retention_ms"}


def _convert(kind: Callable[[str], object], value: str) -> object:
    if kind is bool:
        if value.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {value!r}")
        return value.lower() == "true"
    if kind is Path:
        return Path(value.split(",")[0])
    return kind(value)


def parse_properties(text: str) -> dict[str, str]:
    """Java-properties subset: ``key=value`` or ``key: value`` lines, ``#``/``!`` comments."""
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        sep = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if sep < 0:
            props[line] = ""
        else:
            props[line[:sep].strip()] = line[sep + 1 :].strip()
    return props


def apply_properties(config: BrokerConfig, props: dict[str, str]) -> None:
    """Set the config from Kafka property names; raises ValueError for a bad value."""
    for name, value in props.items():
        if name in _PROPERTIES:
            attr, kind = _PROPERTIES[name]
            setattr(config, attr, _convert(kind, value))
        elif name in BROKER_SYNONYMS:
            validate_broker_property(name, value)
            config.log_properties[name] = value
        elif name in _MINUTES:
            setattr(config, _MINUTES[name], int(value) * 60 * 1000)
        elif name == "listeners" or name == "advertised.listeners":
            host, port = _listener(value)
            if name == "listeners":
                config.host, config.port = host or config.host, port
            else:
                config.advertised_host, config.advertised_port = host, port
        else:
            log.info("ignoring unsupported property", extra={"property": name})


def static_properties(config: BrokerConfig) -> dict[str, tuple[str, bool]]:
    """Broker property -> (value, is it the default) for the settings in ``_PROPERTIES`` (DescribeConfigs)."""
    defaults = {f.name: f.default for f in fields(BrokerConfig)}
    out = {}
    for name, (attr, kind) in _PROPERTIES.items():
        value = getattr(config, attr)
        text = str(value).lower() if kind is bool else str(value)
        out[name] = (text, value == defaults.get(attr))
    return out


def _listener(value: str) -> tuple[str, int]:
    """First ``NAME://host:port`` of a listeners list."""
    first = value.split(",")[0]
    address = first.split("://", 1)[-1]
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def load_properties_file(config: BrokerConfig, path: Path) -> None:
    apply_properties(config, parse_properties(path.read_text()))


