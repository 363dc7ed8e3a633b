"""Handler defects the live fuzzer (test_fuzz.py) found, each answered now as Apache Kafka 4.3.1 does.

Every expectation was checked against a real Kafka 4.3.1 (compat_tests/reference_kafka.py) unless
its docstring says where kafkapy differs and why.
"""

from __future__ import annotations

from kafkapy.protocol.errors import ErrorCode
from kafkapy.testing.wire import WireClient
from tests.integration import test_wire
from tests.integration.clientutil import unique_topic
from tests.integration.test_wire import create

client = test_wire.client  # the fixture: a WireClient on the module's shared broker


def test_create_topics_over_10000_partitions_is_a_policy_violation(client: WireClient) -> None:
    """2^31-1 partitions were created one by one: the broker hung. Kafka checks the request's total."""
    names = [unique_topic("huge"), unique_topic("small")]
    body = {
        "topics": [
            {"name": names[0], "num_partitions": 2**31 - 1, "replication_factor": 1},
            {"name": names[1], "num_partitions": 1, "replication_factor": 1},
        ]
    }
    resp = client.request(19, 7, body)
    assert [(t.name, t.error_code, t.error_message) for t in resp.topics] == [
        (name, ErrorCode.POLICY_VIOLATION, "Excessively large number of partitions per request.") for name in names
    ]
    several = {"topics": [{"name": unique_topic("m"), "num_partitions": 4000, "replication_factor": 1}] * 3}
    assert {t.error_code for t in client.request(19, 7, several).topics} == {ErrorCode.POLICY_VIOLATION}


def test_create_partitions_beyond_10000_more_is_refused(client: WireClient) -> None:
    """Same hang through CreatePartitions. Kafka 4.3.1 refuses more than 10000 new partitions with
    UNKNOWN_SERVER_ERROR (its batch limit escapes as an unexpected exception); kafkapy answers the
    POLICY_VIOLATION that Kafka gives CreateTopics for the same limit."""
    name = unique_topic("grow")
    create(client, name)
    resp = client.request(37, 3, {"topics": [{"name": name, "count": 2**31 - 1, "assignments": None}]})
    assert resp.results[0].error_code == ErrorCode.POLICY_VIOLATION
    resp = client.request(37, 3, {"topics": [{"name": name, "count": 3, "assignments": None}]})
    assert resp.results[0].error_code == ErrorCode.NONE
