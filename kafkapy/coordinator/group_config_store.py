"""GROUP config resources (Kafka's GroupConfig): each group's config overrides as DescribeConfigs,
AlterConfigs and IncrementalAlterConfigs see them, checked as Kafka 4.3.1 checks them, and kept in
the data dir.

The overrides live in ``GroupConfigs.overrides`` (kafkapy.coordinator.group_configs), where the
coordinators read them at each use; this module validates a new set, persists every change in
``group-configs.json`` (replaced whole: write, fsync, rename, as dynamic-broker-configs.json; Kafka
keeps them in its metadata log) and loads it at start-up. A damaged file is logged and the broker
starts without overrides. A group id needs no group: Kafka 4.3.1 accepts configs for any non-empty
id, and DeleteGroups leaves them in place (checked on the reference).

Validation is Kafka's GroupConfig.validate over the broker's values overlaid with the new set:
unknown names first, then each value parsed in Kafka's definition order (its ConfigDef type and
lower bound), then the bounds the broker's ``group.*.min/max`` configs set, then each session timeout
above its heartbeat interval. Every refusal is INVALID_CONFIG with Kafka's message.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from kafkapy.coordinator.group_configs import BROKER_GROUP_CONFIGS, GROUP_CONFIGS, GroupConfigs, typed
from kafkapy.dynamic_broker_config import BrokerConfigCheck, apply_changes
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.fs import FileSystem
from kafkapy.topic_configs import OP_APPEND, ConfigSource, ConfigType

log = logging.getLogger("kafkapy.group_configs")

FILE_NAME = "group-configs.json"

_INT, _STRING, _BOOLEAN = ConfigType.INT, ConfigType.STRING, ConfigType.BOOLEAN
_RESET_CHOICES = "The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."

# Kafka 4.3.1's GroupConfig ConfigDef in its definition order (the order its parse reports the first
# bad value in): each config's type and lower bound; share.auto.offset.reset has its own validator.
GROUP_CONFIG_DEFS: dict[str, BrokerConfigCheck] = {
    "consumer.session.timeout.ms": BrokerConfigCheck(_INT, minimum=1),
    "consumer.heartbeat.interval.ms": BrokerConfigCheck(_INT, minimum=1),
    "consumer.assignment.interval.ms": BrokerConfigCheck(_INT, minimum=0),
    "share.session.timeout.ms": BrokerConfigCheck(_INT, minimum=1),
    "share.heartbeat.interval.ms": BrokerConfigCheck(_INT, minimum=1),
    "share.record.lock.duration.ms": BrokerConfigCheck(_INT, minimum=1000),
    "share.delivery.count.limit": BrokerConfigCheck(_INT, minimum=2),
    "share.partition.max.record.locks": BrokerConfigCheck(_INT, minimum=100),
    "share.auto.offset.reset": BrokerConfigCheck(_STRING),
    "share.isolation.level": BrokerConfigCheck(_STRING, choices=("read_committed", "read_uncommitted")),
    "share.renew.acknowledge.enable": BrokerConfigCheck(_BOOLEAN),
    "share.assignment.interval.ms": BrokerConfigCheck(_INT, minimum=0),
    "streams.session.timeout.ms": BrokerConfigCheck(_INT, minimum=1),
    "streams.heartbeat.interval.ms": BrokerConfigCheck(_INT, minimum=1),
    "streams.num.standby.replicas": BrokerConfigCheck(_INT, minimum=0),
    "streams.initial.rebalance.delay.ms": BrokerConfigCheck(_INT, minimum=0),
    "streams.assignment.interval.ms": BrokerConfigCheck(_INT, minimum=0),
}

# The broker configs bounding a group config (lower, upper; None: unbounded), in the order Kafka
# 4.3.1's GroupConfig.validateValues checks them.
GROUP_CONFIG_BOUNDS: tuple[tuple[str, str | None, str | None], ...] = (
    ("consumer.heartbeat.interval.ms", "group.consumer.min.heartbeat.interval.ms",
     "group.consumer.max.heartbeat.interval.ms"),
    ("consumer.session.timeout.ms", "group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"),
    ("consumer.assignment.interval.ms", "group.consumer.min.assignment.interval.ms",
     "group.consumer.max.assignment.interval.ms"),
    ("share.heartbeat.interval.ms", "group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"),
    ("share.session.timeout.ms", "group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"),
    ("share.record.lock.duration.ms", "group.share.min.record.lock.duration.ms",
     "group.share.max.record.lock.duration.ms"),
    ("share.delivery.count.limit", "group.share.min.delivery.count.limit", "group.share.max.delivery.count.limit"),
    ("share.partition.max.record.locks", "group.share.min.partition.max.record.locks",
     "group.share.max.partition.max.record.locks"),
    ("share.assignment.interval.ms", "group.share.min.assignment.interval.ms",
     "group.share.max.assignment.interval.ms"),
    ("streams.heartbeat.interval.ms", "group.streams.min.heartbeat.interval.ms",
     "group.streams.max.heartbeat.interval.ms"),
    ("streams.session.timeout.ms", "group.streams.min.session.timeout.ms", "group.streams.max.session.timeout.ms"),
    ("streams.num.standby.replicas", None, "group.streams.max.standby.replicas"),
    ("streams.assignment.interval.ms", "group.streams.min.assignment.interval.ms",
     "group.streams.max.assignment.interval.ms"),
)
# Each kind's session timeout must exceed its heartbeat interval (checked last).
SESSION_OVER_HEARTBEAT = tuple((f"{kind}.session.timeout.ms", f"{kind}.heartbeat.interval.ms")
                               for kind in ("consumer", "share", "streams"))

# The order Kafka 4.3.1 lists a group's configs in (its GroupConfig's HashMap iteration order).
DESCRIBE_ORDER: tuple[str, ...] = (
    "consumer.session.timeout.ms",
    "consumer.assignment.interval.ms",
    "share.auto.offset.reset",
    "share.renew.acknowledge.enable",
    "streams.initial.rebalance.delay.ms",
    "share.session.timeout.ms",
    "streams.assignment.interval.ms",
    "share.heartbeat.interval.ms",
    "streams.heartbeat.interval.ms",
    "share.delivery.count.limit",
    "consumer.heartbeat.interval.ms",
    "share.record.lock.duration.ms",
    "share.assignment.interval.ms",
    "share.isolation.level",
    "streams.session.timeout.ms",
    "share.partition.max.record.locks",
    "streams.num.standby.replicas",
)

# Kafka's documentation of the group configs without a broker config (the others share the broker
# config's, kafkapy.kafka_broker_configs).
OWN_DOCS = {
    "share.auto.offset.reset": (
        "The strategy to initialize the share-partition start offset. <ul><li>earliest: automatically reset the "
        "offset to the earliest offset</li><li>latest: automatically reset the offset to the latest offset</li>"
        "<li>by_duration:&lt;duration&gt;: automatically reset the offset to a configured duration from the "
        "current timestamp. &lt;duration&gt; must be specified in ISO8601 format (PnDTnHnMn.nS). Negative "
        "duration is not allowed.</li><li>anything else: throw exception to the share consumer.</li></ul>"
    ),
    "share.isolation.level": (
        'Controls how to read records written transactionally. If set to "read_committed", the share group '
        'will only deliver transactional records which have been committed. If set to "read_uncommitted", the '
        "share group will return all messages, even transactional messages which have been aborted. "
        "Non-transactional records will be returned unconditionally in either mode."
    ),
    "share.renew.acknowledge.enable": "Whether the renew acknowledge type is enabled for the share group.",
}

# java.time.Duration.parse's ISO-8601 form (PnDTnHnMn.nS, case-insensitive, signed parts).
_DURATION = re.compile(
    r"([-+]?)P(?:([-+]?\d+)D)?(T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+)(?:[.,](\d{0,9}))?S)?)?",
    re.IGNORECASE,
)


def _duration_seconds(text: str) -> float | None:
    """The seconds of an ISO-8601 duration as Java's Duration.parse reads it, or None if it reads none."""
    match = _DURATION.fullmatch(text)
    if match is None or match.group(3) == "T" or not any(match.group(i) for i in (2, 3)):
        return None
    sign, days, _, hours, minutes, seconds, fraction = match.groups()
    part = float(f"0.{fraction}") if fraction else 0.0
    total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    # Java gives the fraction the sign of the seconds it follows.
    total += -part if (seconds or "").startswith("-") else part
    return -total if sign == "-" else total


