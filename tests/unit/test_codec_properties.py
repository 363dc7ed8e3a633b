"""Property tests of the codec (hypothesis): every (api, version) of protocol_specs.

- A valid body generated from the spec encodes, decodes to the same values, and encodes again to the
  same bytes, requests and responses alike.
- Garbage and mutated valid requests never raise anything but the codec's own errors: construct's
  ConstructError (NullValueError among them), UnicodeDecodeError or struct.error from
  Codec.decode_request, and only
  ProtocolError from decode_request, which is what the server turns into a closed connection.
"""

from __future__ import annotations

import contextlib
import io
import struct
from functools import cache
from typing import Any

import construct as c
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkapy.protocol.connection import ProtocolError, decode_request
from kafkapy.protocol.schema import codec, header_construct, parse_stream
from kafkapy.protocol.specs import ApiKey, FieldSpec, MessageSpec, api_specs

# construct's compiled fixed-size fields unpack short reads with struct, hence struct.error.
CODEC_ERRORS = (c.ConstructError, UnicodeDecodeError, struct.error)
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

INT_RANGES = {  # each integer type's (min, max)
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}


def primitive(ptype: str) -> st.SearchStrategy[Any]:
    if ptype in INT_RANGES:
        return st.integers(*INT_RANGES[ptype])
    if ptype == "float64":
        return st.floats(allow_nan=False)
    if ptype == "bool":
        return st.booleans()
    if ptype == "string":
        return st.text(max_size=12)
    if ptype in ("bytes", "records"):
        return st.binary(max_size=24)
    assert ptype == "uuid", ptype
    return st.uuids()


def field_value(field: FieldSpec, version: int, flexible: bool) -> st.SearchStrategy[Any]:
    if field.type == "struct":
        value = body(field.fields, version, flexible)
    elif field.type == "array":
        struct_item = field.item_type == "struct"
        item = body(field.fields, version, flexible) if struct_item else primitive(field.item_type or "")
        value = st.lists(item, max_size=3)
    else:
        value = primitive(field.type)
    return st.none() | value if version in field.nullable else value


def body(fields: list[FieldSpec], version: int, flexible: bool) -> st.SearchStrategy[dict]:
    """Every field of ``version`` (tagged ones only where they are sent), with any valid value."""
    return st.fixed_dictionaries(
        {
            f.name: field_value(f, version, flexible)
            for f in fields
            if version in f.versions and (f.tag is None or flexible)
        }
    )


@cache
def message_body(api_key: int, which: str, version: int) -> st.SearchStrategy[dict]:
    message: MessageSpec = getattr(api_specs()[api_key], which)
    return body(message.fields, version, message.is_flexible(version))


