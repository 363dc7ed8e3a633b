"""The request path over a real socket: authorization asked by every handler, hooks, and the
exception policy (an error answer, not a closed connection). The broker runs in this process so the
test can give it an authorizer that denies everything, and hooks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from kafkapy.acl import AclOperation, ResourceType, allow_everything
from kafkapy.apis import HANDLERS, RequestContext, load_handlers
from kafkapy.broker import Broker
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch
from kafkapy.protocol.specs import ApiKey
from kafkapy.testing import KafkaBroker
from tests.sample_requests import Names, sample_request

load_handlers()
TOPIC = "door-topic"

# What a principal allowed nothing gets from each API (Kafka's KafkaApis): the denied resource's
# *_AUTHORIZATION_FAILED, or, for the APIs that filter what they list, no error and nothing listed.
DENIED: dict[int, ErrorCode | None] = {
    0: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,  # the sample names a transactional id
    1: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    2: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    3: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    8: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    9: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    10: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    11: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    12: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    13: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    14: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    15: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    16: None,
    # Not asked of the authorizer: on a PLAINTEXT listener Kafka's KafkaApis answers ILLEGAL_SASL_STATE.
    17: ErrorCode.ILLEGAL_SASL_STATE,
    19: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    20: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    21: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    22: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    23: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    24: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,  # v4+ is a broker's request: CLUSTER_ACTION
    25: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    26: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    28: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    29: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    30: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    31: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    32: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    33: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    34: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    35: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    36: ErrorCode.ILLEGAL_SASL_STATE,
    37: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    42: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    43: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    44: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    45: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    46: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    47: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    48: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    49: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    50: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    51: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    55: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    57: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    60: None,
    61: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    65: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    66: None,
    68: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    69: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    74: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    75: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    76: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    77: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    78: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    79: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    88: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    89: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    90: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    91: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    92: ErrorCode.GROUP_AUTHORIZATION_FAILED,
}
# DeleteTopics v6 takes a name or an id, not both (the sample has both): v5 names the topic.
VERSION = {20: 5}
# DescribeCluster asks the authorizer only for the cluster's authorized operations.
OVERRIDES: dict[int, dict[str, Any]] = {60: {"include_cluster_authorized_operations": True}}
# The APIs Kafka answers anyone, before authentication: ApiVersions, SaslHandshake, SaslAuthenticate.
WITHOUT_RULE = {ApiKey.API_VERSIONS, 17, 36}


class DenyEverything:
    """An authorizer that refuses every action and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[ResourceType, AclOperation, str]] = []

    def __call__(self, ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
        assert ctx.principal == "User:ANONYMOUS" and ctx.listener_name == "PLAINTEXT"
        self.asked.append((resource_type, operation, name))
        return False


def _join(client: Any, group_id: str) -> int:
    """JoinGroup v3 (no MEMBER_ID_REQUIRED round): the group then has a member."""
    join = {
        "group_id": group_id,
        "session_timeout_ms": 10_000,
        "rebalance_timeout_ms": 10_000,
        "member_id": "",
        "protocol_type": "consumer",
        "protocols": [{"name": "range", "metadata": b""}],
    }
    return client.request(ApiKey.JOIN_GROUP, 3, join).error_code


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaBroker]:
    """A broker with a topic, a group and a transactional id, so the listing APIs have something to filter."""
    with KafkaBroker(in_process=True) as kafka:
        kafka.create_topic(TOPIC)
        with kafka.client() as client:
            assert _join(client, Names.group) == ErrorCode.NONE
            init = {"transactional_id": Names.transactional_id, "transaction_timeout_ms": 60_000}
            assert client.request(ApiKey.INIT_PRODUCER_ID, 2, init).error_code == ErrorCode.NONE
        yield kafka


@pytest.fixture
def broker(kafka: KafkaBroker) -> Iterator[Broker]:
    """The running Broker, its authorizer and hooks restored after the test."""
    broker = kafka._thread._broker
    yield broker
    broker.authorizer = allow_everything
    broker.request_hooks = []


def _codes(obj: object) -> set[int]:
    """Every error code in a decoded response."""
    if isinstance(obj, dict):
        found: set[int] = set()
        for name, value in obj.items():
            if name in ("error_code", "partition_error_code"):
                found.add(value)
            elif not name.startswith("_"):
                found |= _codes(value)
        return found
    if isinstance(obj, list):
        return set().union(*(_codes(item) for item in obj))
    return set()


def _listed(obj: dict) -> int:
    """How many entries a listing API answered with."""
    return sum(len(obj.get(field) or []) for field in ("groups", "transaction_states"))


