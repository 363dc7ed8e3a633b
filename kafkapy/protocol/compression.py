"""Kafka's record batch compression codecs, as byte-in/byte-out functions.

The codec id lives in the low three bits of a batch's attributes. Each codec uses the framing
the Java client writes, so batches we compress are readable by every client and vice versa:

* gzip: a gzip stream (several members are accepted on decode).
* snappy: xerial framing (magic header, then int32-length-prefixed raw snappy blocks);
  plain raw snappy is accepted on decode because some clients write it.
* lz4: the standard LZ4 frame format (Kafka >= 0.10 writes a correct header checksum).
* zstd: zstd frames, which the Java client writes without a content size in the header.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from enum import IntEnum

import cramjam
import lz4.frame
import zstandard

from kafkapy.protocol.errors import ErrorCode, KafkaError

Buffer = bytes | bytearray | memoryview


class CompressionType(IntEnum):
    """Codec ids as stored in a batch's attributes (org.apache.kafka.common.record.CompressionType)."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


NONE = CompressionType.NONE
GZIP = CompressionType.GZIP
SNAPPY = CompressionType.SNAPPY
LZ4 = CompressionType.LZ4
ZSTD = CompressionType.ZSTD

# Java's GZIPOutputStream uses zlib's default level, which trades speed well against size.
GZIP_LEVEL = 6
ZSTD_LEVEL = 3

# xerial snappy-java's SnappyOutputStream: magic, then version and min-compatible version.
XERIAL_MAGIC = b"\x82SNAPPY\x00"
XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
# Uncompressed bytes per xerial block; snappy-java's default block size.
XERIAL_BLOCK_SIZE = 32 * 1024

_INT32 = struct.Struct(">i")
# What each library raises on malformed input; all mean the batch is corrupt.
_DECODE_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    RuntimeError,
    ValueError,
    zstandard.ZstdError,
    cramjam.DecompressionError,
)


def compress(codec: int, data: Buffer) -> bytes:
    """Compress a batch's records section with ``codec``."""
    if codec == NONE:
        return bytes(data)
    if codec == GZIP:
        return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    if codec == SNAPPY:
        return snappy_xerial_encode(data)
    if codec == LZ4:
        # Match KafkaLZ4BlockOutputStream: independent 64 KiB blocks, no content size or checksums.
        return lz4.frame.compress(
            data,
            block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            block_linked=False,
            content_checksum=False,
            block_checksum=False,
            store_size=False,
        )
    if codec == ZSTD:
        # A fresh context per call: zstandard contexts must not be shared across threads.
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
    raise _unsupported(codec)


def decompress(codec: int, data: Buffer) -> bytes:
    """Decompress a batch's records section; malformed input raises CORRUPT_MESSAGE."""
    if codec == NONE:
        return bytes(data)
    try:
        if codec == GZIP:
            return gzip.decompress(data)
        if codec == SNAPPY:
            return snappy_decode(data)
        if codec == LZ4:
            return _lz4_decode(data)
        if codec == ZSTD:
            return _zstd_decode(data)
    except KafkaError:
        raise
    except _DECODE_ERRORS as exc:
        raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"{CompressionType(codec).name} data: {exc}") from exc
    raise _unsupported(codec)


def snappy_xerial_encode(data: Buffer, block_size: int = XERIAL_BLOCK_SIZE) -> bytes:
    """Encode ``data`` in xerial snappy framing, as Kafka's Java client does."""
    view = memoryview(data)
    out = bytearray(XERIAL_HEADER)
    for start in range(0, len(view), block_size):
        block = cramjam.snappy.compress_raw(view[start : start + block_size])
        out += _INT32.pack(len(block))
        out += block
    return bytes(out)


def snappy_decode(data: Buffer) -> bytes:
    """Decode xerial-framed snappy, or a single raw snappy block when the magic is absent."""
    view = memoryview(data)
    if len(view) < len(XERIAL_HEADER) or view[: len(XERIAL_MAGIC)] != XERIAL_MAGIC:
        return bytes(cramjam.snappy.decompress_raw(view))
    out = bytearray()
    # Version fields are ignored: only v1 exists, and some writers encode them little-endian.
    pos = len(XERIAL_HEADER)
    end = len(view)
    while pos < end:
        if end - pos < 4:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "truncated xerial snappy block length")
        (length,) = _INT32.unpack_from(view, pos)
        pos += 4
        if length < 0 or pos + length > end:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "truncated xerial snappy block")
        out += cramjam.snappy.decompress_raw(view[pos : pos + length])
        pos += length
    return bytes(out)


def _lz4_decode(data: Buffer) -> bytes:
    """Decode one or more concatenated LZ4 frames."""
    out = bytearray()
    remaining: Buffer = data
    while True:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        out += decompressor.decompress(remaining)
        if not decompressor.eof:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "truncated LZ4 frame")
        remaining = decompressor.unused_data
        if not remaining:
            return bytes(out)


def _zstd_decode(data: Buffer) -> bytes:
    """Decode one or more zstd frames, streaming because Java omits the content size."""
    out = bytearray()
    remaining: Buffer = data
    while True:
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        out += decompressor.decompress(remaining)
        if not decompressor.eof:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "truncated zstd frame")
        remaining = decompressor.unused_data
        if not remaining:
            return bytes(out)


def _unsupported(codec: int) -> KafkaError:
    return KafkaError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, f"unknown compression codec {codec}")
