"""Metadata and CreateTopics as the admin clients see them: brokers, partitions, leaders, topic ids.

A single-node broker must present itself as the only broker, the controller and the leader of
every partition (librdkafka sends CreateTopics to the controller, so -1 there breaks admin
clients), and give every topic a stable, non-zero topic id that survives a restart.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

from tests.broker_process import BrokerProcess
from tests.integration.clientutil import base_conf, create_topic, unique_topic, wait_for_partitions

UNKNOWN_TOPIC_OR_PARTITION = 3


def kafka_python_admin(bootstrap: str):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, bootstrap_timeout_ms=10000)


def confluent_topic_id(admin: AdminClient, topic: str) -> uuid.UUID:
    """Topic id via confluent-kafka's describe_topics, as a standard UUID."""
    desc = admin.describe_topics(TopicCollection([topic]), request_timeout=15)[topic].result(timeout=20)
    tid = desc.topic_id
    mask = (1 << 64) - 1
    return uuid.UUID(int=((tid.get_most_significant_bits() & mask) << 64) | (tid.get_least_significant_bits() & mask))


def test_confluent_list_topics(shared_broker: BrokerProcess) -> None:
    topic = unique_topic("md-ck")
    create_topic(shared_broker.bootstrap, topic, 3)
    admin = AdminClient(base_conf(shared_broker.bootstrap))
    md = admin.list_topics(timeout=10)

    assert len(md.brokers) == 1, md.brokers
    [(node_id, b)] = md.brokers.items()
    assert (b.host, b.port) == ("127.0.0.1", shared_broker.port), "advertised address must be the listener"
    assert md.controller_id == node_id
    assert md.cluster_id, "cluster id should be set"

    t = md.topics[topic]
    assert t.error is None
    assert sorted(t.partitions) == [0, 1, 2]
    for pid, p in t.partitions.items():
        assert (p.id, p.leader, p.replicas, p.isrs, p.error) == (pid, node_id, [node_id], [node_id], None)


def test_confluent_create_topic_twice_fails(shared_broker: BrokerProcess) -> None:
    topic = unique_topic("md-dup")
    create_topic(shared_broker.bootstrap, topic, 2)
    admin = AdminClient(base_conf(shared_broker.bootstrap))
    fut = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)], operation_timeout=10)[topic]
    with pytest.raises(KafkaException) as info:
        fut.result(timeout=15)
    assert info.value.args[0].name() == "TOPIC_ALREADY_EXISTS"


def test_create_topic_rejects_bad_partition_count(shared_broker: BrokerProcess) -> None:
    """kafka-python sends num_partitions=0 as is (librdkafka refuses it locally)."""
    import kafka.errors

    topic = unique_topic("md-bad")
    admin = kafka_python_admin(shared_broker.bootstrap)
    try:
        with pytest.raises(kafka.errors.InvalidPartitionsError):
            admin.create_topics({topic: {"num_partitions": 0, "replication_factor": 1}})
        assert topic not in admin.list_topics()
    finally:
        admin.close()


def test_kafka_python_admin_topics(shared_broker: BrokerProcess) -> None:
    import kafka.errors

    created = unique_topic("md-kpy")
    other = unique_topic("md-kpy-other")
    missing = unique_topic("md-missing")
    admin = kafka_python_admin(shared_broker.bootstrap)
    try:
        admin.create_topics(
            {
                created: {"num_partitions": 2, "replication_factor": 1},
                other: {"num_partitions": 1, "replication_factor": 1},
            }
        )
        admin.wait_for_topics([created, other], timeout_ms=15000)
        with pytest.raises(kafka.errors.TopicAlreadyExistsError):
            admin.create_topics({created: {"num_partitions": 2, "replication_factor": 1}})

        assert {created, other} <= set(admin.list_topics())
        by_name = {t["name"]: t for t in admin.describe_topics([created, other, missing])}
        assert by_name[missing]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        assert missing not in admin.list_topics(), "Metadata with allow_auto_topic_creation=False created a topic"

        desc = by_name[created]
        assert desc["error_code"] == 0
        assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1]
        cluster = admin.describe_cluster()
        [broker] = cluster["brokers"]
        assert (broker["host"], broker["port"]) == ("127.0.0.1", shared_broker.port)
        assert all(p["leader_id"] == broker["broker_id"] for p in desc["partitions"])

        ids = {name: uuid.UUID(str(by_name[name].get("topic_id"))) for name in (created, other)}
        for name, tid in ids.items():
            assert tid.int != 0, f"{name}: topic id is all zeros (no topic ids in Metadata)"
        assert ids[created] != ids[other], "two topics share a topic id"
        again = {t["name"]: uuid.UUID(str(t["topic_id"])) for t in admin.describe_topics([created, other])}
        assert again == ids, "topic ids changed between Metadata calls"

        confluent_admin = AdminClient(base_conf(shared_broker.bootstrap))
        assert confluent_topic_id(confluent_admin, created) == ids[created], "clients disagree on the topic id"
    finally:
        admin.close()


def test_topic_id_survives_restart(broker: BrokerProcess) -> None:
    topic = unique_topic("md-restart")
    create_topic(broker.bootstrap, topic, 2)
    before = confluent_topic_id(AdminClient(base_conf(broker.bootstrap)), topic)
    assert before.int != 0
    broker.restart(crash=True)
    admin = AdminClient(base_conf(broker.bootstrap))
    wait_for_partitions(admin, topic, 2)
    assert confluent_topic_id(admin, topic) == before
