"""Dynamic broker configs: what AlterConfigs / IncrementalAlterConfigs set on a BROKER resource at run time,
for this node (resource name "1") or as the cluster-wide default (resource name ""), as Kafka's
DynamicBrokerConfig does. A dynamic value wins over server.properties: per-broker, then cluster default,
then static, then Kafka's default (DescribeConfigs reports that order as the synonyms).

Both layers are kept in ``dynamic-broker-configs.json`` in the data dir, replaced whole (write, fsync,
rename) through the broker's storage FileSystem on every change, as Kafka's controller keeps them in the
metadata log. A damaged file is logged and the broker starts without dynamic configs. At the first start
of a data dir the cluster default ``min.insync.replicas`` is written, as Kafka 4.1+ does at format time
(KIP-966), so it is reported as DYNAMIC_DEFAULT_BROKER_CONFIG.

Validation follows Kafka 4.3.1's DynamicBrokerConfig.validateConfigs and the controller's checks, with
their error codes and messages. Configs Kafka knows but kafkapy cannot apply safely at run time (listeners
and their SSL/SASL settings, the principal builder) are refused, never stored without effect.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kafkapy.kafka_properties import KAFKA_BROKER_PROPERTIES
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.fs import DISK, FileSystem
from kafkapy.topic_configs import (
    BROKER_SYNONYMS,
    CLEANUP_POLICIES,
    COMPRESSION_TYPES,
    OP_APPEND,
    OP_DELETE,
    OP_SET,
    OP_SUBTRACT,
    TIMESTAMP_TYPES,
    ConfigSource,
    ConfigType,
    list_operation,
    list_operation_error,
    unknown_operation_error,
)

log = logging.getLogger("kafkapy.dynamic_config")

FILE_NAME = "dynamic-broker-configs.json"
MIN_INSYNC_REPLICAS = "min.insync.replicas"


@dataclass(frozen=True)
class BrokerConfigCheck:
    """The ConfigDef type and validator of a dynamic broker config, with Kafka's wording."""

    type: ConfigType
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # Kafka's own message where its validator words the range differently (compression.gzip.level).
    range_message: str | None = None

    def error(self, name: str, raw: str) -> str | None:
        """Kafka's ConfigException message for ``raw`` as the value of ``name``, or None if it is valid."""
        text = raw.strip()
        if self.type in (ConfigType.INT, ConfigType.SHORT, ConfigType.LONG):
            bits = {ConfigType.SHORT: 15, ConfigType.INT: 31, ConfigType.LONG: 63}[self.type]
            try:
                number: float = int(text)
            except ValueError:
                number = math.inf
            if not -(2**bits) <= number < 2**bits:
                return _invalid(raw, name, f"Not a number of type {self.type.name}")
            return self._range_error(name, number, str(number))
        if self.type == ConfigType.DOUBLE:
            try:
                number = float(text)
            except ValueError:
                return _invalid(raw, name, "Not a number of type DOUBLE")
            return self._range_error(name, number, repr(number))
        if self.type == ConfigType.BOOLEAN and text.lower() not in ("true", "false"):
            return _invalid(raw, name, "Expected value to be either true or false")
        items = [i.strip() for i in text.split(",") if i.strip()] if self.type == ConfigType.LIST else [text]
        bad = [item for item in items if self.choices and item not in self.choices]
        if bad:
            return _invalid(bad[0], name, f"String must be one of: {', '.join(self.choices)}")
        return None

    def _range_error(self, name: str, number: float, shown: str) -> str | None:
        """The validator's message (Kafka prints the parsed value: 2.0 for a double given as 2)."""
        low = self.minimum is not None and number < self.minimum
        high = self.maximum is not None and number > self.maximum
        if self.range_message is not None and (low or high):
            return _invalid(shown, name, self.range_message)
        if low:
            return _invalid(shown, name, f"Value must be at least {_number(self.minimum)}")
        if high:
            return _invalid(shown, name, f"Value must be no more than {_number(self.maximum)}")
        return None


def _invalid(shown: str, name: str, reason: str) -> str:
    return f"Invalid value {shown} for configuration {name}: {reason}"


