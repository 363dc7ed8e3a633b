"""The compat scenarios: what every client must see from the broker, written once for all clients.

A scenario drives one client (or a producer and a consumer) through driver steps and asserts on what
the client reported. Every expectation must also hold on Apache Kafka (`--reference-kafka`). New
scenarios (groups, transactions, admin) are new functions registered with `@scenario`.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
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
    # A failed SASL authentication is only logged; the step fails as the broker being unreachable.
    ("kafka-python", "SASL_AUTHENTICATION_FAILED"): "KafkaTimeoutError",
    ("aiokafka", "SASL_AUTHENTICATION_FAILED"): "KafkaConnectionError",
    ("kafkajs", "SASL_AUTHENTICATION_FAILED"): "KafkaJSSASLAuthenticationError",
    ("kafkajs", "GROUP_AUTHORIZATION_FAILED"): "KafkaJSGroupCoordinatorNotFound",
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
        # Apache Kafka lists a new topic before its leaders serve it: a first produce then meets
        # NOT_LEADER_OR_FOLLOWER, and some clients' retries of it go wrong (kafkajs's idempotent
        # producer answers it with an out-of-order sequence). Wait until every leader answers.
        specs = {TopicPartition(name, p): OffsetSpec.latest() for p in range(partitions)}
        while True:
            try:
                for future in admin.list_offsets(specs, request_timeout=10).values():
                    future.result(timeout=15)
                return name
            except KafkaException:
                assert time.monotonic() < deadline, f"{name}: partition leaders not serving"
                time.sleep(0.1)


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
    # Idempotent for an exact comparison: a plain producer's retry may write a batch twice (at-least-once).
    acked = client.produce(topic, sent[:20], idempotent=True) + client.produce(topic, sent[20:], idempotent=True)
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


# --- consumer groups, transactions, admin (issue #7, scenarios 5-7) -----------------------------
# Driver ops: group_consume, txn_produce, consume(isolation_level), and the admin ops (drivers/README.md).
# The group and transaction state a scenario checks afterwards is read with the suite's own admin
# (confluent-kafka), so each client is judged only on what it did itself.

GROUP_TIMEOUT_MS = 30000
SESSION_TIMEOUT_MS = 6000


@functools.cache
def _admin_for(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})


def suite_admin(ctx: Ctx) -> AdminClient:
    """The suite's own admin, kept alive: a dropped AdminClient never completes its futures."""
    return _admin_for(ctx.target.bootstrap)


