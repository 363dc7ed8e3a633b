"""check_records: the produce path's walk of a batch's records, from bytes (issue #13, parts 4 and 5)."""

from __future__ import annotations

import gzip
import os
import struct
import tracemalloc

import cramjam
import lz4.frame
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkapy.protocol import records as records_module
from kafkapy.protocol.compression import (
    CHUNK_SIZE,
    GZIP,
    LZ4,
    SNAPPY,
    ZSTD,
    CompressionType,
    compress,
    decompress,
    iter_decompress,
)
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import build_batch, check_records, decode_varint, encode_varint, validate_batches
from tests.corrupt_batches import (
    INVALID,
    UNCOMPRESSED_ACCEPTED,
    UNDECODABLE,
    compressed,
    huge_value_record,
    one_record,
    reframe,
    zstd_bomb,
)

MIB = 1024 * 1024


def check(batch: bytes, max_bytes: int = 8 * MIB) -> None:
    check_records(batch, validate_batches(batch), max_uncompressed_bytes=max_bytes)


def error_of(batch: bytes, max_bytes: int = 8 * MIB) -> ErrorCode:
    with pytest.raises(KafkaError) as error:
        check(batch, max_bytes)
    return error.value.code


def refused_peak_memory(batch: bytes, max_bytes: int) -> int:
    """Check that ``batch`` inflates past ``max_bytes``; the peak memory traced meanwhile."""
    tracemalloc.start()
    try:
        assert error_of(batch, max_bytes) == ErrorCode.MESSAGE_TOO_LARGE
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", sorted(UNDECODABLE))
def test_undecodable_compressed_data_is_corrupt(name: str) -> None:
    assert error_of(UNDECODABLE[name]) == ErrorCode.CORRUPT_MESSAGE


@pytest.mark.parametrize("name", sorted(INVALID))
def test_records_not_matching_their_batch_are_invalid(name: str) -> None:
    assert error_of(INVALID[name]) == ErrorCode.INVALID_RECORD


@pytest.mark.parametrize("name", sorted(UNCOMPRESSED_ACCEPTED))
def test_uncompressed_offset_deltas_are_not_checked_as_kafka(name: str) -> None:
    check(UNCOMPRESSED_ACCEPTED[name])


def _records(value_size: int, count: int) -> list:
    """Records of every shape: null and empty keys, null values, headers with null values."""
    shapes = [
        (None, os.urandom(value_size), [], 1_700_000_000_000),
        (b"", None, [("a", None), ("b", b"")], 1_700_000_000_000 - 5),
        (b"k" * 200, b"v" * value_size, [("h" * 300, b"x" * 70_000)], 1_700_000_000_000 + 10**9),
    ]
    return [shapes[i % len(shapes)] for i in range(count)]


@pytest.mark.parametrize("codec", list(CompressionType))
@pytest.mark.parametrize(("value_size", "count"), [(0, 1), (10, 50), (1024, 300), (600_000, 3)])
def test_good_batches_pass(codec: int, value_size: int, count: int) -> None:
    check(build_batch(_records(value_size, count), compression=codec))


@pytest.mark.parametrize("codec", [GZIP, SNAPPY, LZ4, ZSTD])
def test_record_larger_than_a_walk_step_and_chunks(codec: int) -> None:
    """A record spanning many decompressed chunks is gathered, then walked once."""
    batch = reframe(compress(codec, huge_value_record(3 * CHUNK_SIZE + 17)), codec=codec, count=1)
    check(batch)
    assert error_of(batch, max_bytes=3 * CHUNK_SIZE) == ErrorCode.MESSAGE_TOO_LARGE


@pytest.mark.parametrize("codec", [GZIP, SNAPPY, LZ4, ZSTD])
def test_bomb_is_refused_at_the_bound_with_little_memory(codec: int) -> None:
    """64 MiB of zeros in one record, bound 1 MiB: refused after ~the bound's work, not the bomb's."""
    section = compress(codec, huge_value_record(64 * MIB))
    batch = reframe(section, codec=codec, count=1)
    peak = refused_peak_memory(batch, MIB)
    assert peak < 16 * MIB, peak


