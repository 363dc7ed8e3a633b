"""Kafka's topic configs in one table: names, types, defaults, validation, broker synonyms (Kafka's
documentation of each is in the generated kafkapy.kafka_broker_configs, loaded when asked for).

CreateTopics, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, the broker's properties file
(``log.retention.hours`` and the other broker-level defaults) and storage's ``LogConfig`` all read
``TOPIC_CONFIGS`` (Kafka's TopicConfig / LogConfig / ServerLogConfigs). Every config Apache Kafka 4
knows for a topic is listed; those without a ``field`` are validated, stored and described but have
no effect on a single broker without tiered storage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from kafkapy.protocol.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkapy.dynamic_broker_config import DynamicBrokerConfig

# Kafka's Long.MAX_VALUE ("never", "unlimited").
LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
LONG_MIN = -(2**63)


class ConfigType(IntEnum):
    """DescribeConfigs v3+ config_type (org.apache.kafka.common.config.ConfigDef.Type)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigSource(IntEnum):
    """DescribeConfigs v1+ config_source."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    # A group's own config override (GROUP resources, Kafka's GroupConfig).
    DYNAMIC_GROUP_CONFIG = 8


class ConfigResourceType(IntEnum):
    """ConfigResource.Type as sent in DescribeConfigs and the AlterConfigs requests."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


# compression.type values; "none" is accepted as "uncompressed" (kafkapy extension).
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
COMPRESSION_ALIASES = {"none": "uncompressed"}
CLEANUP_POLICIES = ("compact", "delete")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")


@dataclass(frozen=True)
class Synonym:
    """A broker property giving a topic config's default; ``unit`` topic units per broker unit (hours: 3600000)."""

    name: str
    unit: int = 1


