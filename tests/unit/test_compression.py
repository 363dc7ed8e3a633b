"""Codec round trips and interoperability with the framings other Kafka clients write."""

from __future__ import annotations

import gzip
import struct
import types

import cramjam
import kafka.codec
import lz4.frame
import pytest
import zstandard

from kafkapy.protocol.compression import (
    XERIAL_BLOCK_SIZE,
    XERIAL_HEADER,
    XERIAL_MAGIC,
    CompressionType,
    compress,
    decompress,
    snappy_decode,
    snappy_xerial_encode,
)
from kafkapy.protocol.errors import ErrorCode, KafkaError

PAYLOADS = [
    b"",
    b"a",
    b"hello kafka " * 10,
    bytes(range(256)) * 300,  # larger than one xerial block
]


@pytest.fixture
def kafka_python_snappy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give kafka-python a snappy backend (python-snappy is not installed) built on cramjam."""
    shim = types.SimpleNamespace(
        compress=lambda data: bytes(cramjam.snappy.compress_raw(data)),
        decompress=lambda data: bytes(cramjam.snappy.decompress_raw(data)),
    )
    monkeypatch.setattr(kafka.codec, "snappy", shim)


@pytest.mark.parametrize("codec", list(CompressionType))
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: f"{len(p)}B")
def test_round_trip(codec: CompressionType, payload: bytes) -> None:
    compressed = compress(codec, payload)
    assert decompress(codec, compressed) == payload
    assert decompress(codec, memoryview(bytearray(compressed))) == payload


@pytest.mark.parametrize("codec", list(CompressionType))
def test_accepts_memoryview_input(codec: CompressionType) -> None:
    payload = b"0123456789" * 100
    view = memoryview(b"xx" + payload)[2:]
    assert decompress(codec, compress(codec, view)) == payload


@pytest.mark.parametrize("codec", [5, 6, 7, -1])
def test_unknown_codec(codec: int) -> None:
    with pytest.raises(KafkaError) as compress_error:
        compress(codec, b"data")
    assert compress_error.value.code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
    with pytest.raises(KafkaError) as decompress_error:
        decompress(codec, b"data")
    assert decompress_error.value.code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE


@pytest.mark.parametrize("codec", [CompressionType.SNAPPY, CompressionType.LZ4, CompressionType.ZSTD])
@pytest.mark.parametrize("garbage", [b"", b"not compressed at all, really"])
def test_garbage_is_corrupt(codec: CompressionType, garbage: bytes) -> None:
    with pytest.raises(KafkaError) as error:
        decompress(codec, garbage)
    assert error.value.code == ErrorCode.CORRUPT_MESSAGE


@pytest.mark.parametrize("codec", [CompressionType.GZIP, CompressionType.LZ4, CompressionType.ZSTD])
def test_truncated_is_corrupt(codec: CompressionType) -> None:
    compressed = compress(codec, bytes(range(256)) * 100)
    with pytest.raises(KafkaError) as error:
        decompress(codec, compressed[: len(compressed) // 2])
    assert error.value.code == ErrorCode.CORRUPT_MESSAGE


def test_gzip_multiple_members() -> None:
    data = gzip.compress(b"first ") + gzip.compress(b"second")
    assert decompress(CompressionType.GZIP, data) == b"first second"


def test_gzip_from_kafka_python() -> None:
    assert decompress(CompressionType.GZIP, kafka.codec.gzip_encode(b"payload" * 50)) == b"payload" * 50
    assert kafka.codec.gzip_decode(compress(CompressionType.GZIP, b"payload")) == b"payload"


def test_snappy_encodes_xerial_framing() -> None:
    payload = bytes(range(256)) * 300
    encoded = compress(CompressionType.SNAPPY, payload)
    assert encoded.startswith(XERIAL_HEADER)
    # Walk the blocks: each is an int32 length then a raw snappy block of <= one xerial block.
    pos, blocks = len(XERIAL_HEADER), []
    while pos < len(encoded):
        (length,) = struct.unpack_from(">i", encoded, pos)
        blocks.append(bytes(cramjam.snappy.decompress_raw(encoded[pos + 4 : pos + 4 + length])))
        pos += 4 + length
    assert pos == len(encoded)
    assert len(blocks) == -(-len(payload) // XERIAL_BLOCK_SIZE)
    assert b"".join(blocks) == payload


def test_snappy_decodes_raw_block() -> None:
    payload = b"raw snappy from a client that skips xerial framing " * 20
    raw = bytes(cramjam.snappy.compress_raw(payload))
    assert not raw.startswith(XERIAL_MAGIC)
    assert decompress(CompressionType.SNAPPY, raw) == payload


def test_snappy_ignores_little_endian_xerial_versions() -> None:
    payload = b"redpanda writes the version fields little-endian" * 5
    block = bytes(cramjam.snappy.compress_raw(payload))
    framed = XERIAL_MAGIC + struct.pack("<ii", 1, 1) + struct.pack(">i", len(block)) + block
    assert snappy_decode(framed) == payload


def test_snappy_truncated_xerial_block() -> None:
    framed = snappy_xerial_encode(b"x" * 1000)
    for cut in (len(XERIAL_HEADER) + 2, len(framed) - 1):
        with pytest.raises(KafkaError) as error:
            decompress(CompressionType.SNAPPY, framed[:cut])
        assert error.value.code == ErrorCode.CORRUPT_MESSAGE


def test_snappy_interop_with_kafka_python(kafka_python_snappy: None) -> None:
    payload = bytes(range(256)) * 300
    theirs = kafka.codec.snappy_encode(payload)
    assert theirs.startswith(XERIAL_MAGIC)
    assert decompress(CompressionType.SNAPPY, theirs) == payload
    assert kafka.codec.snappy_decode(compress(CompressionType.SNAPPY, payload)) == payload


def test_lz4_uses_standard_frames() -> None:
    payload = b"lz4 frame " * 100
    frame = compress(CompressionType.LZ4, payload)
    assert lz4.frame.decompress(frame) == payload
    # Frame descriptor flags as Java writes them: independent blocks, no content size or checksum.
    flags = frame[4]
    assert flags & 0x20 and not flags & 0x08 and not flags & 0x04
    assert decompress(CompressionType.LZ4, kafka.codec.lz4_encode(payload)) == payload


def test_lz4_concatenated_frames() -> None:
    data = lz4.frame.compress(b"one ") + lz4.frame.compress(b"two")
    assert decompress(CompressionType.LZ4, data) == b"one two"


def test_zstd_without_content_size() -> None:
    payload = b"the java client streams zstd, so frames carry no content size " * 100
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(payload)
    assert zstandard.get_frame_parameters(frame).content_size == zstandard.CONTENTSIZE_UNKNOWN
    assert decompress(CompressionType.ZSTD, frame) == payload


def test_zstd_concatenated_frames() -> None:
    data = zstandard.ZstdCompressor().compress(b"one ") + zstandard.ZstdCompressor().compress(b"two")
    assert decompress(CompressionType.ZSTD, data) == b"one two"


def test_zstd_interop_with_kafka_python() -> None:
    payload = b"zstd " * 100
    assert decompress(CompressionType.ZSTD, kafka.codec.zstd_encode(payload)) == payload
    assert kafka.codec.zstd_decode(compress(CompressionType.ZSTD, payload)) == payload
