"""Every served (api, version) over a real socket, and bad input, with kafkapy's wire client."""

from __future__ import annotations

import struct
import time
import uuid

import pytest

from kafkapy.client.wire import WireClient
from kafkapy.protocol.connection import ProtocolError
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess

SERVED = {
    0: (3, 13),
    1: (4, 18),
    2: (1, 11),
    3: (0, 13),
    8: (0, 10),
    9: (0, 10),
    10: (0, 6),
    11: (0, 9),
    12: (0, 4),
    13: (0, 5),
    14: (0, 5),
    15: (0, 6),
    16: (0, 5),
    17: (0, 1),
    18: (0, 4),
    19: (0, 7),
    20: (0, 6),
    21: (0, 2),
    22: (0, 6),
    23: (0, 4),
    24: (0, 5),
    25: (0, 4),
    26: (0, 5),
    28: (0, 5),
    29: (1, 3),
    30: (1, 3),
    31: (1, 3),
    32: (0, 4),
    33: (0, 2),
    34: (1, 2),
    35: (0, 5),
    36: (0, 2),
    37: (0, 3),
    42: (0, 2),
    43: (0, 2),
    44: (0, 1),
    45: (0, 1),
    46: (0, 0),
    47: (0, 0),
    48: (0, 1),
    49: (0, 1),
    50: (0, 0),
    51: (0, 0),
    55: (0, 2),
    57: (0, 2),
    60: (0, 2),
    61: (0, 0),
    65: (0, 0),
    66: (0, 2),
    68: (0, 1),
    69: (0, 1),
    74: (0, 1),
    75: (0, 0),
    76: (1, 1),
    77: (1, 1),
    78: (1, 2),
    79: (1, 2),
    88: (0, 0),
    89: (0, 0),
    90: (0, 1),
    91: (0, 0),
    92: (0, 0),
}


@pytest.fixture
def client(shared_broker: BrokerProcess):
    with WireClient.connect(shared_broker.bootstrap) as c:
        yield c