@dataclass(frozen=True)
class TopicConfigDef:
    """One topic config: Kafka's name, type, default (as Kafka prints it) and validation."""

    name: str
    type: ConfigType
    default: str
    synonyms: tuple[Synonym, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # The LogConfig attribute it sets; None when kafkapy accepts and stores it without effect.
    field: str | None = None
    # Long.MAX_VALUE means "off": the parsed value is None.
    max_is_none: bool = False

    def parse(self, raw: str) -> object:
        """The typed value of ``raw``; ValueError with Kafka-like wording if it is invalid."""
        text = raw.strip()
        if self.type in (ConfigType.INT, ConfigType.LONG):
            try:
                value: object = int(text)
            except ValueError:
                raise ValueError(f"Expected value to be a {self._type_word()} number, but it was a String") from None
            low, high = (INT_MIN, INT_MAX) if self.type == ConfigType.INT else (LONG_MIN, LONG_MAX)
            if not low <= value <= high:
                raise ValueError(f"Expected value to be a {self._type_word()} number, but it was out of range")
            self._check_range(value)
            return None if self.max_is_none and value == LONG_MAX else value
        if self.type == ConfigType.DOUBLE:
            try:
                number = float(text)
            except ValueError:
                raise ValueError("Expected value to be a double, but it was a String") from None
            self._check_range(number)
            return number
        if self.type == ConfigType.BOOLEAN:
            if text.lower() not in ("true", "false"):
                raise ValueError("Expected value to be either true or false")
            return text.lower() == "true"
        if self.type == ConfigType.LIST:
            items = tuple(item.strip() for item in text.split(",") if item.strip())
            for item in items:
                if self.choices and item not in self.choices:
                    raise ValueError(f"String must be one of: {', '.join(self.choices)}")
            return items
        text = COMPRESSION_ALIASES.get(text, text) if self.name == "compression.type" else text
        if self.choices and text not in self.choices:
            raise ValueError(f"String must be one of: {', '.join(self.choices)}")
        return text

    def _type_word(self) -> str:
        return "32-bit integer" if self.type == ConfigType.INT else "64-bit integer"

    def _check_range(self, value: float) -> None:
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"Value must be at least {_number(self.minimum)}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"Value must be no more than {_number(self.maximum)}")

    @property
    def default_value(self) -> object:
        return self.parse(self.default)

    @property
    def default_synonym(self) -> Synonym | None:
        """The broker property Kafka reports the default under (log.retention.hours for retention.ms)."""
        return self.synonyms[-1] if self.synonyms else None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _long(name: str, default: int, *synonyms: Synonym, minimum: int | None = 0, **kw: Any) -> TopicConfigDef:
    return TopicConfigDef(name, ConfigType.LONG, str(default), synonyms, minimum=minimum, **kw)


def _int(name: str, default: int, *synonyms: Synonym, minimum: int | None = 0, **kw: Any) -> TopicConfigDef:
    return TopicConfigDef(name, ConfigType.INT, str(default), synonyms, minimum=minimum, **kw)


def _bool(name: str, *synonyms: Synonym) -> TopicConfigDef:
    return TopicConfigDef(name, ConfigType.BOOLEAN, "false", synonyms)


_DAY_MS = 24 * 3600 * 1000
_S = Synonym

# Every topic config of Apache Kafka 4, in Kafka's alphabetical order.
TOPIC_CONFIGS: dict[str, TopicConfigDef] = {
    d.name: d
    for d in (
        TopicConfigDef(
            "cleanup.policy",
            ConfigType.LIST,
            "delete",
            (_S("log.cleanup.policy"),),
            choices=CLEANUP_POLICIES,
            field="cleanup_policy",
        ),
        TopicConfigDef(
            "compression.type",
            ConfigType.STRING,
            "producer",
            (_S("compression.type"),),
            choices=COMPRESSION_TYPES,
            field="compression_type",
        ),
        _int("compression.gzip.level", -1, _S("compression.gzip.level"), minimum=-1, maximum=9),
        _int("compression.lz4.level", 9, _S("compression.lz4.level"), minimum=1, maximum=17),
        _int("compression.zstd.level", 3, _S("compression.zstd.level"), minimum=-131072, maximum=22),
        _long("delete.retention.ms", _DAY_MS, _S("log.cleaner.delete.retention.ms"), field="delete_retention_ms"),
        _long("file.delete.delay.ms", 60000, _S("log.segment.delete.delay.ms"), field="file_delete_delay_ms"),
        _long("flush.messages", LONG_MAX,
              _S("log.flush.interval.messages"), minimum=1, field="flush_messages", max_is_none=True),
        _long("flush.ms", LONG_MAX,
              _S("log.flush.interval.ms"), _S("log.flush.scheduler.interval.ms"), field="flush_ms", max_is_none=True),
        TopicConfigDef("follower.replication.throttled.replicas", ConfigType.LIST, ""),
        _int("index.interval.bytes", 4096, _S("log.index.interval.bytes"), field="index_interval_bytes"),
        TopicConfigDef("leader.replication.throttled.replicas", ConfigType.LIST, ""),
        _long("local.retention.bytes", -2, _S("log.local.retention.bytes"), minimum=-2),
        _long("local.retention.ms", -2, _S("log.local.retention.ms"), minimum=-2),
        _long("max.compaction.lag.ms", LONG_MAX,
              _S("log.cleaner.max.compaction.lag.ms"), minimum=1, field="max_compaction_lag_ms"),
        _int("max.message.bytes", 1048588, _S("message.max.bytes"), field="max_message_bytes"),
        _long("message.timestamp.after.max.ms", 3600000,
              _S("log.message.timestamp.after.max.ms"), field="message_timestamp_after_max_ms"),
        _long("message.timestamp.before.max.ms", LONG_MAX,
              _S("log.message.timestamp.before.max.ms"), field="message_timestamp_before_max_ms"),
        TopicConfigDef("message.timestamp.type", ConfigType.STRING, "CreateTime",
                       (_S("log.message.timestamp.type"),), choices=TIMESTAMP_TYPES, field="message_timestamp_type"),
        TopicConfigDef("min.cleanable.dirty.ratio", ConfigType.DOUBLE, "0.5",
                       (_S("log.cleaner.min.cleanable.ratio"),), minimum=0, maximum=1,
                       field="min_cleanable_dirty_ratio"),
        _long("min.compaction.lag.ms", 0, _S("log.cleaner.min.compaction.lag.ms"), field="min_compaction_lag_ms"),
        _int("min.insync.replicas", 1, _S("min.insync.replicas"), minimum=1, field="min_insync_replicas"),
        _bool("preallocate", _S("log.preallocate")),
        _bool("remote.log.copy.disable"),
        _bool("remote.log.delete.on.disable"),
        _bool("remote.storage.enable"),
        _long("retention.bytes", -1, _S("log.retention.bytes"), minimum=None, field="retention_bytes"),
        _long("retention.ms", 7 * _DAY_MS,
              _S("log.retention.ms"), _S("log.retention.minutes", 60000), _S("log.retention.hours", 3600000),
              minimum=-1, field="retention_ms"),
        _int("segment.bytes", 1024 * 1024 * 1024, _S("log.segment.bytes"), minimum=14, field="segment_bytes"),
        _int("segment.index.bytes", 10 * 1024 * 1024, _S("log.index.size.max.bytes"), minimum=4),
        _long("segment.jitter.ms", 0, _S("log.roll.jitter.ms"), _S("log.roll.jitter.hours", 3600000)),
        _long("segment.ms", 7 * _DAY_MS,
              _S("log.roll.ms"), _S("log.roll.hours", 3600000), minimum=1, field="segment_ms"),
        _bool("unclean.leader.election.enable", _S("unclean.leader.election.enable")),
    )
}

# Broker property -> (topic config, unit): the broker-level defaults server.properties may set.
BROKER_SYNONYMS: dict[str, tuple[TopicConfigDef, int]] = {
    synonym.name: (definition, synonym.unit)
    for definition in TOPIC_CONFIGS.values()
    for synonym in definition.synonyms
}

# IncrementalAlterConfigs operations.
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3


def invalid_config(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_CONFIG, message)


def parse_topic_configs(configs: Mapping[str, str | None]) -> dict[str, object]:
    """Typed values by LogConfig field of the configs that have one; KafkaError(INVALID_CONFIG) if any is bad."""
    fields: dict[str, object] = {}
    for name, raw in configs.items():
        definition = TOPIC_CONFIGS.get(name)
        if definition is None:
            raise invalid_config(f"Unknown topic config name: {name}")
        if raw is None:
            raise invalid_config(f"Null value not supported for topic config {name}")
        try:
            value = definition.parse(raw)
        except ValueError as exc:
            raise invalid_config(f"Invalid value {raw} for configuration {name}: {exc}") from None
        if name == "remote.storage.enable" and value:
            raise invalid_config("Tiered storage is not supported by this broker (remote.storage.enable=true)")
        if definition.field is not None:
            fields[definition.field] = value
    return fields


def check_consistency(values: Mapping[str, object]) -> None:
    """Kafka's cross-config checks on a complete set of LogConfig field values."""
    min_lag, max_lag = values["min_compaction_lag_ms"], values["max_compaction_lag_ms"]
    if min_lag > max_lag:  # type: ignore[operator]
        raise invalid_config(
            f"conflict topic config setting min.compaction.lag.ms ({min_lag}) > max.compaction.lag.ms ({max_lag})"
        )


def broker_value(definition: TopicConfigDef, props: Mapping[str, str]) -> tuple[str, Synonym] | None:
    """The broker-level value of a topic config from server.properties, in topic units; None if unset."""
    for synonym in definition.synonyms:
        raw = props.get(synonym.name)
        if raw is None:
            continue
        if synonym.unit == 1 and definition.minimum == -1 and raw.strip().lstrip("-").isdigit() and int(raw) < 0:
            # Kafka takes any negative broker-level retention as -1, keep forever (topic configs refuse it).
            return "-1", synonym
        return _scaled(raw, synonym.unit), synonym
    return None


def broker_topic_defaults(props: Mapping[str, str]) -> dict[str, str]:
    """Topic config name -> broker-level default for every topic config server.properties sets."""
    out: dict[str, str] = {}
    for definition in TOPIC_CONFIGS.values():
        found = broker_value(definition, props)
        if found is not None:
            out[definition.name] = found[0]
    return out


def validate_broker_property(name: str, raw: str) -> None:
    """ValueError unless ``raw`` is valid for the broker synonym ``name`` of a topic config."""
    definition, unit = BROKER_SYNONYMS[name]
    if unit != 1:
        try:
            int(raw)
        except ValueError:
            raise ValueError("expected a whole number") from None
        return
    definition.parse(raw)


def apply_incremental(
    current: Mapping[str, str], changes: Iterable[tuple[str, int, str | None]]
) -> dict[str, str]:
    """The overrides after IncrementalAlterConfigs' (name, operation, value) changes; KafkaError if invalid."""
    result = dict(current)
    seen: set[str] = set()
    for name, operation, value in changes:
        if name in seen:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Error due to duplicate config keys: {name}")
        seen.add(name)
        definition = TOPIC_CONFIGS.get(name)
        if definition is None:
            raise invalid_config(f"Unknown topic config name: {name}")
        if operation == OP_SET:
            if value is None:
                raise invalid_config(f"Null value not supported for topic config {name}")
            result[name] = value
        elif operation == OP_DELETE:
            result.pop(name, None)
        elif operation in (OP_APPEND, OP_SUBTRACT):
            if definition.type != ConfigType.LIST:
                raise list_operation_error(name, operation)
            items = definition.parse(result.get(name, definition.default))
            result[name] = list_operation(items, definition.parse(value or ""), operation)  # type: ignore[arg-type]
        else:
            raise unknown_operation_error(name, operation)
    return result


def list_operation(items: Iterable[str], given: Iterable[str], operation: int) -> str:
    """A list config's value after APPEND (the new items at the end) or SUBTRACT of ``given``."""
    result, given = list(items), list(given)
    if operation == OP_APPEND:
        return ",".join(result + [item for item in given if item not in result])
    return ",".join(item for item in result if item not in given)


def list_operation_error(name: str, operation: int) -> KafkaError:
    """Kafka's INVALID_CONFIG for APPEND or SUBTRACT on a config that is not a list."""
    verb = "append" if operation == OP_APPEND else "subtract"
    return invalid_config(f"Config value {verb} is not allowed for config key: {name}")


def unknown_operation_error(name: str, operation: int) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown config operation {operation} for {name}")


def _scaled(raw: str, unit: int) -> str:
    """A broker synonym's value in the topic config's unit (log.retention.hours=1 is 3600000 ms)."""
    if unit == 1:
        return raw.strip()
    scaled = int(raw) * unit
    return str(-1 if scaled < 0 else scaled)


def describe_topic_config(
    definition: TopicConfigDef,
    overrides: Mapping[str, str],
    props: Mapping[str, str],
    dynamic: DynamicBrokerConfig | None = None,
) -> tuple[str, ConfigSource, list[tuple[str, str | None, ConfigSource]]]:
    """(value, source, synonyms) as Kafka's ConfigHelper reports a topic config: the topic's override, then
    the broker synonyms' layers (per-broker dynamic, cluster default, static, default, each over every
    synonym), cut before the main broker name: retention.ms has none while log.retention.ms is unset."""
    layers: list[tuple[ConfigSource, Mapping[str, str]]] = [(ConfigSource.STATIC_BROKER_CONFIG, props)]
    if dynamic is not None:
        layers[:0] = [
            (ConfigSource.DYNAMIC_BROKER_CONFIG, dynamic.per_broker),
            (ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, dynamic.cluster_default),
        ]
    default = definition.default_synonym
    if default is not None:
        text = definition.default if default.unit == 1 else str(int(definition.default) // default.unit)
        layers.append((ConfigSource.DEFAULT_CONFIG, {default.name: text}))
    found = [
        (synonym, values[synonym.name], source)
        for source, values in layers
        for synonym in definition.synonyms
        if synonym.name in values
    ]
    value, source = definition.default, ConfigSource.DEFAULT_CONFIG
    for _, values in layers:
        in_force = broker_value(definition, values)
        if in_force is not None:
            value = in_force[0]
            break
    while found and found[0][0] != definition.synonyms[0]:
        found.pop(0)
    synonyms = [(synonym.name, raw, layer) for synonym, raw, layer in found]
    if definition.name in overrides:
        value = overrides[definition.name]
        synonyms.insert(0, (definition.name, value, ConfigSource.DYNAMIC_TOPIC_CONFIG))
    if synonyms:
        source = synonyms[0][2]
    return value, source, synonyms


def describe_topic_configs(
    overrides: Mapping[str, str],
    props: Mapping[str, str],
    names: Iterable[str] | None = None,
    dynamic: DynamicBrokerConfig | None = None,
) -> list[dict[str, object]]:
    """DescribeConfigs (and CreateTopics v5+) entries of a topic's configs, every config unless ``names`` is given.

    Each entry has every field of either response; the codec ignores those a version lacks.
    """
    wanted = TOPIC_CONFIGS if names is None else [n for n in names if n in TOPIC_CONFIGS]
    entries: list[dict[str, object]] = []
    for name in wanted:
        definition = TOPIC_CONFIGS[name]
        value, source, synonyms = describe_topic_config(definition, overrides, props, dynamic)
        entries.append(
            {
                "name": name,
                "value": value,
                "read_only": False,
                "is_default": source == ConfigSource.DEFAULT_CONFIG,
                "config_source": source,
                "is_sensitive": False,
                "synonyms": [{"name": n, "value": v, "source": s} for n, v, s in synonyms],
                "config_type": definition.type,
                # Kafka's documentation: the DescribeConfigs handler adds it when asked (v3+).
                "documentation": None,
            }
        )
    return entries
