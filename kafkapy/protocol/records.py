"""Record batches (magic v2) as Kafka stores and sends them.

The broker treats a batch as bytes: it reads the fixed 61-byte header, checks the CRC32C and
rewrites the base offset in place. On produce it also walks the records without decoding them
(check_records: an uncompressed batch's length chain, every field of a compressed batch's
records as they inflate); records are decoded into objects only by tools, tests, the cleaner and
topics that recompress or check keys.
Layout (Kafka's DefaultRecordBatch):

    baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 | crc uint32 |
    attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 |
    producerId int64 | producerEpoch int16 | baseSequence int32 | recordsCount int32 | records...

batchLength counts the bytes after the batchLength field; the CRC covers attributes..end.

Each record inside the (possibly compressed) records section is varint/zigzag encoded:

    length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
    keyLength varint | key | valueLength varint | value | headerCount varint | headers...

with each header as keyLength varint | utf8 key | valueLength varint | value; -1 means null.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, Protocol

import crc32c

from kafkapy.protocol.compression import (
    CHUNK_SIZE,
    CompressionType,
    compress,
    decompress,
    iter_decompress,
    too_large,
)
from kafkapy.protocol.errors import ErrorCode, KafkaError

HEADER_SIZE = 61
# Bytes before batchLength's coverage starts: baseOffset + batchLength.
LOG_OVERHEAD = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35
PARTITION_LEADER_EPOCH_OFFSET = 12
BASE_OFFSET_OFFSET = 0
BATCH_LENGTH_OFFSET = 8
# Bytes needed to read a message set's magic byte; the same offset in every format.
HEADER_SIZE_UP_TO_MAGIC = MAGIC_OFFSET + 1
CURRENT_MAGIC = 2

_HEADER = struct.Struct(">qiibIhiqqqhii")

# Attribute bits.
COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08  # 1 = LogAppendTime
TRANSACTIONAL_FLAG = 0x10
CONTROL_FLAG = 0x20
DELETE_HORIZON_FLAG = 0x40

NO_PRODUCER_ID = -1
NO_TIMESTAMP = -1


class BatchHeader(NamedTuple):
    """The fixed-size header of a v2 record batch."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        """Total bytes of the batch on disk and on the wire."""
        return LOG_OVERHEAD + self.batch_length

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_FLAG)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_FLAG)

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_MASK)


def parse_batch_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Read the batch header at ``pos``; the caller guarantees HEADER_SIZE bytes are there."""
    return BatchHeader._make(_HEADER.unpack_from(buf, pos))


Buffer = bytes | bytearray | memoryview
Header = tuple[str, bytes | None]

_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")
_CONTROL_KEY = struct.Struct(">hh")
# An end transaction marker's value: version int16, coordinatorEpoch int32.
END_TXN_MARKER_VALUE = struct.Struct(">hi")

MAX_CODEC = max(CompressionType)

# Control record types (org.apache.kafka.common.record.ControlRecordType).
CONTROL_ABORT = 0
CONTROL_COMMIT = 1


class Record(NamedTuple):
    """One decoded record, with its absolute offset and effective timestamp."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[Header]


class RecordLike(Protocol):
    """Anything with a record's payload fields, such as a decoded ``Record``."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> list[Header]: ...

    @property
    def timestamp(self) -> int | None: ...


# (key, value, headers, timestamp); a None timestamp means "now".
RecordTuple = tuple[bytes | None, bytes | None, list[Header], int | None]


# Varints: Kafka's varint and varlong are both zigzag-encoded base-128 varints.

_SMALL_UNSIGNED_VARINTS = [bytes((i,)) for i in range(0x80)]


