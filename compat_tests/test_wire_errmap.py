"""Wire diffs of error codes by request version (issue #15 item 1) and of the small known differences
from Kafka 4.3.1 (the errmap brief's item 2).

An error a request version cannot carry is mapped as Kafka maps it: after a second InitProducerId has
fenced the first epoch, the old epoch gets INVALID_PRODUCER_EPOCH from the versions that predate
PRODUCER_FENCED (KIP-588) and PRODUCER_FENCED from the ones that added it. Producer ids differ between
the brokers, so each transactional case builds its request per broker (``_same_per_broker``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from wire_diff import WirePair, differences, normalize, plain, unique_name

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch
from tests.corrupt_batches import UNDECODABLE

# Kafka answers these while its transaction coordinator loads __transaction_state: set-up retries them.
_NOT_READY = (
    ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCode.NOT_COORDINATOR,
    ErrorCode.CONCURRENT_TRANSACTIONS,
)


def _until_ready(client: WireClient, api_key: int, version: int, body: dict, timeout: float = 30.0) -> dict:
    """The first answer that is not "coordinator not ready yet" (polls; set-up, not what a diff tests)."""
    deadline = time.monotonic() + timeout
    while True:
        response = plain(client.request(api_key, version, body))
        if response["error_code"] not in _NOT_READY:
            return response
        assert time.monotonic() < deadline, f"api {api_key}: still {response['error_code']} after {timeout}s"
        time.sleep(0.1)


def _init_producer(bootstrap: str, txn_id: str) -> tuple[int, int]:
    """InitProducerId for ``txn_id`` (once its coordinator is ready): the producer id and epoch."""
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        _until_ready(client, 10, 3, {"key": txn_id, "key_type": 1})
        init = _until_ready(client, 22, 0, {"transactional_id": txn_id, "transaction_timeout_ms": 60000})
        assert init["error_code"] == 0, init
        return init["producer_id"], init["producer_epoch"]


def _fenced_producer(bootstrap: str, txn_id: str) -> tuple[int, int]:
    """The producer id and the epoch a second InitProducerId for ``txn_id`` fenced."""
    first = _init_producer(bootstrap, txn_id)
    assert _init_producer(bootstrap, txn_id) == (first[0], first[1] + 1)
    return first


def _group_coordinator_ready(bootstrap: str, group: str) -> None:
    """Wait until the group's coordinator serves it (Kafka creates __consumer_offsets on first use and
    answers NOT_COORDINATOR until the group's partition is loaded)."""
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        _until_ready(client, 10, 3, {"key": group, "key_type": 0})
        _until_ready(client, 9, 7, {"group_id": group, "topics": None, "require_stable": False})


def _same_per_broker(
    wire_pair: WirePair,
    api_key: int,
    version: int,
    producers: dict[str, tuple[int, int]],
    body: Callable[[int, int], dict],
) -> dict:
    """Send each broker ``body(producer id, epoch)`` with its own producer and fail on any difference;
    kafkapy's plain answer."""
    responses = {}
    for broker, bootstrap in wire_pair.bootstraps.items():
        with WireClient.connect(bootstrap, timeout=30.0) as client:
            responses[broker] = plain(client.request(api_key, version, body(*producers[broker])))
    lines = differences(normalize(responses["kafkapy"]), normalize(responses["reference"]))
    assert not lines, f"api {api_key} v{version} differs from Kafka 4.3.1:\n" + "\n".join(lines)
    return responses["kafkapy"]


@pytest.fixture(scope="module")
def topic(wire_pair: WirePair) -> str:
    name = unique_name("errmap")
    wire_pair.create_topics(name)
    return name


@pytest.fixture(scope="module")
def group(wire_pair: WirePair) -> str:
    name = unique_name("errmap-group")
    wire_pair.on_both(lambda bootstrap: _group_coordinator_ready(bootstrap, name))
    return name


