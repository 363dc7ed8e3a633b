"""Wire diffs of GROUP config resources (Kafka's GroupConfig, resource type 32): DescribeConfigs (32),
IncrementalAlterConfigs (44) and AlterConfigs (33) on a group answer as Apache Kafka 4.3.1 does, for
good and bad changes (kafkapy.coordinator.group_config_store); kafka-configs --entity-type groups
works on both.

Both brokers are shared by the session: each test uses its own group ids, and most cases are
validate_only, which Kafka checks in full without applying.
"""

from __future__ import annotations

import time

import pytest
from kafka_tools import run_tool
from wire_diff import WirePair, unique_name

GROUP = 32
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3

Change = tuple[str, int, str | None]


def incremental(name: str, *changes: Change, validate_only: bool = True) -> dict:
    configs = [{"name": n, "config_operation": op, "value": v} for n, op, v in changes]
    return {
        "resources": [{"resource_type": GROUP, "resource_name": name, "configs": configs}],
        "validate_only": validate_only,
    }


def replace(name: str, configs: dict[str, str | None], *, validate_only: bool = True) -> dict:
    return {
        "resources": [
            {
                "resource_type": GROUP,
                "resource_name": name,
                "configs": [{"name": n, "value": v} for n, v in configs.items()],
            }
        ],
        "validate_only": validate_only,
    }


def describe(name: str, keys: list[str] | None = None, *, synonyms: bool = True, documentation: bool = False) -> dict:
    return {
        "resources": [{"resource_type": GROUP, "resource_name": name, "configuration_keys": keys}],
        "include_synonyms": synonyms,
        "include_documentation": documentation,
    }


# One SET each: Kafka's ConfigDef types and lower bounds, the broker's min/max bounds, share values.
ONE_SET = [
    ("consumer.session.timeout.ms", "50000"),
    ("consumer.session.timeout.ms", " 50000 "),
    ("consumer.session.timeout.ms", "1000"),
    ("consumer.session.timeout.ms", "100000"),
    ("consumer.session.timeout.ms", "abc"),
    ("consumer.session.timeout.ms", ""),
    ("consumer.session.timeout.ms", "2147483648"),
    ("consumer.session.timeout.ms", "0"),
    ("consumer.heartbeat.interval.ms", "6000"),
    ("consumer.heartbeat.interval.ms", "1000"),
    ("consumer.heartbeat.interval.ms", "50000"),
    ("consumer.assignment.interval.ms", "1"),
    ("consumer.assignment.interval.ms", "20000"),
    ("consumer.assignment.interval.ms", "-1"),
    ("share.session.timeout.ms", "1000"),
    ("share.heartbeat.interval.ms", "20000"),
    ("share.record.lock.duration.ms", "1000"),
    ("share.record.lock.duration.ms", "999"),
    ("share.record.lock.duration.ms", "60001"),
    ("share.delivery.count.limit", "1"),
    ("share.delivery.count.limit", "11"),
    ("share.delivery.count.limit", "3"),
    ("share.partition.max.record.locks", "50"),
    ("share.partition.max.record.locks", "5000"),
    ("share.auto.offset.reset", "earliest"),
    ("share.auto.offset.reset", " latest"),
    ("share.auto.offset.reset", "EARLIEST"),
    ("share.auto.offset.reset", "foo"),
    ("share.auto.offset.reset", ""),
    ("share.auto.offset.reset", "by_duration:PT1H"),
    ("share.auto.offset.reset", "by_duration:pt1h"),
    ("share.auto.offset.reset", "by_duration:P1DT2H3M4.5S"),
    ("share.auto.offset.reset", "by_duration:-PT1H"),
    ("share.auto.offset.reset", "by_duration:"),
    ("share.auto.offset.reset", "by_duration:PT"),
    ("share.auto.offset.reset", "BY_DURATION:PT1H"),
    ("share.isolation.level", "read_committed"),
    ("share.isolation.level", "READ_COMMITTED"),
    ("share.renew.acknowledge.enable", "TRUE"),
    ("share.renew.acknowledge.enable", "yes"),
    ("share.assignment.interval.ms", "20000"),
    ("streams.session.timeout.ms", "70000"),
    ("streams.heartbeat.interval.ms", "4999"),
    ("streams.num.standby.replicas", "2"),
    ("streams.num.standby.replicas", "3"),
    ("streams.initial.rebalance.delay.ms", "-1"),
    ("streams.assignment.interval.ms", "20000"),
    ("nope.x", "1"),
]


@pytest.mark.parametrize(("name", "value"), ONE_SET)
def test_incremental_set(wire_pair: WirePair, name: str, value: str) -> None:
    wire_pair.assert_same(44, 1, incremental(unique_name("gcfg"), (name, SET, value)))