def create(client: WireClient, name: str, partitions: int = 1) -> None:
    resp = client.request(
        ApiKey.CREATE_TOPICS, 7, {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": 1}]}
    )
    assert resp.topics[0].error_code == ErrorCode.NONE, resp


def metadata_topic(client: WireClient, name: str):
    return client.request(ApiKey.METADATA, 12, {"topics": [{"name": name}], "allow_auto_topic_creation": False}).topics[
        0
    ]


def produce(client: WireClient, version: int, topic: str, records: bytes, topic_id: uuid.UUID | None = None):
    ref = {"topic_id": topic_id} if version >= 13 else {"name": topic}
    topic_data = [{**ref, "partition_data": [{"index": 0, "records": records}]}]
    body = {"acks": -1, "timeout_ms": 5000, "topic_data": topic_data}
    return client.request(ApiKey.PRODUCE, version, body).responses[0].partition_responses[0]


def latest(client: WireClient, topic: str) -> int:
    body = {"replica_id": -1, "topics": [{"name": topic, "partitions": [{"partition_index": 0, "timestamp": -1}]}]}
    return client.request(ApiKey.LIST_OFFSETS, 5, body).topics[0].partitions[0].offset


def test_api_versions_advertises_exactly_the_handlers(client: WireClient) -> None:
    for version in range(5):
        resp = client.request(
            ApiKey.API_VERSIONS, version, {"client_software_name": "t", "client_software_version": "1"}
        )
        assert resp.error_code == 0
        assert {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys} == SERVED


def test_unknown_api_versions_version_answers_v0_unsupported(client: WireClient) -> None:
    header = struct.pack(">hhih", 18, 9, 77, 1) + b"t" + b"\x00"
    client.send_raw(struct.pack(">i", len(header) + 3) + header + b"\x01\x01\x00")
    resp = client.read_response(ApiKey.API_VERSIONS, 0, 77)
    assert resp.error_code == ErrorCode.UNSUPPORTED_VERSION
    assert {k.api_key for k in resp.api_keys} == set(SERVED)


def test_a_response_to_another_correlation_id_is_a_protocol_error(shared_broker: BrokerProcess) -> None:
    """The wire client reads responses through the broker's own framing code (a Connection in the client
    role): an answer to another request raises ProtocolError, not an AssertionError."""
    with WireClient.connect(shared_broker.bootstrap) as client:
        correlation_id, data = client.encode(ApiKey.METADATA, 12, {"topics": []})
        client.send_raw(data)
        with pytest.raises(ProtocolError, match=f"correlation id {correlation_id}, expected {correlation_id + 1}"):
            client.read_response(ApiKey.METADATA, 12, correlation_id + 1)


@pytest.mark.parametrize("version", range(0, 14))
def test_metadata_every_version(client: WireClient, version: int) -> None:
    name = f"md-{version}"
    topics = [] if version == 0 else [{"name": name}]
    if version == 0:
        create(client, name, 2)
    body = {"topics": topics, "allow_auto_topic_creation": True}
    if version > 0:
        # As Kafka 4.3.1: the request that auto-creates the topic answers "not yet", the next one has it.
        first = client.request(ApiKey.METADATA, version, body).topics[0]
        assert (first.name, first.error_code, len(first.partitions)) == (name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 0)
    resp = client.request(ApiKey.METADATA, version, body)
    assert resp.brokers[0].node_id == 1
    entry = next(t for t in resp.topics if t.name == name)
    assert entry.error_code == 0
    assert len(entry.partitions) == (2 if version == 0 else 1)
    if version >= 2:
        assert resp.cluster_id
    if version >= 10:
        assert entry.topic_id != uuid.UUID(int=0)


def test_metadata_by_topic_id_and_unknown(client: WireClient) -> None:
    create(client, "by-id")
    topic_id = metadata_topic(client, "by-id").topic_id
    resp = client.request(ApiKey.METADATA, 12, {"topics": [{"topic_id": topic_id, "name": None}]})
    assert resp.topics[0].name == "by-id"
    resp = client.request(ApiKey.METADATA, 12, {"topics": [{"topic_id": uuid.uuid4(), "name": None}]})
    assert resp.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_ID
    assert metadata_topic(client, "no-such-topic").error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert metadata_topic(client, "bad/name").error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
    bad = client.request(ApiKey.METADATA, 12, {"topics": [{"name": "bad/name"}], "allow_auto_topic_creation": True})
    assert bad.topics[0].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION


@pytest.mark.parametrize("version", range(3, 14))
def test_produce_fetch_every_version(client: WireClient, version: int) -> None:
    topic = f"pf-{version}"
    create(client, topic)
    topic_id = metadata_topic(client, topic).topic_id
    for i in range(3):
        part = produce(client, version, topic, build_batch([(b"k", f"v{i}".encode(), [], 1000 + i)]), topic_id)
        assert (part.error_code, part.base_offset) == (0, i)
    for fetch_version in range(4, 19):
        ref = {"topic_id": topic_id} if fetch_version >= 13 else {"topic": topic}
        body = {
            "max_wait_ms": 100,
            "min_bytes": 1,
            "topics": [{**ref, "partitions": [{"partition": 0, "fetch_offset": 1, "partition_max_bytes": 1 << 20}]}],
        }
        resp = client.request(ApiKey.FETCH, fetch_version, body)
        part = resp.responses[0].partitions[0]
        assert (part.error_code, part.high_watermark) == (0, 3)
        # Whole batches from the one holding offset 1 onwards.
        assert part.records.count(b"v1") == 1 and b"v0" not in part.records


@pytest.mark.parametrize("version", range(1, 12))
def test_list_offsets_every_version(client: WireClient, version: int) -> None:
    topic = f"lo-{version}"
    create(client, topic)
    for ts in (1000, 2000, 3000):
        produce(client, 9, topic, build_batch([(None, b"x", [], ts)]))
    wanted = {-2: 0, -1: 3, 1500: 1, 3000: 2, 9999: -1}
    if version >= 7:
        wanted[-3] = 2
    # Kafka allows each partition once per request, so ask one timestamp at a time.
    for ts, offset in wanted.items():
        body = {"replica_id": -1, "topics": [{"name": topic, "partitions": [{"partition_index": 0, "timestamp": ts}]}]}
        got = client.request(ApiKey.LIST_OFFSETS, version, body).topics[0].partitions[0]
        assert (got.error_code, got.offset) == (0, offset), ts


@pytest.mark.parametrize("version", range(0, 8))
def test_create_topics_every_version(client: WireClient, version: int) -> None:
    def one(name: str, partitions: int = 2, rf: int = 1, configs: list | None = None) -> dict:
        topic = {"name": name, "num_partitions": partitions, "replication_factor": rf, "configs": configs or []}
        return client.request(ApiKey.CREATE_TOPICS, version, {"topics": [topic], "timeout_ms": 5000}).topics[0]

    name = f"ct-{version}"
    assert one(name).error_code == 0
    assert one(name).error_code == ErrorCode.TOPIC_ALREADY_EXISTS
    assert one(f"{name}-rf", rf=0).error_code == ErrorCode.INVALID_REPLICATION_FACTOR
    # One broker, one replica: a larger factor is accepted and reported as 1 (kafkapy.strict.replication.factor).
    rf3 = one(f"{name}-rf3", rf=3)
    assert rf3.error_code == 0 and (version < 5 or rf3.replication_factor == 1)
    assert one(f"{name}-p", partitions=0).error_code == ErrorCode.INVALID_PARTITIONS
    assert one("a" * 250).error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
    bad_config = one(f"{name}-c", configs=[{"name": "no.such.config", "value": "1"}])
    assert bad_config.error_code == ErrorCode.INVALID_CONFIG
    assert len(metadata_topic(client, name).partitions) == 2


def test_bad_batches_get_error_codes_and_write_nothing(client: WireClient) -> None:
    create(client, "bad-batches")
    good = bytearray(build_batch([(b"k", b"v", [], 1)]))
    assert produce(client, 9, "bad-batches", bytes(good)).error_code == 0
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0xFF
    magic1 = bytearray(good)
    magic1[16] = 1
    cases = {
        ErrorCode.CORRUPT_MESSAGE: [bytes(bad_crc), bytes(good[:40]), bytes(good[:-3])],
        ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT: [bytes(magic1)],
        ErrorCode.INVALID_RECORD: [bytes(good) + bytes(good)],
    }
    for code, payloads in cases.items():
        for payload in payloads:
            assert produce(client, 9, "bad-batches", payload).error_code == code
    assert latest(client, "bad-batches") == 1


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff\xff\xff\xff",  # negative size
        struct.pack(">i", 200 * 1024 * 1024) + b"x" * 8,  # over socket.request.max.bytes
        struct.pack(">i", 3) + b"abc",  # too short for a header
        struct.pack(">ihhi", 8, 3, 9, 1),  # Metadata v9 with no body at all
        struct.pack(">ihhih", 10, 999, 0, 1, 0),  # unknown API key
        struct.pack(">ihhih", 10, 0, 1, 1, 0),  # Produce v1: not served
    ],
)
def test_garbage_closes_connection_and_broker_survives(shared_broker: BrokerProcess, garbage: bytes) -> None:
    with WireClient.connect(shared_broker.bootstrap) as bad:
        bad.send_raw(garbage)
        assert bad.is_closed_by_peer()
    with WireClient.connect(shared_broker.bootstrap) as good:
        assert (
            good.request(
                ApiKey.API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"}
            ).error_code
            == 0
        )
    assert shared_broker.is_running()