def committed_offsets(ctx: Ctx, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets on `topic` (OffsetFetch), -1 where none."""
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])
    found = suite_admin(ctx).list_consumer_group_offsets([request])[group].result(timeout=20)
    return {tp.partition: max(tp.offset, -1) for tp in found.topic_partitions}  # none: OFFSET_INVALID (-1001)


def produce_per_partition(client: Client, topic: str, partitions: int, per_partition: int, tag: str) -> list[Message]:
    """`per_partition` records on each partition, values naming partition and rank.

    Idempotent, so that a client retrying a whole send (kafkajs does when one partition of a brand-new
    topic answers NOT_LEADER/UNKNOWN_TOPIC on Apache Kafka) cannot write a record twice.
    """
    sent = [
        Message(b"k", f"{tag} p{p} #{i}".encode(), partition=p) for p in range(partitions) for i in range(per_partition)
    ]
    client.produce(topic, sent, idempotent=True)
    return sent


def group_consume(client: Client, topic: str, group: str, count: int, **options: object) -> dict[str, object]:
    options.setdefault("session_timeout_ms", SESSION_TIMEOUT_MS)
    return client.call(
        "group_consume", timeout=GROUP_TIMEOUT_MS / 1000 + 30, topic=topic, group=group, count=count,
        timeout_ms=GROUP_TIMEOUT_MS, **options,
    )  # fmt: skip


def check_split(members: list[dict[str, object]], partitions: int, sent: list[Message]) -> None:
    """The members split the partitions (disjoint, every one owned), and each partition's owner read
    all of its records (a member may also have read some before a rebalance moved them away)."""
    owned = [set(m["assigned"]) for m in members]  # type: ignore[arg-type]
    assert all(owned), f"a member got no partition: {owned}"
    assert sorted(p for o in owned for p in o) == list(range(partitions)), f"not a split of the partitions: {owned}"
    for m, mine in zip(members, owned, strict=True):
        read = {x.value for x in map(Message.from_wire, m["messages"]) if x.partition in mine}  # type: ignore[union-attr]
        want = {x.value for x in sent if x.partition in mine}
        assert read == want, f"owner of {sorted(mine)} read {len(read)} of its {len(want)} records"


def groups(assignor: str | None, **options: object) -> Scenario:
    """The group scenario; ``options`` go to every group_consume (group_protocol, issue #16)."""

    def run(ctx: Ctx, client: Client) -> None:
        partitions = 4
        topic = ctx.create_topic(f"group-{client.name}", partitions=partitions)
        group = ctx.topic(f"g-{client.name}")
        sent = produce_per_partition(client, topic, partitions, 3, "first")
        reply = group_consume(
            client, topic, group, len(sent), members=2, assignor=assignor, commit=True, leave=True, **options
        )
        check_split(reply["members"], partitions, sent)  # type: ignore[arg-type]
        # Member 0 left (LeaveGroup): the rebalance gave its partitions to member 1.
        assert reply["after_leave"] == [list(range(partitions))], reply["after_leave"]
        committed = committed_offsets(ctx, group, topic, partitions)
        assert committed == dict.fromkeys(range(partitions), 3), f"committed offsets: {committed}"
        # A new member of the group resumes at the committed offsets: it reads only newer records.
        more = produce_per_partition(client, topic, partitions, 1, "second")
        again = group_consume(client, topic, group, len(more), members=1, assignor=assignor, commit=True, **options)
        [member] = again["members"]  # type: ignore[misc]
        assert sorted(member["assigned"]) == list(range(partitions)), member["assigned"]
        values = sorted(Message.from_wire(m).value or b"" for m in member["messages"])
        assert values == sorted(m.value or b"" for m in more), values
        committed = committed_offsets(ctx, group, topic, partitions)
        assert committed == dict.fromkeys(range(partitions), 4), f"committed offsets: {committed}"
        if "group_protocol" in options:
            check_group_type(ctx, group, str(options["group_protocol"]))

    run.__doc__ = (
        f"Two members split 4 partitions ({assignor or 'client default'} assignor), one leaves and its "
        "partitions move, commits are resumed by a new member."
    )
    return run


scenario("group")(groups(None))
# KIP-429 incremental cooperative rebalancing (clients without the cooperative-sticky assignor: unsupported).
scenario("group_cooperative")(groups("cooperative-sticky"))


@scenario("group_static")
def group_static(ctx: Ctx, client: Client) -> None:
    """Static members (KIP-345, group.instance.id) split the partitions; closing them sends no
    LeaveGroup, so the group still lists both instance ids afterwards (until the session times out)."""
    partitions = 2
    topic = ctx.create_topic(f"static-{client.name}", partitions=partitions)
    group = ctx.topic(f"gs-{client.name}")
    ids = [f"{client.name}-a", f"{client.name}-b"]
    sent = produce_per_partition(client, topic, partitions, 2, "static")
    reply = group_consume(client, topic, group, len(sent), members=2, instance_ids=ids, commit=True)
    check_split(reply["members"], partitions, sent)  # type: ignore[arg-type]
    desc = suite_admin(ctx).describe_consumer_groups([group])[group].result(timeout=20)
    assert sorted(m.group_instance_id or "" for m in desc.members) == ids, desc


def txn_offsets(group: str, topic: str, offsets: dict[int, int]) -> dict[str, object]:
    return {"group": group, "topic": topic, "offsets": {str(p): o for p, o in offsets.items()}}


@scenario("transactions")
def transactions(ctx: Ctx, client: Client) -> None:
    """Transactional produce: committed records are visible to read_committed, aborted ones only to
    read_uncommitted; each transaction ends with a control record that takes an offset (KIP-98)."""
    topic = ctx.create_topic(f"txn-{client.name}", partitions=1)
    txn_id = ctx.topic(f"txn-{client.name}")
    batches = [("commit", 3), ("abort", 2), ("commit", 2)]
    sent: list[tuple[str, Message]] = []
    for n, (end, size) in enumerate(batches):
        msgs = [Message(b"k", f"txn {n} {end} #{i}".encode(), partition=0) for i in range(size)]
        client.call("txn_produce", topic=topic, transactional_id=txn_id, end=end,
                    messages=[m.to_wire() for m in msgs], send_offsets=None)  # fmt: skip
        sent += [(end, m) for m in msgs]
    # Kafka writes the markers after it answers EndTxn (KIP-98), so the last one may still be on its way.
    deadline = time.monotonic() + 10
    while (high := client.watermarks(topic, 0)[1]) != len(sent) + len(batches):
        assert time.monotonic() < deadline, f"one control record per transaction: high watermark {high}"
        time.sleep(0.1)
    total = len(sent) + 1  # ask for one more: nothing else may arrive
    committed = client.consume(topic, count=total, timeout_ms=3000, isolation_level="read_committed")
    assert [m.value for m in committed] == [m.value for end, m in sent if end == "commit"]
    everything = client.consume(topic, count=total, timeout_ms=3000, isolation_level="read_uncommitted")
    assert [m.value for m in everything] == [m.value for _, m in sent]


@scenario("txn_send_offsets")
def txn_send_offsets(ctx: Ctx, client: Client) -> None:
    """Offsets sent to a transaction (AddOffsetsToTxn + TxnOffsetCommit) are committed for the group
    when the transaction commits, and dropped when it aborts."""
    source = ctx.create_topic(f"txsrc-{client.name}", partitions=2)
    sink = ctx.create_topic(f"txsink-{client.name}", partitions=1)
    group = ctx.topic(f"gtx-{client.name}")
    txn_id = ctx.topic(f"txo-{client.name}")

    def txn(end: str, offsets: dict[int, int]) -> None:
        msg = Message(b"k", f"{end} {offsets}".encode(), partition=0)
        client.call("txn_produce", topic=sink, transactional_id=txn_id, end=end, messages=[msg.to_wire()],
                    send_offsets=txn_offsets(group, source, offsets))  # fmt: skip

    txn("abort", {0: 7, 1: 9})
    assert committed_offsets(ctx, group, source, 2) == {0: -1, 1: -1}
    txn("commit", {0: 5, 1: 6})
    # Kafka writes the commit markers after answering EndTxn, so the offsets show up shortly after.
    deadline = time.monotonic() + 10
    while (found := committed_offsets(ctx, group, source, 2)) != {0: 5, 1: 6}:
        assert time.monotonic() < deadline and found == {0: -1, 1: -1}, found
        time.sleep(0.1)


@scenario("admin_configs")
def admin_configs(ctx: Ctx, client: Client) -> None:
    """IncrementalAlterConfigs SET and DELETE (KIP-339), each seen by DescribeConfigs."""
    topic = ctx.create_topic(f"config-{client.name}", partitions=1)
    client.call("alter_configs", topic=topic, set={"retention.ms": "123456789", "cleanup.policy": "compact"},
                delete=[])  # fmt: skip
    configs = client.call("describe_configs", topic=topic)["configs"]
    assert configs.get("retention.ms") == "123456789" and configs.get("cleanup.policy") == "compact", configs
    client.call("alter_configs", topic=topic, set={}, delete=["cleanup.policy"])
    configs = client.call("describe_configs", topic=topic)["configs"]
    assert configs.get("cleanup.policy") == "delete" and configs.get("retention.ms") == "123456789", configs


@scenario("admin_topics")
def admin_topics(ctx: Ctx, client: Client) -> None:
    """CreatePartitions, DeleteRecords, DeleteTopics (and UNKNOWN_TOPIC_OR_PARTITION deleting it again)."""
    topic = ctx.create_topic(f"admin-{client.name}", partitions=1)
    client.call("create_partitions", topic=topic, count=3)
    assert client.metadata([topic])["topics"][topic] == {"partitions": 3}
    client.produce(topic, [Message(b"k", f"v{i}".encode(), partition=0) for i in range(10)])
    lows = client.call("delete_records", topic=topic, offsets={"0": 4})["low_watermarks"]
    assert lows.get("0") in (4, None), lows  # None: the client does not report it
    assert client.watermarks(topic, 0) == (4, 10)
    assert [m.offset for m in client.consume(topic, count=6, partitions=[0])] == list(range(4, 10))
    client.call("delete_topic", topic=topic)
    deadline = time.monotonic() + 15
    while topic in suite_admin(ctx).list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"{topic} still listed after DeleteTopics"
        time.sleep(0.2)
    try:  # not expect_failure: CLIENT_ERRORS' producer-side renames do not apply to the admin API
        client.call("delete_topic", topic=topic)
    except ClientFailure as exc:
        assert exc.error == "UNKNOWN_TOPIC_OR_PARTITION", exc
    else:
        raise AssertionError(f"deleting {topic} twice succeeded")


@scenario("admin_groups")
def admin_groups(ctx: Ctx, client: Client) -> None:
    """ListGroups, DescribeGroups and DeleteGroups on a group that has committed offsets and no members."""
    topic = ctx.create_topic(f"agroup-{client.name}", partitions=1)
    group = ctx.topic(f"ga-{client.name}")
    offsets = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 1)])
    suite_admin(ctx).alter_consumer_group_offsets([offsets])[group].result(timeout=20)
    assert group in client.call("list_groups")["groups"]
    desc = client.call("describe_group", group=group)
    assert desc["state"].replace("_", "").lower() == "empty" and desc["members"] == [], desc
    client.call("delete_group", group=group)
    assert group not in client.call("list_groups")["groups"]
    expect_failure(client, "GROUP_ID_NOT_FOUND", lambda: client.call("delete_group", group=group))


