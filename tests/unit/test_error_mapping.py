"""Error codes by request version: the specs' ``error`` lines, parsed from their bytes, and the dispatch door's
rewrite of an answer (issue #15 item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkapy.apis import HANDLERS, RequestContext, load_handlers
from kafkapy.apis.dispatch import remap_errors
from kafkapy.protocol.connection import Request
from kafkapy.protocol.error_response import error_response
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.schema import codec
from kafkapy.protocol.specs import SpecError, VersionRange, api_specs, parse_api_file

load_handlers()
# The error maps of every served (api key, version) that has one.
ERROR_MAPS = {(key, v): m for key, h in HANDLERS.items() for v, m in (h.error_maps or {}).items()}
HEADER = "api 26 EndTxn\nversions 0-5\nflexible 3+\n"
BODY = "request\n  transactional_id  string\nresponse\n  error_code  int16\n"


def _parse(tmp_path: Path, lines: str) -> object:
    path = tmp_path / "26_end_txn.kspec"
    path.write_bytes((HEADER + lines + BODY).encode())
    return parse_api_file(path)


def test_an_error_line_maps_the_versions_outside_its_range(tmp_path: Path) -> None:
    spec = _parse(
        tmp_path,
        "# KafkaApis.handleEndTxnRequest\n"
        "error PRODUCER_FENCED 2+ else INVALID_PRODUCER_EPOCH  # KIP-588\n"
        "error TRANSACTION_ABORTABLE 4-5 else INVALID_TXN_STATE\n",
    )
    [fenced, abortable] = spec.error_mappings
    assert (fenced.error, fenced.versions, fenced.fallback) == (
        ErrorCode.PRODUCER_FENCED,
        VersionRange(2),
        ErrorCode.INVALID_PRODUCER_EPOCH,
    )
    assert abortable.versions == VersionRange(4, 5)
    assert spec.error_map(0) == {
        ErrorCode.PRODUCER_FENCED: (ErrorCode.INVALID_PRODUCER_EPOCH, None),
        ErrorCode.TRANSACTION_ABORTABLE: (ErrorCode.INVALID_TXN_STATE, None),
    }
    assert spec.error_map(2) == {ErrorCode.TRANSACTION_ABORTABLE: (ErrorCode.INVALID_TXN_STATE, None)}
    assert spec.error_map(5) == {}


def test_an_error_line_may_name_no_version_and_give_the_fallback_a_message(tmp_path: Path) -> None:
    spec = _parse(
        tmp_path,
        "error PRODUCER_FENCED none else INVALID_PRODUCER_EPOCH\n"
        'error TRANSACTION_ABORTABLE 4+ else INVALID_TXN_STATE "Partition was not added to the transaction"\n',
    )
    assert spec.error_map(5) == {ErrorCode.PRODUCER_FENCED: (ErrorCode.INVALID_PRODUCER_EPOCH, None)}
    assert spec.error_map(3) == {
        ErrorCode.PRODUCER_FENCED: (ErrorCode.INVALID_PRODUCER_EPOCH, None),
        ErrorCode.TRANSACTION_ABORTABLE: (ErrorCode.INVALID_TXN_STATE, "Partition was not added to the transaction"),
    }


def test_a_file_without_error_lines_maps_nothing(tmp_path: Path) -> None:
    spec = _parse(tmp_path, "")
    assert spec.error_mappings == ()
    assert all(spec.error_map(v) == {} for v in range(6))


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("error PRODUCER_FENCED 2+ INVALID_PRODUCER_EPOCH", "an error line is"),
        ("error PRODUCER_FENCED 2+ else", "an error line is"),
        ("error PRODUCER_FENSED 2+ else INVALID_PRODUCER_EPOCH", "unknown error 'PRODUCER_FENSED'"),
        ("error PRODUCER_FENCED 2+ else INVALID_EPOCH", "unknown error 'INVALID_EPOCH'"),
        ("error PRODUCER_FENCED 7+ else INVALID_PRODUCER_EPOCH", "outside the API's versions"),
        ("error PRODUCER_FENCED 1-9 else INVALID_PRODUCER_EPOCH", "outside the API's versions"),
        ("error PRODUCER_FENCED two else INVALID_PRODUCER_EPOCH", "bad version range"),
        ("error PRODUCER_FENCED 2+ else PRODUCER_FENCED", "mapped to itself"),
        ("error PRODUCER_FENCED 2+ else INVALID_PRODUCER_EPOCH unquoted", "a double-quoted string"),
        ("error PRODUCER_FENCED 2+ else INVALID_PRODUCER_EPOCH \"open", "a double-quoted string"),
        (
            "error PRODUCER_FENCED 2+ else INVALID_PRODUCER_EPOCH\nerror PRODUCER_FENCED 3+ else INVALID_TXN_STATE",
            "an error mapped twice",
        ),
    ],
)
def test_malformed_error_lines_are_refused(tmp_path: Path, line: str, complaint: str) -> None:
    with pytest.raises(SpecError, match=complaint):
        _parse(tmp_path, line + "\n")


def test_the_shipped_specs_map_producer_fenced_for_clients_before_kip_588() -> None:
    fenced = {ErrorCode.PRODUCER_FENCED: (ErrorCode.INVALID_PRODUCER_EPOCH, None)}
    # InitProducerId (22) v0-3; AddPartitionsToTxn (24), AddOffsetsToTxn (25), EndTxn (26) v0-1.
    for key, first_carrying in ((22, 4), (24, 2), (25, 2), (26, 2)):
        for version in range(api_specs()[key].versions.low, first_carrying):
            assert ERROR_MAPS[(key, version)].items() >= fenced.items(), (key, version)
        for version in range(first_carrying, api_specs()[key].versions.high + 1):
            assert ErrorCode.PRODUCER_FENCED not in ERROR_MAPS.get((key, version), {}), (key, version)


@pytest.mark.parametrize(
    ("key", "version", "error", "expected"),
    [
        (2, 4, ErrorCode.OFFSET_NOT_AVAILABLE, ErrorCode.LEADER_NOT_AVAILABLE),
        (2, 5, ErrorCode.OFFSET_NOT_AVAILABLE, None),
        (8, 8, ErrorCode.GROUP_ID_NOT_FOUND, ErrorCode.ILLEGAL_GENERATION),
        (8, 9, ErrorCode.GROUP_ID_NOT_FOUND, None),
        (28, 5, ErrorCode.PRODUCER_FENCED, ErrorCode.INVALID_PRODUCER_EPOCH),
        (28, 3, ErrorCode.TRANSACTION_ABORTABLE, ErrorCode.INVALID_TXN_STATE),
        (28, 4, ErrorCode.TRANSACTION_ABORTABLE, None),
    ],
)
def test_the_shipped_specs_map_kafkas_other_errors(key: int, version: int, error: ErrorCode, expected: object) -> None:
    """ListOffsets (KIP-207), OffsetCommit (KIP-848), TxnOffsetCommit (KIP-588, KIP-890): None where carried."""
    replacement = ERROR_MAPS.get((key, version), {}).get(error)
    assert (replacement[0] if replacement else None) == expected


def test_the_door_never_walks_the_hot_path_answers() -> None:
    """Fetch (1) has no error line; Produce (0) maps its errors where it builds them (``maps_errors``), so
    the door walks neither answer; the transactional APIs' answers it walks."""
    assert HANDLERS[1].error_maps is None and HANDLERS[1].door_error_maps is None
    assert HANDLERS[0].error_maps is not None and HANDLERS[0].door_error_maps is None
    assert HANDLERS[26].door_error_maps is HANDLERS[26].error_maps
    assert all(mapping for h in HANDLERS.values() for mapping in (h.error_maps or {}).values())


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (3, (ErrorCode.INVALID_TXN_STATE, "Partition was not added to the transaction")),
        (10, (ErrorCode.INVALID_TXN_STATE, "Partition was not added to the transaction")),
        (11, (ErrorCode.TRANSACTION_ABORTABLE, None)),
        (13, (ErrorCode.TRANSACTION_ABORTABLE, None)),
    ],
)
def test_a_handler_maps_an_error_for_its_request_version(version: int, expected: tuple) -> None:
    """Produce's error line (KIP-890) through ``ctx.versioned_error``; other errors keep code and message."""
    request = Request(api_key=0, api_version=version, correlation_id=1, client_id=None, size=0, body={})
    ctx = RequestContext(broker=None, request=request)  # type: ignore[arg-type]
    assert ctx.versioned_error(ErrorCode.TRANSACTION_ABORTABLE) == expected
    assert ctx.versioned_error(ErrorCode.INVALID_RECORD, "bad") == (ErrorCode.INVALID_RECORD, "bad")


