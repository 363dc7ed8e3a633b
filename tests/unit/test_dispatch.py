"""The request path's registry and error responses: what every (api, version) we serve is answered with."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import pytest

import kafkapy.apis
from kafkapy.apis import HANDLERS, load_handlers
from kafkapy.protocol.error_response import ERROR_FIELDS, error_response
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.schema import codec
from kafkapy.protocol.specs import ApiKey
from tests.sample_requests import sample_request

load_handlers()
SERVED = [(key, version) for key, h in sorted(HANDLERS.items()) for version in range(h.min_version, h.max_version + 1)]
README = Path(__file__).resolve().parents[2] / "README.md"
# Kafka's DescribeLogDirs error response before v3 has no error field: only an empty result list.
WITHOUT_ERROR_FIELD = {(35, 0), (35, 1), (35, 2)}


def _error_fields(obj: object) -> list[tuple[str, int]]:
    """Every (name, value) of an error field in a decoded response."""
    found: list[tuple[str, int]] = []
    if isinstance(obj, dict):
        for name, value in obj.items():
            if name in ERROR_FIELDS:
                found.append((name, value))
            elif not name.startswith("_"):
                found.extend(_error_fields(value))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(_error_fields(item))
    return found


def _decoded_request(api_key: int, version: int) -> object:
    """A request as the broker holds it: decoded from its bytes."""
    pair = codec(api_key, version)
    return pair.decode_request(pair.encode_request(sample_request(api_key, version)))


@pytest.mark.parametrize(("api_key", "version"), SERVED, ids=[f"{k}v{v}" for k, v in SERVED])
def test_error_response_sets_every_error_field(api_key: int, version: int) -> None:
    request = _decoded_request(api_key, version)
    body = error_response(api_key, version, request, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if api_key == ApiKey.PRODUCE and request["acks"] == 0:
        assert body is None
        return
    pair = codec(api_key, version)
    decoded = pair.decode_response(pair.encode_response(body).getvalue())
    fields = _error_fields(decoded)
    assert all(code == ErrorCode.CLUSTER_AUTHORIZATION_FAILED for _, code in fields), fields
    assert fields or (api_key, version) in WITHOUT_ERROR_FIELD


def test_error_response_mirrors_the_requested_partitions() -> None:
    """Each requested topic and partition gets its entry, under the request's names (Kafka's getErrorResponse)."""
    request = _decoded_request(ApiKey.PRODUCE, 9)
    request["topic_data"] = [
        {"name": "a", "partition_data": [{"index": 0, "records": None}, {"index": 3, "records": None}]},
        {"name": "b", "partition_data": [{"index": 1, "records": None}]},
    ]
    body = error_response(ApiKey.PRODUCE, 9, request, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    assert body is not None
    entries = {(t["name"], p["index"]): p["error_code"] for t in body["responses"] for p in t["partition_responses"]}
    assert entries == {(t, i): ErrorCode.TOPIC_AUTHORIZATION_FAILED for t, i in [("a", 0), ("a", 3), ("b", 1)]}


def test_error_response_of_a_fetch_has_empty_records_and_no_high_watermark() -> None:
    """As Kafka's FetchResponse.partitionResponse(tp, error): clients reject null records."""
    pair = codec(ApiKey.FETCH, 12)
    body = error_response(ApiKey.FETCH, 12, _decoded_request(ApiKey.FETCH, 12), ErrorCode.UNKNOWN_SERVER_ERROR)
    partition = pair.decode_response(pair.encode_response(body).getvalue()).responses[0].partitions[0]
    assert (bytes(partition.records), partition.high_watermark) == (b"", -1)
    assert partition.error_code == ErrorCode.UNKNOWN_SERVER_ERROR


def test_error_response_maps_bare_keys_to_entries() -> None:
    """OffsetFetch lists partitions as bare indexes; its response has an entry per index."""
    request = _decoded_request(ApiKey.OFFSET_FETCH, 7)
    request["topics"] = [{"name": "t", "partition_indexes": [2, 5]}]
    body = error_response(ApiKey.OFFSET_FETCH, 7, request, ErrorCode.GROUP_AUTHORIZATION_FAILED)
    assert body is not None
    assert [p["partition_index"] for p in body["topics"][0]["partitions"]] == [2, 5]
    assert body["error_code"] == ErrorCode.GROUP_AUTHORIZATION_FAILED


def test_every_handler_module_is_discovered() -> None:
    """No hand-kept module list: each module in kafkapy/apis with a @handler is in the registry."""
    apis_dir = Path(kafkapy.apis.__file__).parent
    registered = {h.func.__module__ for h in HANDLERS.values()}
    declaring = {
        f"kafkapy.apis.{m.name}"
        for m in pkgutil.iter_modules([str(apis_dir)])
        if "@handler(" in (apis_dir / f"{m.name}.py").read_text()
    }
    assert declaring == registered


def test_every_handler_declares_what_it_authorizes() -> None:
    """Only what Kafka serves before authentication has no rule: SaslHandshake, ApiVersions and
    SaslAuthenticate (DescribeCluster asks about DESCRIBE on the cluster for its authorized operations)."""
    assert sorted(key for key, h in HANDLERS.items() if not h.acl) == [17, 18, 36]


def _readme_table() -> dict[int, tuple[str, int, int]]:
    """The README's "Implemented APIs" rows: api key -> (name, min version, max version)."""
    text = README.read_text().split("## Implemented APIs", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for name, key, low, high in re.findall(r"^\| (\w+) \((\d+)\) \| (\d+)(?:-(\d+))? \|", text, re.M):
        rows[int(key)] = (name, int(low), int(high or low))
    return rows


def test_readme_lists_exactly_the_served_apis() -> None:
    """An API cannot be added without showing in the README, nor shown there without existing."""
    served = {key: (h.name, h.min_version, h.max_version) for key, h in HANDLERS.items()}
    assert _readme_table() == served