def test_truncated_frame_then_disconnect(shared_broker: BrokerProcess) -> None:
    with WireClient.connect(shared_broker.bootstrap) as c:
        c.send_raw(struct.pack(">i", 100) + b"\x00\x03\x00\x09")
    with WireClient.connect(shared_broker.bootstrap) as c:
        assert c.request(ApiKey.METADATA, 1, {"topics": []}).brokers[0].node_id == 1


def test_fetch_of_no_partitions_is_answered_at_once(client: WireClient) -> None:
    started = time.monotonic()
    resp = client.request(ApiKey.FETCH, 12, {"max_wait_ms": 5000, "min_bytes": 1, "topics": []})
    assert resp.error_code == 0 and time.monotonic() - started < 2


def test_pipelined_requests_answered_in_order(client: WireClient) -> None:
    ids = []
    data = b""
    for version in (0, 4, 9, 12, 1, 13):
        cid, frame = client.encode(ApiKey.METADATA, version, {"topics": []})
        ids.append((cid, version))
        data += frame
    client.send_raw(data)
    for cid, version in ids:
        assert client.read_response(ApiKey.METADATA, version, cid).brokers[0].node_id == 1


def test_client_not_reading_its_responses_stalls_only_itself(shared_broker: BrokerProcess) -> None:
    """Pipelined requests whose answers (~5 MB) overfill the socket buffers; other clients are still served."""
    body = {"client_software_name": "greedy", "client_software_version": "1"}
    with WireClient.connect(shared_broker.bootstrap) as greedy, WireClient.connect(shared_broker.bootstrap) as other:
        ids = []
        data = bytearray()
        for _ in range(20_000):
            cid, frame = greedy.encode(ApiKey.API_VERSIONS, 3, body)
            ids.append(cid)
            data += frame
        greedy.send_raw(bytes(data))
        started = time.monotonic()
        assert other.request(ApiKey.API_VERSIONS, 3, body).error_code == ErrorCode.NONE
        assert time.monotonic() - started < 5
        for cid in ids:
            assert greedy.read_response(ApiKey.API_VERSIONS, 3, cid).error_code == ErrorCode.NONE