@pytest.mark.parametrize(("name", "value"), ONE_SET[:12])
def test_alter_configs_set(wire_pair: WirePair, name: str, value: str) -> None:
    wire_pair.assert_same(33, 2, replace(unique_name("gcfg"), {name: value}))


# Several changes at once: which refusal Kafka reports first (names, then types in definition order,
# then the broker's bounds in its check order), and the requests' own errors.
SEVERAL = [
    [("consumer.session.timeout.ms", SET, "1000"), ("nope", SET, "1")],
    [("share.partition.max.record.locks", SET, "50"), ("consumer.session.timeout.ms", SET, "1000")],
    [("streams.assignment.interval.ms", SET, "x"), ("share.renew.acknowledge.enable", SET, "abc")],
    [("consumer.assignment.interval.ms", SET, "20000"), ("share.session.timeout.ms", SET, "1000")],
    [("share.assignment.interval.ms", SET, "20000"), ("share.partition.max.record.locks", SET, "5000")],
    [("streams.assignment.interval.ms", SET, "20000"), ("streams.num.standby.replicas", SET, "3")],
    [("consumer.session.timeout.ms", SET, "50000"), ("consumer.session.timeout.ms", SET, "51000")],
    [("consumer.session.timeout.ms", SET, None)],
    [("nope", SET, None)],
    [("consumer.session.timeout.ms", APPEND, "1")],
    [("consumer.session.timeout.ms", SUBTRACT, "1")],
    [("nope", APPEND, "1")],
    [("nope", DELETE, None)],
    [("consumer.session.timeout.ms", DELETE, "zzz")],
    [("consumer.session.timeout.ms", 7, "1")],
]


@pytest.mark.parametrize("changes", SEVERAL, ids=lambda changes: "+".join(f"{n}:{op}" for n, op, _ in changes))
def test_incremental_several(wire_pair: WirePair, changes: list[Change]) -> None:
    wire_pair.assert_same(44, 1, incremental(unique_name("gcfg"), *changes))


def test_empty_group_name(wire_pair: WirePair) -> None:
    wire_pair.assert_same(44, 1, incremental("", ("consumer.session.timeout.ms", SET, "50000")))
    wire_pair.assert_same(33, 2, replace("", {"consumer.session.timeout.ms": "50000"}))
    wire_pair.assert_same(32, 4, describe("", ["consumer.session.timeout.ms"]))


def test_alter_configs_refusals(wire_pair: WirePair) -> None:
    group = unique_name("gcfg")
    wire_pair.assert_same(33, 2, replace(group, {"consumer.session.timeout.ms": "1000", "nope": "x"}))
    wire_pair.assert_same(33, 2, replace(group, {"consumer.session.timeout.ms": None}))
    wire_pair.assert_same(33, 0, replace(group, {"consumer.session.timeout.ms": "50000"}))
    wire_pair.assert_same(44, 0, incremental(group, ("consumer.session.timeout.ms", SET, "50000")))


def test_describe_defaults_of_any_group(wire_pair: WirePair) -> None:
    """Every config, in Kafka's order, with its broker synonym, for a group that does not exist."""
    group = unique_name("gcfg")
    wire_pair.assert_same(32, 4, describe(group))
    wire_pair.assert_same(32, 4, describe(group, synonyms=False, documentation=True))
    wire_pair.assert_same(32, 4, describe(group, ["share.isolation.level", "nope", "consumer.heartbeat.interval.ms"]))
    wire_pair.assert_same(32, 1, describe(group, ["consumer.session.timeout.ms"]))


def test_overrides_set_deleted_and_replaced(wire_pair: WirePair) -> None:
    """Overrides accumulate under IncrementalAlterConfigs, DELETE drops one, AlterConfigs replaces the set;
    DescribeConfigs shows each as DYNAMIC_GROUP_CONFIG over its broker synonym, values as Kafka prints them."""
    group = unique_name("gcfg")
    set_two = incremental(
        group,
        ("consumer.session.timeout.ms", SET, " 50000 "),
        ("share.auto.offset.reset", SET, "by_duration:PT1H"),
        validate_only=False,
    )
    wire_pair.assert_same(44, 1, set_two)
    wire_pair.assert_same(
        44, 1, incremental(group, ("share.renew.acknowledge.enable", SET, "TRUE"), validate_only=False)
    )
    wire_pair.assert_same(32, 4, describe(group))
    wire_pair.assert_same(44, 1, incremental(group, ("consumer.session.timeout.ms", DELETE, None), validate_only=False))
    wire_pair.assert_same(32, 4, describe(group))
    wire_pair.assert_same(33, 2, replace(group, {"consumer.heartbeat.interval.ms": "6000"}, validate_only=False))
    wire_pair.assert_same(32, 4, describe(group, documentation=True))
    wire_pair.assert_same(33, 2, replace(group, {}, validate_only=False))
    wire_pair.assert_same(32, 4, describe(group))