@pytest.mark.parametrize("api_key", [key for key in sorted(HANDLERS) if key not in WITHOUT_RULE])
def test_a_denying_authorizer_gets_each_apis_authorization_error(
    kafka: KafkaBroker, broker: Broker, api_key: int
) -> None:
    """Every handler asks the authorizer, only about the resources its rule names, and answers a denial
    with Kafka's error for the resource (never data, never a closed connection)."""
    handler = HANDLERS[api_key]
    names = Names(topic=TOPIC)
    with kafka.client() as client:
        names.topic_id = client.request(ApiKey.METADATA, 12, {"topics": [{"name": TOPIC}]}).topics[0].topic_id
        denier = DenyEverything()
        broker.authorizer = denier
        version = VERSION.get(api_key, handler.max_version)
        body = {**sample_request(api_key, version, names), **OVERRIDES.get(api_key, {})}
        response = client.request(api_key, version, body)
        broker.authorizer = allow_everything
        assert (
            client.request(
                ApiKey.API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"}
            ).error_code
            == 0
        )
    asked = {(resource, operation) for resource, operation, _ in denier.asked}
    assert asked <= set(handler.acl), f"{handler.name} asked about {asked - set(handler.acl)} outside its rule"
    assert handler.acl, f"{handler.name} has no authorization rule"
    assert asked, f"{handler.name} has a rule but asked nothing"
    expected = DENIED[api_key]
    codes = _codes(response) - {ErrorCode.NONE}
    if expected is None:
        assert not codes and not _listed(response)
    else:
        assert codes == {expected}


def test_a_produce_denied_on_its_topic_writes_nothing(kafka: KafkaBroker, broker: Broker) -> None:
    batch = build_batch([(None, b"denied", [], 1_700_000_000_000)])
    produce = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 5000,
        "topic_data": [{"name": TOPIC, "partition_data": [{"index": 0, "records": batch}]}],
    }
    broker.authorizer = DenyEverything()
    with kafka.client() as client:
        result = client.request(ApiKey.PRODUCE, 9, produce).responses[0].partition_responses[0]
        assert result.error_code == ErrorCode.TOPIC_AUTHORIZATION_FAILED
        broker.authorizer = allow_everything
        latest = {"partition_index": 0, "timestamp": -1}
        offsets = {"replica_id": -1, "topics": [{"name": TOPIC, "partitions": [latest]}]}
        assert client.request(ApiKey.LIST_OFFSETS, 1, offsets).topics[0].partitions[0].offset == 0


def test_a_hook_answers_the_request_with_its_error(kafka: KafkaBroker, broker: Broker) -> None:
    """A pre-handler hook (a fault injected, a quota) answers with its error in every error field."""
    broker.request_hooks = [
        lambda ctx: ErrorCode.THROTTLING_QUOTA_EXCEEDED if ctx.request.api_key == ApiKey.METADATA else None
    ]
    with kafka.client() as client:
        metadata = client.request(ApiKey.METADATA, 12, {"topics": [{"name": TOPIC}, {"name": "other"}]})
        assert [t.error_code for t in metadata.topics] == [ErrorCode.THROTTLING_QUOTA_EXCEEDED] * 2
        assert [t.name for t in metadata.topics] == [TOPIC, "other"]
        assert client.request(ApiKey.API_VERSIONS, 0, {}).error_code == ErrorCode.NONE


def test_an_unexpected_exception_answers_unknown_server_error(
    kafka: KafkaBroker, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection stays open, and the failure is logged once with its traceback."""

    def fail(ctx: RequestContext) -> None:
        if ctx.request.api_key == ApiKey.HEARTBEAT:
            raise RuntimeError("boom")

    broker.request_hooks = [fail]
    heartbeat = {"group_id": "g", "generation_id": 1, "member_id": "m"}
    with caplog.at_level(logging.ERROR, logger="kafkapy.server"), kafka.client() as client:
        assert client.request(ApiKey.HEARTBEAT, 2, heartbeat).error_code == ErrorCode.UNKNOWN_SERVER_ERROR
        assert client.request(ApiKey.API_VERSIONS, 0, {}).error_code == ErrorCode.NONE
    failures = [r for r in caplog.records if r.exc_info and "boom" in str(r.exc_info[1])]
    assert len(failures) == 1


@pytest.mark.parametrize("refusal", ["hook", "transactional_id", "topic"])
def test_an_acks_0_produce_that_is_refused_closes_the_connection(
    kafka: KafkaBroker, broker: Broker, refusal: str
) -> None:
    """An acks=0 producer reads no answer; Kafka closes the connection so it notices."""
    if refusal == "hook":
        broker.request_hooks = [lambda ctx: ErrorCode.THROTTLING_QUOTA_EXCEEDED]
    else:
        broker.authorizer = lambda ctx, operation, resource_type, name: resource_type.name.lower() not in refusal
    batch = build_batch([(None, b"x", [], 0)])
    produce = {
        "transactional_id": "door-txn",
        "acks": 0,
        "timeout_ms": 5000,
        "topic_data": [{"name": TOPIC, "partition_data": [{"index": 0, "records": batch}]}],
    }
    with kafka.client() as client:
        client.send_raw(client.encode(ApiKey.PRODUCE, 9, produce)[1])
        assert client.is_closed_by_peer()


def test_join_group_shows_the_client_host_without_its_port(kafka: KafkaBroker) -> None:
    with kafka.client() as client:
        assert _join(client, "door-group") == ErrorCode.NONE
        group = client.request(ApiKey.DESCRIBE_GROUPS, 3, {"groups": ["door-group"]}).groups[0]
    assert [m.client_host for m in group.members] == ["/127.0.0.1"]
