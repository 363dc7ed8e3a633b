"""Wire diffs of Fetch readiness and Metadata auto-creation against Apache Kafka 4.3.1 (issue #15).

Fetch: Kafka answers at once when a fetch offset lies in a closed segment (a read stops at its end, so
waiting cannot make the response grow) and caps min_bytes at max_bytes; kafkapy waited out max_wait_ms.
The fetches here use a long max wait and check each broker answered well before it, then diff the answers
(the record bytes included). Kafka 4.3.1's smallest segment.bytes is 1 MiB, hence the ~1.2 MB topics.

Metadata: Kafka 4.3.1 answers a topic it auto-creates with UNKNOWN_TOPIC_OR_PARTITION and no partitions
(every version, 0-13), and the topic on a later request; a topic just deleted is recreated the same way
by the next Metadata that allows auto-creation. kafkapy answered the new topic ready at once.
"""

from __future__ import annotations

import time

import pytest
from wire_diff import WirePair, differences, normalize, plain, unique_name

from kafkapy.client.wire import WireClient
from kafkapy.protocol.records import build_batch

FETCH, METADATA, PRODUCE = 1, 3, 0
LONG_WAIT_MS = 20000
# One timestamp for every batch, so both brokers store the same bytes; recent, so retention keeps them.
TIMESTAMP_MS = int(time.time() * 1000)
VALUE = b"v" * 20000
BATCH = build_batch([(None, VALUE, [], TIMESTAMP_MS)])
# 1 MiB segments hold 52 of these batches: offsets 0-51 in the first (closed) segment, 52-59 in the active one.
SEGMENT_BYTES = 1 << 20
BATCHES = 60
FIRST_ACTIVE_OFFSET = SEGMENT_BYTES // len(BATCH)


@pytest.fixture(scope="module")
def two_segments(wire_pair: WirePair) -> str:
    """A topic whose partition 0 holds a closed 1 MiB segment and an active one, identical on both brokers."""
    topic = unique_name("segments")
    wire_pair.create_topics(topic, configs={"segment.bytes": str(SEGMENT_BYTES)})
    body = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 30000,
        "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": BATCH}]}],
    }

    def produce(bootstrap: str) -> None:
        with WireClient.connect(bootstrap, timeout=30.0) as client:
            for _ in range(BATCHES):
                assert client.request(PRODUCE, 9, body).responses[0].partition_responses[0].error_code == 0

    wire_pair.on_both(produce)
    return topic


def fetch_body(
    topic: str, offset: int, *, min_bytes: int, max_bytes: int, partition_max_bytes: int, wait_ms: int = LONG_WAIT_MS
) -> dict:
    return {
        "replica_id": -1,
        "max_wait_ms": wait_ms,
        "min_bytes": min_bytes,
        "max_bytes": max_bytes,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [
            {
                "topic": topic,
                "partitions": [
                    {
                        "partition": 0,
                        "current_leader_epoch": -1,
                        "fetch_offset": offset,
                        "log_start_offset": -1,
                        "partition_max_bytes": partition_max_bytes,
                    }
                ],
            }
        ],
        "forgotten_topics_data": [],
        "rack_id": "",
    }


def assert_same_at_once(wire_pair: WirePair, version: int, body: dict) -> dict:
    """Send the fetch to both; each must answer before its max wait, and the answers must be equal."""
    took: dict[str, float] = {}

    def send(bootstrap: str) -> dict:
        with WireClient.connect(bootstrap, timeout=LONG_WAIT_MS / 1000 * 2) as client:
            sent = time.monotonic()
            response = client.request(FETCH, version, body)
            took[bootstrap] = time.monotonic() - sent
            return plain(response)

    responses = wire_pair.on_both(send)
    slow = {name: took[b] for name, b in wire_pair.bootstraps.items() if took[b] >= body["max_wait_ms"] / 1000}
    assert not slow, f"waited out max_wait_ms={body['max_wait_ms']}: {slow}"
    ours, theirs = (normalize(responses[name]) for name in ("kafkapy", "reference"))
    lines = differences(ours, theirs)
    assert not lines, f"fetch v{version} differs from Kafka 4.3.1:\n" + "\n".join(lines)
    return responses["kafkapy"]


