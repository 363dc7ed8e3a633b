"""Internal topics: clients cannot write them, and nothing in them (or in the broker's other files) stops start-up.

The wire answers are Apache Kafka 4.3.1's, checked on 2026-12-07 against the reference broker
(compat_tests/reference_kafka.py, with kafkapy's wire client):

- Produce v3/v9/v13 (by name or topic id) to __consumer_offsets or __transaction_state:
  INVALID_TOPIC_EXCEPTION, base offset -1; to a partition they do not have: UNKNOWN_TOPIC_OR_PARTITION.
- DeleteRecords on them: INVALID_TOPIC_EXCEPTION, low watermark -1.
- CreateTopics of an existing one: TOPIC_ALREADY_EXISTS "Topic '__consumer_offsets' already exists.";
  of one that does not exist yet (or any more): accepted.
- DeleteTopics of them, by name (v1-v6) or topic id (v6): accepted. CreatePartitions, AlterConfigs and
  IncrementalAlterConfigs on them: accepted.
- Metadata: is_internal for __consumer_offsets, __transaction_state, __share_group_state only, not
  for other names starting with "__".
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from pathlib import Path

import crc32c
import pytest

from kafkapy.client.wire import WireClient
from kafkapy.coordinator.group_records import offset_commit_record, partition_for
from kafkapy.coordinator.internal_topics import OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC
from kafkapy.coordinator.transaction_log import TransactionMetadata, TxnState, transaction_record
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import HEADER_SIZE, build_batch, validate_batches
from kafkapy.protocol.specs import ApiKey
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_manager import LogManager
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import unique_topic
from tests.integration.test_transactions_wire import add_partitions, create, describe, end, init, produce_txn

INTERNAL = (OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC)
GROUP_KEY, TXN_KEY = 0, 1
# Byte offsets in a v2 record batch header (Kafka's DefaultRecordBatch).
CRC_OFFSET, ATTRIBUTES_OFFSET = 17, 21


@pytest.fixture
def client(broker: BrokerProcess):
    with WireClient.connect(broker.bootstrap) as c:
        yield c


def ensure_internal_topics(client: WireClient) -> dict[str, uuid.UUID]:
    """Create both internal topics the way clients do (FindCoordinator); their topic ids."""
    for key_type in (GROUP_KEY, TXN_KEY):
        resp = client.request(ApiKey.FIND_COORDINATOR, 4, {"key_type": key_type, "coordinator_keys": ["k"]})
        assert resp.coordinators[0].error_code == ErrorCode.NONE
    return {t.name: t.topic_id for t in metadata(client, *INTERNAL).topics}


def metadata(client: WireClient, *names: str):
    body = {"topics": [{"name": n} for n in names], "allow_auto_topic_creation": False}
    return client.request(ApiKey.METADATA, 12, body)


def produce(client: WireClient, version: int, topic: str, partition: int = 0, topic_id: uuid.UUID | None = None):
    ref = {"topic_id": topic_id} if version >= 13 else {"name": topic}
    records = build_batch([(b"k", b"not a coordinator record", [], None)])
    data = [{**ref, "partition_data": [{"index": partition, "records": records}]}]
    return client.request(ApiKey.PRODUCE, version, {"acks": -1, "timeout_ms": 5000, "topic_data": data}).responses[0]


def log_end_offsets(client: WireClient, topic: str, partitions: int) -> list[int]:
    wanted = [{"partition_index": p, "timestamp": -1} for p in range(partitions)]
    resp = client.request(ApiKey.LIST_OFFSETS, 5, {"replica_id": -1, "topics": [{"name": topic, "partitions": wanted}]})
    return [p.offset for p in resp.topics[0].partitions]


def commit_offset(client: WireClient, group: str, topic: str, offset: int) -> None:
    partition = {"partition_index": 0, "committed_offset": offset, "committed_metadata": "good"}
    body = {"group_id": group, "member_id": "", "topics": [{"name": topic, "partitions": [partition]}]}
    assert client.request(ApiKey.OFFSET_COMMIT, 8, body).topics[0].partitions[0].error_code == ErrorCode.NONE


def committed(client: WireClient, group: str, topic: str) -> tuple[int, str | None]:
    body = {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0]}], "require_stable": False}
    partition = client.request(ApiKey.OFFSET_FETCH, 7, body).topics[0].partitions[0]
    assert partition.error_code == ErrorCode.NONE
    return partition.committed_offset, partition.metadata


@pytest.mark.parametrize("version", [3, 9, 13])
def test_produce_to_internal_topics_is_refused_as_kafka_does(client: WireClient, version: int) -> None:
    topic_ids = ensure_internal_topics(client)
    for topic in INTERNAL:
        partitions = len(metadata(client, topic).topics[0].partitions)
        before = log_end_offsets(client, topic, partitions)
        resp = produce(client, version, topic, topic_id=topic_ids[topic])
        p = resp.partition_responses[0]
        assert (p.error_code, p.base_offset) == (ErrorCode.INVALID_TOPIC_EXCEPTION, -1), topic
        missing = produce(client, version, topic, partition=partitions, topic_id=topic_ids[topic])
        assert missing.partition_responses[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert log_end_offsets(client, topic, partitions) == before


def test_produce_does_not_auto_create_internal_topics(client: WireClient) -> None:
    """Kafka's Produce never creates topics; kafkapy's auto-create must not make an internal one either."""
    resp = produce(client, 9, TRANSACTION_STATE_TOPIC)
    assert resp.partition_responses[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert metadata(client, TRANSACTION_STATE_TOPIC).topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_metadata_auto_creates_internal_topics_as_their_coordinators_do(broker_factory) -> None:
    """Kafka's AutoTopicCreationManager: offsets.topic.num.partitions and compaction, not num.partitions."""
    overrides = ("offsets.topic.num.partitions=3", "transaction.state.log.num.partitions=2", "num.partitions=5")
    broker = broker_factory(extra_args=tuple(a for o in overrides for a in ("--override", o)))
    with WireClient.connect(broker.bootstrap) as client:
        body = {"topics": [{"name": n} for n in INTERNAL], "allow_auto_topic_creation": True}
        # The request that creates them answers "not yet" (Kafka 4.3.1: UNKNOWN_TOPIC_OR_PARTITION, is_internal).
        answers = client.request(ApiKey.METADATA, 12, body).topics
        assert {(t.name, t.error_code, t.is_internal) for t in answers} == {
            (name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, True) for name in INTERNAL
        }
        counts = {t.name: (t.error_code, len(t.partitions)) for t in client.request(ApiKey.METADATA, 12, body).topics}
        assert counts == {OFFSETS_TOPIC: (0, 3), TRANSACTION_STATE_TOPIC: (0, 2)}
        for name in INTERNAL:
            resource = {"resource_type": 2, "resource_name": name, "configuration_keys": ["cleanup.policy"]}
            described = client.request(
                ApiKey.DESCRIBE_CONFIGS, 4, {"resources": [resource], "include_synonyms": False}
            ).results[0]
            assert [(c.name, c.value) for c in described.configs] == [("cleanup.policy", "compact")]