def test_validate_only_changes_nothing(wire_pair: WirePair) -> None:
    group = unique_name("gcfg")
    wire_pair.assert_same(44, 1, incremental(group, ("consumer.session.timeout.ms", SET, "50000")))
    wire_pair.assert_same(32, 4, describe(group, ["consumer.session.timeout.ms"]))


def test_kafka_configs_tool_on_groups(wire_pair: WirePair) -> None:
    """kafka-configs --entity-type groups --alter / --describe / --delete-config print the same on both."""
    group = unique_name("gcfg")
    outputs: dict[str, list[str]] = {}
    for broker, bootstrap in wire_pair.bootstraps.items():
        common = ("--bootstrap-server", bootstrap, "--entity-type", "groups", "--entity-name", group)
        steps = [
            run_tool("kafka-configs", *common, "--alter", "--add-config",
                     "consumer.session.timeout.ms=50000,share.delivery.count.limit=3"),
            run_tool("kafka-configs", *common, "--describe"),
            run_tool("kafka-configs", *common, "--alter", "--add-config", "consumer.session.timeout.ms=1000"),
            run_tool("kafka-configs", *common, "--alter", "--delete-config", "share.delivery.count.limit"),
            run_tool("kafka-configs", *common, "--describe", "--all"),
        ]
        outputs[broker] = [
            f"rc={step.returncode}\n{step.stdout}{_error_line(step.stderr)}".replace(bootstrap, "<bootstrap>")
            for step in steps
        ]
    assert outputs["kafkapy"] == outputs["reference"]
    assert "consumer.session.timeout.ms=50000" in outputs["kafkapy"][1], outputs["kafkapy"][1]


def _error_line(stderr: str) -> str:
    """The tool's error lines, without the stack trace and log lines that name classes or timestamps."""
    return "\n".join(line for line in stderr.splitlines() if line.startswith(("Error", "org.apache.kafka")))


def test_groups_with_configs_listed(wire_pair: WirePair) -> None:
    """ListConfigResources lists the groups that have overrides, in Kafka's order; one whose last
    override is deleted is gone."""
    kept, emptied = unique_name("gcfg"), unique_name("gcfg")
    for group in (kept, emptied):
        wire_pair.assert_same(
            44, 1, incremental(group, ("share.delivery.count.limit", SET, "3"), validate_only=False)
        )
    delete = incremental(emptied, ("share.delivery.count.limit", DELETE, None), validate_only=False)
    wire_pair.assert_same(44, 1, delete)
    answer = wire_pair.assert_same(74, 1, {"resource_types": [GROUP]})
    names = [r["resource_name"] for r in answer["config_resources"]]
    assert kept in names and emptied not in names, names


def test_deleting_a_group_keeps_its_configs(wire_pair: WirePair) -> None:
    """DeleteGroups of a group with overrides leaves them (Kafka keeps group configs apart from groups)."""
    group, topic = unique_name("gcfg"), unique_name("gcfg-topic")
    wire_pair.create_topics(topic)
    commit = {
        "group_id": group,
        "generation_id_or_member_epoch": -1,
        "member_id": "",
        "group_instance_id": None,
        "topics": [
            {"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 0, "committed_leader_epoch": -1,
                                            "committed_metadata": ""}]}
        ],
    }  # fmt: skip
    deadline = time.monotonic() + 60
    # Kafka creates __consumer_offsets at the first FindCoordinator and answers NOT_COORDINATOR until
    # it is loaded.
    find = {"key_type": 0, "coordinator_keys": [group]}
    while (
        wire_pair.request(10, 4, find)["reference"]["coordinators"][0]["error_code"] != 0
        or wire_pair.request(8, 8, commit)["reference"]["topics"][0]["partitions"][0]["error_code"] != 0
    ):
        assert time.monotonic() < deadline, "the reference's group coordinator did not come up"
        time.sleep(0.2)
    wire_pair.assert_same(8, 8, commit)
    wire_pair.assert_same(44, 1, incremental(group, ("consumer.session.timeout.ms", SET, "50000"), validate_only=False))
    wire_pair.assert_same(42, 2, {"groups_names": [group]})
    wire_pair.assert_same(32, 4, describe(group, ["consumer.session.timeout.ms"]))
