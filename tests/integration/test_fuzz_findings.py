"""Handler defects the live fuzzer (test_fuzz.py) found, each answered now as Apache Kafka 4.3.1 does.

Every expectation was checked against a real Kafka 4.3.1 (compat_tests/reference_kafka.py) unless
its docstring says where kafkapy differs and why.
"""

from __future__ import annotations

import pytest

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from tests.integration import test_wire
from tests.integration.clientutil import unique_topic
from tests.integration.test_wire import create

client = test_wire.client  # the fixture: a WireClient on the module's shared broker


def test_create_topics_over_10000_partitions_is_a_policy_violation(client: WireClient) -> None:
    """2^31-1 partitions were created one by one: the broker hung. Kafka checks the request's total,
    so three topics of 4000 are refused together."""
    name = unique_topic("huge")
    resp = client.request(
        ApiKey.CREATE_TOPICS, 7, {"topics": [{"name": name, "num_partitions": 2**31 - 1, "replication_factor": 1}]}
    )
    message = "Excessively large number of partitions per request."
    assert [(t.name, t.error_code, t.error_message) for t in resp.topics] == [
        (name, ErrorCode.POLICY_VIOLATION, message)
    ]
    names = [unique_topic("many") for _ in range(3)]
    several = {"topics": [{"name": n, "num_partitions": 4000, "replication_factor": 1} for n in names]}
    resp = client.request(ApiKey.CREATE_TOPICS, 7, several)
    assert [(t.name, t.error_code, t.error_message) for t in resp.topics] == [
        (n, ErrorCode.POLICY_VIOLATION, message) for n in names
    ]


def test_create_partitions_beyond_10000_more_is_refused(client: WireClient) -> None:
    """Same hang through CreatePartitions. Kafka 4.3.1 refuses more than 10000 new partitions with
    UNKNOWN_SERVER_ERROR and no message (its batch limit escapes as an unexpected exception), and so does
    kafkapy (compat_tests/test_wire_errmap.py compares the two)."""
    name = unique_topic("grow")
    create(client, name)
    resp = client.request(
        ApiKey.CREATE_PARTITIONS, 3, {"topics": [{"name": name, "count": 2**31 - 1, "assignments": None}]}
    )
    assert (resp.results[0].error_code, resp.results[0].error_message) == (ErrorCode.UNKNOWN_SERVER_ERROR, None)
    resp = client.request(ApiKey.CREATE_PARTITIONS, 3, {"topics": [{"name": name, "count": 3, "assignments": None}]})
    assert resp.results[0].error_code == ErrorCode.NONE


def test_describe_cluster_answers_other_endpoint_types_as_kafka(client: WireClient) -> None:
    """Controller endpoints asked of a broker listener are MISMATCHED_ENDPOINT_TYPE; any other type
    (0, 3, -1, ...) UNSUPPORTED_ENDPOINT_TYPE naming it; both with no cluster id and no brokers."""
    resp = client.request(ApiKey.DESCRIBE_CLUSTER, 1, {"endpoint_type": 2})
    assert (resp.error_code, resp.error_message, resp.endpoint_type, resp.cluster_id, resp.brokers) == (
        ErrorCode.MISMATCHED_ENDPOINT_TYPE,
        "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
        1,
        "",
        [],
    )
    for endpoint_type in (0, 3, -1, 127):
        resp = client.request(ApiKey.DESCRIBE_CLUSTER, 2, {"endpoint_type": endpoint_type})
        assert (resp.error_code, resp.error_message, resp.endpoint_type) == (
            ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
            f"Unsupported endpoint type {endpoint_type}",
            1,
        )


INVALID_NAMES = {
    "": "Topic name is invalid: the empty string is not allowed",
    ".": "Topic name is invalid: '.' is not allowed",
    "bad name!": "Topic name is invalid: 'bad name!' contains one or more characters other than ASCII "
    "alphanumerics, '.', '_' and '-'",
    "t" * 250: f"Topic name is invalid: the length of '{'t' * 250}' is longer than the max allowed length 249",
}