def assert_same(decoded: Any, obj: Any, path: str = "") -> None:
    """Decoded values equal the encoded ones. A tagged field equal to its default is not sent and
    not in the decoded struct; the byte-for-byte re-encode covers those."""
    if isinstance(decoded, dict):
        assert isinstance(obj, dict), path
        for key, value in decoded.items():
            if not key.startswith("_"):
                assert_same(value, obj[key], f"{path}.{key}")
    elif isinstance(decoded, list):
        assert isinstance(obj, list) and len(decoded) == len(obj), path
        for i, (a, b) in enumerate(zip(decoded, obj, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert (bytes(decoded) if isinstance(decoded, memoryview) else decoded) == obj, path


def version_bodies(api_key: int, which: str) -> st.SearchStrategy[tuple[int, dict]]:
    """(version, valid body) pairs over every version of the API."""
    spec = api_specs()[api_key]
    assert spec.versions.high is not None
    return st.integers(spec.versions.low, spec.versions.high).flatmap(
        lambda v: st.tuples(st.just(v), message_body(api_key, which, v))
    )


def encode(api_key: int, version: int, which: str, obj: dict) -> bytes:
    pair = codec(api_key, version)
    construct = pair.request if which == "request" else pair.response
    return construct.build(obj)


API_KEYS = sorted(api_specs())


@pytest.mark.parametrize("which", ["request", "response"])
@pytest.mark.parametrize("api_key", API_KEYS)
@SETTINGS
@given(data=st.data())
def test_valid_bodies_round_trip(api_key: int, which: str, data: st.DataObject) -> None:
    version, obj = data.draw(version_bodies(api_key, which))
    encoded = encode(api_key, version, which, obj)
    pair = codec(api_key, version)
    stream = io.BytesIO(encoded)
    decoded = parse_stream(pair.request if which == "request" else pair.response, stream)
    assert stream.tell() == len(encoded), "parser left bytes unread"
    assert_same(decoded, obj)
    assert encode(api_key, version, which, decoded) == encoded


def request_frame(api_key: int, version: int, body: bytes) -> bytes:
    pair = codec(api_key, version)
    header = header_construct("RequestHeader", pair.request_header_version).build(
        {"request_api_key": api_key, "request_api_version": version, "correlation_id": 7, "client_id": "fuzz"}
    )
    return header + body


def assert_only_codec_errors(api_key: int, version: int, body: bytes) -> None:
    with contextlib.suppress(CODEC_ERRORS):
        codec(api_key, version).decode_request(body)
    with contextlib.suppress(ProtocolError):
        decode_request(request_frame(api_key, version, body))


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with bit flips, a truncation, a length-sized field set to -1 or huge, or bytes inserted."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "minus_one", "huge", "insert", "varint"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del out[at:]
        elif kind in ("minus_one", "huge"):
            width = draw(st.sampled_from([2, 4]))
            value = -1 if kind == "minus_one" else 2 ** (8 * width - 1) - 1
            out[at : at + width] = value.to_bytes(width, "big", signed=True)
        elif kind == "varint":
            out[at : at + 1] = draw(st.sampled_from([b"\x00", b"\xff\xff\xff\xff\x0f", b"\x80"]))
        else:
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(out)


@pytest.mark.parametrize("api_key", API_KEYS)
@SETTINGS
@given(data=st.data())
def test_mutated_requests_raise_only_codec_errors(api_key: int, data: st.DataObject) -> None:
    version, obj = data.draw(version_bodies(api_key, "request"))
    body = data.draw(mutated(encode(api_key, version, "request", obj)))
    assert_only_codec_errors(api_key, version, body)


@pytest.mark.parametrize("api_key", API_KEYS)
@SETTINGS
@given(data=st.data())
def test_garbage_requests_raise_only_codec_errors(api_key: int, data: st.DataObject) -> None:
    spec = api_specs()[api_key]
    assert spec.versions.high is not None
    version = data.draw(st.integers(spec.versions.low, spec.versions.high))
    assert_only_codec_errors(api_key, version, data.draw(st.binary(max_size=64)))


@SETTINGS
@given(frame=st.binary(min_size=8, max_size=96))
def test_garbage_frames_raise_only_protocol_error(frame: bytes) -> None:
    """Any api key and version, known or not, with any header and body."""
    with contextlib.suppress(ProtocolError):
        decode_request(frame)


def test_api_key_and_version_pairs_are_all_reachable() -> None:
    """The frames above cover unknown keys and versions too: decode_request flags them, never raises."""
    for api_key in (-1, 99, 32767):
        assert decode_request(struct.pack(">hhi", api_key, 0, 1) + b"\x00\x00").body is None
    for api_key, spec in api_specs().items():
        assert spec.versions.high is not None
        if api_key != ApiKey.API_VERSIONS:
            assert decode_request(struct.pack(">hhi", api_key, spec.versions.high + 1, 1)).body is None


def test_overlong_varint_in_a_tagged_field_is_a_protocol_error() -> None:
    """Found by the mutation test: a tagged string whose length varint ran to 9 bytes asked BytesIO for
    more than a C ssize_t, and the OverflowError escaped decode_request (a traceback in the broker)."""
    pair = codec(ApiKey.FETCH, 12)
    body = pair.encode_request({"cluster_id": "x", "topics": []})
    tagged = b"\x01\x00\x02\x02x"  # the top level's tagged section: one field, tag 0, 2 bytes, "x"
    assert body.endswith(tagged)
    overlong = b"\xff" * 8 + b"\x01"
    body = body[: -len(tagged)] + b"\x01\x00" + bytes([len(overlong)]) + overlong
    with pytest.raises(ProtocolError, match="varint too long"):
        decode_request(request_frame(1, 12, body))
