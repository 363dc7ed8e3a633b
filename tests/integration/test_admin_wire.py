"""Every version of the admin APIs over a real socket with kafkapy's wire client."""

from __future__ import annotations

import uuid

import pytest

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import unique_topic

TOPIC, BROKER = 2, 4


@pytest.fixture
def client(shared_broker: BrokerProcess):
    with WireClient.connect(shared_broker.bootstrap) as c:
        yield c


def create(client: WireClient, partitions: int = 1, records: int = 0, **configs: str) -> str:
    name = unique_topic("w")
    entries = [{"name": k, "value": v} for k, v in configs.items()]
    topic = {"name": name, "num_partitions": partitions, "replication_factor": 1, "configs": entries}
    assert client.request(ApiKey.CREATE_TOPICS, 7, {"topics": [topic]}).topics[0].error_code == 0
    for i in range(records):
        data = {"name": name, "partition_data": [{"index": 0, "records": build_batch([(b"k", b"%d" % i, [], None)])}]}
        client.request(ApiKey.PRODUCE, 9, {"acks": -1, "timeout_ms": 5000, "topic_data": [data]})
    return name


@pytest.mark.parametrize("version", range(0, 7))
def test_delete_topics_every_version(client: WireClient, version: int) -> None:
    name = create(client)
    if version >= 6:
        body = {"topics": [{"name": name, "topic_id": uuid.UUID(int=0)}, {"name": None, "topic_id": uuid.uuid4()}]}
    else:
        body = {"topic_names": [name, "missing-topic"]}
    codes = [
        r.error_code for r in client.request(ApiKey.DELETE_TOPICS, version, {**body, "timeout_ms": 5000}).responses
    ]
    missing = ErrorCode.UNKNOWN_TOPIC_ID if version >= 6 else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert codes == [0, missing]


@pytest.mark.parametrize("version", range(0, 3))
def test_delete_records_every_version(client: WireClient, version: int) -> None:
    name = create(client, records=5)
    body = {"topics": [{"name": name, "partitions": [{"partition_index": 0, "offset": 3}]}], "timeout_ms": 5000}
    part = client.request(ApiKey.DELETE_RECORDS, version, body).topics[0].partitions[0]
    assert (part.error_code, part.low_watermark) == (0, 3)
    body["topics"][0]["partitions"][0]["offset"] = 6
    assert (
        client.request(ApiKey.DELETE_RECORDS, version, body).topics[0].partitions[0].error_code
        == ErrorCode.OFFSET_OUT_OF_RANGE
    )


@pytest.mark.parametrize("version", range(0, 5))
def test_offset_for_leader_epoch_every_version(client: WireClient, version: int) -> None:
    name = create(client, records=4)
    partitions = [
        {"partition": 0, "current_leader_epoch": 0, "leader_epoch": 0},
        {"partition": 0, "current_leader_epoch": -1, "leader_epoch": 3},
        {"partition": 7, "current_leader_epoch": -1, "leader_epoch": 0},
    ]
    resp = client.request(
        ApiKey.OFFSET_FOR_LEADER_EPOCH,
        version,
        {"replica_id": -1, "topics": [{"topic": name, "partitions": partitions}]},
    )
    got = [(p.error_code, p.end_offset) for p in resp.topics[0].partitions]
    assert got == [(0, 4), (0, -1), (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)]
    if version >= 2:
        partitions = [{"partition": 0, "current_leader_epoch": 5, "leader_epoch": 0}]
        resp = client.request(
            ApiKey.OFFSET_FOR_LEADER_EPOCH, version, {"topics": [{"topic": name, "partitions": partitions}]}
        )
        assert resp.topics[0].partitions[0].error_code == ErrorCode.UNKNOWN_LEADER_EPOCH


@pytest.mark.parametrize("version", range(0, 5))
def test_describe_configs_every_version(client: WireClient, version: int) -> None:
    name = create(client, **{"retention.ms": "1234"})
    resources = [
        {"resource_type": TOPIC, "resource_name": name, "configuration_keys": ["retention.ms", "segment.bytes"]},
        {"resource_type": BROKER, "resource_name": "1", "configuration_keys": None},
        {"resource_type": TOPIC, "resource_name": "missing-topic", "configuration_keys": None},
    ]
    body = {"resources": resources, "include_synonyms": True, "include_documentation": True}
    topic, broker, missing = client.request(ApiKey.DESCRIBE_CONFIGS, version, body).results
    configs = {c.name: c for c in topic.configs}
    assert configs["retention.ms"].value == "1234" and configs["segment.bytes"].value == "1073741824"
    if version >= 1:
        # Kafka 4.3.1 lists no log.retention.* synonym while those are unset.
        assert configs["retention.ms"].config_source == 1 and len(configs["retention.ms"].synonyms) == 1
    if version >= 3:
        assert configs["retention.ms"].config_type == 5 and configs["retention.ms"].documentation
    assert any(c.name == "log.retention.hours" and c.value == "168" for c in broker.configs)
    assert missing.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.parametrize("version", range(0, 3))
