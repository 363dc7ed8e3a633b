"""The ACL APIs (DescribeAcls, CreateAcls, DeleteAcls) without an authorizer: SECURITY_DISABLED, as Kafka.

Every assertion here was run once against Apache Kafka 4.3.1 (compat_tests/reference_kafka.py, no
authorizer.class.name) by calling these functions with its bootstrap: the same codes, messages, version
ranges and closed connections.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import base_conf

TIMEOUT = 15
# Kafka's messages: DescribeAcls says it one way, CreateAcls and DeleteAcls another (AclApis).
DESCRIBE_MESSAGE = "No Authorizer is configured on the broker"
ALTER_MESSAGE = "No Authorizer is configured."
ACL_APIS = (ApiKey.DESCRIBE_ACLS, ApiKey.CREATE_ACLS, ApiKey.DELETE_ACLS)

TOPIC, LITERAL, ANY, READ, ALLOW = 2, 3, 1, 3, 3
ANY_FILTER = {
    "resource_type_filter": ANY,
    "resource_name_filter": None,
    "pattern_type_filter": ANY,
    "principal_filter": None,
    "host_filter": None,
    "operation": ANY,
    "permission_type": ANY,
}
CREATION = {
    "resource_type": TOPIC,
    "resource_name": "acl-topic",
    "resource_pattern_type": LITERAL,
    "principal": "User:alice",
    "host": "*",
    "operation": READ,
    "permission_type": ALLOW,
}


@pytest.fixture
def bootstrap(shared_broker: BrokerProcess) -> str:
    return shared_broker.bootstrap


@pytest.fixture
def kp_admin(bootstrap: str) -> Iterator:
    from kafka.admin import KafkaAdminClient

    client = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    yield client
    client.close()


def _kafka_error(future) -> tuple[int, str]:
    """The (code, message) a failed confluent-kafka admin future carries."""
    with pytest.raises(KafkaException) as failed:
        future.result(timeout=TIMEOUT)
    error = failed.value.args[0]
    return error.code(), error.str()


def _binding(name: str) -> AclBinding:
    return AclBinding(
        ResourceType.TOPIC, name, ResourcePatternType.LITERAL, "User:alice", "*", AclOperation.READ,
        AclPermissionType.ALLOW,
    )  # fmt: skip


def _any_filter() -> AclBindingFilter:
    return AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )


def test_confluent_describe_acls_lists_nothing(bootstrap: str) -> None:
    """librdkafka 2.16 drops DescribeAcls' top-level error and lists no ACL, against Kafka 4.3.1 too
    (before these APIs existed here it failed: the API was not advertised)."""
    admin = AdminClient(base_conf(bootstrap))
    assert admin.describe_acls(_any_filter(), request_timeout=TIMEOUT).result(timeout=TIMEOUT) == []


def test_confluent_create_acls_gets_security_disabled_for_each_binding(bootstrap: str) -> None:
    admin = AdminClient(base_conf(bootstrap))
    futures = admin.create_acls([_binding("acl-a"), _binding("acl-b")], request_timeout=TIMEOUT)
    assert len(futures) == 2
    for future in futures.values():
        code, message = _kafka_error(future)
        assert code == ErrorCode.SECURITY_DISABLED
        assert ALTER_MESSAGE in message


def test_confluent_delete_acls_gets_security_disabled(bootstrap: str) -> None:
    admin = AdminClient(base_conf(bootstrap))
    futures = admin.delete_acls([_any_filter()], request_timeout=TIMEOUT)
    code, message = _kafka_error(next(iter(futures.values())))
    assert code == ErrorCode.SECURITY_DISABLED
    assert ALTER_MESSAGE in message


def test_kafka_python_describe_acls_raises_security_disabled(kp_admin) -> None:
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ResourcePatternFilter
    from kafka.admin import ACLResourcePatternType as PatternType
    from kafka.admin import ResourceType as KpResourceType
    from kafka.errors import SecurityDisabledError

    pattern = ResourcePatternFilter(KpResourceType.ANY, None, PatternType.ANY)
    acl_filter = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY, pattern)
    with pytest.raises(SecurityDisabledError, match=DESCRIBE_MESSAGE):
        kp_admin.describe_acls(acl_filter)


def test_versions_1_to_3_are_advertised_and_answered(bootstrap: str) -> None:
    """Kafka 4.3.1 serves 1-3 (v0 was removed in Kafka 4); each version answers every entry it was sent."""
    with WireClient.connect(bootstrap) as client:
        versions = client.request(
            ApiKey.API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"}
        ).api_keys
        assert {(v.api_key, v.min_version, v.max_version) for v in versions if v.api_key in ACL_APIS} == {
            (key, 1, 3) for key in ACL_APIS
        }
        for version in (1, 2, 3):
            described = client.request(ApiKey.DESCRIBE_ACLS, version, ANY_FILTER)
            assert (described.error_code, described.error_message, described.resources) == (
                ErrorCode.SECURITY_DISABLED, DESCRIBE_MESSAGE, []
            )  # fmt: skip
            created = client.request(ApiKey.CREATE_ACLS, version, {"creations": [CREATION, CREATION]})
            assert [(r.error_code, r.error_message) for r in created.results] == [
                (ErrorCode.SECURITY_DISABLED, ALTER_MESSAGE)
            ] * 2
            deleted = client.request(ApiKey.DELETE_ACLS, version, {"filters": [ANY_FILTER]})
            assert [(r.error_code, r.error_message, r.matching_acls) for r in deleted.filter_results] == [
                (ErrorCode.SECURITY_DISABLED, ALTER_MESSAGE, [])
            ]
            assert client.request(ApiKey.CREATE_ACLS, version, {"creations": []}).results == []
            assert client.request(ApiKey.DELETE_ACLS, version, {"filters": []}).filter_results == []


@pytest.mark.parametrize(
    ("api_key", "body"),
    [
        (ApiKey.DESCRIBE_ACLS, {**ANY_FILTER, "pattern_type_filter": 0}),
        (ApiKey.DESCRIBE_ACLS, {**ANY_FILTER, "operation": 0}),
        (ApiKey.CREATE_ACLS, {"creations": [CREATION, {**CREATION, "resource_type": 0}]}),
        (ApiKey.CREATE_ACLS, {"creations": [{**CREATION, "permission_type": 0}]}),
        (ApiKey.DELETE_ACLS, {"filters": [{**ANY_FILTER, "resource_type_filter": 0}]}),
    ],
    ids=["describe-pattern", "describe-operation", "create-resource-type", "create-permission", "delete-type"],
)
def test_an_unknown_acl_element_closes_the_connection(bootstrap: str, api_key: int, body: dict) -> None:
    """Kafka's parser refuses an UNKNOWN (0) resource type, pattern type, operation or permission type."""
    with WireClient.connect(bootstrap) as client, pytest.raises(ConnectionError):
        client.request(api_key, 3, body)
