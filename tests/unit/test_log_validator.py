"""The log validator on its own: a pure function of the batches, the topic's LogConfig and the clock."""

from __future__ import annotations

import pytest

from kafkapy.protocol.compression import CompressionType
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import BatchHeader, build_batch, build_end_txn_marker, decode_records, validate_batches
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_validator import Marker, check_client_batch, validate

NOW = 1_700_000_000_000


def _batch(*keys: bytes | None, timestamp: int = NOW, **options: object) -> tuple[bytearray, list[BatchHeader]]:
    buf = bytearray(build_batch([(key, b"v", [], timestamp) for key in keys], **options))  # type: ignore[arg-type]
    return buf, validate_batches(buf)


def test_sizes_are_checked_before_records_and_name_kafkas_errors() -> None:
    buf, headers = _batch(None, None)
    compacted = LogConfig(cleanup_policy=("compact",))
    with pytest.raises(KafkaError) as too_large:
        validate(buf, headers, compacted.with_overrides({"max.message.bytes": "10"}), NOW, partition="t-0")
    assert too_large.value.code == ErrorCode.MESSAGE_TOO_LARGE
    with pytest.raises(KafkaError) as too_long:
        validate(buf, headers, LogConfig(segment_bytes=len(buf) - 1), NOW, partition="t-0")
    assert too_long.value.code == ErrorCode.RECORD_LIST_TOO_LARGE
    with pytest.raises(KafkaError) as keyless:
        validate(buf, headers, compacted, NOW, partition="t-0")
    assert keyless.value.code == ErrorCode.INVALID_RECORD and "topic partition t-0" in str(keyless.value.message)


def test_timestamps_are_bounded_both_ways_under_create_time() -> None:
    config = LogConfig(message_timestamp_after_max_ms=1000, message_timestamp_before_max_ms=1000)
    for timestamp in (NOW + 1001, NOW - 1001):
        buf, headers = _batch(b"k", timestamp=timestamp)
        with pytest.raises(KafkaError) as refused:
            validate(buf, headers, config, NOW, partition="t-0")
        assert refused.value.code == ErrorCode.INVALID_TIMESTAMP
    buf, headers = _batch(b"k", timestamp=NOW + 1000)
    assert validate(buf, headers, config, NOW, partition="t-0").log_append_time_ms is None


def test_result_carries_recompressed_batches_markers_and_append_time() -> None:
    buf, headers = _batch(b"a", b"b")
    zstd = LogConfig(compression_type="zstd", message_timestamp_type="LogAppendTime")
    result = validate(buf, headers, zstd, NOW, partition="t-0")
    assert result.log_append_time_ms == NOW and result.markers == [None]
    assert [h.compression for h in result.headers] == [int(CompressionType.ZSTD)]
    assert [r.key for _, records in decode_records(result.buffer) for r in records] == [b"a", b"b"]
    marker = bytearray(build_end_txn_marker(False, producer_id=7, producer_epoch=0, coordinator_epoch=3, timestamp=NOW))
    assert validate(marker, validate_batches(marker), LogConfig(), NOW, partition="t-0").markers == [Marker(True, 3)]


def test_clients_may_not_send_control_batches_or_unsequenced_idempotent_ones() -> None:
    marker = build_end_txn_marker(True, producer_id=7, producer_epoch=0, coordinator_epoch=0)
    _, unsequenced = _batch(b"k", producer_id=7, producer_epoch=0, base_sequence=-1)
    for header in (validate_batches(marker)[0], unsequenced[0]):
        with pytest.raises(KafkaError) as refused:
            check_client_batch(header)
        assert refused.value.code == ErrorCode.INVALID_RECORD
    check_client_batch(_batch(b"k", producer_id=7, producer_epoch=0, base_sequence=0)[1][0])
