"""The transaction APIs over a real socket with kafkapy's wire client: every version, Kafka's error codes."""

from __future__ import annotations

import uuid

import pytest

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch, decode_records
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess


@pytest.fixture
def client(shared_broker: BrokerProcess):
    with WireClient.connect(shared_broker.bootstrap) as c:
        yield c


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(client: WireClient, topic: str, partitions: int = 1) -> None:
    body = {"topics": [{"name": topic, "num_partitions": partitions, "replication_factor": 1}]}
    assert client.request(ApiKey.CREATE_TOPICS, 7, body).topics[0].error_code == ErrorCode.NONE


def init(client: WireClient, txn_id: str, version: int = 4, **extra: int) -> tuple[int, int]:
    body = {"transactional_id": txn_id, "transaction_timeout_ms": 60000, **extra}
    resp = client.request(ApiKey.INIT_PRODUCER_ID, version, body)
    assert resp.error_code == ErrorCode.NONE, resp
    return resp.producer_id, resp.producer_epoch


def add_partitions(
    client: WireClient, txn_id: str, pid: int, epoch: int, topic: str, parts: list[int], version: int = 3
):
    if version <= 3:
        body = {
            "v3_and_below_transactional_id": txn_id,
            "v3_and_below_producer_id": pid,
            "v3_and_below_producer_epoch": epoch,
            "v3_and_below_topics": [{"name": topic, "partitions": parts}],
        }
        resp = client.request(ApiKey.ADD_PARTITIONS_TO_TXN, version, body)
        return {
            p.partition_index: p.partition_error_code
            for p in resp.results_by_topic_v3_and_below[0].results_by_partition
        }
    txn = {
        "transactional_id": txn_id,
        "producer_id": pid,
        "producer_epoch": epoch,
        "topics": [{"name": topic, "partitions": parts}],
    }
    resp = client.request(ApiKey.ADD_PARTITIONS_TO_TXN, version, {"transactions": [txn]})
    assert resp.error_code == ErrorCode.NONE
    results = resp.results_by_transaction[0].topic_results[0].results_by_partition
    return {p.partition_index: p.partition_error_code for p in results}


def produce_txn(
    client: WireClient,
    txn_id: str,
    pid: int,
    epoch: int,
    topic: str,
    seq: int,
    values: list[bytes],
    *,
    partition: int = 0,
    version: int = 9,
):
    records = build_batch(
        [(None, v, [], None) for v in values],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        transactional=True,
    )
    body = {
        "transactional_id": txn_id,
        "acks": -1,
        "timeout_ms": 5000,
        "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}],
    }
    return client.request(ApiKey.PRODUCE, version, body).responses[0].partition_responses[0]