def auto_offset_reset_error(raw: str) -> str | None:
    """Kafka's ShareGroupAutoOffsetResetStrategy.Validator message for a bad share.auto.offset.reset."""
    text = raw.strip()
    if text in ("earliest", "latest"):
        return None
    if text.startswith("by_duration:"):
        seconds = _duration_seconds(text[len("by_duration:"):])
        if seconds is not None and seconds >= 0:
            return None
    return (
        f"Invalid value {text} for configuration share.auto.offset.reset: Invalid value `{text}` for configuration "
        f"share.auto.offset.reset. {_RESET_CHOICES}"
    )


def _invalid_config(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_CONFIG, message)


def group_incremental_changes(
    current: Mapping[str, str], changes: Iterable[tuple[str, int, str | None]]
) -> dict[str, str]:
    """A group's overrides after IncrementalAlterConfigs: no group config is a list, so APPEND and
    SUBTRACT are refused for any name; an unknown operation is Kafka's UNKNOWN_SERVER_ERROR (its
    OpType lookup fails), without a message."""

    def list_change(result: dict[str, str], name: str, operation: int, value: str | None) -> None:
        verb = "APPEND" if operation == OP_APPEND else "SUBTRACT"
        raise _invalid_config(f"Can't {verb} to key {name} because its type is not LIST.")

    return apply_changes(current, changes, list_change, lambda operation: KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR))


