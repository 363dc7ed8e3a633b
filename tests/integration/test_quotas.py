"""Client quotas over TCP: DescribeClientQuotas / AlterClientQuotas, and throttled clients.

The APIs are driven with the wire client in both versions. The throttling tests run a broker with
quota.window.num=2 (windows of 1 s): Kafka lets a new client burst (window.num - 1) windows' worth
before its rate is measured over real time, so with Kafka's 11 windows a rate settles only after
10 s. Rates are checked within +-50% and delays from below only, so a slow machine cannot fail them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable

import pytest
from confluent_kafka import TopicPartition

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import REPO_ROOT, BrokerProcess
from tests.integration.clientutil import Deadline, consumer, create_topic, producer, unique_topic

QUOTA = 100 * 1024  # bytes a second
SMALL_WINDOWS = ("--override", "quota.window.num=2", "--override", "quota.window.size.seconds=1")
MEASURE_S = 4.0
EXACT, DEFAULT, SPECIFIED = 0, 1, 2


def entity(**names: str | None) -> list[dict]:
    """An entity from keyword names (client_id= for client-id), None for the default."""
    return [{"entity_type": kind.replace("_", "-"), "entity_name": name} for kind, name in names.items()]


def alter(client: WireClient, entries: list[tuple[list[dict], dict]], *, validate_only: bool = False, version: int = 1):
    """AlterClientQuotas of (entity, {key: value or None to remove}); the response's (code, message) per entry."""
    body = {
        "entries": [
            {
                "entity": ent,
                "ops": [{"key": k, "value": v or 0.0, "remove": v is None} for k, v in ops.items()],
            }
            for ent, ops in entries
        ],
        "validate_only": validate_only,
    }
    response = client.request(ApiKey.ALTER_CLIENT_QUOTAS, version, body)
    # Kafka answers each distinct entity once, in no particular order.
    results = {_key(e.entity): (e.error_code, e.error_message) for e in response.entries}
    return [results[_key(ent)] for ent, _ in entries]


def _key(ent: list) -> frozenset:
    return frozenset((e["entity_type"], e["entity_name"]) for e in ent)


def describe(client: WireClient, components: list[tuple[str, int, str | None]], strict: bool = False, version: int = 1):
    body = {
        "components": [{"entity_type": t, "match_type": m, "match": n} for t, m, n in components],
        "strict": strict,
    }
    return client.request(ApiKey.DESCRIBE_CLIENT_QUOTAS, version, body)


def described(client: WireClient, components: list[tuple[str, int, str | None]], strict: bool = False):
    """The matching entities as {frozenset of (type, name): {key: value}}."""
    response = describe(client, components, strict)
    assert (response.error_code, response.error_message) == (ErrorCode.NONE, "")
    return {
        frozenset((e.entity_type, e.entity_name) for e in entry.entity): {v.key: v.value for v in entry["values"]}
        for entry in response.entries
    }


@pytest.fixture
def quota_broker(broker_factory: Callable[..., BrokerProcess]) -> BrokerProcess:
    return broker_factory(extra_args=SMALL_WINDOWS)


@pytest.mark.parametrize("version", [0, 1])
def test_alter_then_describe_with_each_filter(broker: BrokerProcess, version: int) -> None:
    with WireClient.connect(broker.bootstrap) as client:
        assert (
            alter(
                client,
                [
                    (entity(user="alice"), {"producer_byte_rate": 1024.0}),
                    (entity(user="alice", client_id="app"), {"consumer_byte_rate": 2048.0, "request_percentage": 12.5}),
                    (entity(user=None), {"producer_byte_rate": 512.0}),
                    (entity(client_id="app"), {"controller_mutation_rate": 3.5}),
                    (entity(ip="10.1.2.3"), {"connection_creation_rate": 7.0}),
                ],
                version=version,
            )
            == [(ErrorCode.NONE, None)] * 5
        )
        alice = frozenset({("user", "alice")})
        alice_app = frozenset({("user", "alice"), ("client-id", "app")})
        default_user = frozenset({("user", None)})
        app = frozenset({("client-id", "app")})
        assert described(client, [("user", EXACT, "alice")]) == {
            alice: {"producer_byte_rate": 1024.0},
            alice_app: {"consumer_byte_rate": 2048.0, "request_percentage": 12.5},
        }
        assert described(client, [("user", EXACT, "alice")], strict=True) == {alice: {"producer_byte_rate": 1024.0}}
        assert described(client, [("user", DEFAULT, None)]) == {default_user: {"producer_byte_rate": 512.0}}
        # Any specified name includes the default, as Kafka's ClientQuotasImage matches.
        assert set(described(client, [("user", SPECIFIED, None)], strict=True)) == {alice, default_user}
        assert set(described(client, [("client-id", SPECIFIED, None)])) == {alice_app, app}
        assert set(described(client, [])) == {alice, alice_app, default_user, app, frozenset({("ip", "10.1.2.3")})}
        assert described(client, [], strict=True) == {}
        # Removing the last value removes the entity; removing an absent key is no error.
        assert alter(client, [(entity(user="alice"), {"producer_byte_rate": None, "request_percentage": None})]) == [
            (ErrorCode.NONE, None)
        ]
        assert described(client, [("user", EXACT, "alice")], strict=True) == {}


