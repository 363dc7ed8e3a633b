"""Produce walks a batch's records like Kafka's LogValidator; bombs are bounded and off the event loop.

Over TCP against a real broker process (issue #13, parts 4 and 5): every CRC-valid but corrupt
batch of tests/corrupt_batches.py gets Kafka's error and writes nothing, so a confluent-kafka
consumer reads every good record around it; a zstd bomb is refused with the broker's memory
flat while another connection is answered.
"""

from __future__ import annotations

import re
import struct
import threading
import time
from pathlib import Path

import crc32c
import pytest
import zstandard
from confluent_kafka import TopicPartition

from kafkapy.client.wire import WireClient
from kafkapy.protocol.compression import CompressionType
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_SIZE, build_batch, encode_varint
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess
from tests.corrupt_batches import INVALID, UNDECODABLE, reframe, zstd_bomb
from tests.integration.clientutil import consume_confluent, unique_topic

MIB = 1024 * 1024
EXPECTED = {
    **dict.fromkeys(UNDECODABLE, ErrorCode.UNKNOWN_SERVER_ERROR),
    **dict.fromkeys(INVALID, ErrorCode.INVALID_RECORD),
}
CORRUPT = {**UNDECODABLE, **INVALID}


def create(client: WireClient, name: str, configs: dict[str, str]) -> None:
    topic = {
        "name": name,
        "num_partitions": 1,
        "replication_factor": 1,
        "configs": [{"name": k, "value": v} for k, v in configs.items()],
    }
    resp = client.request(ApiKey.CREATE_TOPICS, 7, {"topics": [topic], "timeout_ms": 5000})
    assert resp.topics[0].error_code == ErrorCode.NONE, resp


def produce(client: WireClient, topic: str, batch: bytes, version: int = 9):
    body = {
        "acks": -1,
        "timeout_ms": 5000,
        "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch}]}],
    }
    return client.request(ApiKey.PRODUCE, version, body).responses[0].partition_responses[0]


def latest(client: WireClient, topic: str) -> int:
    body = {"replica_id": -1, "topics": [{"name": topic, "partitions": [{"partition_index": 0, "timestamp": -1}]}]}
    return client.request(ApiKey.LIST_OFFSETS, 5, body).topics[0].partitions[0].offset


def good_batch(tag: str) -> bytes:
    return build_batch([(f"{tag}-k{i}".encode(), f"{tag}-v{i}".encode(), [], None) for i in range(3)])


@pytest.mark.parametrize(
    "configs",
    [{}, {"compression.type": "zstd"}, {"cleanup.policy": "compact"}],
    ids=["producer-codec", "recompressed", "compacted"],
)
def test_corrupt_batches_write_nothing_and_good_records_stay_readable(
    shared_broker: BrokerProcess, configs: dict[str, str]
) -> None:
    topic = unique_topic("corrupt")
    with WireClient.connect(shared_broker.bootstrap) as client:
        create(client, topic, configs)
        assert produce(client, topic, good_batch("before")).error_code == ErrorCode.NONE
        answers = {name: produce(client, topic, batch).error_code for name, batch in CORRUPT.items()}
        assert answers == EXPECTED
        assert produce(client, topic, good_batch("after")).error_code == ErrorCode.NONE
        assert latest(client, topic) == 6
    records = consume_confluent(shared_broker.bootstrap, [TopicPartition(topic, 0, 0)], expected=6, timeout=60)
    assert [r.value for r in records] == [f"{tag}-v{i}".encode() for tag in ("before", "after") for i in range(3)]


def test_batch_inflating_past_the_inline_walk_is_walked_in_a_thread_and_stored(shared_broker: BrokerProcess) -> None:
    """~6 MiB of records in a ~1 KB zstd batch: over produce's inline 2 MiB, under the 100 MiB bound."""
    topic = unique_topic("large")
    values = [bytes([i]) * 100_000 for i in range(60)]
    batch = build_batch([(None, value, [], None) for value in values], compression=CompressionType.ZSTD)
    with WireClient.connect(shared_broker.bootstrap) as client:
        create(client, topic, {})
        assert produce(client, topic, batch).error_code == ErrorCode.NONE
    records = consume_confluent(shared_broker.bootstrap, [TopicPartition(topic, 0, 0)], expected=60, timeout=60)
    assert [r.value for r in records] == values