@pytest.fixture(scope="module")
def fenced(wire_pair: WirePair, topic: str) -> tuple[str, str, dict[str, tuple[int, int]]]:
    """A topic, a transactional id and, per broker, the producer id and old epoch the id fenced."""
    txn_id = unique_name("errmap-txn")
    return topic, txn_id, wire_pair.on_both(lambda bootstrap: _fenced_producer(bootstrap, txn_id))


@pytest.fixture
def idle(wire_pair: WirePair) -> tuple[str, dict[str, tuple[int, int]]]:
    """A transactional id whose producer has added nothing to a transaction, and its producer per broker."""
    txn_id = unique_name("errmap-idle")
    return txn_id, wire_pair.on_both(lambda bootstrap: _init_producer(bootstrap, txn_id))


def _expected(version: int, since: int) -> ErrorCode:
    return ErrorCode.PRODUCER_FENCED if version >= since else ErrorCode.INVALID_PRODUCER_EPOCH


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_add_partitions_to_txn_with_a_fenced_epoch(wire_pair: WirePair, fenced: tuple, version: int) -> None:
    topic, txn_id, producers = fenced

    def body(producer_id: int, epoch: int) -> dict:
        return {
            "v3_and_below_transactional_id": txn_id,
            "v3_and_below_producer_id": producer_id,
            "v3_and_below_producer_epoch": epoch,
            "v3_and_below_topics": [{"name": topic, "partitions": [0]}],
        }

    response = _same_per_broker(wire_pair, 24, version, producers, body)
    [result] = response["results_by_topic_v3_and_below"][0]["results_by_partition"]
    assert result["partition_error_code"] == _expected(version, 2)


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_add_offsets_to_txn_with_a_fenced_epoch(wire_pair: WirePair, fenced: tuple, version: int) -> None:
    _, txn_id, producers = fenced

    def body(producer_id: int, epoch: int) -> dict:
        return {
            "transactional_id": txn_id,
            "producer_id": producer_id,
            "producer_epoch": epoch,
            "group_id": unique_name("g"),
        }

    assert _same_per_broker(wire_pair, 25, version, producers, body)["error_code"] == _expected(version, 2)


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_end_txn_with_a_fenced_epoch(wire_pair: WirePair, fenced: tuple, version: int) -> None:
    _, txn_id, producers = fenced

    def body(producer_id: int, epoch: int) -> dict:
        return {"transactional_id": txn_id, "producer_id": producer_id, "producer_epoch": epoch, "committed": False}

    assert _same_per_broker(wire_pair, 26, version, producers, body)["error_code"] == _expected(version, 2)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_init_producer_id_with_a_fenced_epoch(wire_pair: WirePair, fenced: tuple, version: int) -> None:
    _, txn_id, producers = fenced

    def body(producer_id: int, epoch: int) -> dict:
        return {
            "transactional_id": txn_id,
            "transaction_timeout_ms": 60000,
            "producer_id": producer_id,
            "producer_epoch": epoch,
        }

    assert _same_per_broker(wire_pair, 22, version, producers, body)["error_code"] == _expected(version, 4)



def _txn_offset_commit(txn_id: str, group: str, topic: str) -> Callable[[int, int], dict]:
    def body(producer_id: int, epoch: int) -> dict:
        offset = {"partition_index": 0, "committed_offset": 1, "committed_metadata": ""}
        return {
            "transactional_id": txn_id,
            "group_id": group,
            "producer_id": producer_id,
            "producer_epoch": epoch,
            "topics": [{"name": topic, "partitions": [offset]}],
        }

    return body


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4, 5])
def test_txn_offset_commit_with_a_fenced_epoch(wire_pair: WirePair, fenced: tuple, group: str, version: int) -> None:
    """No TxnOffsetCommit version carries PRODUCER_FENCED: Kafka answers INVALID_PRODUCER_EPOCH to all."""
    topic, txn_id, producers = fenced
    response = _same_per_broker(wire_pair, 28, version, producers, _txn_offset_commit(txn_id, group, topic))
    assert response["topics"][0]["partitions"][0]["error_code"] == ErrorCode.INVALID_PRODUCER_EPOCH


