"""Round-trip every (api, version) of protocol_specs through the compiled construct codec."""

from __future__ import annotations

import gc
import io
import struct
import uuid
from typing import Any

import pytest

from kafkapy.protocol.connection import Connection, ProtocolError, Role, decode_request
from kafkapy.protocol.schema import build_stream, codec, header_construct, message_construct, parse_stream
from kafkapy.protocol.specs import ApiKey, FieldSpec, MessageSpec, api_specs

SAMPLES: dict[str, Any] = {
    "int8": -7,
    "int16": -300,
    "int32": 70_000,
    "int64": -(2**40),
    "uint16": 65_000,
    "uint32": 2**31 + 5,
    "float64": 1.5,
    "bool": True,
    "string": "naïve-name",
    "bytes": b"\x00\x01\xff",
    "records": b"record-bytes",
    "uuid": uuid.UUID("0123456789abcdef0123456789abcdef"),
}


def sample(fields: list[FieldSpec], version: int, flexible: bool) -> dict:
    """A value for every field present in ``version``, none equal to its default."""
    out: dict[str, Any] = {}
    for field in fields:
        if version not in field.versions or (field.tag is not None and not flexible):
            continue
        if field.type == "struct":
            out[field.name] = sample(field.fields, version, flexible)
        elif field.type == "array" and field.item_type == "struct":
            out[field.name] = [sample(field.fields, version, flexible) for _ in range(2)]
        elif field.type == "array":
            out[field.name] = [SAMPLES[field.item_type or ""]] * 3
        else:
            out[field.name] = SAMPLES[field.type]
    return out


def skeleton(fields: list[FieldSpec], version: int) -> dict:
    """One element in every array of structs, every other field left out (to its default)."""
    out: dict[str, Any] = {}
    for field in fields:
        if version in field.versions and field.type == "array" and field.item_type == "struct":
            out[field.name] = [skeleton(field.fields, version)]
    return out


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def versions() -> list[tuple[int, int]]:
    return [
        (spec.key, v)
        for spec in api_specs().values()
        for v in range(spec.versions.low, (spec.versions.high or spec.versions.low) + 1)
    ]


def round_trip(message: MessageSpec, construct: Any, version: int) -> None:
    obj = sample(message.fields, version, message.is_flexible(version))
    data = construct.build(obj)
    stream = io.BytesIO(data)
    parsed = construct.parse_stream(stream)
    assert stream.tell() == len(data), "parser left bytes unread"
    assert plain(parsed) == obj
    # The uncompiled construct must agree byte for byte with the compiled one.
    assert message_construct(message, version).build(obj) == data


@pytest.mark.parametrize(("api_key", "version"), versions())
def test_round_trip(api_key: int, version: int) -> None:
    spec = api_specs()[api_key]
    pair = codec(api_key, version)
    round_trip(spec.request, pair.request, version)
    round_trip(spec.response, pair.response, version)


@pytest.mark.parametrize(("api_key", "version"), versions())
def test_compiled_defaults_agree_with_construct(api_key: int, version: int) -> None:
    """The compiled code is our own (schema._Struct, _Default): with every field left out, it
    writes what construct's generic Struct and Default write, and both read the bytes alike."""
    spec = api_specs()[api_key]
    pair = codec(api_key, version)
    for message, compiled in ((spec.request, pair.request), (spec.response, pair.response)):
        generic = message_construct(message, version)
        obj = skeleton(message.fields, version)
        data = compiled.build(obj)
        assert data == generic.build(obj)
        assert plain(parse_stream(compiled, io.BytesIO(data))) == plain(generic.parse(data))


def test_codec_leaves_no_reference_cycles() -> None:
    """Decoded requests are freed by reference counting the moment a handler drops them: a cycle
    would hold a produce request's record bytes until the cyclic GC, costing fresh, page-faulted
    memory on every request. Every (api, version), both directions."""
    schemas = []
    for api_key, version in versions():
        spec, pair = api_specs()[api_key], codec(api_key, version)
        schemas += [(spec.request, pair.request, version), (spec.response, pair.response, version)]
    gc.collect()
    gc.freeze()  # later collections only look at what the codec makes
    gc.disable()
    try:
        for message, construct, version in schemas:
            obj = sample(message.fields, version, message.is_flexible(version))
            out = io.BytesIO()
            build_stream(construct, obj, out)
            parsed = parse_stream(construct, io.BytesIO(out.getvalue()))
            assert plain(parsed) == obj
            del parsed, out
            assert gc.collect() == 0, f"{message.name} v{version} left cyclic garbage"
    finally:
        gc.enable()
        gc.unfreeze()