def test_describe_producers_of_invalid_and_absent_topics(client: WireClient) -> None:
    """Invalid names are INVALID_TOPIC_EXCEPTION with Kafka's Topic.validate message, absent topics
    UNKNOWN_TOPIC_OR_PARTITION with its message, in every partition asked for."""
    name = unique_topic("producers")
    create(client, name)
    topics = [*INVALID_NAMES, "absent-topic-xyz", name]
    resp = client.request(
        ApiKey.DESCRIBE_PRODUCERS, 0, {"topics": [{"name": t, "partition_indexes": [0, -1]} for t in topics]}
    )
    answers = {t.name: [(p.partition_index, p.error_code, p.error_message) for p in t.partitions] for t in resp.topics}
    for invalid, message in INVALID_NAMES.items():
        assert answers[invalid] == [(i, ErrorCode.INVALID_TOPIC_EXCEPTION, message) for i in (0, -1)]
    absent = "This server does not host this topic-partition."
    assert answers["absent-topic-xyz"] == [(i, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, absent) for i in (0, -1)]
    assert answers[name] == [(0, ErrorCode.NONE, None), (-1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)]


def test_create_topics_invalid_names_carry_kafkas_messages(client: WireClient) -> None:
    body = {"topics": [{"name": n, "num_partitions": 1, "replication_factor": 1} for n in INVALID_NAMES]}
    resp = client.request(ApiKey.CREATE_TOPICS, 7, {**body, "validate_only": True})
    assert [(t.error_code, t.error_message) for t in resp.topics] == [
        (ErrorCode.INVALID_TOPIC_EXCEPTION, message) for message in INVALID_NAMES.values()
    ]


def test_describe_configs_of_invalid_topic_names_and_unknown_resource_types(client: WireClient) -> None:
    """An invalid topic name is INVALID_TOPIC_EXCEPTION (was UNKNOWN_TOPIC_OR_PARTITION); a resource
    type Kafka does not know (0, 1, 3, 60...) fails every resource of the request with INVALID_REQUEST."""
    resources = [{"resource_type": 2, "resource_name": n, "configuration_keys": None} for n in INVALID_NAMES]
    resp = client.request(ApiKey.DESCRIBE_CONFIGS, 4, {"resources": resources})
    assert [(r.error_code, r.error_message) for r in resp.results] == [
        (ErrorCode.INVALID_TOPIC_EXCEPTION, message) for message in INVALID_NAMES.values()
    ]
    name = unique_topic("configs")
    create(client, name)
    for unknown in (0, 1, 3, 60):
        mixed = [
            {"resource_type": 2, "resource_name": name, "configuration_keys": ["cleanup.policy"]},
            {"resource_type": unknown, "resource_name": name, "configuration_keys": None},
        ]
        resp = client.request(ApiKey.DESCRIBE_CONFIGS, 4, {"resources": mixed})
        assert [(r.resource_type, r.error_code, r.configs) for r in resp.results] == [
            (2, ErrorCode.INVALID_REQUEST, []),
            (unknown, ErrorCode.INVALID_REQUEST, []),
        ]
        assert resp.results[0].error_message.startswith("This most likely occurs because of a request being malformed")


def list_offsets(client: WireClient, version: int, topic: str, partitions: list[dict]) -> list[tuple[int, int]]:
    body = {"replica_id": -1, "topics": [{"name": topic, "partitions": partitions}]}
    return [
        (p.partition_index, p.error_code)
        for p in client.request(ApiKey.LIST_OFFSETS, version, body).topics[0].partitions
    ]


@pytest.mark.parametrize(
    ("timestamp", "first_version"), [(-1, 1), (-2, 1), (-3, 7), (-4, 8), (-5, 9), (-6, 11), (-7, 99), (-100, 99)]
)
def test_list_offsets_special_timestamps_need_their_version(
    client: WireClient, timestamp: int, first_version: int
) -> None:
    """A special timestamp in a version before it was defined, or one no version defines, is
    UNSUPPORTED_VERSION (-100 used to read as a timestamp and answer offset 0)."""
    name = unique_topic("timestamps")
    create(client, name)
    for version in (1, 4, 6, 7, 8, 9, 10, 11):
        expected = ErrorCode.NONE if version >= first_version else ErrorCode.UNSUPPORTED_VERSION
        assert list_offsets(client, version, name, [{"partition_index": 0, "timestamp": timestamp}]) == [
            (0, expected)
        ], version