def test_no_auto_create_answers_unknown_topic(broker_factory) -> None:
    b = broker_factory("strict", extra_args=("--no-auto-create-topics",))
    with WireClient.connect(b.bootstrap) as c:
        resp = c.request(ApiKey.METADATA, 12, {"topics": [{"name": "nope"}], "allow_auto_topic_creation": True})
        assert resp.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        part = produce(c, 9, "nope", build_batch([(None, b"x", [], 1)]))
        assert part.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert c.request(ApiKey.METADATA, 12, {"topics": None}).topics == []


def test_idempotent_batch_without_sequence_is_invalid(client: WireClient) -> None:
    create(client, "bad-seq")
    batch = build_batch([(None, b"x", [], 1)], producer_id=5, producer_epoch=0, base_sequence=-1)
    assert produce(client, 9, "bad-seq", batch).error_code == ErrorCode.INVALID_RECORD


def test_failed_acks0_produce_closes_the_connection(shared_broker: BrokerProcess) -> None:
    with WireClient.connect(shared_broker.bootstrap) as c:
        records = build_batch([(None, b"x", [], 1)])
        topic_data = [{"name": "bad/name", "partition_data": [{"index": 0, "records": records}]}]
        _, frame = c.encode(ApiKey.PRODUCE, 9, {"acks": 0, "timeout_ms": 1000, "topic_data": topic_data})
        c.send_raw(frame)
        assert c.is_closed_by_peer()


def test_describe_topic_partitions_sends_empty_elr_lists(client: WireClient) -> None:
    create(client, "elr", 2)
    body = {"topics": [{"name": "elr"}], "response_partition_limit": 100, "cursor": None}
    partitions = client.request(ApiKey.DESCRIBE_TOPIC_PARTITIONS, 0, body).topics[0].partitions
    assert [(p.eligible_leader_replicas, p.last_known_elr) for p in partitions] == [([], [])] * 2
