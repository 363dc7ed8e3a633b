"""Wire diffs of dynamic broker configs: AlterConfigs (33) and IncrementalAlterConfigs (44) on a BROKER
resource, this node ("1") and the cluster default (""), answer as Apache Kafka 4.3.1 does, for good and
bad changes (kafkapy.dynamic_broker_config); kafka-configs --alter/--delete-config works on both.

Both brokers are shared by the session: a test that changes a config deletes it again (try/finally), and
most cases are validate_only, which Kafka checks in full without applying.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kafka_tools import run_tool
from wire_diff import WirePair, unique_name

BROKER, BROKER_LOGGER = 4, 8
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


Change = tuple[str, int, str | None]


def incremental(name: str, *changes: Change, kind: int = BROKER, validate_only: bool = True) -> dict:
    return {
        "resources": [
            {
                "resource_type": kind,
                "resource_name": name,
                "configs": [{"name": n, "config_operation": op, "value": v} for n, op, v in changes],
            }
        ],
        "validate_only": validate_only,
    }


def replace(name: str, configs: dict[str, str | None], *, kind: int = BROKER, validate_only: bool = True) -> dict:
    return {
        "resources": [
            {
                "resource_type": kind,
                "resource_name": name,
                "configs": [{"name": n, "value": v} for n, v in configs.items()],
            }
        ],
        "validate_only": validate_only,
    }


# One SET on this node: Kafka's type and range checks, read-only configs, thread-pool and ELR rules.
SET_ON_NODE = [
    ("log.retention.ms", "1000"),
    ("log.retention.ms", "-5"),
    ("log.retention.ms", " 100 "),
    ("log.retention.ms", "abc"),
    ("log.retention.hours", "1"),
    ("log.retention.minutes", "1"),
    ("log.segment.bytes", "1"),
    ("log.segment.bytes", "2147483648"),
    ("log.cleanup.policy", "foo"),
    ("log.cleanup.policy", ""),
    ("message.max.bytes", "99999999999"),
    ("message.max.bytes", "-1"),
    ("message.max.bytes", "0"),
    ("log.preallocate", "yes"),
    ("unclean.leader.election.enable", "TRUE"),
    ("log.cleaner.min.cleanable.ratio", "2"),
    ("log.cleaner.min.cleanable.ratio", "x"),
    ("log.message.timestamp.type", "x"),
    ("log.roll.ms", "0"),
    ("log.flush.interval.messages", "0"),
    ("log.index.size.max.bytes", "1"),
    ("log.local.retention.ms", "-3"),
    ("compression.gzip.level", "10"),
    ("sasl.login.refresh.buffer.seconds", "x"),
    ("num.io.threads", "0"),
    ("num.io.threads", "100"),
    ("num.network.threads", "7"),
    ("background.threads", "1"),
    ("log.cleaner.threads", "5"),
    ("log.cleaner.threads", "0"),
    ("log.cleaner.dedupe.buffer.size", "1"),
    ("producer.id.expiration.ms", "0"),
    ("group.coordinator.cached.buffer.max.bytes", "1"),
    ("max.connections", "-1"),
    ("max.connections.per.ip", "0"),
    ("max.connections.per.ip.overrides", "127.0.0.1:5,localhost:3"),
    ("min.insync.replicas", "2"),
    ("min.insync.replicas", "0"),
    ("node.id", "2"),
    ("auto.create.topics.enable", "false"),
    ("ssl.keystore.location", "/x"),
    ("custom.unknown.config", "1"),
]


@pytest.mark.parametrize(("name", "value"), SET_ON_NODE, ids=[f"{n}={v}" for n, v in SET_ON_NODE])
def test_incremental_set_on_this_node(wire_pair: WirePair, name: str, value: str) -> None:
    wire_pair.assert_same(44, 1, incremental("1", (name, SET, value)))


OTHER_CASES = {
    "default-bad-compression": incremental("", ("compression.type", SET, "foo")),
    "default-per-broker-only": incremental("", ("listeners", SET, "PLAINTEXT://127.0.0.1:1")),
    "default-two-per-broker-only": incremental(
        "", ("listeners", SET, "x"), ("listener.security.protocol.map", SET, "x")
    ),
    "default-listener-prefix": incremental("", ("listener.name.plaintext.ssl.keystore.location", SET, "/x")),
    "default-ssl-without-prefix": incremental("", ("ssl.keystore.location", SET, "/x")),
    "default-value-before-per-broker": incremental("", ("log.retention.ms", SET, "x"), ("listeners", SET, "x")),
    "default-remove-min-insync": incremental("", ("min.insync.replicas", DELETE, None)),
    "default-set-min-insync": incremental("", ("min.insync.replicas", SET, "2")),
    "node-delete-min-insync": incremental("1", ("min.insync.replicas", DELETE, None)),
    "other-node": incremental("2", ("log.retention.ms", SET, "1000")),
    "not-a-node-id": incremental("abc", ("log.retention.ms", SET, "1000")),
    "node-id-with-a-plus": incremental("+1", ("log.retention.ms", SET, "1000")),
    "node-id-with-a-space": incremental(" 1", ("log.retention.ms", SET, "1000")),
    "node-id-past-int": incremental("99999999999", ("log.retention.ms", SET, "1000")),
    "append-list": incremental("1", ("log.cleanup.policy", APPEND, "compact")),
    "subtract-list": incremental("1", ("log.cleanup.policy", SUBTRACT, "delete")),
    "append-not-a-list": incremental("1", ("log.retention.ms", APPEND, "5")),
    "delete-unset": incremental("1", ("log.retention.ms", DELETE, None)),
    "set-null": incremental("1", ("log.retention.ms", SET, None)),
    "duplicate-key": incremental("1", ("log.retention.ms", SET, "1"), ("log.retention.ms", SET, "2")),
    "read-only-in-hash-set-order": incremental(
        "1", ("node.id", SET, "1"), ("log.dirs", SET, "x"), ("broker.rack", SET, "x")
    ),
    "read-only-before-bad-value": incremental(
        "1", ("node.id", SET, "1"), ("log.retention.ms", SET, "x"), ("listeners", SET, "x")
    ),
    "v0-read-only": incremental("1", ("node.id", SET, "1")),
    "unknown-operation": incremental("1", ("log.retention.ms", 7, "1")),
    "append-unknown-name": incremental("1", ("custom.unknown.config", APPEND, "x")),
    "append-read-only": incremental("1", ("node.id", APPEND, "x")),
    "subtract-read-only-list": incremental("1", ("log.dirs", SUBTRACT, "x")),
    "delete-unknown-name": incremental("1", ("custom.unknown.config", DELETE, None)),
    "delete-read-only": incremental("", ("log.retention.hours", DELETE, None)),
    "metric-reporters-kafkas-default": incremental(
        "1", ("metric.reporters", SET, "org.apache.kafka.common.metrics.JmxReporter")
    ),
    "metric-reporters-none": incremental("1", ("metric.reporters", SET, "")),
    "metric-reporters-unknown-class": incremental("", ("metric.reporters", SET, "x.Y")),
    "metric-reporters-append": incremental("1", ("metric.reporters", APPEND, "x.Y")),
    "config-providers": incremental("1", ("config.providers", SET, "x")),
    "broker-and-logger": {
        "resources": [
            *incremental("1", ("root", SET, "INFO"), kind=BROKER_LOGGER)["resources"],
            *incremental("1", ("log.retention.ms", SET, "1"))["resources"],
        ],
        "validate_only": True,
    },
    "duplicate-resource": {
        "resources": [
            *incremental("1", ("log.retention.ms", SET, "1"))["resources"],
            *incremental("1", ("log.retention.ms", SET, "2"))["resources"],
        ],
        "validate_only": True,
    },
}


@pytest.mark.parametrize("case", list(OTHER_CASES))
def test_incremental_alter_configs_of_a_broker(wire_pair: WirePair, case: str) -> None:
    wire_pair.assert_same(44, 1, OTHER_CASES[case])


def test_incremental_alter_configs_v0_of_a_broker(wire_pair: WirePair) -> None:
    wire_pair.assert_same(44, 0, incremental("1", ("node.id", SET, "1")))


REPLACE_CASES = {
    "unknown-name": replace("1", {"custom.unknown.config": "1"}),
    "read-only": replace("1", {"node.id": "1"}),
    "bad-value": replace("1", {"log.retention.ms": "x"}),
    "null-value": replace("1", {"log.retention.ms": None}),
    "default-per-broker-only": replace("", {"listeners": "PLAINTEXT://127.0.0.1:1"}),
    # Replacing the whole cluster default would drop its min.insync.replicas (KIP-966 forbids it).
    "default-drops-min-insync": replace("", {"log.retention.ms": "1000"}),
    "other-node": replace("2", {"log.retention.ms": "1000"}),
}


@pytest.mark.parametrize("version", [0, 1, 2])
@pytest.mark.parametrize("case", list(REPLACE_CASES))
def test_alter_configs_of_a_broker(wire_pair: WirePair, case: str, version: int) -> None:
    wire_pair.assert_same(33, version, REPLACE_CASES[case])


@pytest.fixture
def cleanup(wire_pair: WirePair) -> Iterator[None]:
    """Put both brokers' dynamic configs back as they were: nothing on this node, the cluster default
    holding only min.insync.replicas=1."""
    yield
    wire_pair.request(33, 2, replace("1", {}, validate_only=False))
    wire_pair.request(33, 2, replace("", {"min.insync.replicas": "1"}, validate_only=False))


def test_changes_that_are_applied(wire_pair: WirePair, cleanup: None) -> None:
    steps = [
        (44, incremental("1", ("log.retention.ms", SET, "5000"), ("custom.unknown.config", SET, "x"),
                         validate_only=False)),
        (44, incremental("1", ("log.cleanup.policy", APPEND, "compact"), validate_only=False)),
        (44, incremental("", ("log.retention.ms", SET, "7000"), ("min.insync.replicas", SET, "2"),
                         validate_only=False)),
        # The node's min.insync.replicas stays forbidden while the cluster default changes.
        (44, incremental("1", ("min.insync.replicas", SET, "2"), validate_only=False)),
        (33, replace("1", {"message.max.bytes": "2000000"}, validate_only=False)),
        (44, incremental("", ("log.retention.ms", DELETE, None), validate_only=False)),
        (33, replace("", {"min.insync.replicas": "1"}, validate_only=False)),
    ]
    for api_key, body in steps:
        wire_pair.assert_same(api_key, 2 if api_key == 33 else 1, body)


def configs_tool(bootstrap: str, *args: str) -> tuple[int, str]:
    result = run_tool("kafka-configs", "--bootstrap-server", bootstrap, *args)
    return result.returncode, result.output


@pytest.mark.parametrize("entity", [("--entity-name", "1"), ("--entity-default",)])
def test_kafka_configs_alter_and_delete_config(wire_pair: WirePair, entity: tuple[str, ...], cleanup: None) -> None:
    target = ("--entity-type", "brokers", *entity)

    def alter_then_delete(bootstrap: str) -> list[tuple[int, str]]:
        added = configs_tool(bootstrap, "--alter", *target, "--add-config", "log.retention.ms=1000")
        refused = configs_tool(bootstrap, "--alter", *target, "--add-config", "log.retention.hours=1")
        deleted = configs_tool(bootstrap, "--alter", *target, "--delete-config", "log.retention.ms")
        return [added, refused, deleted]

    results = wire_pair.on_both(alter_then_delete)
    for broker, steps in results.items():
        added, refused, deleted = steps
        assert added[0] == 0 and "Completed updating" in added[1], (broker, added)
        assert refused[0] != 0 and "Cannot update these configs dynamically: [log.retention.hours]" in refused[1], (
            broker,
            refused,
        )
        assert deleted[0] == 0 and "Completed updating" in deleted[1], (broker, deleted)
    stdout = {broker: [out.split("--- stderr ---")[0].strip() for _, out in steps] for broker, steps in results.items()}
    assert stdout["kafkapy"] == stdout["reference"]


LOGGER_CASES = {
    "set-root": incremental("1", ("root", SET, "INFO"), kind=BROKER_LOGGER),
    "set-root-trace": incremental("1", ("root", SET, "TRACE"), kind=BROKER_LOGGER),
    "unknown-logger": incremental("1", ("kafka.server", SET, "DEBUG"), kind=BROKER_LOGGER),
    "bad-level": incremental("1", ("root", SET, "LOUD"), kind=BROKER_LOGGER),
    "lower-case-level": incremental("1", ("root", SET, "debug"), kind=BROKER_LOGGER),
    "bad-level-before-unknown-logger": incremental(
        "1", ("root", SET, "LOUD"), ("nope", SET, "INFO"), kind=BROKER_LOGGER
    ),
    "delete-root": incremental("1", ("root", DELETE, None), kind=BROKER_LOGGER),
    "delete-unknown": incremental("1", ("nope", DELETE, None), kind=BROKER_LOGGER),
    "append": incremental("1", ("root", APPEND, "INFO"), kind=BROKER_LOGGER),
    "subtract": incremental("1", ("root", SUBTRACT, "INFO"), kind=BROKER_LOGGER),
    "null": incremental("2", ("root", SET, None), kind=BROKER_LOGGER),
    "duplicate": incremental("1", ("root", SET, "INFO"), ("root", SET, "INFO"), kind=BROKER_LOGGER),
    "other-node": incremental("2", ("root", SET, "INFO"), kind=BROKER_LOGGER),
    "node-id-with-underscore": incremental("1_0", ("root", SET, "INFO"), kind=BROKER_LOGGER),
    "cluster-default": incremental("", ("root", SET, "INFO"), kind=BROKER_LOGGER),
}


@pytest.mark.parametrize("case", list(LOGGER_CASES))
def test_incremental_alter_configs_of_a_broker_logger(wire_pair: WirePair, case: str) -> None:
    wire_pair.assert_same(44, 1, LOGGER_CASES[case])


@pytest.mark.parametrize("version", [0, 1, 2])
def test_alter_configs_has_no_broker_loggers(wire_pair: WirePair, version: int) -> None:
    wire_pair.assert_same(33, version, replace("1", {"root": "DEBUG"}, kind=BROKER_LOGGER))


def describe(resource_type: int, name: str, keys: list[str] | None) -> dict:
    return {
        "resources": [{"resource_type": resource_type, "resource_name": name, "configuration_keys": keys}],
        "include_synonyms": True,
        "include_documentation": False,
    }


def wait_until_described(wire_pair: WirePair, body: dict, expected: dict[str, str | None]) -> None:
    """Poll DescribeConfigs on both brokers until the named configs have the expected values: Kafka's
    broker applies a change from the metadata log a moment after the controller acknowledged it."""
    deadline = time.monotonic() + 30
    while True:
        described = wire_pair.request(32, 4, body)
        values = {
            broker: {c["name"]: c["value"] for c in response["results"][0]["configs"] if c["name"] in expected}
            for broker, response in described.items()
        }
        if all(found == expected for found in values.values()):
            return
        assert time.monotonic() < deadline, f"never described as {expected}: {values}"
        time.sleep(0.1)


def test_describe_configs_after_dynamic_changes(wire_pair: WirePair, cleanup: None) -> None:
    topic = unique_name("dyn-describe")
    wire_pair.create_topics(topic)
    wire_pair.assert_same(
        44, 1, incremental("", ("log.retention.ms", SET, "7000"), ("message.max.bytes", SET, "3000"),
                           validate_only=False)
    )
    wire_pair.assert_same(
        44, 1, incremental("1", ("log.retention.ms", SET, "5000"), ("log.cleanup.policy", APPEND, "compact"),
                           ("custom.unknown.config", SET, "x"), validate_only=False)
    )
    names = ["log.retention.ms", "message.max.bytes", "log.cleanup.policy", "custom.unknown.config",
             "min.insync.replicas", "log.retention.hours"]
    node = describe(BROKER, "1", names)
    wait_until_described(
        wire_pair, node,
        {"log.retention.ms": "5000", "message.max.bytes": "3000", "log.cleanup.policy": "delete,compact",
         "custom.unknown.config": None, "min.insync.replicas": "1", "log.retention.hours": "168"},
    )
    wire_pair.assert_same(32, 4, node, unordered=("configs",))
    wire_pair.assert_same(32, 4, describe(BROKER, "", None), unordered=("configs",))
    on_topic = describe(2, topic, ["retention.ms", "max.message.bytes", "cleanup.policy", "min.insync.replicas"])
    wait_until_described(wire_pair, on_topic, {"retention.ms": "5000", "max.message.bytes": "3000",
                                               "cleanup.policy": "delete,compact", "min.insync.replicas": "1"})
    wire_pair.assert_same(32, 4, on_topic, unordered=("configs",))


@pytest.mark.parametrize("entity", [("--entity-name", "1"), ("--entity-default",)])
def test_kafka_configs_describe_after_alter(wire_pair: WirePair, entity: tuple[str, ...], cleanup: None) -> None:
    target = ("--entity-type", "brokers", *entity)

    def alter_then_describe(bootstrap: str) -> str:
        added = configs_tool(bootstrap, "--alter", *target, "--add-config", "log.retention.ms=1000,log.roll.ms=60000")
        assert added[0] == 0, added
        deadline = time.monotonic() + 30
        while True:
            code, output = configs_tool(bootstrap, "--describe", *target)
            stdout = output.split("--- stderr ---")[0].strip()
            if code == 0 and "log.roll.ms=60000" in stdout or time.monotonic() > deadline:
                return stdout

    described = wire_pair.on_both(alter_then_describe)
    assert "log.retention.ms=1000" in described["kafkapy"]
    assert described["kafkapy"] == described["reference"]