def test_current_leader_epoch_is_fenced_in_list_offsets_fetch_and_offset_for_leader_epoch(client: WireClient) -> None:
    """Every partition is in leader epoch 0: -1 and 0 are answered, a newer epoch is
    UNKNOWN_LEADER_EPOCH, an older one (any other negative) FENCED_LEADER_EPOCH but in Fetch."""
    name = unique_topic("epochs")
    create(client, name)
    epochs = {
        -1: ErrorCode.NONE,
        0: ErrorCode.NONE,
        5: ErrorCode.UNKNOWN_LEADER_EPOCH,
        -5: ErrorCode.FENCED_LEADER_EPOCH,
        -(2**31): ErrorCode.FENCED_LEADER_EPOCH,
    }
    for epoch, expected in epochs.items():
        query = {"partition_index": 0, "timestamp": -1, "current_leader_epoch": epoch}
        assert list_offsets(client, 5, name, [query]) == [(0, expected)], epoch
        fetch = {
            "replica_id": -1,
            "max_wait_ms": 0,
            "min_bytes": 0,
            "topics": [
                {"topic": name, "partitions": [{"partition": 0, "current_leader_epoch": epoch, "fetch_offset": 0}]}
            ],
        }
        answer = client.request(ApiKey.FETCH, 11, fetch).responses[0].partitions[0]
        # Fetch, unlike the others, takes any negative epoch for "unknown" (Kafka 4.3.1 does).
        assert answer.error_code == (ErrorCode.NONE if epoch < 0 else expected), epoch
        body = {"topics": [{"topic": name, "partitions": [{"partition": 0, "current_leader_epoch": epoch}]}]}
        assert client.request(ApiKey.OFFSET_FOR_LEADER_EPOCH, 3, body).topics[0].partitions[0].error_code == expected, (
            epoch
        )


def test_list_offsets_partition_asked_twice_is_invalid_request(client: WireClient) -> None:
    """Kafka answers a duplicated partition once with INVALID_REQUEST; kafkapy at each place it was asked."""
    name = unique_topic("twice")
    create(client, name, partitions=2)
    parts = [{"partition_index": 0, "timestamp": -1}, {"partition_index": 1, "timestamp": -1}]
    answers = list_offsets(client, 5, name, [*parts, {"partition_index": 0, "timestamp": -2}])
    assert (1, ErrorCode.NONE) in answers
    assert {code for index, code in answers if index == 0} == {ErrorCode.INVALID_REQUEST}


@pytest.mark.parametrize(("producer_id", "producer_epoch"), [(40, -1), (-1, 3)])
@pytest.mark.parametrize("transactional_id", [None, "fuzz-txn"])
def test_init_producer_id_with_id_or_epoch_alone_is_invalid_request(
    client: WireClient, transactional_id: str | None, producer_id: int, producer_epoch: int
) -> None:
    """Kafka checks this first (was NONE without a transactional id, INVALID_TRANSACTION_TIMEOUT with
    a bad timeout); both -1 still gets a producer id."""
    body = {"transactional_id": transactional_id, "transaction_timeout_ms": -1}
    resp = client.request(
        ApiKey.INIT_PRODUCER_ID, 4, {**body, "producer_id": producer_id, "producer_epoch": producer_epoch}
    )
    assert (resp.error_code, resp.producer_id, resp.producer_epoch) == (ErrorCode.INVALID_REQUEST, -1, -1)
    resp = client.request(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": None, "transaction_timeout_ms": 100})
    assert resp.error_code == ErrorCode.NONE and resp.producer_id >= 0


@pytest.mark.parametrize(("protocol_type", "protocol_name"), [(None, "range"), ("consumer", None), (None, None)])
def test_sync_group_v5_without_protocol_type_or_name_is_inconsistent(
    client: WireClient, protocol_type: str | None, protocol_name: str | None
) -> None:
    """v5 makes them mandatory: INCONSISTENT_GROUP_PROTOCOL before the group is looked at (was
    UNKNOWN_MEMBER_ID or INVALID_GROUP_ID); v4 without them is answered about the group."""
    body = {
        "group_id": unique_topic("sync"),
        "generation_id": 1,
        "member_id": "m",
        "protocol_type": protocol_type,
        "protocol_name": protocol_name,
        "assignments": [],
    }
    assert client.request(ApiKey.SYNC_GROUP, 5, body).error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert client.request(ApiKey.SYNC_GROUP, 4, body).error_code == ErrorCode.UNKNOWN_MEMBER_ID