@pytest.mark.parametrize("version", [4, 11, 12])
def test_fetch_from_a_closed_segment_answers_its_rest_at_once(
    wire_pair: WirePair, two_segments: str, version: int
) -> None:
    # min_bytes beyond max_bytes and partition_max_bytes, which are beyond what the closed segment has left.
    offset = FIRST_ACTIVE_OFFSET - 7
    body = fetch_body(two_segments, offset, min_bytes=4 << 20, max_bytes=2 << 20, partition_max_bytes=2 << 20)
    response = assert_same_at_once(wire_pair, version, body)
    assert len(response["responses"][0]["partitions"][0]["records"]) == 7 * len(BATCH)


def test_fetch_whose_min_bytes_exceeds_max_bytes_answers_a_full_response(
    wire_pair: WirePair, two_segments: str
) -> None:
    # In the active segment; max_bytes is exactly two batches, so both brokers send whole batches.
    limits = {"min_bytes": 1 << 20, "max_bytes": 2 * len(BATCH), "partition_max_bytes": 3 << 20}
    body = fetch_body(two_segments, FIRST_ACTIVE_OFFSET, **limits)
    response = assert_same_at_once(wire_pair, 12, body)
    assert len(response["responses"][0]["partitions"][0]["records"]) == 2 * len(BATCH)


def test_fetch_with_min_bytes_zero_at_the_log_end_answers_at_once(wire_pair: WirePair, two_segments: str) -> None:
    body = fetch_body(two_segments, BATCHES, min_bytes=0, max_bytes=1 << 20, partition_max_bytes=1 << 20)
    assert_same_at_once(wire_pair, 12, body)


def test_fetch_of_the_active_segment_below_min_bytes_waits(wire_pair: WirePair, two_segments: str) -> None:
    # partition_max_bytes does not cap min_bytes: Kafka counts at most that much per partition and waits.
    body = fetch_body(
        two_segments, FIRST_ACTIVE_OFFSET, min_bytes=3 * len(BATCH), max_bytes=3 << 20,
        partition_max_bytes=2 * len(BATCH), wait_ms=300,
    )
    wire_pair.assert_same(FETCH, 12, body)


def metadata_body(name: str, *, auto_create: bool = True) -> dict:
    return {
        "topics": [{"name": name, "topic_id": None}],
        "allow_auto_topic_creation": auto_create,
        "include_cluster_authorized_operations": False,
        "include_topic_authorized_operations": False,
    }


def wait_for_topic(wire_pair: WirePair, name: str, timeout: float = 30.0) -> None:
    """Until both brokers know ``name`` (Kafka's controller creates an auto-created topic a moment later)."""
    deadline = time.monotonic() + timeout
    body = metadata_body(name, auto_create=False)
    while any(r["topics"][0]["error_code"] for r in wire_pair.request(METADATA, 12, body).values()):
        assert time.monotonic() < deadline, f"{name} not created within {timeout}s"
        time.sleep(0.05)
    wire_pair.wait_for_leaders(name)


@pytest.mark.parametrize("version", range(14))
def test_metadata_auto_creation_answers_not_yet_then_the_topic(wire_pair: WirePair, version: int) -> None:
    # v0-v3 always auto-create; v4+ because the request allows it.
    name = unique_name(f"auto-v{version}")
    wire_pair.assert_same(METADATA, version, metadata_body(name), ignore=("brokers", "controller_id"))
    wait_for_topic(wire_pair, name)
    response = wire_pair.assert_same(METADATA, version, metadata_body(name), ignore=("brokers", "controller_id"))
    assert response["topics"][0]["error_code"] == 0 and response["topics"][0]["partitions"]


def test_metadata_after_delete_topics_recreates_the_topic_not_yet_first(wire_pair: WirePair) -> None:
    name = unique_name("deleted")
    wire_pair.create_topics(name)
    deleted = wire_pair.request(20, 6, {"topics": [{"name": name, "topic_id": None}], "timeout_ms": 30000})
    assert all(r["responses"][0]["error_code"] == 0 for r in deleted.values()), deleted
    wire_pair.assert_same(METADATA, 12, metadata_body(name), ignore=("brokers", "controller_id"))
    wait_for_topic(wire_pair, name)
    wire_pair.assert_same(METADATA, 12, metadata_body(name), ignore=("brokers", "controller_id"))