def _number(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)


_C = BrokerConfigCheck
_INT, _LONG, _DOUBLE, _BOOL = ConfigType.INT, ConfigType.LONG, ConfigType.DOUBLE, ConfigType.BOOLEAN
_STRING, _LIST, _CLASS, _PASSWORD = ConfigType.STRING, ConfigType.LIST, ConfigType.CLASS, ConfigType.PASSWORD

# Kafka 4.3.1's ConfigDef type and validator of every dynamic broker config (KafkaConfig, ServerLogConfigs,
# CleanerConfig, SocketServerConfigs...), checked against the reference's answers.
DYNAMIC_CONFIG_CHECKS: dict[str, BrokerConfigCheck] = {
    "background.threads": _C(_INT, 1),
    "compression.gzip.level": _C(_INT, -1, 9, range_message="Value must be between 1 and 9 or equal to -1"),
    "compression.lz4.level": _C(_INT, 1, 17),
    "compression.type": _C(_STRING, choices=COMPRESSION_TYPES),
    "compression.zstd.level": _C(_INT, -131072, 22),
    "config.providers": _C(_LIST),
    "cordoned.log.dirs": _C(_LIST),
    "follower.fetch.last.tiered.offset.enable": _C(_BOOL),
    "group.consumer.assignment.interval.ms": _C(_INT, 0),
    "group.coordinator.cached.buffer.max.bytes": _C(_INT, 512 * 1024),
    "group.share.assignment.interval.ms": _C(_INT, 0),
    "group.streams.assignment.interval.ms": _C(_INT, 0),
    "listener.security.protocol.map": _C(_STRING),
    "listeners": _C(_LIST),
    "log.cleaner.backoff.ms": _C(_LONG, 0),
    "log.cleaner.dedupe.buffer.size": _C(_LONG),
    "log.cleaner.delete.retention.ms": _C(_LONG, 0),
    "log.cleaner.io.buffer.load.factor": _C(_DOUBLE),
    "log.cleaner.io.buffer.size": _C(_INT, 0),
    "log.cleaner.io.max.bytes.per.second": _C(_DOUBLE),
    "log.cleaner.max.compaction.lag.ms": _C(_LONG, 1),
    "log.cleaner.min.cleanable.ratio": _C(_DOUBLE, 0, 1),
    "log.cleaner.min.compaction.lag.ms": _C(_LONG, 0),
    "log.cleaner.threads": _C(_INT, 0),
    "log.cleanup.policy": _C(_LIST, choices=CLEANUP_POLICIES),
    "log.flush.interval.messages": _C(_LONG, 1),
    "log.flush.interval.ms": _C(_LONG),
    "log.index.interval.bytes": _C(_INT, 0),
    "log.index.size.max.bytes": _C(_INT, 4),
    "log.local.retention.bytes": _C(_LONG, -2),
    "log.local.retention.ms": _C(_LONG, -2),
    "log.message.timestamp.after.max.ms": _C(_LONG, 0),
    "log.message.timestamp.before.max.ms": _C(_LONG, 0),
    "log.message.timestamp.type": _C(_STRING, choices=TIMESTAMP_TYPES),
    "log.preallocate": _C(_BOOL),
    "log.retention.bytes": _C(_LONG),
    "log.retention.ms": _C(_LONG),
    "log.roll.jitter.ms": _C(_LONG),
    "log.roll.ms": _C(_LONG),
    "log.segment.bytes": _C(_INT, 1024 * 1024),
    "log.segment.delete.delay.ms": _C(_LONG, 0),
    "max.connection.creation.rate": _C(_INT, 0),
    "max.connections": _C(_INT, 0),
    "max.connections.per.ip": _C(_INT, 0),
    "max.connections.per.ip.overrides": _C(_STRING),
    "message.max.bytes": _C(_INT, 0),
    "metric.reporters": _C(_LIST),
    MIN_INSYNC_REPLICAS: _C(_INT, 1),
    "num.io.threads": _C(_INT, 1),
    "num.network.threads": _C(_INT, 1),
    "num.recovery.threads.per.data.dir": _C(_INT, 1),
    "num.replica.fetchers": _C(_INT),
    "principal.builder.class": _C(_CLASS),
    "producer.id.expiration.ms": _C(_INT, 1),
    "remote.fetch.max.wait.ms": _C(_INT, 1),
    "remote.list.offsets.request.timeout.ms": _C(_LONG, 1),
    "remote.log.index.file.cache.total.size.bytes": _C(_LONG, 1),
    "remote.log.manager.copier.thread.pool.size": _C(_INT, 1),
    "remote.log.manager.copy.max.bytes.per.second": _C(_LONG, 1),
    "remote.log.manager.expiration.thread.pool.size": _C(_INT, 1),
    "remote.log.manager.fetch.max.bytes.per.second": _C(_LONG, 1),
    "remote.log.manager.follower.thread.pool.size": _C(_INT, 1),
    "remote.log.reader.threads": _C(_INT, 1),
    "sasl.enabled.mechanisms": _C(_LIST),
    "sasl.jaas.config": _C(_PASSWORD),
    "sasl.kerberos.kinit.cmd": _C(_STRING),
    "sasl.kerberos.min.time.before.relogin": _C(_LONG),
    "sasl.kerberos.principal.to.local.rules": _C(_LIST),
    "sasl.kerberos.service.name": _C(_STRING),
    "sasl.kerberos.ticket.renew.jitter": _C(_DOUBLE),
    "sasl.kerberos.ticket.renew.window.factor": _C(_DOUBLE),
    "sasl.login.refresh.buffer.seconds": _C(ConfigType.SHORT),
    "sasl.login.refresh.min.period.seconds": _C(ConfigType.SHORT),
    "sasl.login.refresh.window.factor": _C(_DOUBLE),
    "sasl.login.refresh.window.jitter": _C(_DOUBLE),
    "sasl.mechanism.inter.broker.protocol": _C(_STRING),
    "share.coordinator.cached.buffer.max.bytes": _C(_INT, 512 * 1024),
    "ssl.cipher.suites": _C(_LIST),
    "ssl.client.auth": _C(_STRING),
    "ssl.enabled.protocols": _C(_LIST),
    "ssl.endpoint.identification.algorithm": _C(_STRING),
    "ssl.engine.factory.class": _C(_CLASS),
    "ssl.key.password": _C(_PASSWORD),
    "ssl.keymanager.algorithm": _C(_STRING),
    "ssl.keystore.certificate.chain": _C(_PASSWORD),
    "ssl.keystore.key": _C(_PASSWORD),
    "ssl.keystore.location": _C(_STRING),
    "ssl.keystore.password": _C(_PASSWORD),
    "ssl.keystore.type": _C(_STRING),
    "ssl.protocol": _C(_STRING),
    "ssl.provider": _C(_STRING),
    "ssl.secure.random.implementation": _C(_STRING),
    "ssl.trustmanager.algorithm": _C(_STRING),
    "ssl.truststore.certificates": _C(_PASSWORD),
    "ssl.truststore.location": _C(_STRING),
    "ssl.truststore.password": _C(_PASSWORD),
    "ssl.truststore.type": _C(_STRING),
    "transaction.partition.verification.enable": _C(_BOOL),
    "unclean.leader.election.enable": _C(_BOOL),
}

