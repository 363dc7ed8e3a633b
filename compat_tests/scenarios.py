"""The compat scenarios: what every client must see from the broker, written once for all clients.

A scenario drives one client (or a producer and a consumer) through driver steps and asserts on what
the client reported. Every expectation must also hold on Apache Kafka (`--reference-kafka`). New
scenarios (groups, transactions, admin) are new functions registered with `@scenario`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, NewTopic
from matrix import Client, ClientFailure, DriverPool, Unsupported
from pydriver import Message

from tests.broker_process import BrokerProcess

COMPRESSION_CODECS = ("gzip", "snappy", "lz4", "zstd")
CONSUME_TIMEOUT_MS = 15000
TOO_LARGE = 1536 * 1024  # over Kafka's default max.message.bytes (1048588)
INVALID_TOPIC = "invalid topic name!"
# Where a client reports another error than Kafka's name for the condition, with Apache Kafka 4.3.1 as
# much as with kafkapy (checked with --reference-kafka): the broker must give the client the same view.
CLIENT_ERRORS = {
    # aiokafka treats the INVALID_TOPIC_EXCEPTION topic error in Metadata as an unknown topic.
    ("aiokafka", "INVALID_TOPIC_EXCEPTION"): "UNKNOWN_TOPIC_OR_PARTITION",
    # KafkaProducer waits max.block.ms for the partition to appear in metadata, then times out.
    ("java", "UNKNOWN_TOPIC_OR_PARTITION"): "REQUEST_TIMED_OUT",
}


@dataclass
class Target:
    """The broker under test; `process` is set only when the suite started kafkapy (and may restart it)."""

    bootstrap: str
    kind: str
    process: BrokerProcess | None = None


@dataclass
class Ctx:
    """What a scenario gets besides its clients: the broker, the drivers, a setup-only admin for topics."""

    target: Target
    pool: DriverPool
    replayed: dict[str, tuple[str, list[Message], list[tuple[int | None, int | None]]] | Exception] = field(
        default_factory=dict
    )

    def topic(self, prefix: str) -> str:
        """A name no other cell uses, so cells share one broker without seeing each other's data."""
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    def create_topic(self, prefix: str, partitions: int) -> str:
        """A new topic made by the suite (confluent-kafka's AdminClient), not by the client under test:
        real Kafka auto-creates with num.partitions=1, so scenarios needing N partitions create them."""
        name = self.topic(prefix)
        admin = AdminClient({"bootstrap.servers": self.target.bootstrap, "broker.address.family": "v4"})
        new = NewTopic(name, num_partitions=partitions, replication_factor=1)
        admin.create_topics([new], operation_timeout=15)[name].result(timeout=20)
        deadline = time.monotonic() + 15
        while len(admin.list_topics(name, timeout=10).topics[name].partitions) < partitions:
            assert time.monotonic() < deadline, f"{name}: not in metadata with {partitions} partitions"
            time.sleep(0.1)
        return name


Scenario = Callable[[Ctx, Client], None]
SCENARIOS: dict[str, Scenario] = {}


def scenario(*names: str) -> Callable[[Scenario], Scenario]:
    """Register a scenario under one or more matrix column names."""

    def register(fn: Scenario) -> Scenario:
        for name in names or (fn.__name__,):
            SCENARIOS[name] = fn
        return fn

    return register


def sample_messages(origin: str, count: int = 24, keys: int = 5) -> list[Message]:
    """Keyed records with binary keys/values and headers, plus null keys and tombstones (null values).

    Header values stay printable ASCII without ',' or '=' so that kcat, which prints headers as
    `n=v` CSV, can report them; key and value bytes are arbitrary.
    """
    out = []
    for i in range(count):
        key: bytes | None = b"k\x00\xff-" + str(i % keys).encode()
        value: bytes | None = f"value {i} from {origin}\n".encode() + bytes([i % 256, 0, 255])
        if i % 8 == 3:
            key = None
        if i % 8 == 6:
            value = None
        headers = (("seq", str(i).encode()), ("origin", origin.encode()), ("dup", b"a"), ("dup", b""))
        out.append(Message(key=key, value=value, headers=headers))
    return out


def seq(m: Message) -> int:
    return int(dict(m.headers)["seq"])


def content(m: Message) -> tuple[object, ...]:
    return (m.key, m.value, m.headers)