# v5 is left out: with transaction version 2 Kafka adds the offsets partition implicitly (KIP-890 part 2).
@pytest.mark.parametrize("version", [0, 3, 4])
def test_txn_offset_commit_outside_the_transaction(
    wire_pair: WirePair, idle: tuple, topic: str, group: str, version: int
) -> None:
    """Offsets for a group whose partition is not in the transaction: TRANSACTION_ABORTABLE from v4 (KIP-890),
    INVALID_TXN_STATE before."""
    txn_id, producers = idle
    response = _same_per_broker(wire_pair, 28, version, producers, _txn_offset_commit(txn_id, group, topic))
    expected = ErrorCode.TRANSACTION_ABORTABLE if version >= 4 else ErrorCode.INVALID_TXN_STATE
    assert response["topics"][0]["partitions"][0]["error_code"] == expected


@pytest.mark.parametrize("version", [4, 5])
def test_add_partitions_to_txn_verifies_a_partition_outside_the_transaction(
    wire_pair: WirePair, idle: tuple, topic: str, version: int
) -> None:
    txn_id, producers = idle

    def body(producer_id: int, epoch: int) -> dict:
        transaction = {
            "transactional_id": txn_id,
            "producer_id": producer_id,
            "producer_epoch": epoch,
            "verify_only": True,
            "topics": [{"name": topic, "partitions": [0]}],
        }
        return {"transactions": [transaction]}

    response = _same_per_broker(wire_pair, 24, version, producers, body)
    [result] = response["results_by_transaction"][0]["topic_results"][0]["results_by_partition"]
    assert result["partition_error_code"] == ErrorCode.TRANSACTION_ABORTABLE


def _produce(topic: str, acks: int, records: Callable[[int, int], bytes], txn_id: str | None = None) -> Callable:
    def body(producer_id: int, epoch: int) -> dict:
        partition = {"index": 0, "records": records(producer_id, epoch)}
        return {
            "transactional_id": txn_id,
            "acks": acks,
            "timeout_ms": 5000,
            "topic_data": [{"name": topic, "partition_data": [partition]}],
        }

    return body


def _transactional_batch(producer_id: int, epoch: int) -> bytes:
    return build_batch(
        [(b"k", b"v", [], None)], producer_id=producer_id, producer_epoch=epoch, base_sequence=0, transactional=True
    )


# v12+ is left out: with transaction version 2 Kafka adds the partition implicitly (KIP-890 part 2).
@pytest.mark.parametrize("version", [3, 7, 8, 9, 10, 11])
def test_produce_to_a_partition_outside_the_transaction(
    wire_pair: WirePair, idle: tuple, topic: str, version: int
) -> None:
    """TRANSACTION_ABORTABLE without a message from v11; before, INVALID_TXN_STATE with Kafka's message."""
    txn_id, producers = idle
    response = _same_per_broker(wire_pair, 0, version, producers, _produce(topic, -1, _transactional_batch, txn_id))
    partition = response["responses"][0]["partition_responses"][0]
    expected = ErrorCode.TRANSACTION_ABORTABLE if version >= 11 else ErrorCode.INVALID_TXN_STATE
    assert partition["error_code"] == expected


def _plain_batch(producer_id: int, epoch: int) -> bytes:
    return build_batch([(b"k", b"v", [], None)])


@pytest.mark.parametrize("acks", [2, -2])
def test_produce_with_invalid_acks_to_an_unknown_topic(wire_pair: WirePair, acks: int) -> None:
    """Kafka answers the unknown topic first (KafkaApis), invalid acks only for topics it has (ReplicaManager);
    no topic is auto-created for a request that cannot be served."""
    absent = unique_name("absent")
    no_producer = {"kafkapy": (-1, -1), "reference": (-1, -1)}
    response = _same_per_broker(wire_pair, 0, 9, no_producer, _produce(absent, acks, _plain_batch))
    assert response["responses"][0]["partition_responses"][0]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_produce_with_invalid_acks_to_a_known_topic(wire_pair: WirePair, topic: str) -> None:
    no_producer = {"kafkapy": (-1, -1), "reference": (-1, -1)}
    response = _same_per_broker(wire_pair, 0, 9, no_producer, _produce(topic, 2, _plain_batch))
    assert response["responses"][0]["partition_responses"][0]["error_code"] == ErrorCode.INVALID_REQUIRED_ACKS