def end(client: WireClient, txn_id: str, pid: int, epoch: int, commit: bool, version: int = 3):
    body = {"transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch, "committed": commit}
    return client.request(ApiKey.END_TXN, version, body)


def fetch(client: WireClient, topic: str, isolation: int):
    body = {
        "replica_id": -1,
        "max_wait_ms": 0,
        "min_bytes": 0,
        "max_bytes": 1 << 20,
        "isolation_level": isolation,
        "topics": [
            {"topic": topic, "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}]}
        ],
    }
    return client.request(ApiKey.FETCH, 11, body).responses[0].partitions[0]


def describe(client: WireClient, txn_id: str):
    return client.request(ApiKey.DESCRIBE_TRANSACTIONS, 0, {"transactional_ids": [txn_id]}).transaction_states[0]


@pytest.mark.parametrize("version", range(0, 5))
def test_find_coordinator_for_transactional_ids(client: WireClient, version: int) -> None:
    if version < 4:
        resp = client.request(ApiKey.FIND_COORDINATOR, version, {"key": "tid", "key_type": 1})
    else:
        resp = client.request(
            ApiKey.FIND_COORDINATOR, version, {"key_type": 1, "coordinator_keys": ["tid"]}
        ).coordinators[0]
    assert resp.error_code == ErrorCode.NONE and resp.node_id == 1


@pytest.mark.parametrize(("apt", "end_version"), [(0, 0), (1, 1), (2, 2), (3, 3), (3, 4), (4, 4), (5, 4)])
def test_commit_and_abort_every_version(client: WireClient, apt: int, end_version: int) -> None:
    topic, txn_id = name("w"), name("tid")
    create(client, topic)
    pid, epoch = init(client, txn_id, version=min(apt, 6))
    assert add_partitions(client, txn_id, pid, epoch, topic, [0], apt) == {0: ErrorCode.NONE}
    assert produce_txn(client, txn_id, pid, epoch, topic, 0, [b"a", b"b"]).error_code == ErrorCode.NONE
    assert describe(client, txn_id).transaction_state == "Ongoing"
    assert end(client, txn_id, pid, epoch, False, end_version).error_code == ErrorCode.NONE
    assert describe(client, txn_id).transaction_state == "CompleteAbort"
    assert add_partitions(client, txn_id, pid, epoch, topic, [0], apt) == {0: ErrorCode.NONE}
    assert produce_txn(client, txn_id, pid, epoch, topic, 2, [b"c"]).error_code == ErrorCode.NONE
    assert end(client, txn_id, pid, epoch, True, end_version).error_code == ErrorCode.NONE
    # A retried EndTxn of a completed transaction succeeds; the opposite outcome is refused.
    assert end(client, txn_id, pid, epoch, True, end_version).error_code == ErrorCode.NONE
    assert end(client, txn_id, pid, epoch, False, end_version).error_code == ErrorCode.INVALID_TXN_STATE
    committed = fetch(client, topic, 1)
    assert committed.last_stable_offset == committed.high_watermark == 5
    assert [(a.producer_id, a.first_offset) for a in committed.aborted_transactions] == [(pid, 0)]
    batches = list(decode_records(committed.records))
    assert [h.is_control for h, _ in batches] == [False, True, False, True]


def test_read_committed_fetch_stops_at_the_lso(client: WireClient) -> None:
    topic, txn_id = name("lso"), name("tid")
    create(client, topic)
    pid, epoch = init(client, txn_id)
    add_partitions(client, txn_id, pid, epoch, topic, [0])
    produce_txn(client, txn_id, pid, epoch, topic, 0, [b"x"])
    uncommitted, committed = fetch(client, topic, 0), fetch(client, topic, 1)
    assert (uncommitted.high_watermark, uncommitted.last_stable_offset) == (1, 0)
    assert len(uncommitted.records) > 0 and len(committed.records) == 0
    assert uncommitted.aborted_transactions is None
    body = {
        "replica_id": -1,
        "isolation_level": 1,
        "topics": [{"name": topic, "partitions": [{"partition_index": 0, "timestamp": -1}]}],
    }
    assert client.request(ApiKey.LIST_OFFSETS, 5, body).topics[0].partitions[0].offset == 0
    producers = (
        client.request(ApiKey.DESCRIBE_PRODUCERS, 0, {"topics": [{"name": topic, "partition_indexes": [0]}]})
        .topics[0]
        .partitions[0]
    )
    assert [(p.producer_id, p.current_txn_start_offset) for p in producers.active_producers] == [(pid, 0)]
    end(client, txn_id, pid, epoch, True)
    assert fetch(client, topic, 1).last_stable_offset == 2


def test_errors_follow_kafka(client: WireClient) -> None:
    topic, txn_id = name("err"), name("tid")
    create(client, topic)
    pid, epoch = init(client, txn_id)
    assert add_partitions(client, txn_id, pid, epoch, topic, [0, 7]) == {
        0: ErrorCode.OPERATION_NOT_ATTEMPTED,
        7: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    }
    assert add_partitions(client, txn_id, pid + 1, epoch, topic, [0]) == {0: ErrorCode.INVALID_PRODUCER_ID_MAPPING}
    assert add_partitions(client, name("unknown"), pid, epoch, topic, [0]) == {0: ErrorCode.INVALID_PRODUCER_ID_MAPPING}
    assert end(client, txn_id, pid, epoch, True).error_code == ErrorCode.INVALID_TXN_STATE
    # Producing to a partition that is not in the transaction is refused (Kafka's verification).
    assert produce_txn(client, txn_id, pid, epoch, topic, 0, [b"x"]).error_code == ErrorCode.INVALID_TXN_STATE
    add_partitions(client, txn_id, pid, epoch, topic, [0])
    assert produce_txn(client, txn_id, pid, epoch, topic, 0, [b"x"]).error_code == ErrorCode.NONE
    # A new InitProducerId aborts the ongoing transaction first and asks the client to retry.
    resp = client.request(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": txn_id, "transaction_timeout_ms": 60000})
    assert resp.error_code == ErrorCode.CONCURRENT_TRANSACTIONS
    new_pid, new_epoch = init(client, txn_id)
    assert (new_pid, new_epoch) == (pid, epoch + 2)
    assert add_partitions(client, txn_id, pid, epoch, topic, [0]) == {0: ErrorCode.PRODUCER_FENCED}
    assert end(client, txn_id, pid, epoch, True).error_code == ErrorCode.PRODUCER_FENCED
    assert produce_txn(client, txn_id, pid, epoch, topic, 1, [b"y"]).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert fetch(client, topic, 1).last_stable_offset == 2
    timeout = client.request(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": txn_id, "transaction_timeout_ms": 10**9})
    assert timeout.error_code == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert describe(client, name("nope")).error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND


def test_init_producer_id_with_existing_producer_bumps_the_epoch(client: WireClient) -> None:
    txn_id = name("tid")
    pid, epoch = init(client, txn_id)
    assert init(client, txn_id, version=4, producer_id=pid, producer_epoch=epoch) == (pid, epoch + 1)
    # A retry of that bump (the response was lost) gets the same epoch.
    assert init(client, txn_id, version=4, producer_id=pid, producer_epoch=epoch) == (pid, epoch + 1)
    resp = client.request(
        ApiKey.INIT_PRODUCER_ID,
        4,
        {"transactional_id": txn_id, "transaction_timeout_ms": 60000, "producer_id": pid + 99, "producer_epoch": 0},
    )
    assert resp.error_code == ErrorCode.PRODUCER_FENCED


def test_end_txn_v5_bumps_the_epoch(client: WireClient) -> None:
    topic, txn_id = name("tv2"), name("tid")
    create(client, topic)
    pid, epoch = init(client, txn_id)
    add_partitions(client, txn_id, pid, epoch, topic, [0])
    produce_txn(client, txn_id, pid, epoch, topic, 0, [b"x"])
    resp = end(client, txn_id, pid, epoch, True, version=5)
    assert (resp.error_code, resp.producer_id, resp.producer_epoch) == (ErrorCode.NONE, pid, epoch + 1)
    retried = end(client, txn_id, pid, epoch, True, version=5)
    assert (retried.error_code, retried.producer_epoch) == (ErrorCode.NONE, epoch + 1)
    assert add_partitions(client, txn_id, pid, epoch + 1, topic, [0]) == {0: ErrorCode.NONE}
    assert produce_txn(client, txn_id, pid, epoch + 1, topic, 0, [b"y"]).error_code == ErrorCode.NONE
    assert end(client, txn_id, pid, epoch + 1, False, version=5).producer_epoch == epoch + 2


def test_txn_offset_commit_applies_on_commit_only(client: WireClient) -> None:
    topic, txn_id, group = name("off"), name("tid"), name("g")
    create(client, topic, 2)
    fetch_body = {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0, 1]}], "require_stable": True}

    def committed() -> dict[int, tuple[int, int]]:
        resp = client.request(ApiKey.OFFSET_FETCH, 7, fetch_body).topics[0].partitions
        return {p.partition_index: (p.committed_offset, p.error_code) for p in resp}

    last = -1
    for commit, version in ((False, 0), (True, 3), (False, 4), (True, 5)):
        pid, epoch = init(client, txn_id)
        body = {"transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch, "group_id": group}
        assert client.request(ApiKey.ADD_OFFSETS_TO_TXN, min(version, 4), body).error_code == ErrorCode.NONE
        partition = {"partition_index": 0, "committed_offset": 10 + version, "committed_metadata": "m"}
        resp = client.request(
            ApiKey.TXN_OFFSET_COMMIT, version, {**body, "topics": [{"name": topic, "partitions": [partition]}]}
        )
        assert resp.topics[0].partitions[0].error_code == ErrorCode.NONE
        # require_stable: the pending offset makes partition 0 unstable, partition 1 is readable.
        assert committed() == {0: (-1, ErrorCode.UNSTABLE_OFFSET_COMMIT), 1: (-1, ErrorCode.NONE)}
        assert end(client, txn_id, pid, epoch, commit).error_code == ErrorCode.NONE
        last = 10 + version if commit else last
        assert committed()[0] == (last, ErrorCode.NONE)


def test_txn_offset_commit_needs_add_offsets(client: WireClient) -> None:
    topic, txn_id, group = name("off"), name("tid"), name("g")
    create(client, topic)
    pid, epoch = init(client, txn_id)
    body = {
        "transactional_id": txn_id,
        "producer_id": pid,
        "producer_epoch": epoch,
        "group_id": group,
        "topics": [
            {"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 1, "committed_metadata": None}]}
        ],
    }
    assert (
        client.request(ApiKey.TXN_OFFSET_COMMIT, 3, body).topics[0].partitions[0].error_code
        == ErrorCode.INVALID_TXN_STATE
    )


@pytest.mark.parametrize("version", range(0, 3))
def test_list_transactions_filters(client: WireClient, version: int) -> None:
    txn_id = name("list")
    pid, _ = init(client, txn_id)
    body = {"state_filters": ["Empty", "Bogus"], "producer_id_filters": [pid]}
    if version >= 2:
        body["transactional_id_pattern"] = "list-.*"
    resp = client.request(ApiKey.LIST_TRANSACTIONS, version, body)
    assert resp.error_code == ErrorCode.NONE and list(resp.unknown_state_filters) == ["Bogus"]
    assert [(t.transactional_id, t.transaction_state) for t in resp.transaction_states] == [(txn_id, "Empty")]
