"""What a log accepts, judged from the bytes alone (Kafka's LogValidator and UnifiedLog's analyzeAndValidateRecords).

Every check here is pure: it reads the topic's LogConfig, the clock passed in and the batches, never
the log's state, so the produce path may run the costly ones in a worker thread before the append.

Where the boundary lies, and why it differs from Kafka's: Kafka's validator also assigns offsets.
Here the log does that (``protocol.records.assign_offsets``, a patch of the batch headers' bytes)
under its lock, because offsets come from the log end offset and only after the producer state has
ruled out a retried batch; this module stops at batches that are ready to receive offsets. The
walk of every record (``protocol.records.check_records``, the codec's) is the first step of
validation; Produce runs it itself, because it chooses the thread by the batch's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from kafkapy.protocol.compression import decompress
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    END_TXN_MARKER_VALUE,
    HEADER_SIZE,
    NO_PRODUCER_ID,
    NO_TIMESTAMP,
    BatchHeader,
    Record,
    build_batch,
    decode_records,
    iter_record_set,
    parse_control_key,
    recompress_batch,
    validate_batches,
)
from kafkapy.storage.log_config import CREATE_TIME, LOG_APPEND_TIME, LONG_MAX, LogConfig
from kafkapy.storage.producer_state import NO_COORDINATOR_EPOCH


class Marker(NamedTuple):
    """An end transaction marker's meaning."""

    aborted: bool
    coordinator_epoch: int


@dataclass(frozen=True)
class ValidationResult:
    """Batches ready for offsets (Kafka's ValidationResult, less the offsets the log assigns)."""

    # The batches, re-encoded when compression.type asks for another codec.
    buffer: bytearray
    headers: list[BatchHeader]
    # Per batch, its end transaction marker; None for data batches.
    markers: list[Marker | None]
    # The broker's clock for the batches' timestamps under LogAppendTime; None under CreateTime.
    log_append_time_ms: int | None


def check_client_batch(header: BatchHeader) -> None:
    """Kafka's validateBatch for a client's batch: no control batch, and a sequence wherever there is a producer id."""
    if header.is_control:
        raise KafkaError(ErrorCode.INVALID_RECORD, "clients may not produce control batches")
    if header.producer_id != NO_PRODUCER_ID and header.base_sequence < 0:
        raise KafkaError(ErrorCode.INVALID_RECORD, f"invalid sequence {header.base_sequence} with a producer id")


def check_batch_sizes(headers: list[BatchHeader], config: LogConfig) -> None:
    """MESSAGE_TOO_LARGE for a batch over max.message.bytes.

    Produce asks before it walks the records, as Kafka's UnifiedLog.analyzeAndValidateRecords
    does before its LogValidator: a batch refused on its size costs no decompression.
    """
    for header in headers:
        if header.size > config.max_message_bytes:
            raise KafkaError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"batch of {header.size} bytes exceeds max.message.bytes {config.max_message_bytes}",
            )


def validate(
    buf: bytearray,
    headers: list[BatchHeader],
    config: LogConfig,
    now_ms: int,
    *,
    partition: str,
    inspected: bool = False,
) -> ValidationResult:
    """Check ``buf``'s batches against ``config`` before the log assigns their offsets.

    Sizes first (max.message.bytes per batch: MESSAGE_TOO_LARGE; segment.bytes for the lot:
    RECORD_LIST_TOO_LARGE), then future timestamps from the batch headers, then, when the topic's
    configs ask for it, every record (``inspect_records``; ``inspected`` says the caller ran it
    already, off the event loop). Control batches must be COMMIT/ABORT markers. ``partition``
    names the topic partition in error messages.
    """
    check_batch_sizes(headers, config)
    if len(buf) > config.segment_bytes:
        raise KafkaError(
            ErrorCode.RECORD_LIST_TOO_LARGE,
            f"{len(buf)} bytes exceed segment.bytes {config.segment_bytes}",
        )
    if config.message_timestamp_type == CREATE_TIME:
        _check_future_timestamps(headers, now_ms, config.message_timestamp_after_max_ms)
    if config.inspects_records and not inspected and not any(header.is_control for header in headers):
        buf, headers = inspect_records(buf, headers, config, now_ms, partition=partition)
    append_time = now_ms if config.message_timestamp_type == LOG_APPEND_TIME else None
    return ValidationResult(buf, headers, read_markers(buf, headers), append_time)