def test_invalid_alterations_get_kafkas_errors_and_validate_only_changes_nothing(broker: BrokerProcess) -> None:
    with WireClient.connect(broker.bootstrap) as client:
        results = alter(
            client,
            [
                (entity(user="bob"), {"producer_byte_rate": 1000.0}),
                (entity(group="g"), {"producer_byte_rate": 1000.0}),
                (entity(user="carol"), {"producer_bytes": 1000.0}),
                (entity(user="dave"), {"consumer_byte_rate": -1.0}),
                (entity(user="erin"), {"consumer_byte_rate": 0.5}),
                (entity(ip="1.2.3.4", user="x"), {"connection_creation_rate": 1.0}),
                (entity(ip="localhost"), {"connection_creation_rate": 1.0}),
                (entity(ip="no-such-host.invalid"), {"connection_creation_rate": 1.0}),
            ],
            validate_only=True,
        )
        invalid = ErrorCode.INVALID_REQUEST
        assert results == [
            (ErrorCode.NONE, None),
            (invalid, "Unhandled client quota entity type: group"),
            (invalid, "Invalid configuration key producer_bytes"),
            (invalid, "Quota consumer_byte_rate must be greater than 0"),
            (invalid, "consumer_byte_rate cannot be a fractional value."),
            (invalid, "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"),
            (ErrorCode.NONE, None),  # a host name that resolves, as Kafka's InetAddress.getByName
            (invalid, "no-such-host.invalid is not a valid IP or resolvable host."),
        ]
        assert described(client, []) == {}


INVALID, UNSUPPORTED = ErrorCode.INVALID_REQUEST, ErrorCode.UNSUPPORTED_VERSION
BAD_FILTERS = {
    "exact-null": (
        [("user", EXACT, None)], INVALID, "Request specified MATCH_TYPE_EXACT, but set match string to null."
    ),
    "default-named": (
        [("user", DEFAULT, "x")], INVALID, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
    ),
    "twice": (
        [("user", EXACT, "a"), ("user", DEFAULT, None)],
        INVALID,
        "Entity type user cannot appear more than once in the filter.",
    ),
    "ip-and-user": (
        [("ip", SPECIFIED, None), ("user", SPECIFIED, None)],
        INVALID,
        "Invalid entity filter component combination. IP filter component should not be used with user or clientId"
        " filter component.",
    ),
    "unknown-type": ([("group", EXACT, "g")], UNSUPPORTED, "Unsupported entity type group"),
    "unknown-match": ([("user", 7, None)], INVALID, "Unknown match type 7"),
}  # fmt: skip


@pytest.mark.parametrize(("components", "code", "message"), BAD_FILTERS.values(), ids=BAD_FILTERS.keys())
def test_a_bad_filter_gets_kafkas_error(
    shared_broker: BrokerProcess, components: list, code: int, message: str
) -> None:
    """Kafka 4.3.1's codes and messages: UNSUPPORTED_VERSION for an unknown entity type, INVALID_REQUEST else."""
    with WireClient.connect(shared_broker.bootstrap) as client:
        response = describe(client, components, version=0)
        assert (response.error_code, response.error_message, response.entries) == (code, message, None)