def test_defaults_fill_missing_fields() -> None:
    pair = codec(ApiKey.METADATA, 12)
    parsed = pair.decode_response(pair.response.build({"topics": [{"name": "t"}]}))
    assert parsed.controller_id == -1
    assert parsed.cluster_id is None
    assert parsed.topics[0].topic_authorized_operations == -(2**31)
    assert parsed.topics[0].topic_id == uuid.UUID(int=0)


def test_unknown_tagged_fields_are_kept_not_fatal() -> None:
    pair = codec(ApiKey.API_VERSIONS, 3)
    body = pair.request.build({"client_software_name": "x", "client_software_version": "1"})
    # Replace the empty tagged section with one unknown tag 9 holding two bytes.
    body = body[:-1] + b"\x01\x09\x02hi"
    parsed = pair.decode_request(body)
    assert parsed.client_software_name == "x"
    assert parsed._unknown_tagged_fields == {9: b"hi"}


def frame(api_key: int, version: int, correlation_id: int, body: dict) -> bytes:
    pair = codec(api_key, version)
    header = header_construct("RequestHeader", pair.request_header_version).build(
        {"request_api_key": api_key, "request_api_version": version, "correlation_id": correlation_id, "client_id": "t"}
    )
    payload = header + pair.encode_request(body)
    return struct.pack(">i", len(payload)) + payload


def test_connection_frames_split_anywhere() -> None:
    data = frame(ApiKey.API_VERSIONS, 3, 7, {"client_software_name": "a", "client_software_version": "b"}) + frame(
        ApiKey.METADATA, 1, 8, {}
    )
    conn = Connection()
    requests = []
    for i in range(len(data)):
        conn.receive_data(data[i : i + 1])
        while (req := conn.next_request()) is not None:
            requests.append(req)
    assert [(r.api_key, r.api_version, r.correlation_id, r.client_id) for r in requests] == [
        (18, 3, 7, "t"),
        (3, 1, 8, "t"),
    ]


@pytest.mark.parametrize("size", [-1, 0, 7, 100 * 1024 * 1024 + 1])
def test_connection_rejects_bad_sizes(size: int) -> None:
    conn = Connection()
    conn.receive_data(struct.pack(">i", size) + b"x" * 16)
    with pytest.raises(ProtocolError):
        conn.next_request()


def test_garbage_body_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_request(struct.pack(">hhi", 3, 9, 1) + b"\xff" * 3)


def test_unknown_api_and_newer_api_versions_are_flagged_not_decoded() -> None:
    assert decode_request(struct.pack(">hhi", 999, 0, 1) + b"\x00\x00").body is None
    req = decode_request(struct.pack(">hhi", 18, 99, 5) + b"\x00\x01x\x00")
    assert (req.body, req.correlation_id, req.client_id) == (None, 5, "x")


def test_response_framing_and_header_versions() -> None:
    req = decode_request(
        frame(ApiKey.API_VERSIONS, 3, 42, {"client_software_name": "a", "client_software_version": "b"})[4:]
    )
    chunks = Connection().encode_response(req, {"error_code": 0, "api_keys": []})
    data = b"".join(chunks)
    size, correlation_id = struct.unpack_from(">ii", data)
    assert size == len(data) - 4 and correlation_id == 42
    # ApiVersions answers with response header v0 even when flexible: no tagged byte after the id.
    assert codec(ApiKey.API_VERSIONS, 3).decode_response(data[8:]).error_code == 0


def test_a_client_connection_frames_requests_and_reads_responses_split_anywhere() -> None:
    """The client role (kafkapy.client.wire's) writes what the reference framing writes, and reads the
    broker side's response byte by byte."""
    client, broker = Connection(our_role=Role.CLIENT), Connection()
    body = {"client_software_name": "a", "client_software_version": "b"}
    data = client.encode_request(ApiKey.API_VERSIONS, 3, 42, body, client_id="t")
    assert data == frame(ApiKey.API_VERSIONS, 3, 42, body)
    broker.receive_data(data)
    request = broker.next_request()
    assert request is not None and request.correlation_id == 42
    keys = [{"api_key": 3, "min_version": 0, "max_version": 12}]
    response = b"".join(broker.encode_response(request, {"error_code": 0, "api_keys": keys}))  # type: ignore[arg-type]
    for i in range(len(response) - 1):
        client.receive_data(response[i : i + 1])
        assert client.next_response(ApiKey.API_VERSIONS, 3, 42) is None
    client.receive_data(response[-1:])
    decoded = client.next_response(ApiKey.API_VERSIONS, 3, 42)
    assert decoded is not None and [(k.api_key, k.max_version) for k in decoded.api_keys] == [(3, 12)]