# --- migration (issue #16) ---------------------------------------------------------------------
# Driver ops: member_start, members_await, member_commit, member_stop (drivers/README.md): group
# members that live across steps, so that a scenario replaces them one at a time.

MIGRATION_TIMEOUT_MS = 60000


def listed_group_type(ctx: Ctx, group: str) -> str:
    """The group's type as ListGroups (v5, KIP-1043) reports it: CLASSIC or CONSUMER."""
    listed = suite_admin(ctx).list_consumer_groups(request_timeout=20).result(timeout=30)
    types = {g.group_id: g.type.name for g in listed.valid}
    assert group in types, f"{group} not listed: {sorted(types)}"
    return types[group]


@dataclass
class LiveGroup:
    """One group of members that come and go (member_* ops), and every record the stopped ones read."""

    ctx: Ctx
    client: Client
    topic: str
    group: str
    partitions: int
    # The classic members' assignor (None: the client's default).
    assignor: str | None = None
    ends: dict[int, int] = field(default_factory=dict)
    read: list[Message] = field(default_factory=list)

    def produce(self, per_partition: int, tag: str) -> list[Message]:
        sent = produce_per_partition(self.client, self.topic, self.partitions, per_partition, tag)
        for p in range(self.partitions):
            self.ends[p] = self.ends.get(p, 0) + per_partition
        return sent

    def start(self, name: str, protocol: str) -> None:
        self.client.call(
            "member_start", name=name, topic=self.topic, group=self.group, group_protocol=protocol,
            session_timeout_ms=SESSION_TIMEOUT_MS, assignor=self.assignor,
        )  # fmt: skip

    def settle(self, *names: str) -> None:
        """The members split the partitions and each read its partitions up to the end."""
        self.client.call(
            "members_await", timeout=MIGRATION_TIMEOUT_MS / 1000 + 30, names=list(names),
            partitions=self.partitions, positions={str(p): o for p, o in self.ends.items()},
            timeout_ms=MIGRATION_TIMEOUT_MS,
        )  # fmt: skip

    def commit(self, *names: str) -> None:
        """Each member commits what it read; then the group has every record committed."""
        for name in names:
            self.client.call("member_commit", timeout=MIGRATION_TIMEOUT_MS / 1000 + 30, name=name,
                             timeout_ms=MIGRATION_TIMEOUT_MS)  # fmt: skip
        self.check_committed()

    def check_committed(self) -> None:
        committed = committed_offsets(self.ctx, self.group, self.topic, self.partitions)
        assert committed == self.ends, f"committed offsets {committed}, produced up to {self.ends}"

    def stop(self, name: str) -> None:
        reply = self.client.call("member_stop", timeout=60, name=name)
        self.read.extend(map(Message.from_wire, reply["messages"]))