@pytest.mark.parametrize("crash", [False, True], ids=["stop", "kill"])
def test_quotas_survive_a_restart(broker: BrokerProcess, crash: bool) -> None:
    with WireClient.connect(broker.bootstrap) as client:
        assert alter(client, [(entity(user=None, client_id="c"), {"consumer_byte_rate": 4096.0})]) == [(0, None)]
    broker.restart(crash=crash)
    with WireClient.connect(broker.bootstrap) as client:
        assert described(client, []) == {
            frozenset({("user", None), ("client-id", "c")}): {"consumer_byte_rate": 4096.0}
        }


def test_a_damaged_quotas_file_is_logged_and_the_broker_starts(broker: BrokerProcess) -> None:
    with WireClient.connect(broker.bootstrap) as client:
        assert alter(client, [(entity(user="u"), {"producer_byte_rate": 4096.0})]) == [(0, None)]
    broker.terminate()
    (broker.data_dir / "client-quotas.json").write_text('{"version": 1, "quotas": [')
    broker.start()
    with WireClient.connect(broker.bootstrap) as client:
        assert described(client, []) == {}
    assert "client quotas file damaged" in broker.stderr_text()


def _produce_body(topic: str, batch: bytes) -> dict:
    return {
        "acks": -1,
        "timeout_ms": 5000,
        "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch}]}],
    }


def test_a_producer_is_held_near_its_byte_rate_and_told_its_throttle(quota_broker: BrokerProcess) -> None:
    """producer_byte_rate for the client id: Produce v9 answers carry throttle_time_ms, and since the
    connection is muted after each, a client that sends as fast as it can is held near the rate."""
    topic = unique_topic("quota-produce")
    create_topic(quota_broker.bootstrap, topic, 1)
    batch = build_batch([(None, bytes(10_000), [], None)])
    with WireClient.connect(quota_broker.bootstrap) as admin:
        assert alter(admin, [(entity(client_id="throttled-producer"), {"producer_byte_rate": float(QUOTA)})]) == [
            (0, None)
        ]
    throttles = []
    with WireClient(quota_broker.host, quota_broker.port, client_id="throttled-producer") as client:
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < MEASURE_S:
            response = client.request(ApiKey.PRODUCE, 9, _produce_body(topic, batch))
            assert response.responses[0].partition_responses[0].error_code == ErrorCode.NONE
            sent += len(batch)
            throttles.append(response.throttle_time_ms)
        elapsed = time.monotonic() - started
    assert max(throttles) > 0
    assert 0.5 * QUOTA <= sent / elapsed <= 1.5 * QUOTA, (sent / elapsed, throttles)
    # Another client id has no quota.
    with WireClient(quota_broker.host, quota_broker.port, client_id="free") as client:
        for _ in range(20):
            assert client.request(ApiKey.PRODUCE, 9, _produce_body(topic, batch)).throttle_time_ms == 0


def test_the_connection_is_muted_after_a_throttled_answer_whatever_the_version(quota_broker: BrokerProcess) -> None:
    """Kafka (KIP-219) answers at once and then reads nothing from the connection for the throttle time,
    for every request version: a request sent right after the throttled answer is answered no sooner.
    Produce v3 (whose client does not throttle itself) is muted as v9 is."""
    topic = unique_topic("quota-mute")
    create_topic(quota_broker.bootstrap, topic, 1)
    big = build_batch([(None, bytes(200_000), [], None)])  # twice what the 1 s window allows
    with WireClient.connect(quota_broker.bootstrap) as admin:
        assert alter(admin, [(entity(client_id="muted"), {"producer_byte_rate": float(QUOTA)})]) == [(0, None)]
    for version in (3, 9):
        time.sleep(2.1)  # both windows expire: a fresh rate
        with WireClient(quota_broker.host, quota_broker.port, client_id="muted") as client:
            throttled = client.request(ApiKey.PRODUCE, version, _produce_body(topic, big))
            assert throttled.throttle_time_ms >= 500, version
            sent = time.monotonic()
            client.request(ApiKey.METADATA, 0, {"topics": []})
            assert time.monotonic() - sent >= 0.9 * throttled.throttle_time_ms / 1000, version