def test_alter_configs_every_version(client: WireClient, version: int) -> None:
    name = create(client)
    resources = [
        {"resource_type": TOPIC, "resource_name": name, "configs": [{"name": "retention.ms", "value": "99"}]},
        {"resource_type": TOPIC, "resource_name": "missing-topic", "configs": []},
        {"resource_type": BROKER, "resource_name": "1", "configs": [{"name": "num.partitions", "value": "3"}]},
    ]
    codes = [r.error_code for r in client.request(ApiKey.ALTER_CONFIGS, version, {"resources": resources}).responses]
    # num.partitions is read-only: Kafka 4.3.1 answers INVALID_REQUEST "Cannot update these configs dynamically".
    assert codes == [0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.INVALID_REQUEST]


@pytest.mark.parametrize("version", range(0, 2))
def test_incremental_alter_configs_every_version(client: WireClient, version: int) -> None:
    name = create(client)
    ops = [{"name": "cleanup.policy", "config_operation": 2, "value": "compact"}]
    resources = [
        {"resource_type": TOPIC, "resource_name": name, "configs": ops},
        {"resource_type": TOPIC, "resource_name": name + "x", "configs": ops},
    ]
    codes = [
        r.error_code
        for r in client.request(ApiKey.INCREMENTAL_ALTER_CONFIGS, version, {"resources": resources}).responses
    ]
    assert codes == [0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]


@pytest.mark.parametrize("version", range(0, 4))
def test_create_partitions_every_version(client: WireClient, version: int) -> None:
    name = create(client)
    topics = [{"name": name, "count": 3, "assignments": None}, {"name": "missing-topic", "count": 2}]
    resp = client.request(
        ApiKey.CREATE_PARTITIONS, version, {"topics": topics, "timeout_ms": 5000, "validate_only": False}
    )
    assert [r.error_code for r in resp.results] == [0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]


@pytest.mark.parametrize("version", range(0, 6))
def test_describe_log_dirs_every_version(client: WireClient, version: int) -> None:
    name = create(client, partitions=2, records=3)
    resp = client.request(ApiKey.DESCRIBE_LOG_DIRS, version, {"topics": [{"topic": name, "partitions": [0, 1]}]})
    (result,) = resp.results
    sizes = [p.partition_size for p in result.topics[0].partitions]
    assert result.error_code == 0 and sizes[0] > 0 and sizes[1] == 0


@pytest.mark.parametrize("version", range(0, 3))
def test_elect_leaders_every_version(client: WireClient, version: int) -> None:
    name = create(client)
    body = {"election_type": 0, "topic_partitions": [{"topic": name, "partitions": [0, 5]}], "timeout_ms": 5000}
    results = client.request(ApiKey.ELECT_LEADERS, version, body).replica_election_results[0].partition_result
    assert [r.error_code for r in results] == [ErrorCode.ELECTION_NOT_NEEDED, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    assert (
        client.request(ApiKey.ELECT_LEADERS, version, {**body, "topic_partitions": None}).replica_election_results == []
    )


@pytest.mark.parametrize("version", range(0, 3))
def test_describe_cluster_every_version(client: WireClient, version: int) -> None:
    resp = client.request(ApiKey.DESCRIBE_CLUSTER, version, {"include_cluster_authorized_operations": False})
    assert resp.error_code == 0 and resp.controller_id == 1 and [b.broker_id for b in resp.brokers] == [1]
    if version >= 1:
        # Kafka 4.3.1 on a broker listener: controller endpoints are the wrong type, not an unknown one.
        assert (
            client.request(ApiKey.DESCRIBE_CLUSTER, version, {"endpoint_type": 2}).error_code
            == ErrorCode.MISMATCHED_ENDPOINT_TYPE
        )


def test_describe_topic_partitions_paginates(client: WireClient) -> None:
    counts = {create(client, partitions=3): 3, create(client, partitions=2): 2}
    first, second = sorted(counts)
    body = {"topics": [{"name": first}, {"name": second}, {"name": "zz-missing"}], "response_partition_limit": 2}
    page = client.request(ApiKey.DESCRIBE_TOPIC_PARTITIONS, 0, body)
    seen = [(t.name, p.partition_index) for t in page.topics for p in t.partitions]
    assert len(seen) == 2
    while page.next_cursor is not None:
        page = client.request(ApiKey.DESCRIBE_TOPIC_PARTITIONS, 0, {**body, "cursor": dict(page.next_cursor)})
        assert sum(len(t.partitions) for t in page.topics) <= 2
        seen += [(t.name, p.partition_index) for t in page.topics for p in t.partitions]
    assert seen == [(name, index) for name in (first, second) for index in range(counts[name])]
    assert page.topics[-1].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
