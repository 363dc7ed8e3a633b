"""The topic config registry: validation, broker synonyms, descriptions and incremental operations."""

from __future__ import annotations

import pytest

from kafkapy.broker_config import BrokerConfig, apply_properties
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_config import LogConfig
from kafkapy.topic_configs import (
    OP_APPEND,
    OP_DELETE,
    OP_SET,
    OP_SUBTRACT,
    TOPIC_CONFIGS,
    ConfigSource,
    apply_incremental,
    broker_topic_defaults,
    describe_topic_configs,
    parse_topic_configs,
)


def test_defaults_are_kafkas() -> None:
    config = LogConfig()
    assert config.retention_ms == 604800000 and config.segment_bytes == 1073741824
    assert config.cleanup_policy == ("delete",) and config.compression_type == "producer"
    assert config.min_cleanable_dirty_ratio == 0.5 and config.delete_retention_ms == 86400000
    assert config.flush_messages is None and config.message_timestamp_after_max_ms == 3600000
    assert len(TOPIC_CONFIGS) == 33


@pytest.mark.parametrize(
    "configs",
    [
        {"retention.ms": "-2"},
        {"cleanup.policy": "compact,shred"},
        {"compression.type": "brotli"},
        {"min.cleanable.dirty.ratio": "1.5"},
        {"min.insync.replicas": "0"},
        {"segment.bytes": "3000000000"},
        {"preallocate": "maybe"},
        {"no.such.config": "1"},
        {"remote.storage.enable": "true"},
        {"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
    ],
)
def test_invalid_configs(configs: dict[str, str]) -> None:
    with pytest.raises(KafkaError) as exc_info:
        LogConfig().with_overrides(configs)
    assert exc_info.value.code == ErrorCode.INVALID_CONFIG and exc_info.value.message


def test_parsing() -> None:
    given = {"cleanup.policy": "compact, delete", "compression.type": "none", "preallocate": "true"}
    fields = parse_topic_configs(given)
    assert fields == {"cleanup_policy": ("compact", "delete"), "compression_type": "uncompressed"}
    config = LogConfig().with_overrides({"compression.type": "zstd", "cleanup.policy": "compact"})
    assert config.target_codec == 4 and config.compact and not config.delete and config.inspects_records


def test_broker_synonyms_from_properties() -> None:
    broker = BrokerConfig()
    apply_properties(broker, {"log.retention.hours": "2", "log.cleanup.policy": "compact", "message.max.bytes": "500"})
    assert broker_topic_defaults(broker.log_properties) == {
        "retention.ms": "7200000",
        "cleanup.policy": "compact",
        "max.message.bytes": "500",
    }
    apply_properties(broker, {"log.retention.ms": "1000"})
    assert broker_topic_defaults(broker.log_properties)["retention.ms"] == "1000"
    with pytest.raises(ValueError):
        apply_properties(BrokerConfig(), {"log.cleanup.policy": "shred"})


def test_describe_sources_and_synonyms() -> None:
    """Kafka 4.3.1's answers (checked on the reference with log.retention.hours=1, log.roll.ms=5000,
    log.flush.scheduler.interval.ms=7000, message.max.bytes=2000000): a broker synonym's layers are cut
    before the main broker name, so hours and minutes never show under retention.ms."""
    props = {"log.retention.hours": "1", "log.roll.ms": "5000", "log.flush.scheduler.interval.ms": "7000",
             "message.max.bytes": "2000000"}
    entries = {e["name"]: e for e in describe_topic_configs({"retention.ms": "5"}, props)}

    def synonyms(name: str) -> list[tuple[str, str | None, ConfigSource]]:
        return [(s["name"], s["value"], s["source"]) for s in entries[name]["synonyms"]]

    retention = entries["retention.ms"]
    assert retention["value"] == "5" and retention["config_source"] == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert synonyms("retention.ms") == [("retention.ms", "5", ConfigSource.DYNAMIC_TOPIC_CONFIG)]
    assert entries["segment.ms"]["value"] == "5000"
    assert synonyms("segment.ms") == [
        ("log.roll.ms", "5000", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.roll.hours", "168", ConfigSource.DEFAULT_CONFIG),
    ]
    assert synonyms("max.message.bytes") == [
        ("message.max.bytes", "2000000", ConfigSource.STATIC_BROKER_CONFIG),
        ("message.max.bytes", "1048588", ConfigSource.DEFAULT_CONFIG),
    ]
    flush = entries["flush.ms"]
    assert (flush["value"], flush["config_source"], flush["synonyms"]) == ("7000", ConfigSource.DEFAULT_CONFIG, [])
    assert entries["segment.bytes"]["is_default"] and entries["segment.bytes"]["value"] == "1073741824"
    only = describe_topic_configs({}, {"log.retention.minutes": "3"}, ["retention.ms", "nope"])
    assert [(e["name"], e["value"], e["config_source"], e["synonyms"]) for e in only] == [
        ("retention.ms", "180000", ConfigSource.DEFAULT_CONFIG, [])
    ]


def test_incremental_operations() -> None:
    current = {"retention.ms": "5"}
    result = apply_incremental(
        current,
        [("cleanup.policy", OP_APPEND, "compact"), ("retention.ms", OP_DELETE, None), ("segment.ms", OP_SET, "9")],
    )
    assert result == {"cleanup.policy": "delete,compact", "segment.ms": "9"}
    assert apply_incremental(result, [("cleanup.policy", OP_SUBTRACT, "delete")])["cleanup.policy"] == "compact"
    for changes, code in (
        ([("retention.ms", OP_APPEND, "1")], ErrorCode.INVALID_CONFIG),
        ([("retention.ms", OP_SET, "1"), ("retention.ms", OP_DELETE, None)], ErrorCode.INVALID_REQUEST),
        ([("nope", OP_SET, "1")], ErrorCode.INVALID_CONFIG),
    ):
        with pytest.raises(KafkaError) as exc_info:
            apply_incremental(current, changes)
        assert exc_info.value.code == code