def migration(assignor: str | None) -> Scenario:
    def run(ctx: Ctx, client: Client) -> None:
        group = LiveGroup(ctx, client, ctx.create_topic(f"migrate-{client.name}", partitions=4),
                          ctx.topic(f"gm-{client.name}"), partitions=4, assignor=assignor)  # fmt: skip
        migrate(ctx, group)

    run.__doc__ = (
        f"A classic group of two members ({assignor or 'client default'} assignor) is upgraded member by "
        "member to the consumer protocol (KIP-848 online migration), then downgraded back: the group "
        "converts each way, every commit is kept, no record is lost, and none is read again after it was "
        "committed."
    )
    return run


def migrate(ctx: Ctx, group: LiveGroup) -> None:
    """The steps of the group_migration cells (see `migration`)."""
    sent = group.produce(3, "classic")
    group.start("a", "classic")
    group.start("b", "classic")
    group.settle("a", "b")
    first_commit = dict(group.ends)
    group.commit("a", "b")
    assert listed_group_type(ctx, group.group) == "CLASSIC"
    # Upgrade: a classic member leaves, a consumer-protocol member joins the non-empty classic group.
    group.stop("a")
    group.start("c", "consumer")
    group.settle("b", "c")
    assert listed_group_type(ctx, group.group) == "CONSUMER"
    group.check_committed()
    sent += group.produce(2, "mixed")
    group.settle("b", "c")
    group.commit("b", "c")
    # The last classic member is replaced by a second consumer-protocol member.
    group.stop("b")
    group.start("d", "consumer")
    group.settle("c", "d")
    sent += group.produce(2, "consumer")
    group.settle("c", "d")
    group.commit("c", "d")
    assert listed_group_type(ctx, group.group) == "CONSUMER"
    # Downgrade: a classic member joins, then the last consumer-protocol member leaves.
    group.stop("c")
    group.start("e", "classic")
    group.settle("d", "e")
    group.stop("d")
    group.settle("e")
    assert listed_group_type(ctx, group.group) == "CLASSIC"
    group.check_committed()
    sent += group.produce(1, "downgraded")
    group.settle("e")
    group.commit("e")
    group.stop("e")
    read = Counter((m.partition, m.offset) for m in group.read)
    produced = {(p, o) for p, end in group.ends.items() for o in range(end)}
    lost, unknown = sorted(produced - set(read)), sorted(set(read) - produced)
    assert not lost and not unknown, f"records lost: {lost}, read but not produced: {unknown}"
    assert len(sent) == len(produced)
    # Only the first members' uncommitted records may be read twice (a rebalance before any commit).
    again = sorted(key for key, n in read.items() if n > 1 and key[1] >= first_commit[key[0]])
    assert not again, f"records read again after they were committed: {again}"