def encode_unsigned_varint(value: int) -> bytes:
    """Encode a non-negative int as a base-128 varint, seven bits per byte, low bits first."""
    if value < 0x80:
        return _SMALL_UNSIGNED_VARINTS[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_varint(value: int) -> bytes:
    """Encode a signed int64 with zigzag, so that small negative numbers stay short."""
    return encode_unsigned_varint((value << 1) ^ (value >> 63))


def decode_unsigned_varint(buf: Buffer, pos: int = 0) -> tuple[int, int]:
    """Read an unsigned varint at ``pos``; return the value and the position after it."""
    try:
        byte = buf[pos]
        if byte < 0x80:
            return byte, pos + 1
        value = byte & 0x7F
        shift = 7
        while True:
            pos += 1
            byte = buf[pos]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, pos + 1
            shift += 7
            if shift > 63:
                raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "varint longer than 10 bytes")
    except IndexError:
        raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "truncated varint") from None


def decode_varint(buf: Buffer, pos: int = 0) -> tuple[int, int]:
    """Read a zigzag varint (Kafka varint or varlong) at ``pos``; return value and next position."""
    raw, pos = decode_unsigned_varint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def _corrupt(message: str) -> KafkaError:
    return KafkaError(ErrorCode.CORRUPT_MESSAGE, message)


def _magic_error(magic: int, pos: int) -> KafkaError:
    if magic in (0, 1):
        return KafkaError(
            ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
            f"message set with magic {magic} at byte {pos}; only v2 record batches are supported",
        )
    return _corrupt(f"unknown magic {magic} at byte {pos}")


def validate_batches(buf: Buffer, *, compacted: bool = False) -> list[BatchHeader]:
    """Check the record batches of one partition's produce data and return their headers.

    This is the produce hot path: it checks framing, magic, CRC32C and the offset/count
    invariants without decompressing or decoding records. ``compacted`` relaxes the rule that
    offsets are dense (lastOffsetDelta == recordsCount - 1), which only holds for fresh batches.
    Raises KafkaError with CORRUPT_MESSAGE, UNSUPPORTED_FOR_MESSAGE_FORMAT, INVALID_RECORD or
    UNSUPPORTED_COMPRESSION_TYPE.
    """
    headers: list[BatchHeader] = []
    with memoryview(buf) as view:
        end = len(view)
        if end == 0:
            raise _corrupt("empty record set")
        pos = 0
        while pos < end:
            remaining = end - pos
            # Legacy message sets put magic at the same offset, so check it before the v2 layout.
            if remaining < HEADER_SIZE_UP_TO_MAGIC:
                raise _corrupt(f"truncated batch at byte {pos}")
            magic = view[pos + MAGIC_OFFSET]
            if magic != CURRENT_MAGIC:
                raise _magic_error(magic, pos)
            if remaining < HEADER_SIZE:
                raise _corrupt(f"truncated batch header at byte {pos}")
            header = parse_batch_header(view, pos)
            batch_length = header.batch_length
            if batch_length < HEADER_SIZE - LOG_OVERHEAD:
                raise _corrupt(f"batch length {batch_length} at byte {pos} is smaller than a header")
            if batch_length > remaining - LOG_OVERHEAD:
                raise _corrupt(f"batch length {batch_length} at byte {pos} runs past the end of the data")
            batch_end = pos + LOG_OVERHEAD + batch_length
            if crc32c.crc32c(view[pos + ATTRIBUTES_OFFSET : batch_end]) != header.crc:
                raise _corrupt(f"CRC mismatch in batch at byte {pos}")
            count = header.records_count
            if count < 0:
                raise _corrupt(f"negative records count {count} at byte {pos}")
            if compacted:
                if header.last_offset_delta < count - 1:
                    raise KafkaError(ErrorCode.INVALID_RECORD, f"batch at byte {pos} has too few offsets")
            elif count == 0 or header.last_offset_delta != count - 1:
                raise KafkaError(
                    ErrorCode.INVALID_RECORD,
                    f"batch at byte {pos} has {count} records but lastOffsetDelta {header.last_offset_delta}",
                )
            if header.attributes & COMPRESSION_MASK > MAX_CODEC:
                raise KafkaError(
                    ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                    f"compression codec {header.attributes & COMPRESSION_MASK} at byte {pos}",
                )
            headers.append(header)
            pos = batch_end
    return headers


