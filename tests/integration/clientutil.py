"""Small helpers around the stock Kafka clients, shared by the integration tests.

Everything here talks to a real broker over TCP and is bounded in time: a broker that stops
answering makes a helper raise `TimeoutError` rather than hang the suite. Consumers never join
a group (kafkapy has no group coordinator yet): they use assign() with explicit offsets.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.client.wire import WireClient

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


class Deadline:
    """A wall-clock budget for a loop; `check()` raises with a description once it is spent."""

    def __init__(self, seconds: float, what: str) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds
        self.what = what

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def check(self, detail: str = "") -> None:
        if self.expired():
            raise TimeoutError(f"{self.what}: not done within {self.seconds:.0f}s {detail}".rstrip())


def unique_topic(prefix: str) -> str:
    """A topic name no other test uses, so tests can share one broker."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Record:
    """A record as the tests compare it, independent of which client produced or read it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int


@dataclass
class ProducedBatch:
    """What the producer was told: (partition, offset) per message index, and any errors."""

    acked: dict[int, tuple[int, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def base_conf(bootstrap: str) -> dict[str, object]:
    """Client settings common to every confluent-kafka client in the suite."""
    return {
        "bootstrap.servers": bootstrap,
        "socket.timeout.ms": 10000,
        "broker.address.family": "v4",
    }


def create_topic(bootstrap: str, name: str, partitions: int, timeout: float = 15.0) -> None:
    """Create a topic with confluent-kafka's AdminClient (CreateTopics) and wait for it in Metadata."""
    admin = AdminClient(base_conf(bootstrap))
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)], operation_timeout=timeout
    )
    futures[name].result(timeout=timeout)
    wait_for_partitions(admin, name, partitions, timeout)


def create_topic_wire(client: WireClient, name: str, partitions: int = 1, **configs: str) -> None:
    """CreateTopics v7 over kafkapy's wire client, with topic configs; fails on any error."""
    topic = {
        "name": name,
        "num_partitions": partitions,
        "replication_factor": 1,
        "configs": [{"name": k, "value": v} for k, v in configs.items()],
    }
    answer = client.request(19, 7, {"topics": [topic], "timeout_ms": 30000, "validate_only": False}).topics[0]
    assert answer.error_code == 0, answer


def produce_wire(client: WireClient, topic: str, batch: bytes, partition: int = 0) -> int:
    """Produce v9 (acks all) of one batch over kafkapy's wire client; its base offset. Fails on any error."""
    data = [{"name": topic, "partition_data": [{"index": partition, "records": batch}]}]
    answer = client.request(0, 9, {"acks": -1, "timeout_ms": 30000, "topic_data": data})
    result = answer.responses[0].partition_responses[0]
    assert result.error_code == 0, result
    return result.base_offset


def incremental_alter_configs(
    bootstrap: str, kind: int, name: str, *entries: tuple[str, int, str | None], timeout: float = 15.0
) -> dict:
    """IncrementalAlterConfigs v1 (not validate_only) of one resource through kafkapy's wire client:
    its result (error code and message)."""
    body = {
        "resources": [
            {
                "resource_type": kind,
                "resource_name": name,
                "configs": [{"name": n, "config_operation": op, "value": v} for n, op, v in entries],
            }
        ],
        "validate_only": False,
    }
    with WireClient.connect(bootstrap, timeout=timeout) as client:
        (result,) = client.request(44, 1, body)["responses"]
    return dict(result)


def wait_for_partitions(admin: AdminClient, name: str, partitions: int, timeout: float = 15.0) -> None:
    """Poll Metadata until `name` has `partitions` partitions, each with a leader."""
    deadline = Deadline(timeout, f"metadata for topic {name!r} with {partitions} partitions")
    last = "no metadata"
    while True:
        md = admin.list_topics(topic=name, timeout=max(1.0, deadline.remaining()))
        t = md.topics.get(name)
        if (
            t is not None
            and t.error is None
            and len(t.partitions) == partitions
            and all(p.leader >= 0 for p in t.partitions.values())
        ):
            return
        last = repr(t.error) if t is not None and t.error else f"{len(t.partitions) if t else 0} partitions"
        deadline.check(f"(last: {last})")
        time.sleep(0.1)


def producer(bootstrap: str, **conf: object) -> Producer:
    """A confluent-kafka producer with acks=all and bounded timeouts; `conf` overrides."""
    settings: dict[str, object] = {
        **base_conf(bootstrap),
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 30000,
    }
    settings.update(conf)
    return Producer(settings)


def consumer(bootstrap: str, **conf: object) -> Consumer:
    """A confluent-kafka consumer for assign()-only use (group.id is required but never joined)."""
    settings: dict[str, object] = {
        **base_conf(bootstrap),
        "group.id": f"kafkapy-tests-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
    }
    settings.update(conf)
    return Consumer(settings)


def flush_all(p: Producer, timeout: float = 60.0) -> None:
    """Flush and fail if any message is still queued afterwards."""
    left = p.flush(timeout)
    if left:
        raise TimeoutError(f"{left} messages still unacknowledged after flush({timeout})")