class GroupConfigStore:
    """Validates, describes and persists the per-group overrides of ``configs`` (GroupConfigs)."""

    def __init__(self, data_dir: Path | None, fs: FileSystem, configs: GroupConfigs) -> None:
        self._fs = fs
        self._path = None if data_dir is None else Path(data_dir) / FILE_NAME
        self.configs = configs
        if self._path is not None:
            self._load()

    def _load(self) -> None:
        assert self._path is not None
        try:
            stored = json.loads(self._fs.read_text(self._path))["groups"]
            if not isinstance(stored, dict) or not all(
                isinstance(group, dict) and all(isinstance(v, str) for v in group.values()) for group in stored.values()
            ):
                raise ValueError("not an object of groups' string configs")
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            # OSError: unreadable; ValueError: not UTF-8 or JSON; the others: not the layout written here.
            log.warning("group configs file damaged; starting without", extra={"path": str(self._path),
                                                                              "error": str(exc)})
            return
        self.configs.overrides = {group: dict(values) for group, values in stored.items() if values}

    def _save(self) -> None:
        if self._path is None:
            return
        document = {"version": 1, "groups": self.configs.overrides}
        self._fs.write_text(self._path, json.dumps(document, indent=1, sort_keys=True) + "\n")

    def overrides(self, group_id: str) -> dict[str, str]:
        """A group's current overrides (a copy)."""
        return dict(self.configs.overrides.get(group_id, {}))

    def replace(self, group_id: str, overrides: Mapping[str, str]) -> None:
        """Make ``overrides`` (validated before) the group's whole set, and persist it."""
        if dict(overrides) == self.configs.overrides.get(group_id, {}):
            return
        if overrides:
            self.configs.overrides[group_id] = dict(overrides)
        else:
            self.configs.overrides.pop(group_id, None)
        self._save()

    def reset(self) -> None:
        """Forget every group's overrides (Broker.reset)."""
        if self.configs.overrides:
            self.configs.overrides = {}
            self._save()

    def validate(self, overrides: Mapping[str, str]) -> None:
        """Kafka's GroupConfig.validate of a group's new set of overrides; INVALID_CONFIG if refused."""
        for name in overrides:
            if name not in GROUP_CONFIGS:
                raise _invalid_config(f"Unknown group config name: {name}")
        for name, check in GROUP_CONFIG_DEFS.items():
            raw = overrides.get(name)
            if raw is None:
                continue
            error = auto_offset_reset_error(raw) if name == "share.auto.offset.reset" else check.error(name, raw)
            if error is not None:
                raise _invalid_config(error)
        value = self._effective(overrides)
        for name, lower, upper in GROUP_CONFIG_BOUNDS:
            if lower is not None and value[name] < self.configs.broker_value(lower):  # type: ignore[operator]
                raise _invalid_config(f"{name} must be greater than or equal to {lower}")
            if upper is not None and value[name] > self.configs.broker_value(upper):  # type: ignore[operator]
                raise _invalid_config(f"{name} must be less than or equal to {upper}")
        for session, heartbeat in SESSION_OVER_HEARTBEAT:
            if value[session] <= value[heartbeat]:  # type: ignore[operator]
                raise _invalid_config(f"{session} must be greater than {heartbeat}")

    def _effective(self, overrides: Mapping[str, str]) -> dict[str, object]:
        """Every group config's typed value with these overrides over the broker's values."""
        result: dict[str, object] = {}
        for name, (kind, fallback) in GROUP_CONFIGS.items():
            if name in overrides:
                result[name] = typed(kind, overrides[name])
            elif fallback in BROKER_GROUP_CONFIGS:
                result[name] = self.configs.broker_value(fallback)
            else:
                result[name] = typed(kind, fallback)
        return result

    def describe(self, group_id: str, keys: Iterable[str] | None, static: Mapping[str, str]) -> list[dict]:
        """DescribeConfigs entries of a group (all, or those named in ``keys``), as Kafka 4.3.1's
        ConfigHelper builds them: the override (DYNAMIC_GROUP_CONFIG) over the broker config it falls
        back to (STATIC_BROKER_CONFIG when server.properties sets it, else DEFAULT_CONFIG), or the
        group config's own default. ``static``: the group configs server.properties sets."""
        wanted = None if keys is None else set(keys)
        overrides = self.configs.overrides.get(group_id, {})
        entries = []
        for name in DESCRIBE_ORDER:
            if wanted is not None and name not in wanted:
                continue
            kind, fallback = GROUP_CONFIGS[name]
            broker_name = fallback if fallback in BROKER_GROUP_CONFIGS else name
            default = self.configs.broker_value(fallback) if fallback in BROKER_GROUP_CONFIGS else typed(kind, fallback)
            source = ConfigSource.STATIC_BROKER_CONFIG if broker_name in static else ConfigSource.DEFAULT_CONFIG
            synonyms = [{"name": broker_name, "value": _shown(default), "source": source}]
            if name in overrides:
                synonyms.insert(0, {"name": name, "value": _shown(typed(kind, overrides[name])),
                                    "source": ConfigSource.DYNAMIC_GROUP_CONFIG})
            entries.append(
                {
                    "name": name,
                    "value": synonyms[0]["value"],
                    "read_only": False,
                    "config_source": synonyms[0]["source"],
                    "is_sensitive": False,
                    "synonyms": synonyms,
                    "config_type": ConfigType[kind],
                    "documentation": _documentation(name, fallback),
                }
            )
        return entries


def _shown(value: object) -> str:
    """A typed value as Kafka's ConfigDef.convertToString prints it (booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _documentation(name: str, fallback: str) -> str:
    if name in OWN_DOCS:
        return OWN_DOCS[name]
    # Kafka's broker config table (imported here: it is large, and start-up must not load it).
    from kafkapy.kafka_broker_configs import BROKER_CONFIGS

    return BROKER_CONFIGS[fallback][3]
