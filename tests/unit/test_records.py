"""v2 record batches: encoding, validation, offset assignment, and interop with kafka-python."""

from __future__ import annotations

import struct
import time
import types

import cramjam
import crc32c
import kafka.codec
import pytest
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from kafkapy.protocol.compression import CompressionType
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import (
    ATTRIBUTES_OFFSET,
    CONTROL_COMMIT,
    CRC_OFFSET,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    TIMESTAMP_TYPE_MASK,
    Record,
    assign_offsets,
    build_batch,
    build_end_txn_marker,
    decode_records,
    decode_unsigned_varint,
    decode_varint,
    encode_unsigned_varint,
    encode_varint,
    parse_batch_header,
    parse_control_key,
    validate_batches,
)

CODECS = list(CompressionType)
LAST_OFFSET_DELTA_OFFSET = 23
RECORDS_COUNT_OFFSET = 57

SAMPLE = [
    (b"key-0", b"value-0", [], 1_700_000_000_000),
    (None, b"null key", [("trace", b"abc"), ("empty", b""), ("null", None)], 1_700_000_000_005),
    (b"tombstone", None, [], 1_699_999_999_990),  # earlier than the first: negative delta
    (None, None, [("ünïcode", b"\x00\xff")], 1_700_000_000_001),
    (b"", b"", [], 1_700_000_000_002),
    (b"k" * 300, b"v" * 70_000, [], 1_700_000_000_003),  # multi-byte varint lengths
]


