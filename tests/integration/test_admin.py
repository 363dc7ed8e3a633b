"""Admin APIs through confluent-kafka's AdminClient and kafka-python's KafkaAdminClient, with their errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import ElectionType, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)
from confluent_kafka.error import KafkaError as CKafkaError

from kafkapy.protocol.errors import ErrorCode
from kafkapy.storage.log_manager import kafka_string_to_uuid
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import Deadline, base_conf, consumer, flush_all, producer, unique_topic

TIMEOUT = 15


@pytest.fixture
def admin(shared_broker: BrokerProcess) -> AdminClient:
    return AdminClient(base_conf(shared_broker.bootstrap))


@pytest.fixture
def kp_admin(shared_broker: BrokerProcess) -> Iterator:
    from kafka.admin import KafkaAdminClient

    client = KafkaAdminClient(bootstrap_servers=shared_broker.bootstrap, request_timeout_ms=15000)
    yield client
    client.close()


def error_code(future) -> int:
    """The Kafka error code a failed admin future carries (0 if it succeeded)."""
    try:
        future.result(timeout=TIMEOUT)
    except KafkaException as exc:
        return exc.args[0].code()
    return 0


def create(admin: AdminClient, name: str, partitions: int = 1, **configs: str) -> None:
    topic = NewTopic(name, partitions, 1, config={k.replace("_", "."): v for k, v in configs.items()})
    admin.create_topics([topic])[name].result(timeout=TIMEOUT)


def produce_values(bootstrap: str, topic: str, count: int, partition: int = 0) -> None:
    p = producer(bootstrap)
    for i in range(count):
        p.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=partition)
    flush_all(p)


def test_create_topics_configs_validate_only_and_errors(admin: AdminClient) -> None:
    name = unique_topic("adm-create")
    topic = NewTopic(name, 3, 1, config={"cleanup.policy": "compact", "retention.ms": "1000"})
    assert error_code(admin.create_topics([topic], validate_only=True)[name]) == 0
    assert name not in admin.list_topics(timeout=TIMEOUT).topics
    admin.create_topics([topic])[name].result(timeout=TIMEOUT)
    assert len(admin.list_topics(name, timeout=TIMEOUT).topics[name].partitions) == 3
    assert error_code(admin.create_topics([topic])[name]) == CKafkaError.TOPIC_ALREADY_EXISTS
    bad = [
        (NewTopic(unique_topic("p"), 0, 1), CKafkaError.INVALID_PARTITIONS),
        (NewTopic(unique_topic("c"), 1, 1, config={"no.such.config": "1"}), CKafkaError.INVALID_CONFIG),
        (NewTopic(unique_topic("c"), 1, 1, config={"retention.ms": "soon"}), CKafkaError.INVALID_CONFIG),
        (NewTopic(unique_topic("c"), 1, 1, config={"cleanup.policy": "shred"}), CKafkaError.INVALID_CONFIG),
        (NewTopic(unique_topic("c"), 1, 1, config={"compression.type": "brotli"}), CKafkaError.INVALID_CONFIG),
        (NewTopic(unique_topic("r"), 1, 0), CKafkaError.INVALID_REPLICATION_FACTOR),
    ]
    for validate_only in (True, False):
        futures = admin.create_topics([t for t, _ in bad], validate_only=validate_only)
        for t, code in bad:
            assert error_code(futures[t.topic]) == code, (t, validate_only)


def test_replication_factor_above_brokers_is_accepted_with_one_replica(admin: AdminClient, kp_admin) -> None:
    name = unique_topic("adm-rf3")
    admin.create_topics([NewTopic(name, 2, 3)])[name].result(timeout=TIMEOUT)
    described = admin.describe_topics(TopicCollection([name]))[name].result(timeout=TIMEOUT)
    assert [len(p.replicas) for p in described.partitions] == [1, 1]
    assert [len(p.isr) for p in described.partitions] == [1, 1]
    result = kp_admin.create_topics({unique_topic("kp-rf3"): {"num_partitions": 1, "replication_factor": 3}})
    assert all(t["error_code"] == 0 for t in result["topics"])


def test_strict_replication_factor(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory("strict", extra_args=("--override", "kafkapy.strict.replication.factor=true"))
    admin = AdminClient(base_conf(b.bootstrap))
    futures = admin.create_topics([NewTopic("rf3", 1, 3), NewTopic("rf1", 1, 1)])
    assert error_code(futures["rf3"]) == CKafkaError.INVALID_REPLICATION_FACTOR
    assert error_code(futures["rf1"]) == 0


def test_create_topic_policy_gives_policy_violation(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory(
        "policy",
        extra_args=(
            "--override",
            "create.topic.policy.class.name=tests.integration.policies.AtMostFourPartitions",
            "--override",
            "alter.config.policy.class.name=tests.integration.policies.NoInfiniteRetention",
        ),
    )
    admin = AdminClient(base_conf(b.bootstrap))
    for validate_only in (True, False):
        futures = admin.create_topics([NewTopic("big", 8, 1), NewTopic("small", 2, 1)], validate_only=validate_only)
        assert error_code(futures["big"]) == CKafkaError.POLICY_VIOLATION
        assert error_code(futures["small"]) == 0
    assert error_code(admin.create_partitions([NewPartitions("small", 6)])["small"]) == CKafkaError.POLICY_VIOLATION
    resource = ConfigResource(ConfigResource.Type.TOPIC, "small", set_config={"retention.ms": "-1"})
    for validate_only in (True, False):
        futures = admin.alter_configs([resource], validate_only=validate_only)
        assert error_code(futures[resource]) == CKafkaError.POLICY_VIOLATION


def test_delete_topics_by_name_and_id_and_recreate(shared_broker: BrokerProcess, admin: AdminClient) -> None:
    name = unique_topic("adm-del")
    create(admin, name, 2)
    produce_values(shared_broker.bootstrap, name, 50)
    old_id = admin.describe_topics(TopicCollection([name]))[name].result(timeout=TIMEOUT).topic_id
    admin.delete_topics([name])[name].result(timeout=TIMEOUT)
    assert not (shared_broker.data_dir / f"{name}-0").exists()
    assert error_code(admin.delete_topics([name])[name]) == CKafkaError.UNKNOWN_TOPIC_OR_PART
    create(admin, name, 1)
    new = admin.describe_topics(TopicCollection([name]))[name].result(timeout=TIMEOUT)
    assert new.topic_id != old_id and len(new.partitions) == 1
    lo, hi = consumer(shared_broker.bootstrap).get_watermark_offsets(TopicPartition(name, 0), timeout=TIMEOUT)
    assert (lo, hi) == (0, 0)


def test_delete_topics_by_id_with_kafka_python(kp_admin, admin: AdminClient) -> None:
    name = unique_topic("kp-del")
    create(admin, name)
    topic_id = admin.describe_topics(TopicCollection([name]))[name].result(timeout=TIMEOUT).topic_id
    result = kp_admin.delete_topics([kafka_string_to_uuid(str(topic_id))])
    assert [(t["name"], t["error_code"]) for t in result["topics"]] == [(name, 0)]
    assert name not in admin.list_topics(timeout=TIMEOUT).topics
    missing = kp_admin.delete_topics([uuid.uuid4()], raise_errors=False)
    assert missing["topics"][0]["error_code"] == ErrorCode.UNKNOWN_TOPIC_ID


def test_create_partitions(admin: AdminClient, kp_admin) -> None:
    name = unique_topic("adm-parts")
    create(admin, name, 2)
    assert error_code(admin.create_partitions([NewPartitions(name, 4)], validate_only=True)[name]) == 0
    assert len(admin.list_topics(name, timeout=TIMEOUT).topics[name].partitions) == 2
    admin.create_partitions([NewPartitions(name, 4)])[name].result(timeout=TIMEOUT)
    assert len(admin.list_topics(name, timeout=TIMEOUT).topics[name].partitions) == 4
    assert error_code(admin.create_partitions([NewPartitions(name, 3)])[name]) == CKafkaError.INVALID_PARTITIONS
    missing = unique_topic("nope")
    assert error_code(admin.create_partitions([NewPartitions(missing, 3)])[missing]) == (
        CKafkaError.UNKNOWN_TOPIC_OR_PART
    )
    result = kp_admin.create_partitions({name: 6})
    assert [r.error_code for r in result.results] == [0]
    assert len(admin.list_topics(name, timeout=TIMEOUT).topics[name].partitions) == 6


def test_describe_configs_topic_and_broker(admin: AdminClient) -> None:
    name = unique_topic("adm-desc")
    create(admin, name, retention_ms="60000", cleanup_policy="compact,delete")
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    configs = admin.describe_configs([resource])[resource].result(timeout=TIMEOUT)
    assert configs["retention.ms"].value == "60000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "compact,delete"
    assert configs["segment.bytes"].value == "1073741824" and configs["segment.bytes"].is_default
    assert configs["message.timestamp.type"].value == "CreateTime"
    synonyms = configs["retention.ms"].synonyms
    assert [s for s in synonyms] == ["retention.ms"]  # Kafka 4.3.1: no log.retention.* while those are unset
    assert {"min.insync.replicas", "max.compaction.lag.ms", "delete.retention.ms"} <= set(configs)
    broker = ConfigResource(ConfigResource.Type.BROKER, "1")
    broker_configs = admin.describe_configs([broker])[broker].result(timeout=TIMEOUT)
    assert broker_configs["log.retention.hours"].value == "168"
    assert broker_configs["num.partitions"].value == "1" and broker_configs["num.partitions"].is_read_only
    missing = ConfigResource(ConfigResource.Type.TOPIC, unique_topic("nope"))
    assert error_code(admin.describe_configs([missing])[missing]) == CKafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_configs_with_kafka_python_documentation(kp_admin, admin: AdminClient) -> None:
    from kafka.admin import ConfigResource as KConfigResource
    from kafka.admin import ConfigResourceType

    name = unique_topic("kp-desc")
    create(admin, name, max_message_bytes="2048")
    result = kp_admin.describe_configs(
        [KConfigResource(ConfigResourceType.TOPIC, name, configs=None)], include_synonyms=True, config_filter="all"
    )
    text = repr(result)
    assert "max.message.bytes" in text and "2048" in text


def test_alter_configs_replaces_all_overrides(admin: AdminClient) -> None:
    name = unique_topic("adm-alter")
    create(admin, name, retention_ms="1000", segment_ms="60000")
    resource = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"retention.ms": "5000"})
    admin.alter_configs([resource])[resource].result(timeout=TIMEOUT)
    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)])
    configs = next(iter(described.values())).result(timeout=TIMEOUT)
    assert configs["retention.ms"].value == "5000"
    assert configs["segment.ms"].is_default
    bad = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"min.insync.replicas": "0"})
    assert error_code(admin.alter_configs([bad])[bad]) == CKafkaError.INVALID_CONFIG
    missing = ConfigResource(ConfigResource.Type.TOPIC, unique_topic("nope"), set_config={"retention.ms": "1"})
    assert error_code(admin.alter_configs([missing])[missing]) == CKafkaError.UNKNOWN_TOPIC_OR_PART


def test_incremental_alter_configs_set_delete_append_subtract(admin: AdminClient, kp_admin) -> None:
    name = unique_topic("adm-incr")
    create(admin, name, retention_ms="1000")

    def alter(*entries: ConfigEntry) -> int:
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=list(entries))
        return error_code(admin.incremental_alter_configs([resource])[resource])

    def value(key: str) -> str:
        resource = ConfigResource(ConfigResource.Type.TOPIC, name)
        return admin.describe_configs([resource])[resource].result(timeout=TIMEOUT)[key].value

    assert alter(ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)) == 0
    assert value("cleanup.policy") == "delete,compact"
    assert alter(ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT)) == 0
    assert value("cleanup.policy") == "compact"
    assert alter(ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)) == 0
    assert value("retention.ms") == "604800000"
    assert alter(ConfigEntry("segment.bytes", "2000", incremental_operation=AlterConfigOpType.SET)) == 0
    assert value("segment.bytes") == "2000"
    append_int = ConfigEntry("segment.bytes", "1", incremental_operation=AlterConfigOpType.APPEND)
    assert alter(append_int) == CKafkaError.INVALID_CONFIG
    assert alter(ConfigEntry("segment.bytes", "-5", incremental_operation=AlterConfigOpType.SET)) == (
        CKafkaError.INVALID_CONFIG
    )
    from kafka.admin import AlterConfigOp, ConfigResourceType
    from kafka.admin import ConfigResource as KConfigResource

    kp_admin.alter_configs(
        [KConfigResource(ConfigResourceType.TOPIC, name, configs={"max.message.bytes": (AlterConfigOp.SET, "5000")})]
    )
    assert value("max.message.bytes") == "5000"


def test_configs_survive_restart(broker: BrokerProcess) -> None:
    admin = AdminClient(base_conf(broker.bootstrap))
    create(admin, "kept", retention_ms="12345")
    resource = ConfigResource(ConfigResource.Type.TOPIC, "kept", set_config={"retention.ms": "54321"})
    admin.alter_configs([resource])[resource].result(timeout=TIMEOUT)
    broker.restart()
    admin = AdminClient(base_conf(broker.bootstrap))
    described = ConfigResource(ConfigResource.Type.TOPIC, "kept")
    assert admin.describe_configs([described])[described].result(timeout=TIMEOUT)["retention.ms"].value == "54321"


def test_delete_records(shared_broker: BrokerProcess, admin: AdminClient, kp_admin) -> None:
    name = unique_topic("adm-delrec")
    create(admin, name, 2)
    produce_values(shared_broker.bootstrap, name, 20)
    produce_values(shared_broker.bootstrap, name, 20, partition=1)
    deleted = admin.delete_records([TopicPartition(name, 0, 5)])
    assert next(iter(deleted.values())).result(timeout=TIMEOUT).low_watermark == 5
    c = consumer(shared_broker.bootstrap)
    assert c.get_watermark_offsets(TopicPartition(name, 0), timeout=TIMEOUT) == (5, 20)
    too_far = admin.delete_records([TopicPartition(name, 0, 99)])
    assert error_code(next(iter(too_far.values()))) == CKafkaError.OFFSET_OUT_OF_RANGE
    from kafka import TopicPartition as KTopicPartition

    result = kp_admin.delete_records({KTopicPartition(name, 1): -1})
    assert result[KTopicPartition(name, 1)]["low_watermark"] == 20
    c.close()
    compacted = unique_topic("adm-delrec-compact")
    create(admin, compacted, cleanup_policy="compact")
    refused = admin.delete_records([TopicPartition(compacted, 0, 0)])
    assert error_code(next(iter(refused.values()))) == CKafkaError.POLICY_VIOLATION


def test_delete_records_survives_restart_and_consumers_reset(broker: BrokerProcess) -> None:
    admin = AdminClient(base_conf(broker.bootstrap))
    create(admin, "dr")
    produce_values(broker.bootstrap, "dr", 10)
    next(iter(admin.delete_records([TopicPartition("dr", 0, 7)]).values())).result(timeout=TIMEOUT)
    broker.restart()
    c = consumer(broker.bootstrap)
    assert c.get_watermark_offsets(TopicPartition("dr", 0), timeout=TIMEOUT) == (7, 10)
    c.assign([TopicPartition("dr", 0, 2)])
    deadline = Deadline(TIMEOUT, "consumer reset past the log start offset")
    values = []
    while len(values) < 3:
        deadline.check()
        msg = c.poll(1.0)
        if msg is not None and msg.error() is None:
            values.append(msg.offset())
    assert values == [7, 8, 9]
    c.close()


def test_describe_cluster_log_dirs_topic_partitions_elect_leaders(admin: AdminClient, kp_admin) -> None:
    name = unique_topic("adm-misc")
    create(admin, name, 3)
    cluster = admin.describe_cluster().result(timeout=TIMEOUT)
    assert cluster.controller.id == 1 and [n.id for n in cluster.nodes] == [1] and cluster.cluster_id
    kp_cluster = kp_admin.describe_cluster()
    assert kp_cluster["cluster_id"] == cluster.cluster_id
    dirs = kp_admin.describe_log_dirs(topic_partitions={name: [0, 1, 2]})
    assert name in repr(dirs)
    pages = kp_admin.describe_topic_partitions([name], response_partition_limit=2)
    assert name in repr(pages)
    election = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(name, 0)]).result(timeout=TIMEOUT)
    assert election[TopicPartition(name, 0)].code() == CKafkaError.ELECTION_NOT_NEEDED
    result = kp_admin.elect_leaders(0, {name: [1]}, raise_errors=False)
    assert "84" in repr(result) or "ElectionNotNeeded" in repr(result)