def test_zstd_bomb_of_a_gibibyte() -> None:
    batch = zstd_bomb(1 << 30)
    assert len(batch) < 64 * 1024
    peak = refused_peak_memory(batch, 4 * MIB)
    assert peak < 16 * MIB, peak


def test_zstd_bomb_of_many_records_is_walked_up_to_the_bound() -> None:
    batch = zstd_bomb(MIB, records=300)
    check(batch, max_bytes=400 * MIB)
    peak = refused_peak_memory(batch, 20 * MIB)
    assert peak < 16 * MIB, peak


def test_zeros_bomb_fails_at_its_first_record_without_the_bound() -> None:
    """Kafka streams record by record, so 1 GiB of zeros is a zero-length first record: INVALID_RECORD."""
    section = compress(GZIP, bytes(64 * MIB))
    assert error_of(reframe(section, codec=GZIP, count=1), max_bytes=1 << 40) == ErrorCode.INVALID_RECORD


@pytest.mark.parametrize("codec", [GZIP, SNAPPY, LZ4, ZSTD])
def test_decompress_chunks_stay_small(codec: int) -> None:
    chunk_bound = {GZIP: CHUNK_SIZE, LZ4: CHUNK_SIZE, ZSTD: CHUNK_SIZE, SNAPPY: CHUNK_SIZE}[codec]
    data = bytes(32 * MIB)
    compressed = compress(codec, data)
    sizes = [len(chunk) for chunk in iter_decompress(codec, compressed)]
    assert sum(sizes) == len(data)
    assert max(sizes) <= chunk_bound


@pytest.mark.parametrize("codec", [GZIP, SNAPPY, LZ4, ZSTD])
def test_decompress_with_a_bound(codec: int) -> None:
    compressed = compress(codec, bytes(4 * MIB))
    assert decompress(codec, compressed, max_bytes=4 * MIB) == bytes(4 * MIB)
    with pytest.raises(KafkaError) as error:
        decompress(codec, compressed, max_bytes=MIB)
    assert error.value.code == ErrorCode.MESSAGE_TOO_LARGE


def test_snappy_block_claiming_more_than_it_can_hold() -> None:
    block = bytearray(cramjam.snappy.compress_raw(b"x" * 100))
    block[:1] = b"\xff\xff\xff\x7f"  # claims ~256 MiB in a few bytes
    with pytest.raises(KafkaError) as error:
        decompress(SNAPPY, bytes(block))
    assert error.value.code == ErrorCode.CORRUPT_MESSAGE


def test_concatenated_frames_and_members() -> None:
    section = build_batch(_records(10, 6))[61:]
    half = len(section) // 2
    for codec, joined in [
        (GZIP, gzip.compress(section[:half]) + gzip.compress(section[half:])),
        (LZ4, lz4.frame.compress(section[:half]) + lz4.frame.compress(section[half:])),
        (ZSTD, compress(ZSTD, section[:half]) + compress(ZSTD, section[half:])),
    ]:
        check(reframe(joined, codec=codec, count=6))


@pytest.mark.parametrize("value_size", [1, 50, 1024, 9000])
def test_records_of_one_size_and_a_changed_length(value_size: int) -> None:
    """Fixed-size records pass by strided comparison; one changed length falls back to the walk and fails."""
    batch = build_batch([(None, bytes(value_size), [], 1_700_000_000_000)] * 20)
    check(batch)
    first = 61
    stride = len(batch[first:]) // 20
    corrupt = bytearray(batch[first:])
    corrupt[stride] += 2  # the second record claims one byte more (zigzag +2)
    assert error_of(reframe(bytes(corrupt), count=20)) == ErrorCode.INVALID_RECORD
    assert error_of(reframe(batch[first:], count=21)) == ErrorCode.INVALID_RECORD


