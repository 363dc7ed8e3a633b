"""Per-topic log settings (Kafka's LogConfig): the topic configs storage acts on, with Kafka's defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafkapy.protocol.compression import CompressionType
from kafkapy.topic_configs import TOPIC_CONFIGS, check_consistency, parse_topic_configs

CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"

# Kafka writes Long.MAX_VALUE for "never" (flush.messages, flush.ms, message.timestamp.*.max.ms).
LONG_MAX = 2**63 - 1


def _default(name: str) -> Any:
    return TOPIC_CONFIGS[name].default_value


@dataclass(frozen=True)
class LogConfig:
    """Per-topic log settings: Kafka's topic configs (kafkapy.topic_configs) in snake_case, with Kafka's defaults."""

    segment_bytes: int = _default("segment.bytes")
    segment_ms: int = _default("segment.ms")
    index_interval_bytes: int = _default("index.interval.bytes")
    # None: no forced fsync (Kafka's Long.MAX_VALUE).
    flush_messages: int | None = _default("flush.messages")
    flush_ms: int | None = _default("flush.ms")
    # -1: keep forever / no size limit.
    retention_ms: int = _default("retention.ms")
    retention_bytes: int = _default("retention.bytes")
    message_timestamp_type: str = _default("message.timestamp.type")
    message_timestamp_before_max_ms: int = _default("message.timestamp.before.max.ms")
    message_timestamp_after_max_ms: int = _default("message.timestamp.after.max.ms")
    max_message_bytes: int = _default("max.message.bytes")
    cleanup_policy: tuple[str, ...] = _default("cleanup.policy")
    compression_type: str = _default("compression.type")
    delete_retention_ms: int = _default("delete.retention.ms")
    min_compaction_lag_ms: int = _default("min.compaction.lag.ms")
    max_compaction_lag_ms: int = _default("max.compaction.lag.ms")
    min_cleanable_dirty_ratio: float = _default("min.cleanable.dirty.ratio")
    min_insync_replicas: int = _default("min.insync.replicas")
    file_delete_delay_ms: int = _default("file.delete.delay.ms")

    def with_overrides(self, configs: Mapping[str, str | None]) -> LogConfig:
        """Apply topic config overrides given by Kafka name ("segment.bytes": "1024").

        Configs kafkapy does not interpret are validated and otherwise ignored; unknown names and
        bad values raise KafkaError(INVALID_CONFIG).
        """
        changed = dataclasses.replace(self, **parse_topic_configs(configs))
        check_consistency(dataclasses.asdict(changed))
        return changed

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @property
    def target_codec(self) -> int | None:
        """The codec the broker recompresses to, or None to keep the producer's (compression.type=producer)."""
        if self.compression_type == "producer":
            return None
        return 0 if self.compression_type == "uncompressed" else int(CompressionType[self.compression_type.upper()])

    @property
    def inspects_records(self) -> bool:
        """Whether appends must decode records: recompression, keys of compacted topics, old timestamps."""
        return (
            self.compression_type != "producer"
            or self.compact
            or (self.message_timestamp_type == CREATE_TIME and self.message_timestamp_before_max_ms < LONG_MAX)
        )