@pytest.fixture
def kafka_python_snappy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give kafka-python a snappy backend (python-snappy is not installed) built on cramjam."""
    shim = types.SimpleNamespace(
        compress=lambda data: bytes(cramjam.snappy.compress_raw(data)),
        decompress=lambda data: bytes(cramjam.snappy.decompress_raw(data)),
    )
    monkeypatch.setattr(kafka.codec, "snappy", shim)


def _error_code(buf: bytes | bytearray, **kwargs: bool) -> ErrorCode:
    with pytest.raises(KafkaError) as error:
        validate_batches(buf, **kwargs)
    return error.value.code


def _patch(batch: bytes, offset: int, fmt: str, value: int) -> bytearray:
    """Overwrite a header field and fix up the CRC, to test checks other than the CRC."""
    out = bytearray(batch)
    struct.pack_into(fmt, out, offset, value)
    struct.pack_into(">I", out, CRC_OFFSET, crc32c.crc32c(bytes(out[ATTRIBUTES_OFFSET:])))
    return out


def _kafka_python_batch(codec: int, count: int = 20) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i in range(count):
        builder.append(
            i,
            timestamp=1_000 + i,
            key=None if i % 3 == 0 else b"key-%d" % i,
            value=None if i % 5 == 0 else b"value-%d" % i * 10,
            headers=[("h1", b"x"), ("h2", None)] if i % 2 else [],
        )
    return bytes(builder.build())


# Varints


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (-1, b"\x01"),
        (1, b"\x02"),
        (63, b"\x7e"),
        (-64, b"\x7f"),
        (64, b"\x80\x01"),
        (300, b"\xd8\x04"),
    ],
)
def test_varint_known_encodings(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert decode_varint(encoded) == (value, len(encoded))


@pytest.mark.parametrize(
    "value", [0, 1, -1, 127, 128, -129, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63), 1_700_000_000_000]
)
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert len(encoded) <= 10
    assert decode_varint(b"\xff" + encoded, 1) == (value, 1 + len(encoded))


@pytest.mark.parametrize("value", [0, 127, 128, 16383, 16384, 2**64 - 1])
def test_unsigned_varint_round_trip(value: int) -> None:
    encoded = encode_unsigned_varint(value)
    assert decode_unsigned_varint(encoded) == (value, len(encoded))


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff\xff", b"\xff" * 10 + b"\x01"])
def test_bad_varint_is_corrupt(data: bytes) -> None:
    with pytest.raises(KafkaError) as error:
        decode_varint(data)
    assert error.value.code == ErrorCode.CORRUPT_MESSAGE


# Building and decoding


@pytest.mark.parametrize("codec", CODECS)
def test_build_decode_round_trip(codec: int) -> None:
    batch = build_batch(SAMPLE, base_offset=42, compression=codec)
    [header] = validate_batches(batch)
    assert header.compression == codec
    assert header.records_count == len(SAMPLE)
    assert header.base_timestamp == SAMPLE[0][3]
    assert header.max_timestamp == max(ts for *_, ts in SAMPLE)
    [(decoded_header, records)] = list(decode_records(batch))
    assert decoded_header == header
    assert records == [
        Record(42 + i, ts, key, value, headers) for i, (key, value, headers, ts) in enumerate(SAMPLE)
    ]


def test_build_batch_header_fields() -> None:
    batch = build_batch(
        [(b"k", b"v", [], 5)],
        base_offset=7,
        producer_id=1234,
        producer_epoch=3,
        base_sequence=99,
        transactional=True,
        partition_leader_epoch=11,
    )
    header = parse_batch_header(batch)
    assert header.size == len(batch)
    assert (header.base_offset, header.partition_leader_epoch, header.magic) == (7, 11, 2)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (1234, 3, 99)
    assert header.is_transactional and not header.is_control and not header.log_append_time


def test_build_batch_accepts_records_and_defaults_timestamp() -> None:
    before = int(time.time() * 1000)
    batch = build_batch([Record(0, 10, b"a", b"b", [("h", b"v")]), (b"c", b"d", [], None)])
    [(_, records)] = list(decode_records(batch))
    assert records[0] == Record(0, 10, b"a", b"b", [("h", b"v")])
    assert records[1].timestamp >= before


def test_build_batch_needs_records() -> None:
    with pytest.raises(ValueError):
        build_batch([])


@pytest.mark.parametrize("codec", CODECS)
def test_decode_kafka_python_batch(codec: int, kafka_python_snappy: None) -> None:
    raw = _kafka_python_batch(codec)
    [header] = validate_batches(raw)
    assert header.compression == codec
    [(_, records)] = list(decode_records(raw))
    expected = [
        (record.offset, record.timestamp, record.key, record.value, record.headers)
        for record in DefaultRecordBatch(raw)
    ]
    assert [tuple(record) for record in records] == expected
    assert records[1] == Record(1, 1_001, b"key-1", b"value-1" * 10, [("h1", b"x"), ("h2", None)])


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_reads_our_batch(codec: int, kafka_python_snappy: None) -> None:
    batches = build_batch(SAMPLE[:3], base_offset=100, compression=codec) + build_batch(
        SAMPLE[3:], base_offset=103, compression=codec
    )
    reader = MemoryRecords(batches)
    seen = []
    while reader.has_next():
        batch = reader.next_batch()
        assert batch.validate_crc()
        assert batch.compression_type == codec
        seen += [(r.offset, r.key, r.value, r.headers, r.timestamp) for r in batch]
    assert seen == [(100 + i, key, value, headers, ts) for i, (key, value, headers, ts) in enumerate(SAMPLE)]


def test_decode_several_batches_and_ignores_partial_tail() -> None:
    first = build_batch(SAMPLE[:2], base_offset=0)
    second = build_batch(SAMPLE[2:4], base_offset=2, compression=CompressionType.LZ4)
    decoded = list(decode_records(first + second + second[:30]))
    assert [[r.offset for r in records] for _, records in decoded] == [[0, 1], [2, 3]]
    assert list(decode_records(first + second[:-1]))[-1][0].base_offset == 0


def test_decode_rejects_legacy_magic() -> None:
    batch = bytearray(build_batch(SAMPLE[:1]))
    batch[MAGIC_OFFSET] = 1
    with pytest.raises(KafkaError) as error:
        list(decode_records(batch))
    assert error.value.code == ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT


def test_decode_rejects_record_count_mismatch() -> None:
    batch = build_batch(SAMPLE[:2])
    for count in (1, 3):
        with pytest.raises(KafkaError) as error:
            list(decode_records(_patch(batch, RECORDS_COUNT_OFFSET, ">i", count)))
        assert error.value.code == ErrorCode.CORRUPT_MESSAGE


def test_control_batch(kafka_python_snappy: None) -> None:
    marker = build_end_txn_marker(
        True, producer_id=5, producer_epoch=2, coordinator_epoch=9, base_offset=30, timestamp=77
    )
    [header] = validate_batches(marker)
    assert header.is_control and header.is_transactional
    [(_, [record])] = list(decode_records(marker))
    assert parse_control_key(record.key) == (0, CONTROL_COMMIT)
    assert record.value == struct.pack(">hi", 0, 9)
    assert (record.offset, record.timestamp) == (30, 77)
    batch = DefaultRecordBatch(marker)
    assert batch.is_control_batch and batch.producer_id == 5
    [theirs] = list(batch)
    assert theirs.commit


def test_parse_control_key_too_short() -> None:
    with pytest.raises(KafkaError):
        parse_control_key(b"\x00")


# Validation


def test_validate_several_batches() -> None:
    batches = build_batch(SAMPLE[:2]) + build_batch(SAMPLE[2:], compression=CompressionType.ZSTD)
    headers = validate_batches(memoryview(batches))
    assert [h.records_count for h in headers] == [2, len(SAMPLE) - 2]
    assert sum(h.size for h in headers) == len(batches)


def test_validate_empty() -> None:
    assert _error_code(b"") == ErrorCode.CORRUPT_MESSAGE


def test_validate_bad_crc() -> None:
    batch = bytearray(build_batch(SAMPLE))
    batch[-1] ^= 0x01
    assert _error_code(batch) == ErrorCode.CORRUPT_MESSAGE
    batch = bytearray(build_batch(SAMPLE))
    batch[CRC_OFFSET] ^= 0x80
    assert _error_code(batch) == ErrorCode.CORRUPT_MESSAGE


@pytest.mark.parametrize("cut", [1, 10, MAGIC_OFFSET, HEADER_SIZE - 1, HEADER_SIZE, -1])
def test_validate_truncated(cut: int) -> None:
    batch = build_batch(SAMPLE[:2])
    assert _error_code(batch[:cut]) == ErrorCode.CORRUPT_MESSAGE
    # A complete batch followed by a partial one is just as bad.
    assert _error_code(batch + batch[:cut]) == ErrorCode.CORRUPT_MESSAGE


@pytest.mark.parametrize(
    ("magic", "code"),
    [
        (0, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT),
        (1, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT),
        (3, ErrorCode.CORRUPT_MESSAGE),
        (0xFF, ErrorCode.CORRUPT_MESSAGE),
    ],
)
def test_validate_wrong_magic(magic: int, code: ErrorCode) -> None:
    batch = bytearray(build_batch(SAMPLE[:2]))
    batch[MAGIC_OFFSET] = magic
    assert _error_code(batch) == code


@pytest.mark.parametrize("magic", [0, 1])
def test_validate_real_legacy_message_set(magic: int) -> None:
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=1 << 20)
    builder.append(0, timestamp=None if magic == 0 else 1, key=b"k", value=b"v")
    assert _error_code(bytes(builder.build())) == ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT


@pytest.mark.parametrize("length", [0, HEADER_SIZE - LOG_OVERHEAD - 1, "short", "long", 1 << 20])
def test_validate_bad_length(length: int | str) -> None:
    batch = build_batch(SAMPLE[:2])
    actual = len(batch) - LOG_OVERHEAD
    value = {"short": actual - 1, "long": actual + 1}.get(length, length)
    patched = bytearray(batch)
    struct.pack_into(">i", patched, 8, value)
    assert _error_code(patched) == ErrorCode.CORRUPT_MESSAGE


def test_validate_negative_length() -> None:
    patched = bytearray(build_batch(SAMPLE[:2]))
    struct.pack_into(">i", patched, 8, -5)
    assert _error_code(patched) == ErrorCode.CORRUPT_MESSAGE


@pytest.mark.parametrize("last_offset_delta", [0, 2, 5, -1])
def test_validate_last_offset_delta_mismatch(last_offset_delta: int) -> None:
    batch = _patch(build_batch(SAMPLE[:2]), LAST_OFFSET_DELTA_OFFSET, ">i", last_offset_delta)
    assert _error_code(batch) == ErrorCode.INVALID_RECORD


def test_validate_compacted_allows_offset_gaps() -> None:
    batch = _patch(build_batch(SAMPLE[:2]), LAST_OFFSET_DELTA_OFFSET, ">i", 5)
    [header] = validate_batches(batch, compacted=True)
    assert header.next_offset == 6
    too_few = _patch(build_batch(SAMPLE[:2]), LAST_OFFSET_DELTA_OFFSET, ">i", 0)
    assert _error_code(too_few, compacted=True) == ErrorCode.INVALID_RECORD


def test_validate_record_counts() -> None:
    batch = build_batch(SAMPLE[:1])
    negative = _patch(batch, RECORDS_COUNT_OFFSET, ">i", -1)
    assert _error_code(negative) == ErrorCode.CORRUPT_MESSAGE
    empty = _patch(_patch(batch, RECORDS_COUNT_OFFSET, ">i", 0), LAST_OFFSET_DELTA_OFFSET, ">i", -1)
    assert _error_code(empty) == ErrorCode.INVALID_RECORD


def test_validate_unknown_codec() -> None:
    batch = _patch(build_batch(SAMPLE[:1]), ATTRIBUTES_OFFSET, ">h", 5)
    assert _error_code(batch) == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE


# Offset assignment


@pytest.mark.parametrize("codec", [CompressionType.NONE, CompressionType.GZIP])
def test_assign_offsets(codec: int, kafka_python_snappy: None) -> None:
    buf = bytearray(build_batch(SAMPLE[:2], compression=codec) + build_batch(SAMPLE[2:], compression=codec))
    headers = validate_batches(buf)
    assert assign_offsets(buf, headers, 1_000, partition_leader_epoch=4) == 1_000 + len(SAMPLE)
    new_headers = validate_batches(buf)  # CRC still valid
    assert [h.base_offset for h in new_headers] == [1_000, 1_002]
    assert {h.partition_leader_epoch for h in new_headers} == {4}
    assert [h.crc for h in new_headers] == [h.crc for h in headers]
    offsets = [r.offset for _, records in decode_records(buf) for r in records]
    assert offsets == list(range(1_000, 1_000 + len(SAMPLE)))
    timestamps = [r.timestamp for _, records in decode_records(buf) for r in records]
    assert timestamps == [ts for *_, ts in SAMPLE]


def test_assign_offsets_log_append_time(kafka_python_snappy: None) -> None:
    buf = bytearray(build_batch(SAMPLE[:2]) + build_batch(SAMPLE[2:], compression=CompressionType.SNAPPY))
    append_time = 1_800_000_000_000
    next_offset = assign_offsets(buf, validate_batches(buf), 50, log_append_time_ms=append_time)
    assert next_offset == 50 + len(SAMPLE)
    headers = validate_batches(buf)  # CRC recomputed
    assert all(h.log_append_time and h.max_timestamp == append_time for h in headers)
    assert all(h.attributes & ~TIMESTAMP_TYPE_MASK == h.compression for h in headers)
    records = [r for _, batch in decode_records(buf) for r in batch]
    assert {r.timestamp for r in records} == {append_time}
    assert [r.key for r in records] == [key for key, *_ in SAMPLE]
    reader = MemoryRecords(bytes(buf))
    while reader.has_next():
        batch = reader.next_batch()
        assert batch.validate_crc() and batch.timestamp_type == 1
        assert {r.timestamp for r in batch} == {append_time}


def test_assign_offsets_respects_compacted_gaps() -> None:
    gapped = _patch(build_batch(SAMPLE[:2]), LAST_OFFSET_DELTA_OFFSET, ">i", 9)
    buf = bytearray(gapped + build_batch(SAMPLE[:1]))
    assert assign_offsets(buf, validate_batches(buf, compacted=True), 0) == 11
    assert [h.base_offset for h in validate_batches(buf, compacted=True)] == [0, 10]
