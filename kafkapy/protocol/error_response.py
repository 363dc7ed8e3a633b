"""The response that answers a request with one error, built from the specs (Kafka's getErrorResponse).

Kafka gives every request class a ``getErrorResponse(throttle, error)`` that sets every error code of
its response and mirrors the request's per-topic and per-partition arrays, so the client can match
each of its entries to an error. ``error_response`` does the same for every API from protocol_specs:
it walks the response schema next to the request's, sets each ``error_code``, copies the request
items' keys (names, ids, partition indexes) into the response items, and leaves the rest at their
defaults. A response field mirrors the request field of its own name, or those its spec names with
``mirrors=`` (Produce's ``responses`` answer ``topic_data``): a value the first present one, an array
the items of all present ones, in order; a dotted name (``dirs.topics``) mirrors the items of an
array nested in another, flattened; ``mirrors=none`` copies nothing (JoinGroup's member_id).
"""

from __future__ import annotations

from typing import Any

from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import FieldSpec, api_specs

# The fields an error goes into (AddPartitionsToTxn's per-partition one has its own name).
ERROR_FIELDS = frozenset({"error_code", "partition_error_code"})

# The request fields copied into the response: what names an entry (never values like offsets).
_KEYS = frozenset(
    {
        "name",
        "topic",
        "topic_name",
        "topic_id",
        "index",
        "partition",
        "partition_index",
        "partition_id",
        "group_id",
        "member_id",
        "group_instance_id",
        "transactional_id",
        "resource_type",
        "resource_name",
        "key",
        "user",
    }
)

# Kafka's ProduceRequest.getErrorResponse: an acks=0 producer reads no response.
_PRODUCE_KEY = 0


def error_response(
    api_key: int, version: int, request: Any, code: ErrorCode, message: str | None = None
) -> dict | None:
    """The response body answering ``request`` (a decoded body) with ``code`` everywhere; None for acks=0 Produce."""
    if api_key == _PRODUCE_KEY and request["acks"] == 0:
        return None
    spec = api_specs()[api_key]
    return _struct(spec.response.fields, spec.request.fields, request, version, code, message)


def _carries_error(f: FieldSpec) -> bool:
    """Does this response array hold an error field, at any depth? Only those are mirrored."""
    return any(g.name in ERROR_FIELDS or (g.has_struct and _carries_error(g)) for g in f.fields)


def _present(fields: list[FieldSpec], version: int) -> dict[str, FieldSpec]:
    return {f.name: f for f in fields if version in f.versions}


def _struct(
    fields: list[FieldSpec],
    request_fields: list[FieldSpec],
    source: Any,
    version: int,
    code: ErrorCode,
    message: str | None,
) -> dict:
    """One response struct mirroring the request struct ``source`` (None: nothing to mirror)."""
    requested = _present(request_fields, version) if source is not None else {}
    out: dict = {}
    for f in fields:
        if version not in f.versions:
            continue
        if f.name in ERROR_FIELDS:
            out[f.name] = code
            continue
        if f.name == "error_message" and message is not None:
            out[f.name] = message
            continue
        if f.type == "records":
            # Kafka's MemoryRecords.EMPTY: clients (librdkafka) reject null records.
            out[f.name] = b""
            continue
        if f.name == "high_watermark":
            out[f.name] = -1  # Kafka's FetchResponse.INVALID_HIGH_WATERMARK
            continue
        if f.mirrors is None:
            continue
        nested = [path for path in f.mirrors if "." in path]
        if nested and _carries_error(f):
            items = [pair for path in nested for pair in _flattened(requested, source, path, version)]
            out[f.name] = [_item(f, m, item, version, code, message) for m, item in items]
            continue
        matches = [requested[n] for n in (*f.mirrors, f.name) if n in requested and requested[n].tag is None]
        if not matches:
            continue
        match = matches[0]
        value = source.get(match.name)
        if f.type == "array" and f.item_type == "struct":
            if match.type == "array" and _carries_error(f):
                # Every request array it mirrors, in order (AlterUserScramCredentials: deletions, upsertions).
                items = [(m, item) for m in matches if m.type == "array" for item in source.get(m.name) or ()]
                out[f.name] = [_item(f, m, item, version, code, message) for m, item in items]
        elif f.name in _KEYS and f.type == match.type:
            out[f.name] = value
    return out


def _flattened(requested: dict[str, FieldSpec], source: Any, path: str, version: int) -> list[tuple[FieldSpec, Any]]:
    """The items of a request array nested in another (``dirs.topics``: the topics of every dir, in
    order), each with its field spec: AlterReplicaLogDirs answers per topic what it asks per dir."""
    head, _, rest = path.partition(".")
    spec = requested.get(head)
    if spec is None or source is None:
        return []
    items = source.get(head) or ()
    if not rest:
        return [(spec, item) for item in items]
    inner = _present(spec.fields, version)
    return [pair for item in items for pair in _flattened(inner, item, rest, version)]


def _item(
    f: FieldSpec,
    match: FieldSpec,
    item: Any,
    version: int,
    code: ErrorCode,
    message: str | None,
) -> dict:
    """A response array item for one request array item; a bare key (``[]int32``, ``[]string``) fills the
    first response field of its type (partition_index, group_id...)."""
    if match.item_type == "struct":
        return _struct(f.fields, match.fields, item, version, code, message)
    entry = _struct(f.fields, [], None, version, code, message)
    key = next((g for g in f.fields if g.name in _KEYS and version in g.versions and g.type == match.item_type), None)
    if key is not None:
        entry[key.name] = item
    return entry
