"""DescribeConfigs of a BROKER resource, entry by entry as Kafka 4.3.1's ConfigHelper builds them.

This node ("1") lists every config of Kafka's table (kafkapy.kafka_broker_configs) but the internal ones,
and any other property server.properties or --override set (Kafka lists its originals: of unknown type,
so sensitive and without value). A value is what kafkapy uses: a dynamic one (AlterConfigs, through
``DynamicBrokerConfig``), else what server.properties, --override or a flag set (STATIC_BROKER_CONFIG),
else the default: Kafka's, or kafkapy's where it deliberately differs (group.initial.rebalance.delay.ms 0,
one partition for the offsets and transaction state topics, the kafkapy-data dir, 127.0.0.1:9092).
A broker always reports node.id, broker.id and process.roles as set: a Kafka node must set them, and
kafkapy answers as a combined broker,controller node.

Synonyms follow Kafka's order: per-broker dynamic, then cluster default, then static, then default, each
over all of a config's synonyms (log.retention.ms/minutes/hours; a listener override and its base
config), cut before the entry's own name, so log.retention.ms has none while only log.retention.hours'
default exists, and defaults that are null are no synonym. The cluster default resource ("") lists the
dynamic cluster defaults alone. Imported by the DescribeConfigs handler when a broker is described,
never at start-up: the table is large.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from kafkapy.broker_config import BrokerConfig, static_properties
from kafkapy.dynamic_broker_config import DYNAMIC_BROKER_CONFIGS, DynamicBrokerConfig
from kafkapy.kafka_broker_configs import BROKER_CONFIGS, NO_DEFAULT
from kafkapy.topic_configs import ConfigSource, ConfigType

# Kafka's DynamicBrokerConfig.brokerConfigSynonyms: names that set the same thing, most specific first.
_SYNONYM_GROUPS = (
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
)
_LISTENER_OVERRIDE = re.compile(r"listener\.name\.[^.]*\.(.*)")
# A combined-mode Kafka node's process.roles; kafkapy is both, with no separate controller.
PROCESS_ROLES = "broker,controller"
# Aliases of settings reported under their main name (Kafka: log.dir only when log.dirs is unset).
_ALIASES = frozenset({"broker.id", "log.dir"})


def broker_synonyms(name: str) -> tuple[str, ...]:
    """Kafka's brokerConfigSynonyms(name, matchListenerOverride = true)."""
    for group in _SYNONYM_GROUPS:
        if name in group:
            return group
    match = _LISTENER_OVERRIDE.fullmatch(name)
    if match:
        base = match.group(1)
        # listener.name.L.MECHANISM.sasl.jaas.config's base is sasl.jaas.config.
        mechanism_config = base.partition(".")[2]
        return (name, mechanism_config if mechanism_config in BROKER_CONFIGS else base)
    return (name,)


def _listeners_text(config: BrokerConfig) -> str:
    """listeners as kafkapy serves them (the flags' address first), and the controller listeners
    server.properties names, which kafkapy accepts and does not serve."""
    served = [str(listener) for listener in config.client_listeners()]
    settings = config.listener_properties
    controllers = {name.strip().upper() for name in settings.get("controller.listener.names", "").split(",")}
    given = [entry.strip() for entry in settings.get("listeners", "").split(",")]
    return ",".join(served + [entry for entry in given if entry.partition(":")[0].upper() in controllers])


def _advertised_text(config: BrokerConfig) -> str:
    """advertised.listeners as kafkapy answers Metadata: where each listener's clients are sent."""
    listeners = config.client_listeners()
    return ",".join(str(replace(lsn, host=lsn.advertised[0], port=lsn.advertised[1])) for lsn in listeners)


def static_configs(config: BrokerConfig) -> dict[str, str]:
    """The broker configs server.properties, --override or a flag set, with the value kafkapy uses."""
    values = dict(config.given_properties)
    for name, (text, is_default) in static_properties(config).items():
        if name not in _ALIASES and (name in values or not is_default) and text is not None:
            values[name] = text
    values["node.id"] = values["broker.id"] = str(config.node_id)
    values["process.roles"] = PROCESS_ROLES
    default = BrokerConfig()
    if "listeners" in values or (config.host, config.port) != (default.host, default.port):
        values["listeners"] = _listeners_text(config)
    if "advertised.listeners" not in values and (config.advertised_host or config.advertised_port):
        values["advertised.listeners"] = _advertised_text(config)
    return values


def default_configs() -> dict[str, str]:
    """Each broker config's default (those that are null are absent): Kafka's, or kafkapy's own where
    it differs (the defaults of BrokerConfig: 127.0.0.1:9092, the kafkapy-data dir...)."""
    values = {name: row[1] for name, row in BROKER_CONFIGS.items() if row[1] not in (None, NO_DEFAULT)}
    default = BrokerConfig()
    for name, (text, _) in static_properties(default).items():
        if name in values and name not in _ALIASES and text is not None:
            values[name] = text
    values["listeners"] = _listeners_text(default)
    # Kafka's default data dir is log.dir's (/tmp/kafka-logs), used while log.dirs is unset.
    values["log.dir"] = str(default.data_dir)
    return values