scenario("group_migration")(migration(None))
# Classic members that keep their partitions across rebalances (KIP-429) inside the consumer group.
scenario("group_migration_cooperative")(migration("cooperative-sticky"))


# --- share groups: record delivery (issue #16) ---
SHARE_MEMBERS = 3
SHARE_PARTITIONS = 3
# Kafka's group.share.delivery.count.limit default: a record released this many times is archived.
SHARE_DELIVERY_LIMIT = 5
SHARE_TIMEOUT_MS = 60000


def share_from_earliest(ctx: Ctx, group: str) -> None:
    """Make the group start new share partitions at the log start (share.auto.offset.reset=earliest, a
    group config set with IncrementalAlterConfigs on the GROUP resource, as kafka-configs does): share
    groups start at the log end by default and the records are produced before the consumers join."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    entry = ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[entry])
    for future in suite_admin(ctx).incremental_alter_configs([resource]).values():
        future.result(timeout=20)


def share_offsets(ctx: Ctx, group: str, topic: str) -> dict[int, tuple[int, int]]:
    """The group's share-partition (start offset, lag) by partition (DescribeShareGroupOffsets v1 over the
    wire: confluent-kafka's admin has no listShareGroupOffsets)."""
    from kafkapy.client.wire import WireClient

    asked = {"group_id": group, "topics": [{"topic_name": topic, "partitions": list(range(SHARE_PARTITIONS))}]}
    with WireClient.connect(ctx.target.bootstrap, timeout=30.0) as wire:
        answer = wire.request(90, 1, {"groups": [asked]}).groups[0]
    assert answer.error_code == 0, answer
    return {p.partition_index: (p.start_offset, p.lag) for t in answer.topics for p in t.partitions}