# The smallest record body: attributes, timestampDelta, offsetDelta, keyLength, valueLength and
# headerCount of one byte each; as a zigzag varint, twice that.
_MIN_RECORD_ZIGZAG = 12
# Decompressed bytes walked at a time (unless a record is larger): one chunk, see CHUNK_SIZE.
_WALK_STEP = CHUNK_SIZE
# The varints after the timestamp delta: the offset delta, then the key's and value's lengths.
_DELTA_KEY_VALUE = (False, True, True)
_KEY_AND_VALUE = ("key", "value")
# Offset deltas 0..8191 as zigzag varint bytes: one byte below 64, else a low and a high byte.
_DELTAS_ONE_BYTE = bytes(range(0, 128, 2))
_DELTAS_LOW_BYTE = bytes((delta << 1) & 0x7F | 0x80 for delta in range(8192))
_DELTAS_HIGH_BYTE = bytes((delta << 1) >> 7 for delta in range(8192))
# Maps bytes with the varint continuation bit to ASCII, so bytes.isascii checks a column of them.
_FLIP_HIGH_BIT = bytes(byte ^ 0x80 for byte in range(256))


def _invalid(message: str) -> KafkaError:
    """Kafka's InvalidRecordException: the batch's framing is fine but its records are not."""
    return KafkaError(ErrorCode.INVALID_RECORD, message)


def check_records(buf: Buffer, headers: Sequence[BatchHeader], *, max_uncompressed_bytes: int) -> None:
    """Walk the records of validated batches as Kafka's LogValidator does, without decoding them.

    validate_batches checked each batch's header and CRC; this checks what the CRC cannot: that
    the records section holds exactly recordsCount well-framed records. Uncompressed batches get
    their record length chain walked (a loop over bytes: the produce hot path). Compressed ones
    are inflated chunk by chunk and every record is walked field by field, with offset deltas
    0..n-1 in order (Kafka 4.3.1 cannot renumber them: it fails such a batch with
    UNKNOWN_SERVER_ERROR). More than ``max_uncompressed_bytes`` of inflated records raise
    MESSAGE_TOO_LARGE; bad records INVALID_RECORD, as Kafka answers; undecodable compressed
    data UndecodableRecords (CORRUPT_MESSAGE; Produce answers UNKNOWN_SERVER_ERROR, as Kafka 4.3.1).
    """
    pos = 0
    with memoryview(buf) as view:
        for header in headers:
            end = pos + header.size
            if header.compression:
                _check_compressed_records(header, view[pos + HEADER_SIZE : end], max_uncompressed_bytes)
            else:
                _check_record_lengths(view, pos + HEADER_SIZE, end, header.records_count)
            pos = end


def _check_record_lengths(data: Buffer, pos: int, end: int, count: int) -> None:
    """An uncompressed records section is exactly ``count`` records, going by their length varints."""
    walked = 0
    # Offset deltas widen at 64 and 8192, so a batch of fixed-size records is three runs at most.
    for _ in range(3):
        pos, walked = _skip_run(data, pos, end, walked, count)
    try:
        while pos < end:
            raw = data[pos]
            if raw > 0x7F:
                # Records of 64 bytes to 8 KiB have a two-byte length: kept off the slow path.
                second = data[pos + 1]
                if second > 0x7F:
                    raw, pos = _read_uvarint(data, pos)
                else:
                    raw = (raw & 0x7F) | (second << 7)
                    pos += 2
            else:
                pos += 1
            if raw & 1 or raw < _MIN_RECORD_ZIGZAG:
                raise _invalid(f"invalid record size {(raw >> 1) ^ -(raw & 1)} at record {walked}")
            pos += raw >> 1
            walked += 1
    except IndexError:
        raise _invalid("truncated record length") from None
    if pos > end:
        raise _invalid(f"record {walked - 1} runs {pos - end} bytes past the end of the batch")
    if walked != count:
        raise _invalid(f"batch declares {count} records but holds {walked}")