def produce_confluent(
    p: Producer,
    topic: str,
    messages: Iterable[tuple[int, dict[str, object]]],
    *,
    poll_every: int = 1000,
) -> ProducedBatch:
    """Produce (index, kwargs) messages, recording each delivery report under its index."""
    batch = ProducedBatch()

    def on_delivery(index: int):
        def cb(err: KafkaError | None, msg: confluent_kafka.Message) -> None:
            if err is not None:
                batch.errors.append(f"#{index}: {err}")
            else:
                batch.acked[index] = (msg.partition(), msg.offset())

        return cb

    for n, (index, kwargs) in enumerate(messages):
        while True:
            try:
                p.produce(topic, on_delivery=on_delivery(index), **kwargs)
                break
            except BufferError:
                p.poll(0.05)
        if n % poll_every == 0:
            p.poll(0)
    flush_all(p)
    return batch


def consume_confluent(
    bootstrap: str,
    assignments: list[TopicPartition],
    expected: int,
    timeout: float = 60.0,
    **conf: object,
) -> list[Record]:
    """Read `expected` records from explicit assignments with confluent-kafka; fail on errors."""
    c = consumer(bootstrap, **conf)
    try:
        c.assign(assignments)
        out: list[Record] = []
        deadline = Deadline(timeout, f"consuming {expected} records (confluent-kafka)")
        while len(out) < expected:
            deadline.check(f"(got {len(out)})")
            for msg in c.consume(num_messages=10000, timeout=min(1.0, deadline.remaining() + 0.01)):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consumer error: {err}")
                ts_type, ts = msg.timestamp()
                assert ts_type == confluent_kafka.TIMESTAMP_CREATE_TIME, f"timestamp type {ts_type}"
                out.append(
                    Record(
                        partition=msg.partition(),
                        offset=msg.offset(),
                        key=msg.key(),
                        value=msg.value(),
                        headers=tuple(msg.headers() or ()),
                        timestamp=ts,
                    )
                )
        return out
    finally:
        c.close()


def kafka_python_records(polled: dict) -> list[Record]:
    """Flatten a kafka-python poll() result into Records."""
    out: list[Record] = []
    for tp_records in polled.values():
        for r in tp_records:
            assert r.timestamp_type == 0, f"timestamp type {r.timestamp_type} (expected CreateTime)"
            out.append(
                Record(
                    partition=r.partition,
                    offset=r.offset,
                    key=r.key,
                    value=r.value,
                    headers=tuple((k, v) for k, v in (r.headers or ())),
                    timestamp=r.timestamp,
                )
            )
    return out


def kafka_python_consumer(bootstrap: str, **conf: object):
    """A kafka-python consumer with no group (assign() only) and bounded timeouts."""
    from kafka import KafkaConsumer

    settings: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "request_timeout_ms": 15000,
        "bootstrap_timeout_ms": 10000,
    }
    settings.update(conf)
    return KafkaConsumer(**settings)


def kafka_python_producer(bootstrap: str, **conf: object):
    """A kafka-python producer with acks=all and bounded timeouts; `conf` overrides.

    kafka-python >= 3 is idempotent by default (InitProducerId + sequence numbers); left on.
    """
    from kafka import KafkaProducer

    settings: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "request_timeout_ms": 15000,
        "max_block_ms": 15000,
        "bootstrap_timeout_ms": 10000,
    }
    settings.update(conf)
    return KafkaProducer(**settings)


def produce_kafka_python(
    p, topic: str, messages: Iterable[tuple[int, dict[str, object]]], timeout: float = 60.0
) -> ProducedBatch:
    """Send (index, kwargs) messages with kafka-python and collect each future's metadata."""
    futures = [(index, p.send(topic, **kwargs)) for index, kwargs in messages]
    p.flush(timeout=timeout)
    batch = ProducedBatch()
    for index, fut in futures:
        if not fut.is_done:
            batch.errors.append(f"#{index}: not acknowledged after flush({timeout})")
        elif fut.failed():
            batch.errors.append(f"#{index}: {fut.exception!r}")
        else:
            batch.acked[index] = (fut.value.partition, fut.value.offset)
    return batch


def consume_kafka_python(
    bootstrap: str, topic: str, partitions: Iterable[int], expected: int, timeout: float = 60.0
) -> list[Record]:
    """Read `expected` records from the beginning of `partitions` with kafka-python."""
    from kafka import TopicPartition as KTopicPartition

    c = kafka_python_consumer(bootstrap)
    try:
        tps = [KTopicPartition(topic, p) for p in partitions]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out: list[Record] = []
        deadline = Deadline(timeout, f"consuming {expected} records (kafka-python)")
        while len(out) < expected:
            deadline.check(f"(got {len(out)})")
            out.extend(kafka_python_records(c.poll(timeout_ms=1000, max_records=10000)))
        return out
    finally:
        c.close()
