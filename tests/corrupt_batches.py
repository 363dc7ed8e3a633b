"""CRC-valid record batches whose records are corrupt, for the produce validation tests.

Every batch here passes the framing and CRC32C checks, so only a walk of its (decompressed)
records finds the defect. ``CORRUPT`` maps a case name to its batch and the error Apache Kafka
4.3.1 answers a Produce v9 of it with (measured with compat_tests/reference_kafka.py).
"""

from __future__ import annotations

import struct

import crc32c
import zstandard

from kafkapy.protocol.compression import GZIP, LZ4, NONE, SNAPPY, XERIAL_HEADER, ZSTD, compress
from kafkapy.protocol.records import (
    ATTRIBUTES_OFFSET,
    COMPRESSION_MASK,
    CRC_OFFSET,
    HEADER_SIZE,
    LOG_OVERHEAD,
    build_batch,
    encode_varint,
    parse_batch_header,
)

TIMESTAMP = 1_700_000_000_000
RECORDS = [(b"key-%d" % i, b"value-%d" % i, [("h", b"v")], TIMESTAMP + i) for i in range(3)]


def records_section(offset_deltas: list[int] | None = None) -> bytes:
    """The uncompressed records section of RECORDS, with the given offset deltas."""
    return build_batch(RECORDS, offset_deltas=offset_deltas)[HEADER_SIZE:]


def reframe(
    section: bytes,
    *,
    codec: int = NONE,
    count: int = len(RECORDS),
    last_offset_delta: int | None = None,
) -> bytes:
    """A batch of RECORDS' header around ``section`` (taken as already compressed), with a valid CRC."""
    batch = bytearray(build_batch(RECORDS)[:HEADER_SIZE]) + section
    struct.pack_into(">i", batch, 8, len(batch) - LOG_OVERHEAD)
    attributes = parse_batch_header(batch).attributes & ~COMPRESSION_MASK | codec
    struct.pack_into(">h", batch, ATTRIBUTES_OFFSET, attributes)
    struct.pack_into(">i", batch, 23, count - 1 if last_offset_delta is None else last_offset_delta)
    struct.pack_into(">i", batch, 57, count)
    struct.pack_into(">I", batch, CRC_OFFSET, crc32c.crc32c(bytes(batch[ATTRIBUTES_OFFSET:])))
    return bytes(batch)


def compressed(codec: int, section: bytes, **kwargs: int) -> bytes:
    return reframe(compress(codec, section), codec=codec, **kwargs)


def one_record(body: bytes) -> bytes:
    """A records section holding one record with this body (attributes onwards)."""
    return encode_varint(len(body)) + body


def _huge_value_head(size: int, offset_delta: int = 0) -> bytes:
    """A record's bytes up to its value of ``size`` bytes (a null key, no headers to follow yet)."""
    body = b"\x00" + encode_varint(0) + encode_varint(offset_delta) + encode_varint(-1) + encode_varint(size)
    return encode_varint(len(body) + size + 1) + body


def huge_value_record(size: int) -> bytes:
    """One well-formed record whose value is ``size`` zero bytes: compresses to almost nothing."""
    return _huge_value_head(size) + bytes(size) + encode_varint(0)


def zstd_bomb(size: int, records: int = 1) -> bytes:
    """A zstd batch of ``records`` records of ``size`` zero bytes each, compressed a MiB at a time."""
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    out = bytearray()
    zeros = bytes(1 << 20)
    for offset_delta in range(records):
        out += compressor.compress(_huge_value_head(size, offset_delta))
        for _ in range(size >> 20):
            out += compressor.compress(zeros)
        out += compressor.compress(bytes(size & ((1 << 20) - 1)) + encode_varint(0))
    out += compressor.flush()
    return reframe(bytes(out), codec=ZSTD, count=records)


_SECTION = records_section()
_RECORD_LENGTH = len(_SECTION) // len(RECORDS)
_GARBAGE = bytes(range(7, 250, 3)) * 2
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# The last record's fields one byte short of its length; a last record with header count -1.
_LONGER_THAN_FIELDS = _SECTION[:-_RECORD_LENGTH] + one_record(_SECTION[-_RECORD_LENGTH + 1 :] + b"\x00")
_NEGATIVE_HEADERS = _SECTION[:-_RECORD_LENGTH] + one_record(b"\x00\x00\x04\x00\x00\x01")

# Compressed data no codec can read: the records layer raises CORRUPT_MESSAGE (UndecodableRecords);
# Produce answers UNKNOWN_SERVER_ERROR (-1) to every one of them without a message, as Kafka 4.3.1 does
# (logging "Failed to decompress record stream").
UNDECODABLE: dict[str, bytes] = {
    "gzip-garbage": reframe(_GZIP_HEADER + _GARBAGE, codec=GZIP),
    "gzip-not-gzip": reframe(_GARBAGE, codec=GZIP),
    "gzip-truncated": reframe(compress(GZIP, _SECTION)[:-12], codec=GZIP),
    "snappy-garbage": reframe(XERIAL_HEADER + struct.pack(">i", len(_GARBAGE)) + _GARBAGE, codec=SNAPPY),
    "lz4-garbage": reframe(b"\x04\x22\x4d\x18" + _GARBAGE, codec=LZ4),
    "lz4-truncated": reframe(compress(LZ4, _SECTION)[:-9], codec=LZ4),
    "zstd-garbage": reframe(b"\x28\xb5\x2f\xfd" + _GARBAGE, codec=ZSTD),
    "zstd-truncated": reframe(compress(ZSTD, _SECTION)[:-6], codec=ZSTD),
}

# Records that do not match their batch: INVALID_RECORD, as Kafka 4.3.1 answers every one
# ("Incorrect declared batch size, premature EOF reached", "... records still remaining in file",
# "Invalid record size: expected 22 bytes in record payload, but instead the buffer has only 19
# remaining bytes", "Found invalid number of record headers -1", "Found invalid record structure").
INVALID: dict[str, bytes] = {
    "count-more": reframe(_SECTION, count=4),
    "count-fewer": reframe(_SECTION, count=2),
    "truncated-record": reframe(_SECTION[:-3]),
    "zero-length-record": reframe(_SECTION[:-_RECORD_LENGTH] + b"\x00"),
    "lz4-count-more": compressed(LZ4, _SECTION, count=4),
    "lz4-count-fewer": compressed(LZ4, _SECTION, count=2),
    "zstd-count-fewer": compressed(ZSTD, _SECTION, count=2),
    "snappy-count-more": compressed(SNAPPY, _SECTION, count=4),
    "gzip-truncated-record": compressed(GZIP, _SECTION[:-3]),
    "gzip-record-longer-than-fields": compressed(GZIP, _LONGER_THAN_FIELDS),
    "lz4-negative-header-count": compressed(LZ4, _NEGATIVE_HEADERS),
    "zstd-zeros": compressed(ZSTD, bytes(1 << 20), count=3),
    # Kafka 4.3.1 fails this one with UNKNOWN_SERVER_ERROR: renumbering the records trips over a
    # record whose key it skipped (UnsupportedOperationException from PartialDefaultRecord).
    "lz4-offset-deltas": compressed(LZ4, records_section([0, 2, 1])),
}

# Kafka 4.3.1 stores these as they are (it walks an uncompressed batch's records but neither
# their offset deltas nor, in kafkapy, their fields): the consumer sees offsets 0, 2, 1.
UNCOMPRESSED_ACCEPTED: dict[str, bytes] = {
    "offset-deltas": reframe(records_section([0, 2, 1])),
}
