"""Group coordinator settings: the broker's ``group.consumer.*`` / ``group.share.*`` / ``group.streams.*``
configs and each group's own overrides (Kafka's GroupConfig, set by IncrementalAlterConfigs on a
GROUP resource).

A group-level config is named without the ``group.`` prefix (``consumer.session.timeout.ms``) and
falls back to the broker config of the same name with it (``group.consumer.session.timeout.ms``),
except the share group settings that have no broker config (``share.auto.offset.reset``, ...): Kafka
4.3.1's ``kafka-configs --describe --entity-type groups --all`` lists exactly ``GROUP_CONFIGS``.
The coordinators read every value through ``GroupConfigs.value``, so an override takes effect on
the group's next heartbeat.
"""

from __future__ import annotations

from collections.abc import Callable

# Kafka 4.3.1's group coordinator broker configs (GroupCoordinatorConfig, ShareGroupConfig) with
# their ConfigDef types and defaults, as its KafkaConfig prints them. ``server.properties`` may set
# any of them; BrokerConfig.group_properties holds what it set.
BROKER_GROUP_CONFIGS: dict[str, tuple[str, str]] = {
    "group.consumer.assignment.interval.ms": ("INT", "1000"),
    "group.consumer.assignors": ("LIST", "uniform,range"),
    "group.consumer.heartbeat.interval.ms": ("INT", "5000"),
    "group.consumer.max.assignment.interval.ms": ("INT", "15000"),
    "group.consumer.max.heartbeat.interval.ms": ("INT", "15000"),
    "group.consumer.max.session.timeout.ms": ("INT", "60000"),
    "group.consumer.max.size": ("INT", "2147483647"),
    "group.consumer.migration.policy": ("STRING", "bidirectional"),
    "group.consumer.min.assignment.interval.ms": ("INT", "0"),
    "group.consumer.min.heartbeat.interval.ms": ("INT", "5000"),
    "group.consumer.min.session.timeout.ms": ("INT", "45000"),
    "group.consumer.regex.refresh.interval.ms": ("INT", "600000"),
    "group.consumer.session.timeout.ms": ("INT", "45000"),
    "group.coordinator.rebalance.protocols": ("LIST", "classic,consumer,streams"),
    "group.share.assignment.interval.ms": ("INT", "1000"),
    "group.share.assignors": ("LIST", "simple"),
    "group.share.delivery.count.limit": ("INT", "5"),
    "group.share.heartbeat.interval.ms": ("INT", "5000"),
    "group.share.max.assignment.interval.ms": ("INT", "15000"),
    "group.share.max.delivery.count.limit": ("INT", "10"),
    "group.share.max.heartbeat.interval.ms": ("INT", "15000"),
    "group.share.max.partition.max.record.locks": ("INT", "4000"),
    "group.share.max.record.lock.duration.ms": ("INT", "60000"),
    "group.share.max.session.timeout.ms": ("INT", "60000"),
    "group.share.max.share.sessions": ("INT", "2000"),
    "group.share.max.size": ("INT", "200"),
    "group.share.min.assignment.interval.ms": ("INT", "0"),
    "group.share.min.delivery.count.limit": ("INT", "2"),
    "group.share.min.heartbeat.interval.ms": ("INT", "5000"),
    "group.share.min.partition.max.record.locks": ("INT", "100"),
    "group.share.min.record.lock.duration.ms": ("INT", "15000"),
    "group.share.min.session.timeout.ms": ("INT", "45000"),
    "group.share.partition.max.record.locks": ("INT", "2000"),
    "group.share.record.lock.duration.ms": ("INT", "30000"),
    "group.share.session.timeout.ms": ("INT", "45000"),
    "group.streams.assignment.interval.ms": ("INT", "1000"),
    "group.streams.heartbeat.interval.ms": ("INT", "5000"),
    "group.streams.initial.rebalance.delay.ms": ("INT", "3000"),
    "group.streams.max.assignment.interval.ms": ("INT", "15000"),
    "group.streams.max.heartbeat.interval.ms": ("INT", "15000"),
    "group.streams.max.session.timeout.ms": ("INT", "60000"),
    "group.streams.max.size": ("INT", "2147483647"),
    "group.streams.max.standby.replicas": ("INT", "2"),
    "group.streams.min.assignment.interval.ms": ("INT", "0"),
    "group.streams.min.heartbeat.interval.ms": ("INT", "5000"),
    "group.streams.min.session.timeout.ms": ("INT", "45000"),
    "group.streams.num.standby.replicas": ("INT", "0"),
    "group.streams.session.timeout.ms": ("INT", "45000"),
}