def _skip_run(data: Buffer, pos: int, end: int, walked: int, count: int) -> tuple[int, int]:
    """Skip the records from ``pos`` on as long as the first, up to the offset delta's next widening.

    Strided slices (C speed) check that every record of the run starts with the first's length
    varint, which chains them exactly as the record by record walk would; fixed-size records
    (fixed encodings, load tests) pass in microseconds. Returns the position and records walked
    after the run, or the arguments unchanged when there is no run (varied sizes: walked one by one).
    """
    try:
        raw, body = _read_uvarint(data, pos)
    except IndexError:
        return pos, walked
    if raw & 1 or raw < _MIN_RECORD_ZIGZAG:
        return pos, walked
    width = body - pos
    stride = width + (raw >> 1)
    limit = 64 if walked < 64 else 8192 if walked < 8192 else count
    run = min(limit, count) - walked
    run = min(run, (end - pos) // stride)
    run_end = pos + run * stride
    if run < 2 or any(data[at:run_end:stride] != bytes((data[at],)) * run for at in range(pos, pos + width)):
        return pos, walked
    return run_end, walked + run


def _read_uvarint(data: Buffer, pos: int) -> tuple[int, int]:
    """A varint of up to 10 bytes at ``pos``; IndexError if ``data`` ends first."""
    value = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _invalid("varint longer than 10 bytes")


def _check_compressed_records(header: BatchHeader, section: memoryview, max_bytes: int) -> None:
    """Inflate a compressed records section step by step, walking each step's whole records.

    Only the records not yet whole are kept between steps, so memory follows the largest record,
    not the batch; the inflated total is bounded by ``max_bytes``.
    """
    count = header.records_count
    window = b""
    walked = 0
    # Bytes the window must hold before the next walk can finish a record.
    need = _WALK_STEP
    # Inflated bytes before the window's start, and in all.
    consumed = 0
    total = 0
    pending: list[bytes] = []
    pending_size = 0
    chunks = iter_decompress(header.compression, section)
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise too_large(max_bytes)
        pending.append(chunk)
        pending_size += len(chunk)
        if len(window) + pending_size < need:
            continue
        window = b"".join([window, *pending]) if window or len(pending) > 1 else pending[0]
        pending.clear()
        pending_size = 0
        if walked == count:
            break
        pos, walked, record_size = _walk_records(window, walked, count)
        window = window[pos:]
        consumed += pos
        if consumed + record_size > max_bytes:
            # Refused on the record's word, before inflating what it claims.
            raise too_large(max_bytes)
        need = max(_WALK_STEP, record_size)
    if pending:
        window = b"".join([window, *pending]) if window or len(pending) > 1 else pending[0]
        pos, walked, _ = _walk_records(window, walked, count)
        window = window[pos:]
    if walked < count:
        raise _invalid(f"batch declares {count} records but its data ends after {walked}")
    if window or next(chunks, b""):
        raise _invalid(f"data left after the batch's {count} records")


def _walk_records(data: bytes, walked: int, count: int) -> tuple[int, int, int]:
    """Walk the whole records at the start of ``data``, the ``walked``-th one first.

    Returns the position after the last whole record, the records walked so far and the size of
    the next, partial record (0 if not known yet). Checks each record's fields as Kafka's
    DefaultRecord.readFrom does, skipping keys, values and headers. Varints of one and two bytes
    (offset deltas below 8192, lengths below 8 KiB) are read inline: this loop is the CPU cost
    of a compressed produce.
    """
    end = len(data)
    pos, walked = _skip_record_run(data, end, walked, count)
    record_size = 0
    while walked < count:
        try:
            raw = data[pos]
            if raw < 0x80:
                body = pos + 1
            else:
                raw, body = _read_uvarint(data, pos)
        except IndexError:
            break
        if raw & 1 or raw < _MIN_RECORD_ZIGZAG:
            raise _invalid(f"invalid record size {(raw >> 1) ^ -(raw & 1)} at record {walked}")
        record_end = body + (raw >> 1)
        if record_end > end:
            record_size = record_end - pos
            break
        try:
            p = body + 2  # attributes and the timestampDelta's first byte
            while data[p - 1] > 0x7F:
                p += 1
            for is_length in _DELTA_KEY_VALUE:
                raw = data[p]
                if raw < 0x80:
                    p += 1
                elif data[p + 1] < 0x80:
                    raw = (raw & 0x7F) | (data[p + 1] << 7)
                    p += 2
                else:
                    raw, p = _read_uvarint(data, p)
                if is_length:
                    if not raw & 1:  # a negative length (odd zigzag) is null
                        p += raw >> 1
                elif raw != walked << 1:
                    raise _invalid(f"record {walked} has offset delta {(raw >> 1) ^ -(raw & 1)}")
            raw = data[p]
            p += 1
            if raw:
                p = _walk_headers(data, p - 1, record_end, walked)
        except IndexError:
            p = -1
        if p != record_end:
            raise _invalid(f"record {walked} is {record_end - body} bytes but its fields do not fill it")
        pos = record_end
        walked += 1
    return pos, walked, record_size


def _offset_delta_bytes(first: int, run: int) -> list[bytes]:
    """The varint bytes of offset deltas ``first``..``first + run - 1``, one bytes object per byte of the varint."""
    if first + run <= 64:
        return [_DELTAS_ONE_BYTE[first : first + run]]
    return [_DELTAS_LOW_BYTE[first : first + run], _DELTAS_HIGH_BYTE[first : first + run]]


def _skip_record_run(data: bytes, end: int, walked: int, count: int) -> tuple[int, int]:
    """Skip the whole records at the start of ``data`` laid out like the first one; (position, walked).

    Records of one size whose length, key length, value length and header count (0) varints are
    the first record's bytes, whose timestamp deltas have the first's width and whose offset deltas
    count on from ``walked``, are each as valid as the first: strided slices (C speed) compare
    those bytes across the run. Runs stop where offset deltas widen (64, 8192); any mismatch
    leaves the records to the record by record walk. Fixed-size records (fixed encodings, load
    tests) cost a few microseconds per chunk instead of a walk each.
    """
    try:
        raw, body = _read_uvarint(data, 0)
        stride = body + (raw >> 1)
        limit = 64 if walked < 64 else 8192
        run = min(limit, count) - walked
        run = min(run, end // stride)
        if raw & 1 or raw < _MIN_RECORD_ZIGZAG or run < 2:
            return 0, walked
        p = body + 1  # attributes
        timestamp_start = p
        while data[p] > 0x7F:
            p += 1
        timestamp_last = p
        delta_start = p + 1
        p = delta_start + (1 if walked + run <= 64 else 2)
        same = list(range(body))  # the length varint
        for _ in _KEY_AND_VALUE:
            length_start = p
            raw, p = _read_uvarint(data, p)
            same.extend(range(length_start, p))
            if not raw & 1:
                p += raw >> 1
        if p != stride - 1 or data[p]:  # the header count must be 0 and end the record
            return 0, walked
        same.append(p)
    except (IndexError, KafkaError):
        return 0, walked
    run_end = run * stride
    if any(data[at:run_end:stride] != bytes((data[at],)) * run for at in same):
        return 0, walked
    if not data[timestamp_last:run_end:stride].isascii() or not all(
        data[at:run_end:stride].translate(_FLIP_HIGH_BIT).isascii() for at in range(timestamp_start, timestamp_last)
    ):
        return 0, walked
    expected = _offset_delta_bytes(walked, run)
    if any(data[delta_start + i : run_end : stride] != column for i, column in enumerate(expected)):
        return 0, walked
    return run_end, walked + run


def _walk_headers(data: bytes, pos: int, record_end: int, walked: int) -> int:
    """Skip a record's header count and headers at ``pos``; the position after them."""
    raw, pos = _read_uvarint(data, pos)
    if raw & 1 or raw >> 1 > record_end - pos:
        raise _invalid(f"invalid number of record headers {(raw >> 1) ^ -(raw & 1)} in record {walked}")
    for _ in range(raw >> 1):
        raw, pos = _read_uvarint(data, pos)
        if raw & 1:
            raise _invalid(f"negative header key length in record {walked}")
        raw, pos = _read_uvarint(data, pos + (raw >> 1))
        if not raw & 1:
            pos += raw >> 1
    return pos


def assign_offsets(
    buf: bytearray | memoryview,
    headers: Iterable[BatchHeader],
    base_offset: int,
    *,
    partition_leader_epoch: int = 0,
    log_append_time_ms: int | None = None,
) -> int:
    """Stamp validated batches in place with log offsets, as the leader does on append.

    ``headers`` are those validate_batches returned for ``buf``. baseOffset and
    partitionLeaderEpoch lie outside the CRC, so only LogAppendTime (which rewrites the
    timestamp type and maxTimestamp) needs the CRC recomputed. Returns the next offset.
    """
    pos = 0
    offset = base_offset
    for header in headers:
        _INT64.pack_into(buf, pos + BASE_OFFSET_OFFSET, offset)
        _INT32.pack_into(buf, pos + PARTITION_LEADER_EPOCH_OFFSET, partition_leader_epoch)
        batch_end = pos + header.size
        if log_append_time_ms is not None:
            _INT16.pack_into(buf, pos + ATTRIBUTES_OFFSET, header.attributes | TIMESTAMP_TYPE_MASK)
            _INT64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, log_append_time_ms)
            with memoryview(buf) as view:
                crc = crc32c.crc32c(view[pos + ATTRIBUTES_OFFSET : batch_end])
            _UINT32.pack_into(buf, pos + CRC_OFFSET, crc)
        offset += header.last_offset_delta + 1
        pos = batch_end
    return offset


def decode_records(buf: Buffer) -> Iterator[tuple[BatchHeader, list[Record]]]:
    """Walk the batches in ``buf``, decompress them and decode every record.

    For tools and tests, not the broker's hot path; CRCs are not checked (see
    validate_batches). Control batches are decoded like any other: their records carry the
    control key (version int16, type int16). A partial batch at the end is ignored, because
    fetch responses may cut the last batch short.
    """
    for header, data in _record_sections(buf):
        yield header, _decode_record_set(data, header)


def iter_records(buf: Buffer) -> Iterator[Record]:
    """decode_records' records one at a time, so a batch of 10^6 tiny records is never held decoded."""
    for header, data in _record_sections(buf):
        yield from iter_record_set(data, header)


def _record_sections(buf: Buffer) -> Iterator[tuple[BatchHeader, bytes]]:
    """Each whole batch's header and its decompressed records section."""
    with memoryview(buf) as view:
        end = len(view)
        pos = 0
        while end - pos >= HEADER_SIZE_UP_TO_MAGIC:
            magic = view[pos + MAGIC_OFFSET]
            if magic != CURRENT_MAGIC:
                raise _magic_error(magic, pos)
            if end - pos < HEADER_SIZE:
                return
            header = parse_batch_header(view, pos)
            if header.batch_length < HEADER_SIZE - LOG_OVERHEAD:
                raise _corrupt(f"batch length {header.batch_length} at byte {pos} is smaller than a header")
            batch_end = pos + header.size
            if batch_end > end:
                return
            yield header, decompress(header.compression, view[pos + HEADER_SIZE : batch_end])
            pos = batch_end


def _decode_record_set(data: bytes, header: BatchHeader) -> list[Record]:
    """Decode ``header.records_count`` records from a batch's uncompressed records section."""
    return list(iter_record_set(data, header))


def iter_record_set(data: bytes, header: BatchHeader) -> Iterator[Record]:
    """Yield the records of a batch's uncompressed records section one at a time.

    A million tiny records fit in a 1 MiB compressed batch and cost ~500 bytes each as Python
    objects: the broker walks them this way, so what it holds follows the inflated bytes.
    """
    read = decode_varint
    end = len(data)
    base_offset = header.base_offset
    base_timestamp = header.base_timestamp
    # With LogAppendTime every record takes the broker's append time, stored as maxTimestamp.
    append_time = header.max_timestamp if header.log_append_time else None
    pos = 0
    try:
        for _ in range(header.records_count):
            length, pos = read(data, pos)
            record_end = pos + length
            if length < 0 or record_end > end:
                raise _corrupt(f"record length {length} runs past the end of the batch")
            pos += 1  # attributes: unused in v2
            timestamp_delta, pos = read(data, pos)
            offset_delta, pos = read(data, pos)
            key_length, pos = read(data, pos)
            key = None
            if key_length >= 0:
                key = data[pos : pos + key_length]
                pos += key_length
            value_length, pos = read(data, pos)
            value = None
            if value_length >= 0:
                value = data[pos : pos + value_length]
                pos += value_length
            header_count, pos = read(data, pos)
            if header_count < 0:
                raise _corrupt(f"negative header count {header_count}")
            record_headers: list[Header] = []
            for _ in range(header_count):
                header_key_length, pos = read(data, pos)
                if header_key_length < 0:
                    raise _corrupt("null header key")
                header_key = data[pos : pos + header_key_length].decode("utf-8")
                pos += header_key_length
                header_value_length, pos = read(data, pos)
                header_value = None
                if header_value_length >= 0:
                    header_value = data[pos : pos + header_value_length]
                    pos += header_value_length
                record_headers.append((header_key, header_value))
            if pos != record_end:
                raise _corrupt(f"record at offset delta {offset_delta} does not match its length")
            yield Record(
                base_offset + offset_delta,
                base_timestamp + timestamp_delta if append_time is None else append_time,
                key,
                value,
                record_headers,
            )
    except UnicodeDecodeError as exc:
        raise _corrupt(f"header key is not UTF-8: {exc}") from None
    if pos != end:
        raise _corrupt(f"{end - pos} bytes left after {header.records_count} records")


def recompress_batch(batch: Buffer, header: BatchHeader, section: bytes, codec: int, max_timestamp: int) -> bytes:
    """``batch`` with its uncompressed records ``section`` compressed by ``codec`` (0: none), CRC renewed.

    The records keep their bytes, so only records with offset deltas 0..n-1 may be moved this
    way (a compressed batch's inner offsets must be those); ``max_timestamp`` is the records'
    newest timestamp, which a rebuilt batch states as Kafka's LogValidator does.
    """
    records = compress(codec, section) if codec else section
    out = bytearray(batch[:HEADER_SIZE])
    out += records
    attributes = header.attributes & ~COMPRESSION_MASK | codec
    _INT32.pack_into(out, BATCH_LENGTH_OFFSET, len(out) - LOG_OVERHEAD)
    _INT16.pack_into(out, ATTRIBUTES_OFFSET, attributes)
    _INT64.pack_into(out, MAX_TIMESTAMP_OFFSET, max_timestamp)
    with memoryview(out) as view:
        crc = crc32c.crc32c(view[ATTRIBUTES_OFFSET:])
    _UINT32.pack_into(out, CRC_OFFSET, crc)
    return bytes(out)


def _record_fields(record: RecordTuple | RecordLike) -> RecordTuple:
    if hasattr(record, "key"):
        return record.key, record.value, record.headers, record.timestamp
    return record


def build_batch(
    records: Iterable[RecordTuple | RecordLike],
    *,
    base_offset: int = 0,
    compression: int = 0,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    control: bool = False,
    partition_leader_epoch: int = 0,
    log_append_time: bool = False,
    offset_deltas: Sequence[int] | None = None,
    last_offset_delta: int | None = None,
    delete_horizon_ms: int | None = None,
) -> bytes:
    """Encode a complete v2 record batch with a valid CRC32C.

    ``records`` are (key, value, headers, timestamp) tuples or Record-like objects; a None
    timestamp means now. Offset deltas follow list order unless ``offset_deltas`` gives them, and
    ``last_offset_delta`` may reach past the last record: the log cleaner keeps a compacted batch's
    offsets this way, and writes batches with no records at all to keep a producer's last sequence.
    ``delete_horizon_ms`` sets the delete horizon flag and stores the horizon as the base timestamp
    (KIP-534). Compression is always applied when asked for, as the Java producer does.
    """
    fields = [_record_fields(record) for record in records]
    if not fields and last_offset_delta is None:
        raise ValueError("a record batch needs at least one record")
    now_ms = int(time.time() * 1000)
    timestamps = [now_ms if timestamp is None else timestamp for _, _, _, timestamp in fields]
    base_timestamp = timestamps[0] if timestamps else NO_TIMESTAMP
    if delete_horizon_ms is not None:
        base_timestamp = delete_horizon_ms
    deltas = range(len(fields)) if offset_deltas is None else offset_deltas
    body = bytearray()
    for offset_delta, (key, value, record_headers, _), timestamp in zip(deltas, fields, timestamps, strict=True):
        record = bytearray(b"\x00")  # attributes
        record += encode_varint(timestamp - base_timestamp)
        record += encode_varint(offset_delta)
        _append_bytes(record, key)
        _append_bytes(record, value)
        record += encode_varint(len(record_headers))
        for header_key, header_value in record_headers:
            _append_bytes(record, header_key.encode("utf-8"))
            _append_bytes(record, header_value)
        body += encode_varint(len(record))
        body += record
    section = compress(compression, body) if compression and fields else body
    attributes = (compression if fields else 0) & COMPRESSION_MASK
    if delete_horizon_ms is not None:
        attributes |= DELETE_HORIZON_FLAG
    if log_append_time:
        attributes |= TIMESTAMP_TYPE_MASK
    if transactional:
        attributes |= TRANSACTIONAL_FLAG
    if control:
        attributes |= CONTROL_FLAG
    batch = bytearray(HEADER_SIZE)
    _HEADER.pack_into(
        batch,
        0,
        base_offset,
        HEADER_SIZE - LOG_OVERHEAD + len(section),
        partition_leader_epoch,
        CURRENT_MAGIC,
        0,
        attributes,
        len(fields) - 1 if last_offset_delta is None else last_offset_delta,
        base_timestamp,
        max(timestamps, default=NO_TIMESTAMP),
        producer_id,
        producer_epoch,
        base_sequence,
        len(fields),
    )
    batch += section
    with memoryview(batch) as view:
        crc = crc32c.crc32c(view[ATTRIBUTES_OFFSET:])
    _UINT32.pack_into(batch, CRC_OFFSET, crc)
    return bytes(batch)


def _append_bytes(out: bytearray, data: bytes | None) -> None:
    """Append a varint length and the bytes, or length -1 for null."""
    if data is None:
        out += b"\x01"  # zigzag(-1)
    else:
        out += encode_varint(len(data))
        out += data


def build_end_txn_marker(
    commit: bool,
    *,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    base_offset: int = 0,
    partition_leader_epoch: int = 0,
    timestamp: int | None = None,
) -> bytes:
    """Build the control batch that commits or aborts a transaction on one partition.

    Mirrors Java's MemoryRecords.withEndTransactionMarker: one control record whose key is
    (version 0, type) and whose value is (version 0, coordinatorEpoch).
    """
    key = _CONTROL_KEY.pack(0, CONTROL_COMMIT if commit else CONTROL_ABORT)
    value = END_TXN_MARKER_VALUE.pack(0, coordinator_epoch)
    return build_batch(
        [(key, value, [], timestamp)],
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        transactional=True,
        control=True,
        partition_leader_epoch=partition_leader_epoch,
    )


def parse_control_key(key: bytes | None) -> tuple[int, int]:
    """Return (version, control type) from a control record's key."""
    if key is None or len(key) < _CONTROL_KEY.size:
        raise _corrupt("control record key is too short")
    return _CONTROL_KEY.unpack_from(key)