def test_a_client_connection_refuses_a_response_to_another_request() -> None:
    """Kafka answers in order: another correlation id (or bytes that do not decode, or a size no
    response has) means the client lost track of the connection."""
    client = Connection(our_role=Role.CLIENT)
    client.receive_data(struct.pack(">ii", 10, 41) + struct.pack(">hi", 0, 0))
    with pytest.raises(ProtocolError, match="correlation id 41, expected 42"):
        client.next_response(ApiKey.API_VERSIONS, 0, 42)
    client.receive_data(struct.pack(">ii", 6, 42) + b"\xff\xff")
    with pytest.raises(ProtocolError, match="cannot decode"):
        client.next_response(ApiKey.API_VERSIONS, 0, 42)
    client.receive_data(struct.pack(">i", 3) + b"xyz")
    with pytest.raises(ProtocolError, match="response size 3"):
        client.next_response(ApiKey.API_VERSIONS, 0, 43)


def _produce_frame(version: int, records: bytes) -> bytes:
    topic = {"name": "t", "partition_data": [{"index": 0, "records": records}]}
    return frame(ApiKey.PRODUCE, version, 9, {"acks": 1, "timeout_ms": 10, "topic_data": [topic]})


@pytest.mark.parametrize("version", [8, 9])
@pytest.mark.parametrize("pipelined", [False, True])
def test_produce_records_are_a_writable_view_into_the_frame(version: int, pipelined: bool) -> None:
    """Record batches are not copied out of the request: the log patches offsets in that buffer."""
    conn = Connection()
    conn.receive_data(_produce_frame(version, b"batch-bytes") + (_produce_frame(version, b"x") if pipelined else b""))
    request = conn.next_request()
    assert request is not None and request.body is not None
    records = request.body.topic_data[0].partition_data[0].records
    assert isinstance(records, memoryview) and not records.readonly
    assert records == b"batch-bytes"
    records[0:5] = b"BATCH"
    assert records.tobytes() == b"BATCH-bytes"
    if pipelined:
        assert conn.next_request().body.topic_data[0].partition_data[0].records == b"x"


def test_truncated_records_are_a_protocol_error() -> None:
    data = bytearray(_produce_frame(9, b"0123456789"))
    cut = data[:-3]  # inside the records (the struct's tagged-field bytes follow them)
    cut[0:4] = struct.pack(">i", len(cut) - 4)
    conn = Connection()
    conn.receive_data(bytes(cut))
    with pytest.raises(ProtocolError):
        conn.next_request()


def _feed_like_a_socket(conn: Connection, data: bytes, chunk: int) -> list:
    """recv_into-style feeding (get_buffer/buffer_updated), taking requests after every read."""
    requests, view = [], memoryview(data)
    while view:
        with conn.get_buffer() as target:
            assert len(target) > 0
            n = min(len(target), len(view), chunk)
            target[:n] = view[:n]
        conn.buffer_updated(n)
        view = view[n:]
        while (req := conn.next_request()) is not None:
            requests.append(req)
    return requests


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65536, 1 << 20])
@pytest.mark.parametrize("feed", ["receive_data", "get_buffer"])
def test_large_and_small_requests_pipelined_in_any_chunks(chunk: int, feed: str) -> None:
    """A request over LARGE_REQUEST_SIZE is read into a buffer of its own; the small requests around
    it still come out in order, whole, whichever way the bytes arrive."""
    big = bytes(range(256)) * 1200  # 300 KiB of "records"
    data = _produce_frame(9, b"first") + _produce_frame(9, big) + _produce_frame(9, b"after") + _produce_frame(9, big)
    conn = Connection()
    if feed == "get_buffer":
        requests = _feed_like_a_socket(conn, data, chunk)
    else:
        requests = []
        for i in range(0, len(data), chunk):
            conn.receive_data(data[i : i + chunk])
            while (req := conn.next_request()) is not None:
                requests.append(req)
    records = [r.body.topic_data[0].partition_data[0].records for r in requests]
    assert [bytes(r) for r in records] == [b"first", big, b"after", big]
    assert all(isinstance(r, memoryview) and not r.readonly for r in records)
    assert conn.buffered == 0


def test_receive_data_all_at_once_keeps_every_request() -> None:
    big = b"x" * 200_000
    data = b"".join(_produce_frame(9, p) for p in (big, b"a", big, b"b" * 100_000, b"c"))
    conn = Connection()
    conn.receive_data(data)
    got = []
    while (req := conn.next_request()) is not None:
        got.append(bytes(req.body.topic_data[0].partition_data[0].records))
    assert got == [big, b"a", big, b"b" * 100_000, b"c"]


def test_the_wire_client_is_still_importable_from_kafkapy_testing() -> None:
    """Users' tests import it from where it used to live."""
    from kafkapy.client.wire import WireClient
    from kafkapy.testing.wire import WireClient as TestingWireClient

    assert TestingWireClient is WireClient
