"""Kafka's topic configs in one table: names, types, defaults, validation, broker synonyms, docs.

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
from typing import Any

from kafkapy.protocol.errors import ErrorCode, KafkaError

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
    doc: str
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


def _long(name: str, default: int, doc: str, *synonyms: Synonym, minimum: int | None = 0, **kw: Any) -> TopicConfigDef:
    return TopicConfigDef(name, ConfigType.LONG, str(default), doc, synonyms, minimum=minimum, **kw)


def _int(name: str, default: int, doc: str, *synonyms: Synonym, minimum: int | None = 0, **kw: Any) -> TopicConfigDef:
    return TopicConfigDef(name, ConfigType.INT, str(default), doc, synonyms, minimum=minimum, **kw)


def _bool(name: str, doc: str, *synonyms: Synonym) -> TopicConfigDef:
    return TopicConfigDef(name, ConfigType.BOOLEAN, "false", doc, synonyms)


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
            "delete removes old segments by retention; compact keeps the latest record per key; both do both.",
            (_S("log.cleanup.policy"),),
            choices=CLEANUP_POLICIES,
            field="cleanup_policy",
        ),
        TopicConfigDef(
            "compression.type",
            ConfigType.STRING,
            "producer",
            "Codec batches are stored with: producer keeps the producer's, others make the broker recompress.",
            (_S("compression.type"),),
            choices=COMPRESSION_TYPES,
            field="compression_type",
        ),
        _int("compression.gzip.level", -1, "gzip level when the broker compresses.", _S("compression.gzip.level"),
             minimum=-1, maximum=9),
        _int("compression.lz4.level", 9, "lz4 level when the broker compresses.", _S("compression.lz4.level"),
             minimum=1, maximum=17),
        _int("compression.zstd.level", 3, "zstd level when the broker compresses.", _S("compression.zstd.level"),
             minimum=-131072, maximum=22),
        _long("delete.retention.ms", _DAY_MS, "How long tombstones of a compacted topic are kept after cleaning.",
              _S("log.cleaner.delete.retention.ms"), field="delete_retention_ms"),
        _long("file.delete.delay.ms", 60000, "How long a deleted segment's files stay before removal.",
              _S("log.segment.delete.delay.ms"), field="file_delete_delay_ms"),
        _long("flush.messages", LONG_MAX, "fsync after this many messages (default: leave it to the OS).",
              _S("log.flush.interval.messages"), minimum=1, field="flush_messages", max_is_none=True),
        _long("flush.ms", LONG_MAX, "fsync after this many ms (default: leave it to the OS).",
              _S("log.flush.interval.ms"), field="flush_ms", max_is_none=True),
        TopicConfigDef("follower.replication.throttled.replicas", ConfigType.LIST, "",
                       "Replicas throttled on the follower side (no effect on one broker).",
                       (_S("follower.replication.throttled.replicas"),)),
        _int("index.interval.bytes", 4096, "Bytes between offset index entries.", _S("log.index.interval.bytes"),
             field="index_interval_bytes"),
        TopicConfigDef("leader.replication.throttled.replicas", ConfigType.LIST, "",
                       "Replicas throttled on the leader side (no effect on one broker).",
                       (_S("leader.replication.throttled.replicas"),)),
        _long("local.retention.bytes", -2, "Local bytes kept with tiered storage (no tiered storage here).",
              _S("log.local.retention.bytes"), minimum=-2),
        _long("local.retention.ms", -2, "Local ms kept with tiered storage (no tiered storage here).",
              _S("log.local.retention.ms"), minimum=-2),
        _long("max.compaction.lag.ms", LONG_MAX, "Longest a record stays uncompacted.",
              _S("log.cleaner.max.compaction.lag.ms"), minimum=1, field="max_compaction_lag_ms"),
        _int("max.message.bytes", 1048588, "Largest record batch the topic accepts.", _S("message.max.bytes"),
             field="max_message_bytes"),
        _long("message.timestamp.after.max.ms", 3600000, "How far in the future a CreateTime timestamp may be.",
              _S("log.message.timestamp.after.max.ms"), field="message_timestamp_after_max_ms"),
        _long("message.timestamp.before.max.ms", LONG_MAX, "How far in the past a CreateTime timestamp may be.",
              _S("log.message.timestamp.before.max.ms"), field="message_timestamp_before_max_ms"),
        TopicConfigDef("message.timestamp.type", ConfigType.STRING, "CreateTime",
                       "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's time.",
                       (_S("log.message.timestamp.type"),), choices=TIMESTAMP_TYPES, field="message_timestamp_type"),
        TopicConfigDef("min.cleanable.dirty.ratio", ConfigType.DOUBLE, "0.5",
                       "Dirty share of the log above which the cleaner compacts it.",
                       (_S("log.cleaner.min.cleanable.ratio"),), minimum=0, maximum=1,
                       field="min_cleanable_dirty_ratio"),
        _long("min.compaction.lag.ms", 0, "Shortest time a record stays uncompacted.",
              _S("log.cleaner.min.compaction.lag.ms"), field="min_compaction_lag_ms"),
        _int("min.insync.replicas", 1, "Replicas that must acknowledge an acks=all write.",
             _S("min.insync.replicas"), minimum=1, field="min_insync_replicas"),
        _bool("preallocate", "Preallocate segment files (no effect here).", _S("log.preallocate")),
        _bool("remote.log.copy.disable", "Stop copying to tiered storage (no tiered storage here)."),
        _bool("remote.log.delete.on.disable", "Delete tiered data when disabled (no tiered storage here)."),
        _bool("remote.storage.enable", "Tiered storage (not supported: must stay false)."),
        _long("retention.bytes", -1, "Largest size of a partition before old segments are deleted; -1: none.",
              _S("log.retention.bytes"), minimum=None, field="retention_bytes"),
        _long("retention.ms", 7 * _DAY_MS, "How long segments are kept before deletion; -1: forever.",
              _S("log.retention.ms"), _S("log.retention.minutes", 60000), _S("log.retention.hours", 3600000),
              minimum=-1, field="retention_ms"),
        _int("segment.bytes", 1024 * 1024 * 1024, "Size at which a new segment is rolled.",
             _S("log.segment.bytes"), minimum=14, field="segment_bytes"),
        _int("segment.index.bytes", 10 * 1024 * 1024, "Maximum size of a segment's offset index.",
             _S("log.index.size.max.bytes"), minimum=4),
        _long("segment.jitter.ms", 0, "Random jitter subtracted from segment.ms (not applied here).",
              _S("log.roll.jitter.ms"), _S("log.roll.jitter.hours", 3600000)),
        _long("segment.ms", 7 * _DAY_MS, "Age at which a new segment is rolled.",
              _S("log.roll.ms"), _S("log.roll.hours", 3600000), minimum=1, field="segment_ms"),
        _bool("unclean.leader.election.enable", "Allow out-of-sync leaders (one broker: no effect).",
              _S("unclean.leader.election.enable")),
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
        if synonym.unit == 1:
            # Kafka takes any negative broker-level retention as -1, keep forever (topic configs refuse it).
            if definition.minimum == -1 and raw.strip().lstrip("-").isdigit() and int(raw) < 0:
                return "-1", synonym
            return raw.strip(), synonym
        scaled = int(raw) * synonym.unit
        return str(-1 if scaled < 0 else scaled), synonym
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


def describe_topic_config(
    definition: TopicConfigDef,
    overrides: Mapping[str, str],
    props: Mapping[str, str],
) -> tuple[str, ConfigSource, list[tuple[str, str | None, ConfigSource]]]:
    """(value, source, synonyms) as DescribeConfigs reports a topic config, most specific first."""
    synonyms: list[tuple[str, str | None, ConfigSource]] = []
    if definition.name in overrides:
        synonyms.append((definition.name, overrides[definition.name], ConfigSource.DYNAMIC_TOPIC_CONFIG))
    for synonym in definition.synonyms:
        if synonym.name in props:
            synonyms.append((synonym.name, props[synonym.name], ConfigSource.STATIC_BROKER_CONFIG))
    default = definition.default_synonym
    if default is not None:
        scaled = definition.default
        if default.unit != 1:
            scaled = str(int(definition.default) // default.unit)
        synonyms.append((default.name, scaled, ConfigSource.DEFAULT_CONFIG))
    if definition.name in overrides:
        return overrides[definition.name], ConfigSource.DYNAMIC_TOPIC_CONFIG, synonyms
    found = broker_value(definition, props)
    if found is not None:
        return found[0], ConfigSource.STATIC_BROKER_CONFIG, synonyms
    return definition.default, ConfigSource.DEFAULT_CONFIG, synonyms



def describe_topic_configs(
    overrides: Mapping[str, str], props: Mapping[str, str], names: Iterable[str] | None = None
) -> list[dict[str, object]]:
    """DescribeConfigs (and CreateTopics v5+) entries of a topic's configs, every config unless ``names`` is given.

    Each entry has every field of either response; the codec ignores those a version lacks.
    """
    wanted = TOPIC_CONFIGS if names is None else [n for n in names if n in TOPIC_CONFIGS]
    entries: list[dict[str, object]] = []
    for name in wanted:
        definition = TOPIC_CONFIGS[name]
        value, source, synonyms = describe_topic_config(definition, overrides, props)
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
                "documentation": definition.doc,
            }
        )
    return entries
