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


def _fenced_producer(bootstrap: str, txn_id: str) -> tuple[int, int]:
    """The producer id and the epoch a second InitProducerId for ``txn_id`` fenced."""
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        _until_ready(client, 10, 3, {"key": txn_id, "key_type": 1})
        init = {"transactional_id": txn_id, "transaction_timeout_ms": 60000}
        first = _until_ready(client, 22, 0, init)
        assert first["error_code"] == 0, first
        second = _until_ready(client, 22, 0, init)
        assert (second["error_code"], second["producer_id"]) == (0, first["producer_id"]), second
        assert second["producer_epoch"] == first["producer_epoch"] + 1, second
        return first["producer_id"], first["producer_epoch"]


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
def fenced(wire_pair: WirePair) -> tuple[str, str, dict[str, tuple[int, int]]]:
    """A topic, a transactional id and, per broker, the producer id and old epoch the id fenced."""
    topic, txn_id = unique_name("errmap"), unique_name("errmap-txn")
    wire_pair.create_topics(topic)
    return topic, txn_id, wire_pair.on_both(lambda bootstrap: _fenced_producer(bootstrap, txn_id))


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