def test_an_acks_0_producer_over_its_rate_is_muted_without_an_answer(quota_broker: BrokerProcess) -> None:
    """An acks=0 Produce gets no response, but its bytes count and its connection is muted all the same
    (Kafka: "the channel may be throttled due to bandwidth quota violation"): 200 KB where the 1 s window
    allows 100 KB is a throttle of about 1 s before the next request is read."""
    topic = unique_topic("quota-acks0")
    create_topic(quota_broker.bootstrap, topic, 1)
    big = build_batch([(None, bytes(200_000), [], None)])
    with WireClient.connect(quota_broker.bootstrap) as admin:
        assert alter(admin, [(entity(client_id="fire-and-forget"), {"producer_byte_rate": float(QUOTA)})]) == [
            (0, None)
        ]
    with WireClient(quota_broker.host, quota_broker.port, client_id="fire-and-forget") as client:
        _, frame = client.encode(ApiKey.PRODUCE, 9, {**_produce_body(topic, big), "acks": 0})
        sent = time.monotonic()
        client.send_raw(frame)
        client.request(ApiKey.METADATA, 12, {"topics": None})
        assert time.monotonic() - sent >= 0.5


def test_a_confluent_producer_reports_throttle_and_is_held_near_the_rate(quota_broker: BrokerProcess) -> None:
    """librdkafka backs off by the throttle time itself (Produce v6+) and reports it in its statistics."""
    topic = unique_topic("quota-rdkafka")
    create_topic(quota_broker.bootstrap, topic, 1)
    with WireClient.connect(quota_broker.bootstrap) as admin:
        assert alter(admin, [(entity(client_id="rdkafka-producer"), {"producer_byte_rate": float(QUOTA)})]) == [
            (0, None)
        ]
    stats: list[dict] = []
    delivered = []
    p = producer(
        quota_broker.bootstrap,
        **{"client.id": "rdkafka-producer", "batch.size": 20_000, "linger.ms": 0, "statistics.interval.ms": 200},
        stats_cb=lambda text: stats.append(json.loads(text)),
    )
    value = bytes(10_000)
    started = time.monotonic()
    while time.monotonic() - started < MEASURE_S:
        if len(p) < 20:  # a bounded backlog: what is queued is what the broker lets through
            p.produce(topic, value, on_delivery=lambda err, msg: delivered.append(err))
        p.poll(0.01)
    elapsed = time.monotonic() - started
    rate = sum(1 for err in delivered if err is None) * len(value) / elapsed
    p.flush(30)
    assert 0.5 * QUOTA <= rate <= 1.5 * QUOTA, rate
    throttle_max = max(b["throttle"]["max"] for s in stats for b in s["brokers"].values() if b["nodeid"] >= 0)
    assert throttle_max > 0


def test_a_consumer_is_held_near_its_byte_rate(quota_broker: BrokerProcess) -> None:
    topic = unique_topic("quota-fetch")
    create_topic(quota_broker.bootstrap, topic, 1)
    # Batches of one record: a fetch returns at least one whole batch, and Kafka answers a fetch
    # that would take the rate over the quota empty, so a batch larger than the windows allow never goes.
    p = producer(quota_broker.bootstrap, **{"batch.size": 20_000})
    for _ in range(100):
        p.produce(topic, bytes(10_000))
    assert p.flush(30) == 0
    with WireClient.connect(quota_broker.bootstrap) as admin:
        assert alter(admin, [(entity(client_id="slow-consumer"), {"consumer_byte_rate": float(QUOTA)})]) == [(0, None)]
    # Fetches of at most ~25 KB: a fetch that would take the rate over the quota is answered empty, and
    # with fetches of 100 KB (what the window allows) every other one is, halving the rate, in Kafka too.
    small_fetches = {"fetch.max.bytes": 25_000, "message.max.bytes": 25_000, "max.partition.fetch.bytes": 25_000}
    c = consumer(quota_broker.bootstrap, **{"client.id": "slow-consumer", **small_fetches})
    c.assign([TopicPartition(topic, 0, 0)])
    received = 0
    started = time.monotonic()
    deadline = Deadline(60, "consuming")
    while time.monotonic() - started < MEASURE_S:
        deadline.check()
        msg = c.poll(0.1)
        if msg is not None and msg.error() is None:
            received += len(msg.value())
    elapsed = time.monotonic() - started
    c.close()
    assert received < 100 * 10_000, "the consumer read everything: not throttled"
    assert 0.5 * QUOTA <= received / elapsed <= 1.5 * QUOTA, received / elapsed