@scenario("share_group")
def share_group(ctx: Ctx, client: Client) -> None:
    """Three share consumers (KIP-932, explicit acknowledgement) drain one 3-partition topic: every record
    delivered, a RELEASEd record redelivered with a higher delivery count, a REJECTed one and one released
    at each delivery archived at the delivery count limit, the start offsets past every record."""
    topic = ctx.create_topic(f"share-{client.name}", partitions=SHARE_PARTITIONS)
    group = ctx.topic(f"sg-{client.name}")
    sent = produce_per_partition(client, topic, SHARE_PARTITIONS, 4, "share")
    released, rejected, poison = sent[1].value, sent[6].value, sent[9].value
    share_from_earliest(ctx, group)
    # The driver protocol carries values in base64.
    from pydriver import b64e

    reply = client.call(
        "share_consume", timeout=SHARE_TIMEOUT_MS / 1000 + 60, topic=topic, group=group, members=SHARE_MEMBERS,
        count=len(sent), release=[b64e(released)], reject=[b64e(rejected)], poison=[b64e(poison)],
        poison_deliveries=SHARE_DELIVERY_LIMIT, settle_ms=2000, timeout_ms=SHARE_TIMEOUT_MS,
    )  # fmt: skip
    by_value: dict[bytes | None, list[dict[str, object]]] = defaultdict(list)
    for d in reply["deliveries"]:  # type: ignore[union-attr]
        by_value[Message.from_wire(d).value].append(d)
    # Every record delivered; each ordinary one once, accepted.
    assert set(by_value) == {m.value for m in sent}, f"delivered {len(by_value)} of {len(sent)} records"
    for value, deliveries in by_value.items():
        counts = [d["delivery_count"] for d in deliveries]
        if value == released:
            assert counts == [1, 2], f"released record delivered with counts {counts}"
        elif value == poison:
            assert counts == list(range(1, SHARE_DELIVERY_LIMIT + 1)), f"poison record delivered {counts}"
        else:
            assert counts == [1], f"{value!r} delivered with counts {counts}"
    # Described, every share partition has no lag: each record was delivered to completion (accepted or
    # archived). Kafka 4.3.1 reports the start offset its share coordinator last persisted, which may lag
    # behind the records already done (measured: 0 or 1 of 4 here), so only its bounds are checked.
    offsets = share_offsets(ctx, group, topic)
    assert sorted(offsets) == list(range(SHARE_PARTITIONS)), offsets
    assert all(lag == 0 and 0 <= start <= 4 for start, lag in offsets.values()), f"(start, lag): {offsets}"
    if reply.get("offsets") is not None:
        # The client's own admin (Java's Admin.listShareGroupOffsets) sees the same.
        described = {int(p): (o["start_offset"], o["lag"]) for p, o in reply["offsets"].items()}  # type: ignore[union-attr]
        assert all(lag == 0 and 0 <= start <= 4 for start, lag in described.values()), described


# --- group configs, shared group APIs, KIP-848 compat cells (issue #16) -------------------------
# Driver options of group_consume: `group_protocol` ("consumer": KIP-848, the broker assigns) and
# `topic_regex` (subscribe by a regular expression; with group_protocol "consumer" the broker matches
# it, RE2/J syntax). A client without them answers `unsupported` (drivers/README.md).


def check_group_type(ctx: Ctx, group: str, group_type: str) -> None:
    """The group is listed (ListGroups v5, KIP-848 types) with this type: a driver that ignored
    group_protocol would have made a classic group."""
    found = listed_group_type(ctx, group).lower()
    assert found == group_type, f"group {group} listed as {found}, not {group_type}"


# KIP-848: the group scenario with group.protocol=consumer: the broker assigns, member 0 leaves with
# a leave heartbeat (epoch -1), commits carry member epochs.
scenario("group_consumer_protocol")(groups(None, group_protocol="consumer"))


@scenario("regex_subscription")
def regex_subscription(ctx: Ctx, client: Client) -> None:
    """Two KIP-848 members subscribe by a regular expression that the broker matches
    (ConsumerGroupHeartbeat SubscribedTopicRegex, RE2/J): they split the one matching topic and read
    nothing of a topic the expression does not match. Java: subscribe(SubscriptionPattern);
    confluent-kafka: a subscription starting with '^'; franz-go: ConsumeRegex with ServerSideBalancer."""
    prefix = ctx.topic(f"rx-{client.name}")
    partitions = 2
    matching = ctx.create_topic(f"{prefix}-in", partitions=partitions)
    other = ctx.create_topic(f"{prefix}-out", partitions=partitions)
    sent = produce_per_partition(client, matching, partitions, 3, "in")
    produce_per_partition(client, other, partitions, 3, "out")
    group = ctx.topic(f"grx-{client.name}")
    reply = group_consume(
        client, matching, group, len(sent), members=2, commit=True, group_protocol="consumer",
        topic_regex=f"^{prefix}-in-.*",
    )  # fmt: skip
    check_split(reply["members"], partitions, sent)  # type: ignore[arg-type]
    assert committed_offsets(ctx, group, matching, partitions) == dict.fromkeys(range(partitions), 3)
    assert committed_offsets(ctx, group, other, partitions) == dict.fromkeys(range(partitions), -1)
    check_group_type(ctx, group, "consumer")
