"""Broker configuration, with Kafka's config names and defaults.

Settings come from a Kafka-style properties file (``--config server.properties``) and command-line
flags; the flags win. Only the names listed in ``_PROPERTIES`` are understood; others are logged and
ignored so an existing server.properties can be reused as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("kafkapy.config")


@dataclass
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 9092
    # Where clients are told to connect; defaults to host/port.
    advertised_host: str | None = None
    advertised_port: int | None = None
    data_dir: Path = Path("kafkapy-data")
    node_id: int = 1
    # Kafka's num.partitions is 1 and auto.create.topics.enable is true.
    num_partitions: int = 1
    auto_create_topics_enable: bool = True
    default_replication_factor: int = 1
    # Kafka's socket.request.max.bytes is 100 MiB.
    socket_request_max_bytes: int = 100 * 1024 * 1024
    # Kafka's message.max.bytes is 1 MiB plus the 12-byte log overhead.
    message_max_bytes: int = 1048588
    # Kafka's log.segment.bytes is 1 GiB and log.roll.hours 168.
    log_segment_bytes: int = 1024 * 1024 * 1024
    log_roll_ms: int = 7 * 24 * 3600 * 1000
    # Kafka's log.index.interval.bytes is 4096.
    log_index_interval_bytes: int = 4096
    # Kafka leaves flushing to the OS by default (log.flush.interval.* = Long.MAX_VALUE).
    log_flush_interval_messages: int | None = None
    log_flush_interval_ms: int | None = None
    # Kafka's log.retention.hours is 168; retention.bytes -1 means unlimited.
    log_retention_ms: int = 7 * 24 * 3600 * 1000
    log_retention_bytes: int = -1
    log_message_timestamp_type: str = "CreateTime"

    @property
    def advertised(self) -> tuple[str, int]:
        return self.advertised_host or self.host, self.advertised_port or self.port


# Kafka property name -> (attribute, converter)
_PROPERTIES: dict[str, tuple[str, type]] = {
    "node.id": ("node_id", int),
    "broker.id": ("node_id", int),
    "log.dirs": ("data_dir", Path),
    "log.dir": ("data_dir", Path),
    "num.partitions": ("num_partitions", int),
    "auto.create.topics.enable": ("auto_create_topics_enable", bool),
    "default.replication.factor": ("default_replication_factor", int),
    "socket.request.max.bytes": ("socket_request_max_bytes", int),
    "message.max.bytes": ("message_max_bytes", int),
    "log.segment.bytes": ("log_segment_bytes", int),
    "log.roll.ms": ("log_roll_ms", int),
    "log.index.interval.bytes": ("log_index_interval_bytes", int),
    "log.flush.interval.messages": ("log_flush_interval_messages", int),
    "log.flush.interval.ms": ("log_flush_interval_ms", int),
    "log.retention.ms": ("log_retention_ms", int),
    "log.retention.bytes": ("log_retention_bytes", int),
    "log.message.timestamp.type": ("log_message_timestamp_type", str),
}
_HOURS = {"log.roll.hours": "log_roll_ms", "log.retention.hours": "log_retention_ms"}


def _convert(kind: type, value: str) -> object:
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
        elif name in _HOURS:
            setattr(config, _HOURS[name], int(value) * 3600 * 1000)
        elif name == "listeners" or name == "advertised.listeners":
            host, port = _listener(value)
            if name == "listeners":
                config.host, config.port = host or config.host, port
            else:
                config.advertised_host, config.advertised_port = host, port
        else:
            log.info("ignoring unsupported property", extra={"property": name})


def _listener(value: str) -> tuple[str, int]:
    """First ``NAME://host:port`` of a listeners list."""
    first = value.split(",")[0]
    address = first.split("://", 1)[-1]
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def load_properties_file(config: BrokerConfig, path: Path) -> None:
    apply_properties(config, parse_properties(path.read_text()))