# (session id, epoch): an incremental fetch of a session the broker does not have, and a full fetch
# closing a session (epoch -1), which Kafka serves sessionless. A full fetch opening a session (epoch 0)
# is left out: Kafka opens one, kafkapy answers sessionless (session id 0), which the protocol allows.
@pytest.mark.parametrize(("session_id", "epoch"), [(12345, 1), (12345, 7), (0, 5), (12345, -1)])
def test_fetch_naming_an_unknown_session(wire_pair: WirePair, topic: str, session_id: int, epoch: int) -> None:
    partition = {
        "partition": 0,
        "current_leader_epoch": -1,
        "fetch_offset": 0,
        "last_fetched_epoch": -1,
        "log_start_offset": -1,
        "partition_max_bytes": 1024,
    }
    body = {
        "replica_id": -1,
        "max_wait_ms": 0,
        "min_bytes": 1,
        "max_bytes": 1024,
        "isolation_level": 0,
        "session_id": session_id,
        "session_epoch": epoch,
        "topics": [{"topic": topic, "partitions": [partition]}],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    response = wire_pair.assert_same(1, 11, body)
    expected = ErrorCode.NONE if epoch == -1 else ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    assert response["error_code"] == expected


def test_create_partitions_adding_more_than_10000(wire_pair: WirePair) -> None:
    """Kafka's bound on one controller operation's records escapes as UNKNOWN_SERVER_ERROR without a message.

    Afterwards Kafka 4.3.1 shows no new topic for about 20 s (measured); the test waits until it does, so
    the session's other wire diffs find both brokers as they were.
    """
    grown = unique_name("grown")
    wire_pair.create_topics(grown)
    topics = [{"name": grown, "count": 20_000, "assignments": None}]
    try:
        response = wire_pair.assert_same(37, 3, {"topics": topics, "timeout_ms": 5000, "validate_only": False})
        assert response["results"][0]["error_code"] == ErrorCode.UNKNOWN_SERVER_ERROR
    finally:
        _wait_until_topics_appear(wire_pair)


def _wait_until_topics_appear(wire_pair: WirePair, timeout: float = 120.0) -> None:
    """Create a topic on both brokers and wait, longer than create_topics does, until it has leaders."""
    canary = unique_name("canary")
    topic = {"name": canary, "num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": []}
    wire_pair.request(19, 7, {"topics": [topic], "timeout_ms": 30000, "validate_only": False})
    wire_pair.wait_for_leaders(canary, timeout=timeout)


@pytest.mark.parametrize(
    ("name", "version"), [(name, 9) for name in sorted(UNDECODABLE)] + [("gzip-garbage", 3), ("zstd-truncated", 7)]
)
def test_produce_of_undecodable_compressed_records(wire_pair: WirePair, topic: str, name: str, version: int) -> None:
    """Kafka 4.3.1 fails them with an unexpected exception: UNKNOWN_SERVER_ERROR, no message, the log start
    offset (kafkapy answered CORRUPT_MESSAGE, which Java producers retry)."""
    no_producer = {"kafkapy": (-1, -1), "reference": (-1, -1)}
    response = _same_per_broker(wire_pair, 0, version, no_producer, _produce(topic, 1, lambda *_: UNDECODABLE[name]))
    assert response["responses"][0]["partition_responses"][0]["error_code"] == ErrorCode.UNKNOWN_SERVER_ERROR


@pytest.mark.parametrize("version", [2, 5, 8, 9])
def test_offset_commit_naming_a_generation_of_an_unknown_group(wire_pair: WirePair, topic: str, version: int) -> None:
    """GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION before (Kafka's OffsetMetadataManager)."""
    absent = unique_name("no-group")
    wire_pair.on_both(lambda bootstrap: _group_coordinator_ready(bootstrap, absent))
    offset = {"partition_index": 0, "committed_offset": 1, "committed_leader_epoch": -1, "committed_metadata": ""}
    body = {
        "group_id": absent,
        "generation_id_or_member_epoch": 5,
        "member_id": "m",
        "group_instance_id": None,
        "retention_time_ms": -1,
        "topics": [{"name": topic, "partitions": [offset]}],
    }
    response = wire_pair.assert_same(8, version, body)
    expected = ErrorCode.GROUP_ID_NOT_FOUND if version >= 9 else ErrorCode.ILLEGAL_GENERATION
    assert response["topics"][0]["partitions"][0]["error_code"] == expected


@pytest.mark.parametrize(("version", "generation"), [(3, 5), (4, 5), (3, -1)])
def test_txn_offset_commit_naming_a_generation_of_an_unknown_group(
    wire_pair: WirePair, idle: tuple, topic: str, version: int, generation: int
) -> None:
    """A generation of a group that does not exist is ILLEGAL_GENERATION; without one the offsets are taken."""
    txn_id, producers = idle
    absent = unique_name("no-group")
    wire_pair.on_both(lambda bootstrap: _group_coordinator_ready(bootstrap, absent))

    def add_offsets(producer_id: int, epoch: int) -> dict:
        return {"transactional_id": txn_id, "group_id": absent, "producer_id": producer_id, "producer_epoch": epoch}

    assert _same_per_broker(wire_pair, 25, 3, producers, add_offsets)["error_code"] == ErrorCode.NONE
    commit = _txn_offset_commit(txn_id, absent, topic)

    def body(producer_id: int, epoch: int) -> dict:
        return {**commit(producer_id, epoch), "generation_id": generation, "member_id": "m", "group_instance_id": None}

    response = _same_per_broker(wire_pair, 28, version, producers, body)
    expected = ErrorCode.ILLEGAL_GENERATION if generation >= 0 else ErrorCode.NONE
    assert response["topics"][0]["partitions"][0]["error_code"] == expected


@pytest.mark.parametrize("version", [3, 9])
@pytest.mark.parametrize("batches", [0, 2])
def test_produce_of_other_than_one_batch(wire_pair: WirePair, topic: str, version: int, batches: int) -> None:
    """Kafka's ProduceRequest.validateRecords takes exactly one batch: INVALID_RECORD without a message (kafkapy
    answered no batch at all with CORRUPT_MESSAGE)."""
    no_producer = {"kafkapy": (-1, -1), "reference": (-1, -1)}
    records = _plain_batch(-1, -1) * batches
    response = _same_per_broker(wire_pair, 0, version, no_producer, _produce(topic, 1, lambda *_: records))
    assert response["responses"][0]["partition_responses"][0]["error_code"] == ErrorCode.INVALID_RECORD


@pytest.mark.parametrize("version", [3, 9, 11])
@pytest.mark.parametrize("fenced_by", ["newer", "older"])
def test_produce_with_an_epoch_other_than_the_transactions(
    wire_pair: WirePair, idle: tuple, fenced: tuple, topic: str, version: int, fenced_by: str
) -> None:
    """Kafka's verification answers any epoch but the coordinator's current one INVALID_PRODUCER_EPOCH without
    a message, before the partition is looked at (kafkapy appended a newer epoch's batch)."""
    txn_id, producers = idle if fenced_by == "newer" else fenced[1:]
    delta = 5 if fenced_by == "newer" else 0

    def records(producer_id: int, epoch: int) -> bytes:
        return _transactional_batch(producer_id, epoch + delta)

    response = _same_per_broker(wire_pair, 0, version, producers, _produce(topic, -1, records, txn_id))
    assert response["responses"][0]["partition_responses"][0]["error_code"] == ErrorCode.INVALID_PRODUCER_EPOCH
