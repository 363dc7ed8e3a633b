"""Primitive readers for Kafka's variable-length types, called from the compiled construct code.

construct's compiled parsers receive a file-like ``io``; these helpers read one value from it.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO
from uuid import UUID

from construct import ConstructError, StreamError

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


class NullValueError(ConstructError):
    """A null where the schema does not allow one (Kafka's SchemaException "non-nullable field ... was
    serialized as null"): the request cannot be handled, so it is rejected as it is parsed."""


def null_value(field: str) -> NullValueError:
    return NullValueError(f"non-nullable field {field} was serialized as null")


def read_exact(io: BinaryIO, n: int) -> bytes:
    data = io.read(n)
    if len(data) != n:
        raise StreamError(f"wanted {n} bytes, found {len(data)}")
    return data


def read_uvarint(io: BinaryIO) -> int:
    """Unsigned LEB128 varint (Kafka's UNSIGNED_VARINT), at most 5 bytes for int32 values."""
    first = io.read(1)
    if first and first[0] < 0x80:
        return first[0]  # most lengths and counts fit in one byte
    return read_uvarint_from(first, io)


def read_uvarint_from(first: bytes, io: BinaryIO) -> int:
    """The rest of a varint whose first byte (empty at the end of the stream) was already read."""
    if not first:
        raise StreamError("truncated varint")
    if first[0] < 0x80:
        return first[0]
    result, shift = first[0] & 0x7F, 7
    while True:
        byte = io.read(1)
        if not byte:
            raise StreamError("truncated varint")
        b = byte[0]
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result
        shift += 7
        if shift >= 35:
            # Kafka's lengths, counts and tags are int32s: five bytes at most (ByteUtils.readUnsignedVarint).
            # Longer, they could ask a read for more than a C ssize_t (OverflowError, not a codec error).
            raise StreamError("varint too long")


_ONE_BYTE_UVARINTS = [bytes((i,)) for i in range(0x80)]


def uvarint_bytes(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _ONE_BYTE_UVARINTS[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_int16(io: BinaryIO) -> int:
    return _INT16.unpack(read_exact(io, 2))[0]


def read_int32(io: BinaryIO) -> int:
    return _INT32.unpack(read_exact(io, 4))[0]


def read_nullable_string(io: BinaryIO, field: str = "") -> str | None:
    n = read_int16(io)
    return None if n < 0 else read_exact(io, n).decode()


def read_string(io: BinaryIO, field: str = "") -> str:
    n = read_int16(io)
    if n < 0:
        raise null_value(field)
    return read_exact(io, n).decode()


def read_nullable_compact_string(io: BinaryIO, field: str = "") -> str | None:
    n = read_uvarint(io) - 1
    return None if n < 0 else read_exact(io, n).decode()


def read_compact_string(io: BinaryIO, field: str = "") -> str:
    n = read_uvarint(io) - 1
    if n < 0:
        raise null_value(field)
    return read_exact(io, n).decode()


def read_nullable_bytes(io: BinaryIO, field: str = "") -> bytes | None:
    n = read_int32(io)
    return None if n < 0 else read_exact(io, n)


def read_bytes(io: BinaryIO, field: str = "") -> bytes:
    n = read_int32(io)
    if n < 0:
        raise null_value(field)
    return read_exact(io, n)


def read_nullable_compact_bytes(io: BinaryIO, field: str = "") -> bytes | None:
    n = read_uvarint(io) - 1
    return None if n < 0 else read_exact(io, n)


def read_compact_bytes(io: BinaryIO, field: str = "") -> bytes:
    n = read_uvarint(io) - 1
    if n < 0:
        raise null_value(field)
    return read_exact(io, n)


def _read_view(io: BinaryIO, n: int) -> bytes | memoryview:
    """``n`` bytes, as a view into the frame when the stream can give one (FrameReader): record
    batches are the bulk of a produce request and need not be copied out of it."""
    read_view = getattr(io, "read_view", None)
    if read_view is None:
        return read_exact(io, n)
    view = read_view(n)
    if len(view) != n:
        raise StreamError(f"wanted {n} bytes, found {len(view)}")
    return view


def read_nullable_records(io: BinaryIO, field: str = "") -> bytes | memoryview | None:
    n = read_int32(io)
    return None if n < 0 else _read_view(io, n)


def read_records(io: BinaryIO, field: str = "") -> bytes | memoryview:
    n = read_int32(io)
    if n < 0:
        raise null_value(field)
    return _read_view(io, n)


def read_nullable_compact_records(io: BinaryIO, field: str = "") -> bytes | memoryview | None:
    n = read_uvarint(io) - 1
    return None if n < 0 else _read_view(io, n)


def read_compact_records(io: BinaryIO, field: str = "") -> bytes | memoryview:
    n = read_uvarint(io) - 1
    if n < 0:
        raise null_value(field)
    return _read_view(io, n)


def read_array_length(io: BinaryIO) -> int:
    """Element count of a classic array; -1 means null."""
    return read_int32(io)


def read_compact_array_length(io: BinaryIO) -> int:
    return read_uvarint(io) - 1


def write_string(io: BinaryIO, value: str | None) -> None:
    if value is None:
        io.write(b"\xff\xff")
        return
    data = value.encode()
    io.write(_INT16.pack(len(data)))
    io.write(data)


def write_compact_string(io: BinaryIO, value: str | None) -> None:
    if value is None:
        io.write(b"\x00")
        return
    data = value.encode()
    io.write(uvarint_bytes(len(data) + 1))
    io.write(data)


def write_bytes(io: BinaryIO, value: Any) -> None:
    if value is None:
        io.write(b"\xff\xff\xff\xff")
        return
    io.write(_INT32.pack(len(value)))
    io.write(value)


def write_compact_bytes(io: BinaryIO, value: Any) -> None:
    if value is None:
        io.write(b"\x00")
        return
    io.write(uvarint_bytes(len(value) + 1))
    io.write(value)


def write_array_length(io: BinaryIO, n: int | None) -> None:
    io.write(_INT32.pack(-1 if n is None else n))


def write_compact_array_length(io: BinaryIO, n: int | None) -> None:
    io.write(uvarint_bytes(0 if n is None else n + 1))


def read_uuid(io: BinaryIO) -> UUID:
    return UUID(bytes=read_exact(io, 16))


def write_uuid(io: BinaryIO, value: UUID | bytes | None) -> None:
    if value is None:
        io.write(bytes(16))
    else:
        io.write(value.bytes if isinstance(value, UUID) else value)


def write_records(io: BinaryIO, value: Any) -> None:
    """Classic records field: bytes, None, or a file region to be spliced in by the sender."""
    if value is None or isinstance(value, bytes | bytearray | memoryview):
        write_bytes(io, value)
    else:
        io.write(_INT32.pack(value.length))
        io.add_region(value)


def write_compact_records(io: BinaryIO, value: Any) -> None:
    if value is None or isinstance(value, bytes | bytearray | memoryview):
        write_compact_bytes(io, value)
    else:
        io.write(uvarint_bytes(value.length + 1))
        io.add_region(value)