def check_round_trip(
    sent: list[Message], acked: list[tuple[int | None, int | None]], got: list[Message], *, partitions: int
) -> None:
    """What was consumed is exactly what was produced: same records, produce order kept in each
    partition, offsets contiguous, one partition per key, and the producer's acks match the log."""
    missing = Counter(map(content, sent)) - Counter(map(content, got))
    extra = Counter(map(content, got)) - Counter(map(content, sent))
    assert not missing and not extra, (
        f"consumed records differ from produced ones: {len(got)} read, {len(sent)} sent\n"
        f"  not read (first 3): {list(missing)[:3]}\n  unexpected (first 3): {list(extra)[:3]}"
    )
    by_partition: dict[int, list[Message]] = defaultdict(list)
    for m in got:
        assert m.partition is not None and 0 <= m.partition < partitions, m
        by_partition[m.partition].append(m)
    key_partition: dict[bytes, int] = {}
    for p, recs in by_partition.items():
        recs.sort(key=lambda m: m.offset or 0)
        assert [m.offset for m in recs] == list(range(len(recs))), f"partition {p}: offsets not 0..n-1"
        order = [seq(m) for m in recs]
        assert order == sorted(order), f"partition {p}: records by offset are not in produce order: {order}"
        for m in recs:
            if m.key is not None:
                first = key_partition.setdefault(m.key, p)
                assert first == p, f"key {m.key!r} in partitions {first} and {p}"
    where = {seq(m): (m.partition, m.offset) for m in got}
    for m, (partition, offset) in zip(sent, acked, strict=True):
        if partition is not None:
            assert where[seq(m)][0] == partition, f"record {seq(m)}: acked partition {partition}, read {where[seq(m)]}"
        if offset is not None:
            assert where[seq(m)][1] == offset, f"record {seq(m)}: acked offset {offset}, read {where[seq(m)]}"


def expect_failure(client: Client, error: str, step: Callable[[], object]) -> ClientFailure:
    """Run a step that must fail with Kafka's `error` (or what this client reports for it on Apache Kafka)."""
    want = CLIENT_ERRORS.get((client.name, error), error)
    try:
        result = step()
    except ClientFailure as exc:
        assert exc.error == want, f"expected {want}, client reported {exc.error}: {exc.message}"
        return exc
    raise AssertionError(f"expected {want}, the step succeeded: {result!r}")


@scenario("handshake")
def handshake(ctx: Ctx, client: Client) -> None:
    """ApiVersions + Metadata: the driver runs the pinned version and sees the broker it was given."""
    assert client.hello["version"] == client.manifest.version, (
        f"driver runs {client.hello['version']}, manifest pins {client.manifest.version}"
    )
    md = client.metadata()
    host, _, port = client.bootstrap.rpartition(":")
    assert {"host": host, "port": int(port)} in [{"host": b["host"], "port": b["port"]} for b in md["brokers"]], md


@scenario("auto_create")
def auto_create(ctx: Ctx, client: Client) -> None:
    """Producing to a topic that does not exist creates it (auto.create.topics.enable=true)."""
    topic = ctx.topic(f"auto-{client.name}")
    [m] = sample_messages(client.name, count=1)
    client.produce(topic, [m])
    md = client.metadata([topic])["topics"][topic]
    assert "error" not in md and md["partitions"] >= 1, md
    [got] = client.consume(topic, count=1)
    assert content(got) == content(m)


@scenario("create_topic")
def create_topic(ctx: Ctx, client: Client) -> None:
    """CreateTopics with N partitions, then TOPIC_ALREADY_EXISTS on the second try."""
    topic = ctx.topic(f"create-{client.name}")
    client.create_topic(topic, partitions=3)
    md = client.metadata([topic])["topics"][topic]
    assert md == {"partitions": 3}, md
    expect_failure(client, "TOPIC_ALREADY_EXISTS", lambda: client.create_topic(topic, partitions=3))


@scenario("produce_consume")
def produce_consume(ctx: Ctx, client: Client) -> None:
    """Keys, headers, null keys and values round-trip; order per partition; a key keeps its partition."""
    topic = ctx.create_topic(f"pc-{client.name}", partitions=3)
    sent = sample_messages(client.name, count=40)
    acked = client.produce(topic, sent[:20]) + client.produce(topic, sent[20:])
    got = client.consume(topic, count=len(sent), timeout_ms=CONSUME_TIMEOUT_MS)
    check_round_trip(sent, acked, got, partitions=3)