def test_remap_rewrites_every_error_field_at_any_depth_and_encodes() -> None:
    """An AddPartitionsToTxn v1 answer (per-partition ``partition_error_code``) rewritten, then encoded in v1
    and decoded back as a client reads it."""
    body = {
        "throttle_time_ms": 0,
        "results_by_topic_v3_and_below": [
            {
                "name": "t",
                "results_by_partition": [
                    {"partition_index": 0, "partition_error_code": ErrorCode.PRODUCER_FENCED},
                    {"partition_index": 1, "partition_error_code": ErrorCode.NONE},
                    {"partition_index": 2, "partition_error_code": int(ErrorCode.PRODUCER_FENCED)},
                ],
            }
        ],
    }
    remap_errors(body, ERROR_MAPS[(24, 1)])
    pair = codec(24, 1)
    decoded = pair.decode_response(pair.encode_response(body).getvalue())
    codes = [p["partition_error_code"] for p in decoded["results_by_topic_v3_and_below"][0]["results_by_partition"]]
    assert codes == [ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.NONE, ErrorCode.INVALID_PRODUCER_EPOCH]


def test_remap_sets_the_message_of_the_struct_whose_error_it_rewrites() -> None:
    message = "Partition was not added to the transaction"
    mapping = {ErrorCode.TRANSACTION_ABORTABLE: (ErrorCode.INVALID_TXN_STATE, message)}
    partitions = [
        {"index": 0, "error_code": ErrorCode.TRANSACTION_ABORTABLE},
        {"index": 1, "error_code": ErrorCode.NONE, "error_message": None},
    ]
    body = {"responses": [{"name": "t", "partition_responses": partitions}]}
    remap_errors(body, mapping)
    assert partitions == [
        {"index": 0, "error_code": ErrorCode.INVALID_TXN_STATE, "error_message": message},
        {"index": 1, "error_code": ErrorCode.NONE, "error_message": None},
    ]


