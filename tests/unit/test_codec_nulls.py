"""A null where the spec forbids one is rejected as the request is parsed, like Kafka's SchemaException.

Before, the compiled parsers read a null string, bytes or array into any field, and handlers met
None where the schema promises a value (TypeError tracebacks in Fetch, ListOffsets, OffsetCommit...).
Every non-nullable string, bytes, records and array field of every request version is tried here,
at any depth, with both the compiled codec and the connection's decode_request.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from kafkapy.protocol._wire import NullValueError
from kafkapy.protocol.connection import ProtocolError, decode_request
from kafkapy.protocol.schema import codec, header_construct, message_construct
from kafkapy.protocol.specs import UNSET, ApiKey, FieldSpec, VersionRange, api_specs
from tests.unit.test_codec import sample, versions

NULLABLE_TYPES = {"string", "bytes", "records", "array"}


def non_nullable_paths(fields: list[FieldSpec], version: int, flexible: bool) -> Iterator[tuple[int, ...]]:
    """Index paths (through struct and array-of-struct fields) of the fields that may not be null."""
    for i, field in enumerate(fields):
        if version not in field.versions or (field.tag is not None and not flexible):
            continue
        if field.type in NULLABLE_TYPES and version not in field.nullable:
            yield (i,)
        if field.has_struct:
            yield from ((i, *rest) for rest in non_nullable_paths(field.fields, version, flexible))


def with_null(fields: list[FieldSpec], path: tuple[int, ...], value: dict) -> tuple[list[FieldSpec], dict]:
    """A copy of the spec where the field at ``path`` is nullable, and a sample with it set to null."""
    fields = copy.deepcopy(fields, {id(UNSET): UNSET})  # defaults are told apart by identity
    value = copy.deepcopy(value)
    spec_fields, obj = fields, value
    for depth, index in enumerate(path):
        field = spec_fields[index]
        if depth == len(path) - 1:
            field.nullable, field.default = VersionRange(0), None
            obj[field.name] = None
        else:
            spec_fields = field.fields
            obj = obj[field.name] if field.type == "struct" else obj[field.name][0]
    return fields, value


def cases() -> Iterator[Any]:
    for api_key, version in versions():
        spec = api_specs()[api_key]
        flexible = spec.request.is_flexible(version)
        for path in non_nullable_paths(spec.request.fields, version, flexible):
            yield pytest.param(api_key, version, path, id=f"{spec.name}-v{version}-{'.'.join(map(str, path))}")


@pytest.mark.parametrize(("api_key", "version", "path"), list(cases()))
def test_null_in_non_nullable_request_field_is_rejected(api_key: int, version: int, path: tuple[int, ...]) -> None:
    message = copy.copy(api_specs()[api_key].request)
    obj = sample(message.fields, version, message.is_flexible(version))
    message.fields, obj = with_null(message.fields, path, obj)
    body = message_construct(message, version).build(obj)  # the same bytes, but for the null
    pair = codec(api_key, version)
    with pytest.raises(NullValueError, match="non-nullable field .* was serialized as null"):
        pair.decode_request(body)
    header = header_construct("RequestHeader", pair.request_header_version).build(
        {"request_api_key": api_key, "request_api_version": version, "correlation_id": 1, "client_id": "t"}
    )
    with pytest.raises(ProtocolError, match="serialized as null"):
        decode_request(header + body)


def test_every_request_has_a_field_checked() -> None:
    """The walk above finds fields in every API but three (a broken walk would make the test vacuous):
    InitProducerId's, DescribeAcls' and DescribeCluster's requests have no string, bytes or array that
    must be set (DescribeAcls' filter strings are all nullable)."""
    checked = {case.values[0] for case in cases()}
    assert set(api_specs()) - checked == {22, 29, 60}


@pytest.mark.parametrize(("api_key", "version"), versions())
def test_nulls_where_the_spec_allows_them_still_parse(api_key: int, version: int) -> None:
    """Every nullable field left null (its default) reads back as None."""
    pair = codec(api_key, version)
    data = pair.request.build({})
    parsed = pair.decode_request(data)
    spec = api_specs()[api_key].request
    for field in spec.fields:
        present = version in field.versions and field.tag is None
        if present and version in field.nullable and field.default in (UNSET, None):
            assert parsed[field.name] is None


def test_fetch_with_null_topic_name_closes_not_none() -> None:
    """The case the fuzzer found: Fetch v4 with a null topic name reached the handler as None."""
    pair = codec(ApiKey.FETCH, 4)
    body = pair.encode_request({"topics": [{"topic": "t", "partitions": []}]})
    nulled = body.replace(b"\x00\x01t", b"\xff\xff")
    header = struct.pack(">hhih", 1, 4, 9, -1)
    with pytest.raises(ProtocolError, match="non-nullable field topic was serialized as null"):
        decode_request(header + nulled)