@scenario("timestamps")
def timestamps(ctx: Ctx, client: Client) -> None:
    """Explicit CreateTime timestamps come back as sent (even out of order); unset ones are 'now'."""
    topic = ctx.create_topic(f"ts-{client.name}", partitions=1)
    base = int(time.time() * 1000) - 86_400_000
    stamps = [base + 3000, base + 1000, base + 2000, None]
    sent = [Message(b"k", f"v{i}".encode(), timestamp=ts, partition=0) for i, ts in enumerate(stamps)]
    before = int(time.time() * 1000)
    client.produce(topic, sent)
    after = int(time.time() * 1000)
    got = client.consume(topic, count=len(sent))
    assert [m.value for m in got] == [m.value for m in sent]
    assert [m.timestamp for m in got[:3]] == stamps[:3]
    assert got[3].timestamp is not None and before - 60_000 <= got[3].timestamp <= after + 60_000, got[3]


def compression(codec: str) -> Scenario:
    def run(ctx: Ctx, client: Client) -> None:
        topic = ctx.create_topic(f"{codec}-{client.name}", partitions=1)
        sent = [
            Message(f"key-{i % 7}".encode(), (f"{codec} record {i} " * 20).encode(), (("seq", str(i).encode()),))
            for i in range(300)
        ]
        acked = client.produce(topic, sent, compression=codec)
        got = client.consume(topic, count=len(sent), timeout_ms=CONSUME_TIMEOUT_MS)
        check_round_trip(sent, acked, got, partitions=1)

    run.__doc__ = f"A {codec}-compressed produce reads back intact and in order."
    return run


for _codec in COMPRESSION_CODECS:
    scenario(_codec)(compression(_codec))


@scenario("offsets")
def offsets(ctx: Ctx, client: Client) -> None:
    """Watermarks, earliest/latest/seek starts and offsets-for-times on a 10-record partition."""
    topic = ctx.create_topic(f"offsets-{client.name}", partitions=1)
    base = int(time.time() * 1000) - 3_600_000
    sent = [Message(b"k", f"v{i}".encode(), timestamp=base + i * 1000, partition=0) for i in range(10)]
    try:
        client.produce(topic, sent)
    except Unsupported:  # no explicit timestamps (kcat): distinct broker-side 'now's instead
        for m in sent:
            client.produce(topic, [Message(m.key, m.value, partition=0)])
            time.sleep(0.01)
    assert client.watermarks(topic, 0) == (0, 10)
    assert [m.offset for m in client.consume(topic, count=3)] == [0, 1, 2]
    assert [m.offset for m in client.consume(topic, count=3, start={0: 7})] == [7, 8, 9]
    assert client.consume(topic, count=1, start="latest", timeout_ms=1000) == []
    stamps = [m.timestamp for m in client.consume(topic, count=10)]
    assert len(stamps) == 10 and all(ts is not None for ts in stamps), stamps
    for probe in (stamps[0], stamps[4], stamps[9], 0):
        want = min(i for i, ts in enumerate(stamps) if ts is not None and ts >= probe)
        assert client.offsets_for_times(topic, 0, probe) == want, f"offsets_for_times({probe})"
    assert client.offsets_for_times(topic, 0, max(s or 0 for s in stamps) + 1) == -1


@scenario("idempotent")
def idempotent(ctx: Ctx, client: Client) -> None:
    """An idempotent producer (InitProducerId + sequence numbers) writes each record exactly once."""
    topic = ctx.create_topic(f"idem-{client.name}", partitions=3)
    sent = sample_messages(client.name, count=60)
    acked = client.produce(topic, sent, idempotent=True, acks="all")
    got = client.consume(topic, count=len(sent) + 1, timeout_ms=3000)
    check_round_trip(sent, acked, got, partitions=3)


def restart_broker(ctx: Ctx) -> None:
    """Produce a data set with every started client, restart the broker once, restart every driver.

    One restart serves all clients' restart_replay cells. Drivers are restarted too, so each reads
    back with a fresh client (and no cell after this meets connections the restart cut).
    """
    if ctx.target.process is None:
        raise Skipped(f"needs a broker the suite can restart ({ctx.target.kind} given)")
    for name, client in sorted(ctx.pool.clients.items()):
        topic = ctx.create_topic(f"replay-{name}", partitions=2)
        sent = sample_messages(name, count=30)
        try:
            ctx.replayed[name] = (topic, sent, client.produce(topic, sent))
        except Exception as exc:  # noqa: BLE001 - reported by that client's own cell
            ctx.replayed[name] = exc
    ctx.target.process.restart()
    ctx.target.bootstrap = ctx.target.process.bootstrap
    ctx.pool.restart_all(ctx.target.bootstrap)


