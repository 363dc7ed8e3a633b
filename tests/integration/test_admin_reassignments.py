"""Issue #15's single-node admin APIs through kafka-python's KafkaAdminClient over TCP against a broker
process: partition reassignments (45, 46) before and after a restart, AlterReplicaLogDirs (34) with
DescribeLogDirs (35), DescribeQuorum (55) and ListConfigResources (74).
The exact answers are compared with Apache Kafka 4.3.1's in compat_tests/test_wire_admin.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import (
    InvalidReplicationAssignmentError,
    LogDirNotFoundError,
    NoError,
    NoReassignmentInProgressError,
    UnknownTopicOrPartitionError,
)

from tests.broker_process import BrokerProcess
from tests.integration.clientutil import unique_topic


def _admin(broker: BrokerProcess) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000)


@pytest.fixture
def admin(broker: BrokerProcess) -> Iterator[KafkaAdminClient]:
    client = _admin(broker)
    yield client
    client.close()


def _replicas(admin: KafkaAdminClient, topic: str) -> list[list[int]]:
    (described,) = admin.describe_topics([topic])
    return [p["replica_nodes"] for p in sorted(described["partitions"], key=lambda p: p["partition_index"])]


def test_a_reassignment_to_itself_completes_and_survives_a_restart(broker: BrokerProcess) -> None:
    """To the node itself: accepted and done at once (nothing listed, nothing to cancel, Metadata's
    replicas unchanged); to another broker INVALID_REPLICA_ASSIGNMENT; after a restart the same."""
    topic = unique_topic("reassign")
    admin = _admin(broker)
    admin.create_topics([NewTopic(topic, 2, 1)])
    results = admin.alter_partition_reassignments(
        {TopicPartition(topic, 0): [1], TopicPartition(topic, 1): [2], TopicPartition("absent-topic", 0): [1]}
    )
    assert results == {
        TopicPartition(topic, 0): None,
        TopicPartition(topic, 1): InvalidReplicationAssignmentError,
        TopicPartition("absent-topic", 0): UnknownTopicOrPartitionError,
    }
    assert admin.list_partition_reassignments() == {}
    assert admin.alter_partition_reassignments({TopicPartition(topic, 0): None}) == {
        TopicPartition(topic, 0): NoReassignmentInProgressError
    }
    assert _replicas(admin, topic) == [[1], [1]]
    admin.close()
    broker.restart()
    admin = _admin(broker)
    try:
        assert admin.list_partition_reassignments({topic: [0, 1]}) == {}
        assert _replicas(admin, topic) == [[1], [1]]
    finally:
        admin.close()


def test_alter_replica_log_dirs_into_the_data_dir(admin: KafkaAdminClient) -> None:
    """The one log dir DescribeLogDirs names takes its own replicas; any other path is LOG_DIR_NOT_FOUND."""
    topic = unique_topic("logdirs")
    admin.create_topics([NewTopic(topic, 2, 1)])
    (described,) = admin.describe_log_dirs({topic: [0, 1]})
    (log_dir,) = described["log_dirs"]
    assert [p["partition_index"] for t in log_dir["topics"] for p in t["partitions"]] == [0, 1]
    results = admin.alter_replica_log_dirs({(topic, 0, 1): log_dir["log_dir"], (topic, 1, 1): "/elsewhere"})
    assert sorted((tpr.partition, error) for tpr, error in results.items()) == [(0, NoError), (1, LogDirNotFoundError)]


def test_describe_metadata_quorum_and_list_config_resources(admin: KafkaAdminClient, broker: BrokerProcess) -> None:
    """A quorum of one voter, this node, leading; the config resources are this node and the topics."""
    topic = unique_topic("configs")
    admin.create_topics([NewTopic(topic, 1, 1)])
    quorum = admin.describe_metadata_quorum()
    (partition,) = quorum["topics"][0]["partitions"]
    assert (partition["leader_id"], partition["observers"]) == (1, [])
    assert [v["replica_id"] for v in partition["current_voters"]] == [1]
    (node,) = quorum["nodes"]
    host, port = broker.bootstrap.rsplit(":", 1)
    assert [(listener["host"], listener["port"]) for listener in node["listeners"]] == [(host, int(port))]
    resources = admin.list_config_resources()
    assert resources["broker"] == resources["broker_logger"] == ["1"]
    assert topic in resources["topic"]
    assert admin.list_config_resources(["BROKER"]) == {"broker": ["1"]}