# Kafka's SslConfigs.RECONFIGURABLE_CONFIGS: changed only per listener (listener.name.<l>.ssl.keystore...).
LISTENER_ONLY_SECURITY_CONFIGS = frozenset(
    {
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.key.password",
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.password",
        "ssl.keystore.certificate.chain",
        "ssl.keystore.key",
        "ssl.truststore.certificates",
    }
)
# Kafka's DynamicBrokerConfig.AllDynamicConfigs: broker configs that may change without a restart (the
# others are read-only in DescribeConfigs and INVALID_REQUEST/INVALID_CONFIG in the alter APIs).
DYNAMIC_BROKER_CONFIGS: frozenset[str] = frozenset(DYNAMIC_CONFIG_CHECKS)
# Kafka's DynamicBrokerConfig.PerBrokerConfigs: dynamic, but never as the cluster-wide default.
PER_BROKER_CONFIGS: frozenset[str] = LISTENER_ONLY_SECURITY_CONFIGS | {"listeners", "listener.security.protocol.map"}
# Kafka's DynamicThreadPool.ReconfigurableConfigs and the remote log manager's pools: a new size must stay
# within half and double the current one. Kafka's defaults are the current sizes kafkapy reports.
THREAD_POOL_DEFAULTS = {
    "num.io.threads": 8,
    "num.network.threads": 3,
    "num.recovery.threads.per.data.dir": 2,
    "num.replica.fetchers": 1,
    "background.threads": 10,
    "remote.log.reader.threads": 10,
    "remote.log.manager.copier.thread.pool.size": 10,
    "remote.log.manager.expiration.thread.pool.size": 10,
    "remote.log.manager.follower.thread.pool.size": 2,
}
# Kafka's log.cleaner.threads default, and its dedupe buffer (1 MiB per thread at least).
LOG_CLEANER_THREADS_DEFAULT = 1
LOG_CLEANER_DEDUPE_BUFFER_DEFAULT = 128 * 1024 * 1024


