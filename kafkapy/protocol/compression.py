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
from collections.abc import Iterator
from enum import IntEnum

import cramjam
import lz4.frame
import zstandard

from kafkapy.protocol.errors import ErrorCode, KafkaError

Buffer = bytes | bytearray | memoryview


class UndecodableRecords(KafkaError):
    """Compressed records no codec can read: CORRUPT_MESSAGE where kafkapy reads its own data; Produce
    answers it as Kafka 4.3.1 does (UNKNOWN_SERVER_ERROR, see kafkapy/apis/produce.py)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.CORRUPT_MESSAGE, message)


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
# Bytes of output each step produces at most: small enough for a bomb to stop early, and below
# glibc's 128 KiB mmap threshold, so the buffers come from the heap and are reused. 1 MiB steps
# cost a 1 MiB lz4 batch ~500 us of system time in page faults (~460 a batch).
CHUNK_SIZE = 64 * 1024
# zstd frame magic numbers (RFC 8878), little-endian; skippable frames use 16 of them.
_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_SKIPPABLE_MAGIC = 0x184D2A50
_UINT32_LE = struct.Struct("<I")
# gzip framing only (zlib's 16 + 15-bit window), as Java's GZIPInputStream reads.
_GZIP_WBITS = 31
# A snappy block cannot inflate more than this: its best element copies 64 bytes for 2 or 3 of input.
SNAPPY_MAX_EXPANSION = 32
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


def decompress(codec: int, data: Buffer, max_bytes: int | None = None) -> bytes:
    """Decompress a batch's records section; malformed input raises CORRUPT_MESSAGE.

    With ``max_bytes`` the output is inflated in bounded chunks and more than ``max_bytes`` of it
    raises MESSAGE_TOO_LARGE, so a small decompression bomb never costs more than the bound.
    """
    if codec == NONE:
        return bytes(data)
    if max_bytes is None:
        return b"".join(iter_decompress(codec, data))
    out = bytearray()
    for chunk in iter_decompress(codec, data):
        out += chunk
        if len(out) > max_bytes:
            raise too_large(max_bytes)
    return bytes(out)


def too_large(max_bytes: int) -> KafkaError:
    """The error for records that inflate past ``max_bytes``."""
    return KafkaError(ErrorCode.MESSAGE_TOO_LARGE, f"records inflate to more than {max_bytes} bytes")


def iter_decompress(codec: int, data: Buffer) -> Iterator[bytes]:
    """Inflate a compressed records section chunk by chunk; malformed input raises CORRUPT_MESSAGE.

    No chunk is larger than a bound that follows the input's size rather than what it claims
    (see each codec's reader), so a caller that stops early has spent little memory or CPU.
    """
    readers = {GZIP: _gzip_chunks, SNAPPY: _snappy_chunks, LZ4: _lz4_chunks, ZSTD: _zstd_chunks}
    if codec not in readers:
        raise _unsupported(codec)
    try:
        yield from readers[codec](data)
    except KafkaError:
        raise
    except _DECODE_ERRORS as exc:
        raise UndecodableRecords(f"{CompressionType(codec).name} data: {exc}") from exc


def _truncated(codec: int) -> UndecodableRecords:
    return UndecodableRecords(f"truncated {CompressionType(codec).name} data")


def _gzip_chunks(data: Buffer) -> Iterator[bytes]:
    """One or more gzip members, CHUNK_SIZE bytes of output at a time."""
    remaining = bytes(data)
    while True:
        decompressor = zlib.decompressobj(_GZIP_WBITS)
        pending = remaining
        while not decompressor.eof:
            chunk = decompressor.decompress(pending, CHUNK_SIZE)
            pending = decompressor.unconsumed_tail
            if chunk:
                yield chunk
            elif not pending and not decompressor.eof:
                raise _truncated(GZIP)
        remaining = decompressor.unused_data
        if not remaining:
            return


def _snappy_chunks(data: Buffer) -> Iterator[bytes]:
    """Xerial blocks one at a time (or one raw block); a block may not claim more than snappy can expand to."""
    view = memoryview(data)
    if len(view) < len(XERIAL_HEADER) or view[: len(XERIAL_MAGIC)] != XERIAL_MAGIC:
        yield _snappy_block(view)
        return
    # Version fields are ignored: only v1 exists, and some writers encode them little-endian.
    pos = len(XERIAL_HEADER)
    end = len(view)
    while pos < end:
        if end - pos < 4:
            raise UndecodableRecords("truncated xerial snappy block length")
        (length,) = _INT32.unpack_from(view, pos)
        pos += 4
        if length < 0 or pos + length > end:
            raise UndecodableRecords("truncated xerial snappy block")
        yield _snappy_block(view[pos : pos + length])
        pos += length


def _snappy_block(block: memoryview) -> bytes:
    """One raw snappy block, after checking its declared length against what its size can hold."""
    declared, pos, shift = 0, 0, 0
    while pos < len(block) and shift < 35:
        byte = block[pos]
        declared |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if byte < 0x80:
            break
    if declared > SNAPPY_MAX_EXPANSION * len(block):
        raise UndecodableRecords(f"snappy block of {len(block)} bytes claims {declared}")
    return bytes(cramjam.snappy.decompress_raw(block))


def _lz4_chunks(data: Buffer) -> Iterator[bytes]:
    """One or more LZ4 frames, CHUNK_SIZE bytes of output at a time."""
    remaining: Buffer = data
    while True:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        chunk = decompressor.decompress(remaining, max_length=CHUNK_SIZE)
        while True:
            if chunk:
                yield chunk
            if decompressor.eof:
                break
            if decompressor.needs_input:
                raise _truncated(LZ4)
            chunk = decompressor.decompress(b"", max_length=CHUNK_SIZE)
        remaining = decompressor.unused_data
        if not remaining:
            return


def _zstd_chunks(data: Buffer) -> Iterator[bytes]:
    """One or more zstd frames, CHUNK_SIZE bytes of output at a time.

    zstandard's stream reader bounds its output but says nothing of a frame cut short, so the
    frames' block headers are walked first (_check_zstd_frames): cheap, and linear in the input.
    """
    view = memoryview(data)
    _check_zstd_frames(view)
    reader = zstandard.ZstdDecompressor().stream_reader(view, read_across_frames=True)
    while chunk := reader.read(CHUNK_SIZE):
        yield chunk


def _check_zstd_frames(view: memoryview) -> None:
    """Raise CORRUPT_MESSAGE unless ``view`` is whole zstd frames (RFC 8878 framing, not content)."""
    pos = 0
    end = len(view)
    while True:
        if end - pos < 5:
            raise _truncated(ZSTD)
        (magic,) = _UINT32_LE.unpack_from(view, pos)
        if magic & 0xFFFFFFF0 == _ZSTD_SKIPPABLE_MAGIC:
            if end - pos < 8:
                raise _truncated(ZSTD)
            pos += 8 + _UINT32_LE.unpack_from(view, pos + 4)[0]
        elif magic == _ZSTD_MAGIC:
            descriptor = view[pos + 4]
            single_segment = descriptor >> 5 & 1
            content_size_bytes = (single_segment, 2, 4, 8)[descriptor >> 6]
            pos += 5 + (1 - single_segment) + (0, 1, 2, 4)[descriptor & 3] + content_size_bytes
            last = 0
            while not last:
                if end - pos < 3:
                    raise _truncated(ZSTD)
                block = view[pos] | view[pos + 1] << 8 | view[pos + 2] << 16
                last = block & 1
                kind = block >> 1 & 3
                if kind == 3:
                    raise UndecodableRecords("reserved zstd block type")
                pos += 3 + (1 if kind == 1 else block >> 3)
            pos += 4 * (descriptor >> 2 & 1)  # content checksum
        else:
            raise UndecodableRecords(f"not a zstd frame (magic {magic:#x})")
        if pos >= end:
            if pos > end:
                raise _truncated(ZSTD)
            return


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
    return decompress(SNAPPY, data)


def _unsupported(codec: int) -> KafkaError:
    return KafkaError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, f"unknown compression codec {codec}")