@pytest.mark.parametrize(
    "params", [{}, {"write_checksum": True}, {"write_content_size": False}], ids=["size", "checksum", "no-size"]
)
def test_zstd_frames_cut_anywhere_are_corrupt(params: dict) -> None:
    """zstandard's stream reader ends quietly at a cut frame: the block walk must notice every cut."""
    data = os.urandom(3000) + bytes(300_000)
    frame = zstandard.ZstdCompressor(**params).compress(data)
    skippable = struct.pack("<II", 0x184D2A53, 3) + b"abc"
    assert decompress(ZSTD, skippable + frame + frame) == data + data
    for cut in range(1, len(frame)):
        with pytest.raises(KafkaError) as error:
            decompress(ZSTD, frame[:cut])
        assert error.value.code == ErrorCode.CORRUPT_MESSAGE, cut


@pytest.mark.parametrize("count", [2, 63, 64, 65, 200, 8191, 8192, 8300])
def test_runs_of_one_size_across_offset_delta_widths(count: int) -> None:
    """Offset deltas widen at 64 and 8192: each run is skipped, then the batch's end and count checked."""
    batch = build_batch([(None, b"v", [], 1_700_000_000_000)] * count)
    check(batch)
    section = batch[61:]
    assert error_of(reframe(section, count=count + 1)) == ErrorCode.INVALID_RECORD
    assert error_of(reframe(section[:-1], count=count)) == ErrorCode.INVALID_RECORD
    assert error_of(reframe(section + section[-10:], count=count)) == ErrorCode.INVALID_RECORD


def _outcome(batch: bytes) -> ErrorCode | None:
    try:
        check(batch)
    except KafkaError as exc:
        return exc.code
    return None


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(2, 140),
    key=st.one_of(st.none(), st.binary(max_size=3)),
    value_size=st.sampled_from([0, 5, 100, 1000]),
    timestamp_step=st.sampled_from([0, 1, 70]),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 15), st.integers(1, 255)), max_size=3),
    codec=st.sampled_from([CompressionType.NONE, CompressionType.LZ4]),
)
def test_runs_decide_exactly_as_the_record_by_record_walk(
    count: int, key: bytes | None, value_size: int, timestamp_step: int, flips: list, codec: int
) -> None:
    """The strided-slice runs (_skip_run, _skip_record_run) accept and refuse what the plain walk does."""
    records = [(key, bytes(value_size), [], 1_700_000_000_000 + i * timestamp_step) for i in range(count)]
    section = bytearray(build_batch(records)[61:])
    starts = []
    pos = 0
    while pos < len(section):
        starts.append(pos)
        length, pos = decode_varint(section, pos)
        pos += length
    for record, at, mask in flips:
        # Mostly the fields before the key (what the runs compare), else anywhere.
        where = starts[record % count] + at if at < 14 else record
        section[where % len(section)] ^= mask
    data = bytes(section)
    batch = reframe(data, count=count) if codec == CompressionType.NONE else compressed(codec, data, count=count)
    with_runs = _outcome(batch)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records_module, "_skip_run", lambda data, pos, end, walked, count: (pos, walked))
        patch.setattr(records_module, "_skip_record_run", lambda data, end, walked, count: (0, walked))
        assert _outcome(batch) == with_runs
    if not flips:
        assert with_runs is None


@pytest.mark.parametrize("codec", [CompressionType.NONE, CompressionType.LZ4])
def test_every_record_claiming_a_header_it_does_not_hold(codec: int) -> None:
    """A run of identical records, each with header count 1 and no header bytes: INVALID_RECORD."""
    section = b"".join(one_record(b"\x00\x00" + encode_varint(i) + b"\x01\x00\x02") for i in range(10))
    batch = reframe(section, count=10) if codec == CompressionType.NONE else compressed(codec, section, count=10)
    expected = ErrorCode.INVALID_RECORD if codec else None  # uncompressed: only the length chain is walked
    assert _outcome(batch) == expected