def is_listener_config(name: str) -> bool:
    """Listener settings, their security and the principal builder: fixed at start-up on kafkapy, so
    changing them at run time is refused rather than stored without effect (which would fail open)."""
    return (
        name in ("listeners", "listener.security.protocol.map", "principal.builder.class")
        or name.startswith(("listener.name.", "ssl.", "sasl."))
    )


def _java_hash(text: str) -> int:
    """Java's String.hashCode, unsigned."""
    value = 0
    for char in text:
        value = (31 * value + ord(char)) & 0xFFFFFFFF
    return value


def _names(names: Iterable[str]) -> str:
    """Config names as Kafka lists them in a message: a java.util.HashSet's order (by spread hash bucket)."""
    found = list(dict.fromkeys(names))
    capacity = 16
    while len(found) > capacity * 0.75:
        capacity *= 2
    found.sort(key=lambda name: (_java_hash(name) ^ (_java_hash(name) >> 16)) & (capacity - 1))
    return f"[{', '.join(found)}]"


def _request_error(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_REQUEST, message)


def _config_error(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_CONFIG, message)


def check_broker_resource(name: str, node_id: int) -> None:
    """Kafka's ConfigAdminManager check of a BROKER resource name in the alter APIs: "" or this node's id."""
    if not name:
        return
    try:
        requested = int(name)
    except ValueError:
        raise _request_error(f"Node id must be an integer, but it is: {name}") from None
    if requested != node_id:
        raise _request_error(f"Unexpected broker id, expected {node_id}, but received {name}")


def incremental_changes(
    current: Mapping[str, str], changes: Iterable[tuple[str, int, str | None]], effective: Callable[[str], str | None]
) -> dict[str, str]:
    """A resource's dynamic set after IncrementalAlterConfigs on a broker (Kafka's ConfigAdminManager):
    APPEND and SUBTRACT start from the config's effective value (``effective``), unknown names are kept."""
    changes = list(changes)
    names = [name for name, _, _ in changes]
    if len(set(names)) != len(names):
        raise _request_error("Error due to duplicate config keys")
    result = dict(current)
    for name, operation, value in changes:
        if operation == OP_SET and value is None:
            raise _request_error(f"Null value not supported for : {name}")
        if operation == OP_SET:
            result[name] = value  # type: ignore[assignment]
        elif operation == OP_DELETE:
            result.pop(name, None)
        elif operation in (OP_APPEND, OP_SUBTRACT):
            check = DYNAMIC_CONFIG_CHECKS.get(name)
            if check is None or check.type != ConfigType.LIST:
                raise list_operation_error(name, operation)
            result[name] = list_operation(_items(result.get(name, effective(name))), _items(value), operation)
        else:
            raise unknown_operation_error(name, operation)
    return result