def test_remap_leaves_other_errors_and_non_error_fields_alone() -> None:
    body = {"error_code": ErrorCode.CONCURRENT_TRANSACTIONS, "producer_id": 90, "producer_epoch": 90}
    remap_errors(body, ERROR_MAPS[(22, 3)])
    assert body == {"error_code": ErrorCode.CONCURRENT_TRANSACTIONS, "producer_id": 90, "producer_epoch": 90}
    body["error_code"] = ErrorCode.PRODUCER_FENCED
    remap_errors(body, ERROR_MAPS[(22, 3)])
    assert body == {"error_code": ErrorCode.INVALID_PRODUCER_EPOCH, "producer_id": 90, "producer_epoch": 90}


@pytest.mark.parametrize("version", [0, 5, 7, 9])
def test_joingroup_error_response_sends_no_member_id(version: int) -> None:
    """Kafka's JoinGroupRequest.getErrorResponse sets UNKNOWN_MEMBER_ID (""), not the request's member id."""
    pair = codec(11, version)
    body = {
        "group_id": "g",
        "session_timeout_ms": 10000,
        "rebalance_timeout_ms": 10000,
        "member_id": "m-1",
        "group_instance_id": None,
        "protocol_type": "consumer",
        "protocols": [{"name": "range", "metadata": b""}],
        "reason": None,
    }
    request = pair.decode_request(pair.encode_request(body))
    response = error_response(11, version, request, ErrorCode.GROUP_AUTHORIZATION_FAILED)
    assert response["error_code"] == ErrorCode.GROUP_AUTHORIZATION_FAILED
    assert response.get("member_id", "") == ""
    assert pair.decode_response(pair.encode_response(response).getvalue())["member_id"] == ""


def test_leavegroup_error_response_lists_no_members() -> None:
    """Kafka's LeaveGroupRequest.getErrorResponse sets only the error code."""
    pair = codec(13, 3)
    body = {"group_id": "g", "members": [{"member_id": "m-1", "group_instance_id": None}]}
    request = pair.decode_request(pair.encode_request(body))
    response = error_response(13, 3, request, ErrorCode.GROUP_AUTHORIZATION_FAILED)
    assert response["error_code"] == ErrorCode.GROUP_AUTHORIZATION_FAILED
    assert response.get("members", []) == []