@scenario("restart_replay")
def restart_replay(ctx: Ctx, client: Client) -> None:
    """Data survives a broker restart: a fresh consumer re-reads everything from the beginning."""
    if client.name not in ctx.replayed:
        restart_broker(ctx)
    produced = ctx.replayed[client.name]
    if isinstance(produced, Exception):
        raise produced
    topic, sent, acked = produced
    got = client.consume(topic, count=len(sent), timeout_ms=CONSUME_TIMEOUT_MS)
    check_round_trip(sent, acked, got, partitions=2)


@scenario("too_large")
def too_large(ctx: Ctx, client: Client) -> None:
    """A record over max.message.bytes fails with MESSAGE_TOO_LARGE and leaves nothing in the log.

    The client's own size limit is raised (`max_request_bytes`) so the broker, not the client,
    is what refuses it; the producer keeps working afterwards.
    """
    topic = ctx.create_topic(f"large-{client.name}", partitions=1)
    big = Message(b"big", os.urandom(TOO_LARGE), partition=0)
    expect_failure(client, "MESSAGE_TOO_LARGE", lambda: client.produce(topic, [big], max_request_bytes=8 * TOO_LARGE))
    small = Message(b"small", b"fits", partition=0)
    client.produce(topic, [small], max_request_bytes=8 * TOO_LARGE)
    assert client.watermarks(topic, 0) == (0, 1)
    assert [content(m) for m in client.consume(topic, count=1)] == [content(small)]


@scenario("unknown_partition")
def unknown_partition(ctx: Ctx, client: Client) -> None:
    """Producing to a partition the topic does not have fails with UNKNOWN_TOPIC_OR_PARTITION."""
    topic = ctx.create_topic(f"nopart-{client.name}", partitions=1)
    stray = Message(b"k", b"v", partition=5)
    expect_failure(client, "UNKNOWN_TOPIC_OR_PARTITION", lambda: client.produce(topic, [stray]))


@scenario("invalid_topic")
def invalid_topic(ctx: Ctx, client: Client) -> None:
    """An illegal topic name fails with INVALID_TOPIC_EXCEPTION, for produce and (with an admin API) create."""
    expect_failure(client, "INVALID_TOPIC_EXCEPTION", lambda: client.produce(INVALID_TOPIC, [Message(b"k", b"v")]))
    try:
        client.create_topic(INVALID_TOPIC)
    except Unsupported:
        return
    except ClientFailure as exc:
        assert exc.error == "INVALID_TOPIC_EXCEPTION", exc
        return
    raise AssertionError(f"creating {INVALID_TOPIC!r} succeeded")


class Skipped(Exception):
    """The cell does not apply to this broker (not a client limitation)."""


def cross_client(ctx: Ctx, producer: Client, consumer: Client, pair_index: int) -> str:
    """`consumer` reads what `producer` wrote, compressed with a codec that rotates over the pairs
    (moving on to the next codec that both clients support); returns the codec used."""
    skipped = []
    for shift in range(len(COMPRESSION_CODECS)):
        codec = COMPRESSION_CODECS[(pair_index + shift) % len(COMPRESSION_CODECS)]
        topic = ctx.create_topic(f"cross-{producer.name}-{consumer.name}", partitions=2)
        sent = sample_messages(producer.name, count=30)
        try:
            # Idempotent, so a retried request (a slow broker or machine) cannot write a batch twice:
            # without it Kafka promises at-least-once only, and an exact comparison would be wrong.
            acked = producer.produce(topic, sent, compression=codec, idempotent=True)
            got = consumer.consume(topic, count=len(sent), timeout_ms=CONSUME_TIMEOUT_MS)
        except Unsupported as exc:
            skipped.append(str(exc))
            continue
        check_round_trip(sent, acked, got, partitions=2)
        return codec
    raise Unsupported(f"no codec of {COMPRESSION_CODECS} works both ways: {skipped}")