def test_delete_records_on_internal_topics_is_refused_as_kafka_does(client: WireClient) -> None:
    ensure_internal_topics(client)
    create(client, "committed-topic")
    commit_offset(client, "g", "committed-topic", 3)
    for topic in INTERNAL:
        body = {"topics": [{"name": topic, "partitions": [{"partition_index": 0, "offset": -1}]}], "timeout_ms": 5000}
        part = client.request(ApiKey.DELETE_RECORDS, 2, body).topics[0].partitions[0]
        assert (part.error_code, part.low_watermark) == (ErrorCode.INVALID_TOPIC_EXCEPTION, -1)
    assert committed(client, "g", "committed-topic") == (3, "good")


def test_only_kafkas_internal_topics_are_internal(client: WireClient) -> None:
    ensure_internal_topics(client)
    create(client, "__not_internal")
    flags = {t.name: t.is_internal for t in metadata(client, *INTERNAL, "__not_internal").topics}
    assert flags == {OFFSETS_TOPIC: True, TRANSACTION_STATE_TOPIC: True, "__not_internal": False}
    assert produce(client, 9, "__not_internal").partition_responses[0].error_code == ErrorCode.NONE


def test_internal_topic_admin_as_in_kafka_loses_nothing(broker: BrokerProcess, client: WireClient) -> None:
    """What Kafka accepts on internal topics (create, grow, delete) kafkapy accepts; what it acknowledged survives."""
    topic = unique_topic("it")
    create(client, topic)
    body = {"topics": [{"name": TRANSACTION_STATE_TOPIC, "num_partitions": 3, "replication_factor": 1}]}
    assert client.request(ApiKey.CREATE_TOPICS, 7, body).topics[0].error_code == ErrorCode.NONE
    topic_ids = ensure_internal_topics(client)
    commit_offset(client, "g-before", topic, 4)
    pid, epoch = init(client, "txn-before")
    for name in INTERNAL:
        body = {"topics": [{"name": name, "num_partitions": 3, "replication_factor": 1}], "timeout_ms": 5000}
        resp = client.request(ApiKey.CREATE_TOPICS, 7, body).topics[0]
        exists = (ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        assert (resp.error_code, resp.error_message) == exists
        grow = {"topics": [{"name": name, "count": 60}], "timeout_ms": 5000, "validate_only": False}
        assert client.request(ApiKey.CREATE_PARTITIONS, 3, grow).results[0].error_code == ErrorCode.NONE
        refused = produce(client, 9, name).partition_responses[0].error_code
        assert refused == ErrorCode.INVALID_TOPIC_EXCEPTION
    body = {"topics": [{"name": None, "topic_id": topic_ids[TRANSACTION_STATE_TOPIC]}], "timeout_ms": 5000}
    assert client.request(ApiKey.DELETE_TOPICS, 6, body).responses[0].error_code == ErrorCode.NONE
    assert (
        client.request(ApiKey.DELETE_TOPICS, 5, {"topic_names": [OFFSETS_TOPIC], "timeout_ms": 5000})
        .responses[0]
        .error_code
        == 0
    )
    commit_offset(client, "g-after", topic, 7)
    client.close()
    broker.terminate()
    broker.start()
    with WireClient.connect(broker.bootstrap) as again:
        assert committed(again, "g-before", topic) == (4, "good")
        assert committed(again, "g-after", topic) == (7, "good")
        assert init(again, "txn-before") == (pid, epoch + 1)


def moving_id(prefix: str, first: int, then: int) -> str:
    """An id whose home partition at ``then`` partitions comes before its home at ``first``."""
    ids = (f"{prefix}-{i}" for i in range(10_000))
    return next(i for i in ids if partition_for(i, first) > partition_for(i, then))


def test_newest_state_wins_after_internal_topics_grew_twice(broker: BrokerProcess, client: WireClient) -> None:
    """Kafka accepts CreatePartitions on internal topics: ids move to a new home partition, whose state is newest."""
    topic, group, txn_id = unique_topic("grow"), moving_id("group", 3, 5), moving_id("txn", 3, 5)
    create(client, topic)
    ensure_internal_topics(client)
    commit_offset(client, group, topic, 1)
    pid, _ = init(client, txn_id)
    for count, offset in ((3, 2), (5, 3)):
        for name in INTERNAL:
            grow = {"topics": [{"name": name, "count": count}], "timeout_ms": 5000, "validate_only": False}
            assert client.request(ApiKey.CREATE_PARTITIONS, 3, grow).results[0].error_code == ErrorCode.NONE
        commit_offset(client, group, topic, offset)
        assert init(client, txn_id) == (pid, offset - 1)
    client.close()
    broker.terminate()
    broker.start()
    with WireClient.connect(broker.bootstrap) as again:
        assert committed(again, group, topic) == (3, "good")
        assert init(again, txn_id) == (pid, 3)


def crc_valid_garbage_batch() -> bytearray:
    """A batch whose header and CRC are right but whose records section is garbage."""
    batch = bytearray(build_batch([(b"key", b"value" * 8, [], 0)]))
    batch[HEADER_SIZE:] = b"\xff" * (len(batch) - HEADER_SIZE)
    struct.pack_into(">I", batch, CRC_OFFSET, crc32c.crc32c(batch[ATTRIBUTES_OFFSET:]))
    return batch


def bogus_offsets_records(group: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Well-formed records with values no coordinator wrote, including one for the good group's key."""
    key, _ = offset_commit_record(group, topic, 0, None)
    group_key = b"\x00\x02" + struct.pack(">h", len(group)) + group.encode()
    return [
        (key, b"\x00\x03\x01"),  # a truncated OffsetCommitValue for the good group's partition
        (key, b"\x00\x63" + b"\x00" * 40),  # OffsetCommitValue version 99
        (group_key, b"\x00\x03" + b"\xff" * 30),  # GroupMetadataValue garbage
        (group_key, b"\x00\x07"),  # an unknown GroupMetadataValue version, no body
        (b"\x00", b"x"),  # a key too short for its version
        (None, b"no key at all"),
    ]


def bogus_transaction_records(txn_id: str) -> list[tuple[bytes | None, bytes | None]]:
    """Records for the good transactional id's key that no coordinator wrote, and keys that decode to nothing."""
    key, _ = transaction_record(txn_id, None)
    _, no_producer = transaction_record(txn_id, TransactionMetadata(txn_id, producer_id=-1, state=TxnState.ONGOING))
    status_99 = bytearray(transaction_record(txn_id, TransactionMetadata(txn_id, producer_id=5))[1] or b"")
    # A v0 TransactionLogValue: version int16, producer id int64, epoch int16, timeout int32, then the status.
    status_99[16] = 99
    return [
        (key, b"\x00\x00garbage"),
        (key, bytes(status_99)),
        (key, no_producer),
        (b"\x00\x00\xff\xff", b"\x00\x01"),
        (b"\x7f\x7f", None),
    ]


def append_to_internal_topics(data_dir: Path, write: Callable[[LogManager], None]) -> None:
    """Write into the internal topics' logs with the storage API while the broker is down."""
    logs = LogManager.open(data_dir, LogConfig())
    try:
        write(logs)
    finally:
        logs.close()


def append(logs: LogManager, topic: str, partition: int, batch: bytearray) -> None:
    """Append as bytes: without compaction's key checks, which would decode the records."""
    log = logs.topics[topic].partitions[partition]
    log.update_config(LogConfig())
    log.append(batch, validate_batches(batch), now_ms=0)


def test_loading_skips_internal_records_it_cannot_use(broker: BrokerProcess, client: WireClient) -> None:
    """Garbage and bogus records in both internal topics are logged and skipped; the good state is kept."""
    topic, group, txn_id = unique_topic("it"), "g-good", "txn-good"
    create(client, topic)
    ensure_internal_topics(client)
    commit_offset(client, group, topic, 5)
    pid, epoch = init(client, txn_id, version=3)
    assert add_partitions(client, txn_id, pid, epoch, topic, [0])[0] == ErrorCode.NONE
    assert produce_txn(client, txn_id, pid, epoch, topic, 0, [b"a"]).error_code == ErrorCode.NONE
    assert end(client, txn_id, pid, epoch, commit=True).error_code == ErrorCode.NONE
    client.close()
    broker.terminate()

    def write(logs: LogManager) -> None:
        offsets_partition = partition_for(group, len(logs.topics[OFFSETS_TOPIC].partitions))
        txn_partition = partition_for(txn_id, len(logs.topics[TRANSACTION_STATE_TOPIC].partitions))
        for name, index, bogus in (
            (OFFSETS_TOPIC, offsets_partition, bogus_offsets_records(group, topic)),
            (TRANSACTION_STATE_TOPIC, txn_partition, bogus_transaction_records(txn_id)),
        ):
            append(logs, name, index, crc_valid_garbage_batch())
            for key, value in bogus:
                append(logs, name, index, bytearray(build_batch([(key, value, [], 0)])))
            append(logs, name, index, crc_valid_garbage_batch())

    append_to_internal_topics(broker.data_dir, write)
    broker.start()
    with WireClient.connect(broker.bootstrap) as again:
        assert committed(again, group, topic) == (5, "good")
        state = describe(again, txn_id)
        assert (state.error_code, state.transaction_state, state.producer_id) == (0, "CompleteCommit", pid)
        assert init(again, txn_id) == (pid, epoch + 1)
        commit_offset(again, group, topic, 6)
    assert "skipping a record the coordinator cannot load" in broker.stderr_text()
    broker.terminate()
    broker.start()
    with WireClient.connect(broker.bootstrap) as last:
        assert committed(last, group, topic) == (6, "good")


@pytest.mark.parametrize(
    ("path", "damage"),
    [
        ("topic-configs.json", b"{not json"),
        ("topic-configs.json", b'{"TOPIC": {"retention.ms": "abc"}, "other": 5}'),
        ("topic-configs.json", b"[" * 100_000),
        ("topic-configs.json", b'{"TOPIC": {"retention.ms": ' + b"9" * 5000 + b"}}"),
        ("meta.properties", b"\xff\xfe node.id=abc"),
        ("meta.properties", b"cluster.id=abc\nnode.id=one\n"),
        ("producer-ids", b"garbage\n"),
        ("producer-ids", b"-5\n"),
        ("log-start-offset-checkpoint", b"\xff\xfe\x00"),
        ("cleaner-offset-checkpoint", b"0\n\xff\xfe\n"),
        ("TOPIC-0/partition.metadata", b"\xff\xfe\x00"),
        # The producer state snapshot the clean shutdown wrote at the log end offset.
        ("TOPIC-0/00000000000000000003.snapshot", b"\x00\x01" + b"\xff" * 40),
    ],
)
def test_damaged_broker_files_do_not_stop_start_up(broker: BrokerProcess, path: str, damage: bytes) -> None:
    """Each file the broker reads at start-up, damaged: logged, ignored or rebuilt; the data stays served."""
    topic = unique_topic("files")
    with WireClient.connect(broker.bootstrap) as client:
        body = {"topics": [{"name": topic, "num_partitions": 1, "replication_factor": 1, "configs": []}]}
        body["topics"][0]["configs"] = [{"name": "retention.ms", "value": "86400000"}]
        assert client.request(ApiKey.CREATE_TOPICS, 7, body).topics[0].error_code == ErrorCode.NONE
        pid = idempotent_producer_id(client)
        rows = [(None, b"v%d" % i, [], None) for i in range(3)]
        records = build_batch(rows, producer_id=pid, producer_epoch=0, base_sequence=0)
        data = [{"name": topic, "partition_data": [{"index": 0, "records": records}]}]
        resp = client.request(ApiKey.PRODUCE, 9, {"acks": -1, "timeout_ms": 5000, "topic_data": data})
        assert resp.responses[0].partition_responses[0].error_code == ErrorCode.NONE
    broker.terminate()
    target = broker.data_dir / path.replace("TOPIC", topic)
    # The cleaner writes its checkpoint only once it has cleaned; a damaged one is read all the same.
    assert target.exists() or target.name == "cleaner-offset-checkpoint"
    target.write_bytes(damage.replace(b"TOPIC", topic.encode()))
    broker.start()
    with WireClient.connect(broker.bootstrap) as client:
        assert log_end_offsets(client, topic, 1) == [3]
        # A new producer never gets an id in use, even when producer-ids could not be read.
        assert idempotent_producer_id(client) > pid
        assert produce(client, 9, topic).partition_responses[0].base_offset == 3
    broker.terminate()
    broker.start()


def idempotent_producer_id(client: WireClient) -> int:
    resp = client.request(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": None, "transaction_timeout_ms": 60000})
    assert resp.error_code == ErrorCode.NONE
    return resp.producer_id
