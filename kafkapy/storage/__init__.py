"""Kafka's on-disk log: segments of record batches with sparse offset and time indexes."""

from kafkapy.storage.index import CorruptIndexError, OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset
from kafkapy.storage.log import AppendInfo, FetchSlice, Log, OffsetAndTimestamp
from kafkapy.storage.log_config import CREATE_TIME, LOG_APPEND_TIME, LogConfig
from kafkapy.storage.log_manager import (
    LogManager,
    TopicState,
    kafka_string_to_uuid,
    random_kafka_uuid,
    uuid_to_kafka_string,
    validate_topic_name,
)
from kafkapy.storage.segment import LogSegment

__all__ = [
    "CREATE_TIME",
    "LOG_APPEND_TIME",
    "AppendInfo",
    "CorruptIndexError",
    "FetchSlice",
    "Log",
    "LogConfig",
    "LogManager",
    "LogSegment",
    "OffsetAndTimestamp",
    "OffsetIndex",
    "OffsetPosition",
    "TimeIndex",
    "TimestampOffset",
    "TopicState",
    "kafka_string_to_uuid",
    "random_kafka_uuid",
    "uuid_to_kafka_string",
    "validate_topic_name",
]