def _vm_hwm(pid: int) -> int:
    """The process's peak resident set size, in bytes (/proc/PID/status VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


class _Prober(threading.Thread):
    """Sends ApiVersions on its own connection until stopped, keeping the slowest answer's time."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.client = WireClient.connect(bootstrap, timeout=60)
        self.stop = threading.Event()
        self.slowest = 0.0
        self.answers = 0

    def run(self) -> None:
        body = {"client_software_name": "probe", "client_software_version": "1"}
        while not self.stop.is_set():
            start = time.monotonic()
            assert self.client.request(ApiKey.API_VERSIONS, 3, body).error_code == 0
            self.slowest = max(self.slowest, time.monotonic() - start)
            self.answers += 1
            time.sleep(0.01)
        self.client.close()


@pytest.mark.parametrize(
    ("size", "records"),
    [(1 << 30, 1), (4 * MIB, 64)],
    ids=["one-gibibyte-record", "256-mib-of-records"],
)
def test_zstd_bomb_is_refused_with_memory_flat_and_others_served(
    broker_factory, size: int, records: int
) -> None:
    """A ~40 KB zstd batch inflating to 256 MiB-1 GiB, on a topic that recompresses (the old inflate-all path).

    socket.request.max.bytes is lowered to 32 MiB, the bound on inflated records: the broker
    either refuses the record on its claimed length or walks 32 MiB of records in a worker thread.
    """
    broker = broker_factory(extra_args=("--override", f"socket.request.max.bytes={32 * MIB}"))
    bomb = zstd_bomb(size, records=records)
    assert len(bomb) < 128 * 1024
    topic = unique_topic("bomb")
    with WireClient.connect(broker.bootstrap, timeout=120) as client:
        create(client, topic, {"compression.type": "zstd"})
        assert produce(client, topic, good_batch("before")).error_code == ErrorCode.NONE
        assert broker.pid is not None
        baseline = _vm_hwm(broker.pid)
        prober = _Prober(broker.bootstrap)
        prober.start()
        try:
            answer = produce(client, topic, bomb)
        finally:
            prober.stop.set()
            prober.join(30)
        growth = _vm_hwm(broker.pid) - baseline
        assert growth < 64 * MIB, f"peak RSS grew {growth / MIB:.0f} MiB"
        # Generous: the walk runs in a worker thread, so ApiVersions waits on the GIL at most.
        assert prober.answers > 0 and prober.slowest < 2.0, (prober.answers, prober.slowest)
        assert answer.error_code == ErrorCode.MESSAGE_TOO_LARGE
        assert latest(client, topic) == 3


MAX_TIMESTAMP = -3
BASE_TIMESTAMP_OFFSET = 27


def offset_for(client: WireClient, topic: str, timestamp: int) -> int:
    """ListOffsets v7 (MAX_TIMESTAMP needs it): the offset for ``timestamp``."""
    partitions = [{"partition_index": 0, "timestamp": timestamp}]
    body = {"replica_id": -1, "topics": [{"name": topic, "partitions": partitions}]}
    return client.request(2, 7, body).topics[0].partitions[0].offset


def _tiny_records_batch(count: int, timestamp: int | None = None) -> bytes:
    """A zstd batch of ``count`` records of key b"k" and value b"v": ~0.8 byte each on the wire.

    Every record has the batch's base timestamp, ``timestamp`` if given.
    """
    section = bytearray()
    for delta in range(count):
        body = b"\x00\x00" + encode_varint(delta) + b"\x02k\x02v\x00"
        section += encode_varint(len(body)) + body
    compressed = zstandard.ZstdCompressor(level=19).compress(bytes(section))
    batch = bytearray(reframe(compressed, codec=CompressionType.ZSTD, count=count))
    if timestamp is not None:
        struct.pack_into(">qq", batch, BASE_TIMESTAMP_OFFSET, timestamp, timestamp)
        struct.pack_into(">I", batch, CRC_OFFSET, crc32c.crc32c(bytes(batch[ATTRIBUTES_OFFSET:])))
    return bytes(batch)