def _kind(name: str, synonyms: Iterable[str]) -> str | None:
    """The ConfigDef type of ``name`` or of its first synonym Kafka knows (Kafka's configType)."""
    for synonym in (name, *synonyms):
        if synonym in BROKER_CONFIGS:
            return BROKER_CONFIGS[synonym][0]
    return None


def _as_kafka_prints(kind: str | None, text: str | None) -> str | None:
    """The value as Kafka's ConfigDef.convertToString prints the parsed setting."""
    if text is None:
        return None
    if kind == "LIST":
        return ",".join(item.strip() for item in text.split(",") if item.strip())
    if kind == "BOOLEAN":
        return text.strip().lower()
    if kind in ("INT", "LONG", "SHORT"):
        try:
            return str(int(text.strip()))
        except ValueError:
            return text
    return text.strip()


class BrokerConfigView:
    """This broker's config layers: dynamic (per broker, cluster default), static, default."""

    def __init__(self, config: BrokerConfig, dynamic: DynamicBrokerConfig) -> None:
        self.dynamic = dynamic
        self.static = static_configs(config)
        self.defaults = default_configs()
        self.layers: tuple[tuple[ConfigSource, Mapping[str, str]], ...] = (
            (ConfigSource.DYNAMIC_BROKER_CONFIG, self.dynamic.per_broker),
            (ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, self.dynamic.cluster_default),
            (ConfigSource.STATIC_BROKER_CONFIG, self.static),
            (ConfigSource.DEFAULT_CONFIG, self.defaults),
        )

    def names(self) -> list[str]:
        """Every config this broker describes: Kafka's but the internal ones, and any other one set."""
        described = {name for name, row in BROKER_CONFIGS.items() if not row[2]}
        return sorted(described | set(self.static) | set(self.dynamic.per_broker) | set(self.dynamic.cluster_default))

    def value(self, name: str) -> str | None:
        """The value in force: dynamic (``DynamicBrokerConfig.lookup``), static, default."""
        found = self.dynamic.lookup(name)
        if found is not None:
            return found[0]
        return self.static.get(name, self.defaults.get(name))

    def synonyms(self, name: str, sensitive: bool) -> list[dict]:
        """Kafka's configSynonyms: every layer over every synonym, cut before ``name``'s first."""
        found = [
            {"name": synonym, "value": None if sensitive else values[synonym], "source": source}
            for source, values in self.layers
            for synonym in broker_synonyms(name)
            if synonym in values
        ]
        while found and found[0]["name"] != name:
            found.pop(0)
        return found

    def entry(self, name: str, *, cluster_default: bool = False) -> dict:
        """One DescribeConfigs entry of this broker ("1") or of the cluster default ("")."""
        kind = _kind(name, broker_synonyms(name))
        # Kafka's KafkaConfig.maybeSensitive: passwords, and what it cannot type.
        sensitive = kind is None or kind == "PASSWORD"
        synonyms = self.synonyms(name, sensitive)
        if cluster_default:
            value = self.dynamic.cluster_default.get(name)
            synonyms = [s for s in synonyms if s["source"] == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG]
        else:
            value = self.value(name)
        source = synonyms[0]["source"] if synonyms else ConfigSource.DEFAULT_CONFIG
        return {
            "name": name,
            "value": None if sensitive else _as_kafka_prints(kind, value),
            "read_only": name not in DYNAMIC_BROKER_CONFIGS,
            "is_default": source == ConfigSource.DEFAULT_CONFIG,
            "config_source": source,
            "is_sensitive": sensitive,
            "synonyms": synonyms,
            "config_type": ConfigType[kind] if kind else ConfigType.UNKNOWN,
            "documentation": BROKER_CONFIGS[name][3] if name in BROKER_CONFIGS else None,
        }


def describe_broker(config: BrokerConfig, dynamic: DynamicBrokerConfig, keys: Iterable[str] | None) -> list[dict]:
    """The entries of this broker's configs, all of them or ``keys`` (names it lacks are left out)."""
    view = BrokerConfigView(config, dynamic)
    names = view.names()
    if keys is not None:
        wanted = set(keys)
        names = [name for name in names if name in wanted]
    return [view.entry(name) for name in names]


def describe_cluster_default(
    config: BrokerConfig, dynamic: DynamicBrokerConfig, keys: Iterable[str] | None
) -> list[dict]:
    """The entries of the dynamic cluster-wide defaults (resource ""), all of them or ``keys``."""
    view = BrokerConfigView(config, dynamic)
    names = sorted(dynamic.cluster_default)
    if keys is not None:
        wanted = set(keys)
        names = [name for name in names if name in wanted]
    return [view.entry(name, cluster_default=True) for name in names]