def inspect_records(
    buf: bytearray, headers: list[BatchHeader], config: LogConfig, now_ms: int, *, partition: str
) -> tuple[bytearray, list[BatchHeader]]:
    """Kafka's LogValidator beyond the header checks: keys of compacted topics, old timestamps, recompression.

    Only for topics whose configs ask for it (``LogConfig.inspects_records``); the batches come
    back re-encoded with compression.type's codec when it is not "producer". Reads only the
    config and ``buf``, so it may run in a worker thread; ``buf``'s records must have passed
    check_records, which bounds what they inflate to.
    """
    codec = config.target_codec
    oldest = None
    if config.message_timestamp_type == CREATE_TIME and config.message_timestamp_before_max_ms < LONG_MAX:
        oldest = now_ms - config.message_timestamp_before_max_ms
    out = bytearray()
    position = 0
    with memoryview(buf) as view:
        for header in headers:
            batch = view[position : position + header.size]
            section = decompress(header.compression, batch[HEADER_SIZE:])
            records = iter_record_set(section, header)
            max_timestamp, in_order = _check_records(records, header, config, oldest, partition)
            if codec is None or codec == header.compression:
                out += batch
            elif in_order:
                out += recompress_batch(batch, header, section, codec, max_timestamp)
            else:
                # Only an uncompressed batch gets here (check_records holds compressed ones to
                # deltas 0..n-1), so decoding it costs what the request brought.
                out += _rebuild(header, iter_record_set(section, header), codec)
            position += header.size
    if codec is None:
        return buf, headers
    return out, validate_batches(out)


def _check_records(
    records: Iterator[Record], header: BatchHeader, config: LogConfig, oldest: int | None, partition: str
) -> tuple[int, bool]:
    """Compacted topics' keys and message.timestamp.before.max.ms, one record at a time.

    Returns the records' newest timestamp and whether their offset deltas are 0..n-1.
    """
    max_timestamp = NO_TIMESTAMP
    in_order = True
    for delta, record in enumerate(records):
        if config.compact and record.key is None:
            raise KafkaError(
                ErrorCode.INVALID_RECORD,
                f"Compacted topic cannot accept message without key in topic partition {partition}.",
            )
        if oldest is not None and record.timestamp < oldest:
            raise KafkaError(
                ErrorCode.INVALID_TIMESTAMP,
                f"Timestamp {record.timestamp} of message with offset {record.offset} is out of range: "
                f"more than message.timestamp.before.max.ms ({config.message_timestamp_before_max_ms}) old",
            )
        max_timestamp = max(max_timestamp, record.timestamp)
        in_order = in_order and record.offset == header.base_offset + delta
    return max_timestamp, in_order


def _rebuild(header: BatchHeader, records: Iterator[Record], codec: int) -> bytes:
    """The batch re-encoded record by record, renumbering offset deltas 0..n-1 as Kafka does."""
    return build_batch(
        records,
        compression=codec,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        transactional=header.is_transactional,
        log_append_time=header.log_append_time,
    )


def _check_future_timestamps(headers: list[BatchHeader], now_ms: int, after_max_ms: int) -> None:
    """message.timestamp.after.max.ms on batch headers: a batch's max timestamp bounds its records'."""
    if after_max_ms >= LONG_MAX:
        return
    for header in headers:
        if header.max_timestamp > now_ms + after_max_ms:
            raise KafkaError(
                ErrorCode.INVALID_TIMESTAMP,
                f"Timestamp {header.max_timestamp} of message is out of range: more than "
                f"message.timestamp.after.max.ms ({after_max_ms}) in the future",
            )


def read_marker(batch: bytes | bytearray | memoryview) -> Marker | None:
    """The COMMIT/ABORT marker in a control batch; None for other control records (LEADER_CHANGE, ...)."""
    for _, records in decode_records(batch):
        for record in records:
            _, kind = parse_control_key(record.key)
            if kind not in (CONTROL_ABORT, CONTROL_COMMIT):
                return None
            epoch = NO_COORDINATOR_EPOCH
            if record.value is not None and len(record.value) >= END_TXN_MARKER_VALUE.size:
                epoch = END_TXN_MARKER_VALUE.unpack_from(record.value)[1]
            return Marker(kind == CONTROL_ABORT, epoch)
    return None


def read_markers(buf: bytearray, headers: list[BatchHeader]) -> list[Marker | None]:
    """For each batch to append, its marker (None for data batches); other control batches are refused."""
    markers: list[Marker | None] = []
    position = 0
    for header in headers:
        marker = None
        if header.is_control:
            marker = read_marker(memoryview(buf)[position : position + header.size])
            if marker is None:
                raise KafkaError(ErrorCode.INVALID_RECORD, "only COMMIT and ABORT control batches can be appended")
        markers.append(marker)
        position += header.size
    return markers