@pytest.mark.parametrize(
    "configs",
    [{"cleanup.policy": "compact"}, {"compression.type": "gzip", "max.message.bytes": str(16 * MIB)}],
    ids=["compacted", "recompressed"],
)
def test_a_million_tiny_records_cost_what_they_inflate_to(broker: BrokerProcess, configs: dict[str, str]) -> None:
    """A batch under max.message.bytes holding 10^6 records, on a topic that decodes records.

    On 8b9c4e3 inspect_records held every record as a Python object (~300 bytes each, against
    ~9 bytes inflated): this 0.8 MB request took the broker's peak RSS up by 260-360 MiB.
    """
    count = 1_000_000
    # Newer than the batch before it, so ListOffsets by timestamp has to read this one.
    newest = int(time.time() * 1000) + 60_000
    batch = _tiny_records_batch(count, newest)
    assert len(batch) < MIB
    topic = unique_topic("tiny")
    with WireClient.connect(broker.bootstrap, timeout=120) as client:
        create(client, topic, configs)
        assert produce(client, topic, good_batch("before")).error_code == ErrorCode.NONE
        assert broker.pid is not None
        baseline = _vm_hwm(broker.pid)
        assert produce(client, topic, batch).error_code == ErrorCode.NONE
        assert latest(client, topic) == 3 + count
        # ListOffsets by timestamp reads the one batch holding the answer's record.
        assert offset_for(client, topic, MAX_TIMESTAMP) == 3
        assert offset_for(client, topic, newest) == 3
        growth = _vm_hwm(broker.pid) - baseline
        assert growth < 64 * MIB, f"peak RSS grew {growth / MIB:.0f} MiB"
    records = consume_confluent(broker.bootstrap, [TopicPartition(topic, 0, 3 + count - 2)], expected=2, timeout=60)
    assert [(r.key, r.value) for r in records] == [(b"k", b"v")] * 2


def test_a_batch_over_max_message_bytes_is_refused_before_its_records_are_walked(shared_broker: BrokerProcess) -> None:
    """Kafka's UnifiedLog.analyzeAndValidateRecords checks a batch's size before LogValidator reads it.

    So a corrupt 1.5 MiB batch answers MESSAGE_TOO_LARGE, as from Kafka 4.3.1 (checked with
    compat_tests/reference_kafka.py); on 8b9c4e3 it was inflated first (then CORRUPT_MESSAGE, now
    UNKNOWN_SERVER_ERROR as from Kafka).
    """
    corrupt = UNDECODABLE["gzip-garbage"]
    batch = reframe(corrupt[HEADER_SIZE:] * (3 * MIB // 2 // len(corrupt)), codec=CompressionType.GZIP)
    topic = unique_topic("oversized")
    with WireClient.connect(shared_broker.bootstrap) as client:
        create(client, topic, {})
        assert produce(client, topic, corrupt).error_code == ErrorCode.UNKNOWN_SERVER_ERROR
        assert produce(client, topic, batch).error_code == ErrorCode.MESSAGE_TOO_LARGE
        assert latest(client, topic) == 0


def test_the_cleaner_walks_a_million_tiny_records_one_at_a_time(broker_factory) -> None:
    """The log cleaner reads the batch of test_a_million_tiny_records_cost_what_they_inflate_to.

    On 8b9c4e3 it decoded each batch into a list of records: peak RSS +230 MiB while cleaning.
    """
    broker = broker_factory(extra_args=("--override", "log.cleaner.backoff.ms=100"))
    count = 1_000_000
    topic = unique_topic("tiny-clean")
    configs = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"}
    with WireClient.connect(broker.bootstrap, timeout=120) as client:
        create(client, topic, configs)
        assert produce(client, topic, _tiny_records_batch(count)).error_code == ErrorCode.NONE
        assert broker.pid is not None
        baseline = _vm_hwm(broker.pid)
        # The first pass may take some of the later batches too; it keeps one record (key b"k") either way.
        fields = rf"topic={topic} partition=0 first_offset=0 .*records_kept=1 records_read=(\d+)"
        cleaned = re.compile(rf"msg=cleaned {fields}")
        deadline = time.monotonic() + 120
        while not (found := cleaned.search(broker.stderr_text())):
            assert time.monotonic() < deadline, "the cleaner did not clean the batch"
            # A later batch rolls the segment (segment.ms) so the tiny records become cleanable.
            assert produce(client, topic, build_batch([(b"k", b"last", [], None)])).error_code == ErrorCode.NONE
            time.sleep(0.2)
        growth = _vm_hwm(broker.pid) - baseline
        assert growth < 64 * MIB, f"peak RSS grew {growth / MIB:.0f} MiB"
    assert int(found.group(1)) >= count