# The broker configs Kafka checks with ConfigDef.CaseInsensitiveValidString, and the values it allows
# (GroupCoordinatorConfig: the ConsumerGroupMigrationPolicy names).
CASE_INSENSITIVE_CHOICES: dict[str, tuple[str, ...]] = {
    "group.consumer.migration.policy": ("DISABLED", "DOWNGRADE", "UPGRADE", "BIDIRECTIONAL"),
}


def broker_config_value(name: str, raw: str) -> ConfigValue:
    """A ``group.*`` broker config's value as Kafka's ConfigDef reads and checks it (ValueError if refused)."""
    kind = BROKER_GROUP_CONFIGS[name][0]
    choices = CASE_INSENSITIVE_CHOICES.get(name)
    if choices is not None and raw.strip().upper() not in choices:
        raise ValueError(f"String must be one of (case insensitive): {', '.join(choices)}")
    return typed(kind, raw)


# Kafka 4.3.1's GroupConfig: name -> (type, the broker config it defaults to, or its own default).
GROUP_CONFIGS: dict[str, tuple[str, str]] = {
    "consumer.assignment.interval.ms": ("INT", "group.consumer.assignment.interval.ms"),
    "consumer.heartbeat.interval.ms": ("INT", "group.consumer.heartbeat.interval.ms"),
    "consumer.session.timeout.ms": ("INT", "group.consumer.session.timeout.ms"),
    "share.assignment.interval.ms": ("INT", "group.share.assignment.interval.ms"),
    "share.auto.offset.reset": ("STRING", "latest"),
    "share.delivery.count.limit": ("INT", "group.share.delivery.count.limit"),
    "share.heartbeat.interval.ms": ("INT", "group.share.heartbeat.interval.ms"),
    "share.isolation.level": ("STRING", "read_uncommitted"),
    "share.partition.max.record.locks": ("INT", "group.share.partition.max.record.locks"),
    "share.record.lock.duration.ms": ("INT", "group.share.record.lock.duration.ms"),
    "share.renew.acknowledge.enable": ("BOOLEAN", "true"),
    "share.session.timeout.ms": ("INT", "group.share.session.timeout.ms"),
    "streams.assignment.interval.ms": ("INT", "group.streams.assignment.interval.ms"),
    "streams.heartbeat.interval.ms": ("INT", "group.streams.heartbeat.interval.ms"),
    "streams.initial.rebalance.delay.ms": ("INT", "group.streams.initial.rebalance.delay.ms"),
    "streams.num.standby.replicas": ("INT", "group.streams.num.standby.replicas"),
    "streams.session.timeout.ms": ("INT", "group.streams.session.timeout.ms"),
}

ConfigValue = int | str | bool | list[str]


def typed(kind: str, raw: str) -> ConfigValue:
    """A config's string as its ConfigDef type reads it (INT -> int, LIST -> list of names, ...)."""
    if kind in ("INT", "LONG", "SHORT"):
        return int(raw.strip())
    if kind == "BOOLEAN":
        return raw.strip().lower() == "true"
    if kind == "LIST":
        return [item.strip() for item in raw.split(",") if item.strip()]
    # Kafka's ConfigDef trims a STRING value too.
    return raw.strip()


class GroupConfigs:
    """The group settings in effect: a group's override, else the broker's (dynamic, then static)."""

    def __init__(
        self, static: dict[str, str], dynamic: Callable[[str], str | None] = lambda name: None
    ) -> None:
        # ``static``: BrokerConfig.group_properties; ``dynamic``: a broker config set at run time, if any.
        self._static = static
        self._dynamic = dynamic
        # Per-group overrides, group id -> {group config name: value as set}.
        self.overrides: dict[str, dict[str, str]] = {}

    def broker_value(self, name: str) -> ConfigValue:
        """A ``group.*`` broker config (KeyError for a name not in BROKER_GROUP_CONFIGS)."""
        kind, default = BROKER_GROUP_CONFIGS[name]
        raw = self._dynamic(name)
        if raw is None:
            raw = self._static.get(name, default)
        return typed(kind, raw)

    def value(self, group_id: str, name: str) -> ConfigValue:
        """A group config (``consumer.session.timeout.ms``) for one group (KeyError for an unknown name)."""
        kind, fallback = GROUP_CONFIGS[name]
        raw = self.overrides.get(group_id, {}).get(name)
        if raw is not None:
            return typed(kind, raw)
        if fallback in BROKER_GROUP_CONFIGS:
            return self.broker_value(fallback)
        return typed(kind, fallback)