def _items(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class DynamicBrokerConfig:
    """This node's dynamic configs and the cluster-wide defaults, by Kafka property name."""

    def __init__(self, data_dir: Path | None = None, fs: FileSystem = DISK, *, min_insync_replicas: str = "1") -> None:
        """Load the stored layers from ``data_dir`` (None: nothing is kept, for tests of the layers alone).

        ``min_insync_replicas`` seeds the cluster default when the data dir has no file yet.
        """
        self._fs = fs
        self._path = None if data_dir is None else Path(data_dir) / FILE_NAME
        self.per_broker: dict[str, str] = {}
        self.cluster_default: dict[str, str] = {}
        # Called after every change (the broker re-applies its log defaults, the cleaner's backoff...).
        self.listeners: list[Callable[[], None]] = []
        if self._path is not None:
            self._load(min_insync_replicas)

    def _load(self, min_insync_replicas: str) -> None:
        assert self._path is not None
        try:
            stored = json.loads(self._fs.read_text(self._path))
            per_broker, cluster_default = stored["per_broker"], stored["cluster_default"]
            for layer in (per_broker, cluster_default):
                if not isinstance(layer, dict) or not all(isinstance(v, str) for v in layer.values()):
                    raise ValueError("a layer is not an object of strings")
        except FileNotFoundError:
            # A new data dir: Kafka's storage format writes the cluster-level min.insync.replicas (KIP-966).
            self.cluster_default[MIN_INSYNC_REPLICAS] = min_insync_replicas
            self._save()
            return
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            # OSError: unreadable; ValueError: not UTF-8 or JSON; the others: not the layout written here.
            log.warning("dynamic broker configs file damaged; starting without", extra={"path": str(self._path),
                                                                                       "error": str(exc)})
            return
        self.per_broker, self.cluster_default = dict(per_broker), dict(cluster_default)

    def _save(self) -> None:
        if self._path is None:
            return
        document = {"version": 1, "per_broker": self.per_broker, "cluster_default": self.cluster_default}
        self._fs.write_text(self._path, json.dumps(document, indent=1, sort_keys=True) + "\n")

    def lookup(self, name: str) -> tuple[str, ConfigSource] | None:
        """The dynamic value of ``name`` and its source, or None when only static/default values apply."""
        if name in self.per_broker:
            return self.per_broker[name], ConfigSource.DYNAMIC_BROKER_CONFIG
        if name in self.cluster_default:
            return self.cluster_default[name], ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
        return None

    def layer(self, resource_name: str) -> dict[str, str]:
        """The dynamic set of a BROKER resource: this node's ("1") or the cluster default ("")."""
        return self.per_broker if resource_name else self.cluster_default

    def log_properties(
        self, static: Mapping[str, str], resource_name: str | None = None, candidate: Mapping[str, str] = {}
    ) -> dict[str, str]:
        """The broker-level topic defaults (log.retention.ms, message.max.bytes...) with the dynamic layers over
        server.properties: what every topic without its own override follows. With ``resource_name``, the
        defaults if that resource's dynamic set were ``candidate`` (to validate a change before making it)."""
        layers = {"": self.cluster_default, "1": self.per_broker}
        if resource_name is not None:
            layers["1" if resource_name else ""] = dict(candidate)
        merged = dict(static)
        for layer in layers.values():
            merged.update((name, value) for name, value in layer.items() if name in BROKER_SYNONYMS)
        return merged

    def value(self, name: str, default: str | None) -> str | None:
        """A config's dynamic value, else ``default`` (the static or Kafka's value)."""
        found = self.lookup(name)
        return default if found is None else found[0]

    def validate(self, resource_name: str, configs: Mapping[str, str], requested: Iterable[str] = ()) -> None:
        """Kafka's checks of a resource's complete new dynamic set; KafkaError with Kafka's code and message.

        Kafka's broker configs that are not dynamic are read-only; names Kafka does not know are accepted
        and stored, as Kafka does (custom configs). ``requested`` are the names the request itself changes
        (a DELETE of an unset name among them).
        """
        old = self.layer(resource_name)
        changed = {name: value for name, value in configs.items() if old.get(name) != value}
        read_only = [n for n in changed if n in KAFKA_BROKER_PROPERTIES and n not in DYNAMIC_BROKER_CONFIGS]
        if read_only:
            raise _request_error(f"Cannot update these configs dynamically: {_names(read_only)}")
        security = [n for n in changed if n in LISTENER_ONLY_SECURITY_CONFIGS]
        if security:
            raise _request_error(
                "These security configs can be dynamically updated only per-listener using the listener prefix: "
                + _names(security)
            )
        for name, value in changed.items():
            check = DYNAMIC_CONFIG_CHECKS.get(name)
            message = None if check is None else check.error(name, value)
            if message is not None:
                raise _request_error(message)
        if not resource_name:
            per_broker = [n for n in changed if n in PER_BROKER_CONFIGS or n.startswith("listener.name.")]
            if per_broker:
                raise _request_error(
                    "Cannot update these configs at default cluster level, broker id must be specified: "
                    + _names(per_broker)
                )
        listener = [n for n in changed if is_listener_config(n)]
        if listener:
            raise _request_error(
                "kafkapy cannot change its listeners or their security at run time (set them in "
                f"server.properties and restart): {_names(listener)}"
            )
        if resource_name:
            self._check_reconfiguration(configs)
        touched = set(requested) | set(changed) | (set(old) - set(configs))
        self._check_min_insync_replicas(resource_name, touched, configs)

    def _check_reconfiguration(self, configs: Mapping[str, str]) -> None:
        """Kafka's validateReconfiguration of this node's thread pools and log cleaner."""
        for name, default in THREAD_POOL_DEFAULTS.items():
            if name not in configs:
                continue
            current, new = int(self.value(name, str(default)) or default), int(configs[name])
            problem = None
            if new > current * 2:
                problem = f"value should not be greater than double the current value {current}"
            elif new < current / 2:
                problem = f"value should be at least half the current value {current}"
            if problem is not None:
                raise _request_error(
                    "Invalid value org.apache.kafka.common.config.ConfigException: Dynamic thread count update "
                    f"validation failed for {name}={new}, {problem} for configuration Invalid dynamic configuration"
                )
        threads = int(self.value("log.cleaner.threads", str(LOG_CLEANER_THREADS_DEFAULT)) or 1)
        new_threads = int(configs.get("log.cleaner.threads", threads))
        if new_threads > threads * 2:
            raise _request_error(
                "Invalid value org.apache.kafka.common.config.ConfigException: Log cleaner threads cannot be "
                f"increased to more than double the current value {threads} for configuration Invalid dynamic "
                "configuration"
            )
        buffer = int(configs.get("log.cleaner.dedupe.buffer.size", LOG_CLEANER_DEDUPE_BUFFER_DEFAULT))
        if new_threads and buffer / new_threads < 1024 * 1024:
            raise _request_error(
                "requirement failed: log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread."
            )
        if "log.roll.ms" in configs and int(configs["log.roll.ms"]) < 1:
            raise _request_error("requirement failed: log.roll.ms must be greater than or equal to 1")

    def _check_min_insync_replicas(self, resource_name: str, touched: set[str], configs: Mapping[str, str]) -> None:
        """The controller's KIP-966 rules while eligible leader replicas are enabled (as in a new Kafka 4.3
        cluster): min.insync.replicas is cluster-wide only, and the cluster default stays."""
        if MIN_INSYNC_REPLICAS not in touched:
            return
        if resource_name:
            raise _config_error("Broker-level min.insync.replicas cannot be altered while ELR is enabled.")
        if MIN_INSYNC_REPLICAS not in configs:
            raise _config_error("Cluster-level min.insync.replicas cannot be removed while ELR is enabled.")

    def replace(self, resource_name: str, configs: Mapping[str, str]) -> None:
        """Make ``configs`` the resource's whole dynamic set (validated before), persist it and tell the listeners."""
        layer = self.layer(resource_name)
        if dict(configs) == layer:
            return
        layer.clear()
        layer.update(configs)
        self._save()
        for listener in self.listeners:
            listener()
