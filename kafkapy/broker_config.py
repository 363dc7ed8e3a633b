"""Broker configuration, with Kafka's config names and defaults.

Settings come from a Kafka-style properties file (``--config server.properties``), ``--override``
and command-line flags; the flags win. Every value is checked before the broker starts, and a bad
one is a ``ConfigError`` naming the property. The names in ``_PROPERTIES`` (and the broker-level
topic defaults of kafkapy.topic_configs) are implemented; an unknown name is an error that suggests the
closest known one. Kafka properties kafkapy does not implement are refused when ignoring them
would weaken security (SSL, SASL, an authorizer) and otherwise warned about once, so an existing
server.properties can be reused as it is.

To add a property: a ``BrokerConfig`` field with Kafka's default (and a comment saying where it
comes from), and one line in ``_PROPERTIES`` naming its parser (``_integer(minimum=1)``, ``_boolean``...).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kafkapy.coordinator.group_configs import BROKER_GROUP_CONFIGS, broker_config_value
from kafkapy.kafka_properties import (
    KAFKA_IMAGE_VARIABLES,
    KAFKA_PROPERTY_PREFIXES,
    kafka_broker_properties,
    parse_properties,
)
from kafkapy.security.listeners import SSL_PROTOCOLS, Listener, ListenerError, parse_listeners
from kafkapy.security.session import PLAINTEXT, SECURITY_PROTOCOLS
from kafkapy.storage.log_manager import DEFAULT_MAX_BROKER_PARTITIONS, MAX_BROKER_PARTITIONS_CONFIG
from kafkapy.storage.producer_state import PRODUCER_ID_EXPIRATION_MS
from kafkapy.topic_configs import BROKER_SYNONYMS, INT_MAX, LONG_MAX, validate_broker_property

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
    # Kafka's connections.max.idle.ms is 10 minutes (a negative value: never close idle connections).
    connections_max_idle_ms: int = 600000
    # Kafka's max.connections and max.connections.per.ip are Int.MaxValue; max.connections.per.ip.overrides
    # ("host:count,ip:count") is empty.
    max_connections: int = 2**31 - 1
    max_connections_per_ip: int = 2**31 - 1
    max_connections_per_ip_overrides: str = ""
    # Broker-level defaults of topic configs by their Kafka broker names (log.retention.hours,
    # message.max.bytes, log.cleanup.policy, ...); kafkapy.topic_configs.TOPIC_CONFIGS defines them all.
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
    # Kafka 4's group coordinator configs as set (group.consumer.*, group.share.*, group.streams.*,
    # group.coordinator.rebalance.protocols); kafkapy.coordinator.group_configs has them all with defaults.
    group_properties: dict[str, str] = field(default_factory=dict)
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
    # The share coordinator's __share_group_state (KIP-932); Kafka's share.coordinator.state.topic.num.partitions
    # is 50, one partition suits a single test broker as for the offsets topic.
    share_coordinator_state_topic_num_partitions: int = 1
    # Kafka's producer.id.expiration.ms (1 day since 3.0), checked every producer.id.expiration.check.interval.ms
    # (10 min): an idle producer id leaves each partition's producer state.
    producer_id_expiration_ms: int = PRODUCER_ID_EXPIRATION_MS
    producer_id_expiration_check_interval_ms: int = 600000
    # Client quotas are measured over Kafka's quota.window.num (11) windows of quota.window.size.seconds (1).
    quota_window_num: int = 11
    quota_window_size_seconds: int = 1

    # kafkapy.sasl.users ("alice:alice-secret,bob:bob-secret"): users every enabled SASL mechanism
    # accepts (PLAIN checks the password, SCRAM credentials are made from it at start-up), so a test
    # needs no JAAS line or SCRAM set-up. Empty by default.
    sasl_users: dict[str, str] = field(default_factory=dict)
    # Kafka's security properties as written (ssl.*, sasl.*, listener.name.*, super.users...): the
    # modules of kafkapy.security read them with ``security_property`` and refuse what they cannot honour.
    security_properties: dict[str, str] = field(default_factory=dict)

    def security_property(self, name: str, listener: str | None = None, mechanism: str | None = None) -> str | None:
        """A security property as Kafka resolves it: ``listener.name.<listener>.[<mechanism>.]<name>``
        first (listener and mechanism lower-cased, as Kafka writes them), then ``<name>``; None if unset."""
        if listener is not None:
            prefix = f"listener.name.{listener.lower()}."
            if mechanism is not None:
                value = self.security_properties.get(f"{prefix}{mechanism.lower()}.{name}")
                if value is not None:
                    return value
            value = self.security_properties.get(prefix + name)
            if value is not None:
                return value
        return self.security_properties.get(name)

    # The client listeners (kafkapy.security.listeners) from listeners / advertised.listeners /
    # listener.security.protocol.map; empty: one PLAINTEXT listener. The first one's address lives in
    # host/port/advertised_host/advertised_port above (so flags and code that set those keep working);
    # ``client_listeners()`` puts them together.
    listeners: list[Listener] = field(default_factory=list)
    # Those four properties as last written, read again when any of them changes.
    listener_properties: dict[str, str] = field(default_factory=dict)
    # Every property server.properties and --override set, as written: DescribeConfigs reports them
    # as STATIC_BROKER_CONFIG, including Kafka's that kafkapy ignores, as Kafka lists its originals.
    given_properties: dict[str, str] = field(default_factory=dict)

    @property
    def advertised(self) -> tuple[str, int]:
        """Where clients of the first listener are told to connect."""
        return self.advertised_host or self.host, self.advertised_port or self.port

    def client_listeners(self) -> list[Listener]:
        """Every listener the broker serves, the first at host/port; a listener written without a
        host (``SSL://:9093``) listens on ``host`` too."""
        first = self.listeners[0] if self.listeners else Listener(PLAINTEXT, PLAINTEXT, "", 0)
        first = replace(
            first,
            host=self.host,
            port=self.port,
            advertised_host=self.advertised_host,
            advertised_port=self.advertised_port,
        )
        return [first, *(replace(other, host=other.host or self.host) for other in self.listeners[1:])]

    def advertised_for(self, listener_name: str) -> tuple[str, int]:
        """Where a client that came in through ``listener_name`` is told to connect (Metadata,
        FindCoordinator): that listener's advertised address."""
        for listener in self.client_listeners():
            if listener.name == listener_name:
                return listener.advertised
        return self.advertised


class ConfigError(ValueError):
    """A setting kafkapy cannot start with; the message is one line naming the setting and the fix."""


def _integer(minimum: int | None = None, maximum: int = INT_MAX) -> Callable[[str], int]:
    """A parser of whole numbers from ``minimum`` to ``maximum`` (a Java int unless told)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
        if minimum is not None and value < minimum and maximum in (INT_MAX, LONG_MAX):
            raise ValueError(f"expected a whole number of at least {minimum}")
        if value > maximum or minimum is not None and value < minimum:
            if minimum is None:
                raise ValueError(f"expected a whole number up to {maximum}")
            raise ValueError(f"expected a whole number from {minimum} to {maximum}")
        return value

    return parse


def _boolean(text: str) -> bool:
    if text.strip().lower() not in ("true", "false"):
        raise ValueError("expected true or false")
    return text.strip().lower() == "true"


def _users(text: str) -> dict[str, str]:
    """``name:password,...`` (kafkapy.sasl.users) as a dict."""
    users = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, password = item.partition(":")
        if not sep or not name or not password:
            raise ValueError("expected NAME:PASSWORD[,NAME:PASSWORD...]")
        users[name] = password
    return users


def _path(text: str) -> Path:
    """The first directory of a log.dirs list (one broker, one data dir)."""
    first = text.split(",")[0].strip()
    if not first:
        raise ValueError("expected a directory")
    return Path(first)


def _storage_mode(value: str) -> str:
    if value not in STORAGE_MODES:
        raise ValueError(f"expected one of {', '.join(STORAGE_MODES)}")
    return value


# A TCP port; 0 asks the OS for a free one.
parse_port = _integer(0, 65535)
_non_negative = _integer(0)
_positive = _integer(1)
_positive_long = _integer(1, LONG_MAX)


def parse_per_ip_overrides(value: str) -> dict[str, int]:
    """max.connections.per.ip.overrides: ``host:count`` items, comma-separated (hosts are names or IPs)."""
    overrides = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        host, sep, count = item.rpartition(":")
        if not sep or not host.strip():
            raise ValueError(f"max.connections.per.ip.overrides item {item!r} is not host:count")
        overrides[host.strip().strip("[]")] = _non_negative(count)
    return overrides


def _per_ip_overrides(value: str) -> str:
    parse_per_ip_overrides(value)
    return value


# Kafka property name -> (BrokerConfig attribute, parser of the text value), with the type and range
# of Kafka 4.3's ConfigDef; where Kafka has no range but a negative value means nothing (timeouts,
# sizes, broker.id, default.replication.factor), zero or one at least.
_PROPERTIES: dict[str, tuple[str, Callable[[str], object]]] = {
    "node.id": ("node_id", _integer(0)),
    "broker.id": ("node_id", _integer(0)),
    "log.dirs": ("data_dir", _path),
    "log.dir": ("data_dir", _path),
    "kafkapy.storage": ("storage", _storage_mode),
    "num.partitions": ("num_partitions", _positive),
    "auto.create.topics.enable": ("auto_create_topics_enable", _boolean),
    "default.replication.factor": ("default_replication_factor", _positive),
    "socket.request.max.bytes": ("socket_request_max_bytes", _positive),
    # Kafka's connections.max.idle.ms is a long; a negative value means never.
    "connections.max.idle.ms": ("connections_max_idle_ms", _integer(None, LONG_MAX)),
    "max.connections": ("max_connections", _non_negative),
    "max.connections.per.ip": ("max_connections_per_ip", _non_negative),
    "max.connections.per.ip.overrides": ("max_connections_per_ip_overrides", _per_ip_overrides),
    "log.retention.check.interval.ms": ("log_retention_check_interval_ms", _positive_long),
    "log.cleaner.enable": ("log_cleaner_enable", _boolean),
    "log.cleaner.backoff.ms": ("log_cleaner_backoff_ms", _integer(0, LONG_MAX)),
    "kafkapy.strict.replication.factor": ("strict_replication_factor", _boolean),
    "kafkapy.sasl.users": ("sasl_users", _users),
    MAX_BROKER_PARTITIONS_CONFIG: ("max_broker_partitions", _positive),
    "create.topic.policy.class.name": ("create_topic_policy_class_name", str),
    "alter.config.policy.class.name": ("alter_config_policy_class_name", str),
    "group.initial.rebalance.delay.ms": ("group_initial_rebalance_delay_ms", _non_negative),
    "group.min.session.timeout.ms": ("group_min_session_timeout_ms", _non_negative),
    "group.max.session.timeout.ms": ("group_max_session_timeout_ms", _non_negative),
    "group.max.size": ("group_max_size", _positive),
    "offsets.topic.num.partitions": ("offsets_topic_num_partitions", _positive),
    "offsets.retention.check.interval.ms": ("offsets_retention_check_interval_ms", _positive_long),
    "offset.metadata.max.bytes": ("offset_metadata_max_bytes", _non_negative),
    "transaction.state.log.num.partitions": ("transaction_state_log_num_partitions", _positive),
    "share.coordinator.state.topic.num.partitions": ("share_coordinator_state_topic_num_partitions", _positive),
    "transaction.max.timeout.ms": ("transaction_max_timeout_ms", _positive),
    "transactional.id.expiration.ms": ("transactional_id_expiration_ms", _positive),
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": (
        "transaction_abort_timed_out_transaction_cleanup_interval_ms",
        _positive,
    ),
    "transaction.remove.expired.transaction.cleanup.interval.ms": (
        "transaction_remove_expired_transaction_cleanup_interval_ms",
        _positive,
    ),
    "producer.id.expiration.ms": ("producer_id_expiration_ms", _positive),
    "producer.id.expiration.check.interval.ms": ("producer_id_expiration_check_interval_ms", _positive),
    "quota.window.num": ("quota_window_num", _positive),
    "quota.window.size.seconds": ("quota_window_size_seconds", _positive),
}
_MINUTES = {"offsets.retention.minutes": "offsets_retention_ms"}
_LISTENERS = ("listeners", "advertised.listeners")
# Read with listeners, to know each listener's security protocol and which one clients use.
_LISTENER_SETTINGS = ("listener.security.protocol.map", "controller.listener.names")
# Listen on every address; never one a client can connect to.
WILDCARD_HOSTS = ("0.0.0.0", "::")
# Properties that only mean something with authentication or ACLs (super.users and
# allow.everyone.if.no.acl.found are the StandardAuthorizer's, set in server.properties too).
_AUTHORIZATION = (
    "authorizer.class.name",
    "delegation.token.secret.key",
    "super.users",
    "allow.everyone.if.no.acl.found",
)
# What kafkapy.security.authorizer implements (delegation tokens it does not).
_AUTHORIZER_SETTINGS = ("authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found")
# Security properties that are not ssl.*/sasl.*/listener.name.* nor the authorizer's.
_SESSION = ("connections.max.reauth.ms", "principal.builder.class")
_NO_SECURITY = "kafkapy has no SSL, SASL or authorizer yet, and ignoring it would leave the broker open; remove it"


def property_parser(name: str) -> Callable[[str], object]:
    """The parser of an implemented property, for a flag that sets the same thing (--num-partitions)."""
    return _PROPERTIES[name][1]


def checked(name: str, value: str, parse: Callable[[str], object]) -> object:
    """``parse(value)``, or a ConfigError naming the setting (``num.partitions=abc`` or ``--port 70000``)."""
    try:
        return parse(value)
    except ValueError as exc:
        setting = f"{name} {value}" if name.startswith("--") else f"{name}={value}"
        raise ConfigError(f"invalid {setting}: {exc}") from None


def apply_properties(config: BrokerConfig, props: dict[str, str]) -> None:
    """Set the config from Kafka property names; ConfigError for a bad value or an unknown name.

    Kafka properties kafkapy does not implement are refused if they would secure the broker and
    otherwise logged, all in one warning.
    """
    _refuse_security(props)
    ignored = []
    for name, value in props.items():
        if name in _PROPERTIES:
            attr, parse = _PROPERTIES[name]
            setattr(config, attr, checked(name, value, parse))
        elif name in BROKER_SYNONYMS:
            checked(name, value, lambda v, name=name: validate_broker_property(name, v))
            config.log_properties[name] = value
        elif name in BROKER_GROUP_CONFIGS:
            checked(name, value, lambda v, name=name: broker_config_value(name, v))
            config.group_properties[name] = value
        elif name in _MINUTES:
            setattr(config, _MINUTES[name], checked(name, value, _positive) * 60 * 1000)  # type: ignore[operator]
        elif name in _LISTENERS or name in _LISTENER_SETTINGS:
            config.listener_properties[name] = value
        elif is_security_property(name):
            config.security_properties[name] = value
        elif _is_kafka_property(name):
            ignored.append(name)
        else:
            raise ConfigError(f"unknown property {name}{_suggestion(name)}")
    if any(name in props for name in _LISTENERS) or (
        any(name in props for name in _LISTENER_SETTINGS) and any(n in config.listener_properties for n in _LISTENERS)
    ):
        # A map alone waits for check_config: listeners may still come in a later batch (--override).
        _apply_listeners(config)
    config.given_properties.update(props)
    if ignored:
        # The names are in the message too: in-process, with logging not configured, Python prints
        # the message alone.
        names = ",".join(ignored)
        log.warning("ignoring Kafka properties kafkapy does not implement: %s", names, extra={"properties": names})


def is_security_property(name: str) -> bool:
    """A property kafkapy.security reads (kept as written in ``BrokerConfig.security_properties``)."""
    return name.startswith(("ssl.", "sasl.", "listener.name.")) or name in _AUTHORIZATION or name in _SESSION


def _is_kafka_property(name: str) -> bool:
    return (
        name in KAFKA_IMAGE_VARIABLES or name.startswith(KAFKA_PROPERTY_PREFIXES) or name in kafka_broker_properties()
    )


def _known_names() -> list[str]:
    return [*_PROPERTIES, *BROKER_SYNONYMS, *_MINUTES, *kafka_broker_properties()]


def _suggestion(name: str) -> str:
    """`` (did you mean X?)`` for the closest known property name, as difflib sees it."""
    close = difflib.get_close_matches(name, _known_names(), n=1, cutoff=0.8)
    if close:
        return f" (did you mean {close[0]}?)"
    return " (not a Kafka broker property)"


def _refuse_security(props: Mapping[str, str]) -> None:
    """ConfigError for a security property kafkapy cannot honour: a SASL setting kafkapy.security.sasl
    refuses, an authorizer other than the StandardAuthorizer, delegation tokens, a secured inter-broker
    protocol. Starting without it would serve what it meant to protect, so it does not start (never
    fail open); ssl.* is checked by check_config once every property is in."""
    from kafkapy.security.sasl import sasl_refusal

    for name, value in props.items():
        per_listener = name.startswith("listener.name.") and ".sasl." in name
        if name.startswith("sasl.") or per_listener:
            if (reason := sasl_refusal(name, value)) is not None:
                raise ConfigError(f"{name}={value} is not supported: {reason}")
            continue
        if name == "authorizer.class.name" and value.strip():
            _check_authorizer_class(value.strip())
        elif name in _AUTHORIZATION and name not in _AUTHORIZER_SETTINGS and value.strip():
            raise ConfigError(f"{name} is not supported: {_NO_SECURITY}")
        protocol = value.strip()
        if name == "security.inter.broker.protocol" and protocol != PLAINTEXT and protocol in SECURITY_PROTOCOLS:
            raise ConfigError(f"{name}={value} is not supported: {_NO_SECURITY}")


def _check_authorizer_class(value: str) -> None:
    """ConfigError unless authorizer.class.name names Kafka's StandardAuthorizer, the one kafkapy implements."""
    from kafkapy.security.authorizer import ACL_AUTHORIZER, STANDARD_AUTHORIZER

    if value == ACL_AUTHORIZER:
        raise ConfigError(
            f"authorizer.class.name={value} was removed with ZooKeeper in Kafka 4.0: use {STANDARD_AUTHORIZER}"
        )
    if value != STANDARD_AUTHORIZER:
        raise ConfigError(f"authorizer.class.name={value} is not supported: kafkapy implements {STANDARD_AUTHORIZER}")


def _apply_listeners(config: BrokerConfig) -> None:
    """The listeners from the listener properties written so far; the first one's address in host/port."""
    listeners = _listeners(config)
    config.listeners = listeners
    first = listeners[0]
    config.host, config.port = first.host or config.host, first.port
    config.advertised_host, config.advertised_port = first.advertised_host, first.advertised_port


def _listeners(config: BrokerConfig) -> list[Listener]:
    """The listener properties written so far as Listeners; ConfigError for a bad or unsupported one."""
    settings = config.listener_properties
    try:
        listeners = parse_listeners(
            # Without listeners, Kafka's default PLAINTEXT://:9092, on the port set so far.
            settings.get("listeners", f"PLAINTEXT://:{config.port}"),
            settings.get("advertised.listeners", ""),
            settings.get("listener.security.protocol.map", ""),
            settings.get("controller.listener.names", ""),
        )
    except ListenerError as exc:
        raise ConfigError(str(exc)) from None
    return listeners


def _check_tls_properties(config: BrokerConfig) -> None:
    """ConfigError for an ssl.* property kafkapy.security.tls cannot honour (imported only if one is set)."""
    tls_listeners = [lsn.name for lsn in config.client_listeners() if lsn.security_protocol in SSL_PROTOCOLS]
    if not tls_listeners and not any(".ssl." in f".{name}" for name in config.security_properties):
        return
    from kafkapy.security.tls import TLSConfigError, check_properties

    try:
        check_properties(config, tls_listeners)
    except TLSConfigError as exc:
        raise ConfigError(str(exc)) from None


def check_config(config: BrokerConfig) -> None:
    """Checks across properties, once they are all set (Kafka's KafkaConfig.validateValues)."""
    if config.listener_properties:
        # Every batch is in: a map written without listeners applies to the default one now (the
        # first listener's address is host/port, which flags may have set since).
        config.listeners = _listeners(config)
    _check_tls_properties(config)
    for listener in config.client_listeners():
        host, _ = listener.advertised
        if host in WILDCARD_HOSTS:
            # Clients connect where Metadata says the broker is; Kafka refuses this meta-address too.
            raise ConfigError(
                f"advertised host {host} of listener {listener.name} is not an address clients can connect to:"
                f" with --host {config.host}, set --advertised-host (advertised.listeners) to a name or address"
                " clients reach this machine by"
            )
    if config.max_connections_per_ip == 0 and not config.max_connections_per_ip_overrides:
        raise ConfigError("max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides is set")
    _check_sasl_listeners(config)


def _check_sasl_listeners(config: BrokerConfig) -> None:
    """Each SASL listener's mechanisms can be set up (kafkapy.security.sasl), or the broker does not start."""
    from kafkapy.security.sasl import check_listener
    from kafkapy.security.session import SASL_PROTOCOLS

    for listener in config.client_listeners():
        if listener.security_protocol in SASL_PROTOCOLS:
            check_listener(config, listener.name)


# Properties DescribeConfigs shows as sensitive, without their value (Kafka's PASSWORD configs).
SENSITIVE_PROPERTIES = frozenset({"kafkapy.sasl.users"})


def static_properties(config: BrokerConfig) -> dict[str, tuple[str | None, bool]]:
    """Broker property -> (value, is it the default) for the settings in ``_PROPERTIES`` (DescribeConfigs);
    the value of a sensitive one is None."""
    defaults = BrokerConfig()
    out: dict[str, tuple[str | None, bool]] = {}
    for name, (attr, _) in _PROPERTIES.items():
        value = getattr(config, attr)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out[name] = (None if name in SENSITIVE_PROPERTIES else text, value == getattr(defaults, attr))
    return out


def load_properties_file(config: BrokerConfig, path: Path) -> None:
    """Apply a server.properties file; ConfigError if it cannot be read."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read --config {path}: {exc.strerror or exc}") from None
    apply_properties(config, parse_properties(text))