def test_request_percentage_throttles_by_handler_time_bounded_by_one_window(quota_broker: BrokerProcess) -> None:
    """request_percentage of the ANONYMOUS user (every PLAINTEXT client): a tiny share of a thread is
    used up by a few Metadata requests; the throttle never exceeds one window (1 s), as in Kafka."""
    with WireClient.connect(quota_broker.bootstrap) as admin:
        assert alter(admin, [(entity(user="ANONYMOUS"), {"request_percentage": 0.01})]) == [(0, None)]
    with WireClient.connect(quota_broker.bootstrap) as client:
        throttles = [client.request(ApiKey.METADATA, 12, {"topics": None}).throttle_time_ms for _ in range(30)]
    assert max(throttles) > 0
    assert max(throttles) <= 1000
    # A client under another user entity has no quota: removing it lifts the throttle for all.
    with WireClient.connect(quota_broker.bootstrap) as admin:
        assert alter(admin, [(entity(user="ANONYMOUS"), {"request_percentage": None})]) == [(0, None)]
        time.sleep(1.0)  # the mute of the admin's own last answer, if any
    with WireClient.connect(quota_broker.bootstrap) as client:
        assert all(client.request(ApiKey.METADATA, 12, {"topics": None}).throttle_time_ms == 0 for _ in range(30))


def test_reset_removes_the_quotas(broker: BrokerProcess) -> None:
    """KafkaBroker.reset (SIGUSR1) empties the broker for the next test: its quotas go too, and with them
    the throttling."""
    with WireClient.connect(broker.bootstrap) as client:
        assert alter(client, [(entity(user=None), {"request_percentage": 0.001})]) == [(0, None)]
    broker.reset()
    with WireClient.connect(broker.bootstrap) as client:
        assert described(client, []) == {}
        assert all(client.request(ApiKey.METADATA, 12, {"topics": None}).throttle_time_ms == 0 for _ in range(30))


# Kafka's client jars, as compat_tests/reference_kafka.py assembles them.
KAFKA_LIB = REPO_ROOT / "compat_tests" / "apache-kafka" / "target" / "lib"
JAVA_ADMIN = REPO_ROOT / "tests" / "integration" / "java" / "ClientQuotasAdmin.java"


def java_admin(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Kafka's Admin.alterClientQuotas / describeClientQuotas (what kafka-configs calls), as a
    single-file Java program over kafka-clients 4.3.1."""
    classpath = f"{KAFKA_LIB / 'kafka-clients-4.3.1.jar'}:{KAFKA_LIB / 'slf4j-api-2.0.17.jar'}"
    cmd = ["java", "-cp", classpath, str(JAVA_ADMIN), bootstrap, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


@pytest.mark.skipif(shutil.which("java") is None, reason="java not on PATH")
@pytest.mark.skipif(not (KAFKA_LIB / "kafka-clients-4.3.1.jar").exists(), reason="Kafka's jars not assembled")
def test_kafkas_java_admin_alters_and_describes_quotas(shared_broker: BrokerProcess) -> None:
    """kafka-configs --alter --add-config 'producer_byte_rate=1024,request_percentage=12.5' --entity-type users
    --entity-name java-user --entity-type clients --entity-default, then --describe, then --delete-config."""
    bootstrap = shared_broker.bootstrap
    entity_arg = "user=java-user,client-id="
    altered = java_admin(bootstrap, "alter", entity_arg, "producer_byte_rate=1024", "request_percentage=12.5")
    assert altered.returncode == 0, altered.stderr
    described = java_admin(bootstrap, "describe", "user=java-user")
    assert described.stdout.splitlines() == [
        "client-id=<default>,user=java-user producer_byte_rate=1024.0 request_percentage=12.5"
    ], described.stderr
    refused = java_admin(bootstrap, "alter", "user=java-user", "producer_bytes=1")
    assert refused.returncode != 0
    assert "InvalidRequestException: Invalid configuration key producer_bytes" in refused.stderr
    removed = java_admin(bootstrap, "alter", entity_arg, "producer_byte_rate=", "request_percentage=")
    assert removed.returncode == 0, removed.stderr
    assert java_admin(bootstrap, "describe", "user=java-user").stdout == ""
