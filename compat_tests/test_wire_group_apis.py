"""Wire diffs of the group APIs every group type shares (issue #16): FindCoordinator (10) with share
partition keys (key type 2, KIP-932), DescribeGroups (15) of groups that do not exist, with and without
authorized operations.

Both brokers are shared by the session; every test uses its own group ids.
"""

from __future__ import annotations

import base64
import difflib
import time
import uuid

import pytest
from kafka_tools import run_tool
from wire_diff import WirePair, unique_name

from kafkapy.client.wire import WireClient

FIND_COORDINATOR, DESCRIBE_GROUPS = 10, 15
SHARE_KEY = 2
WAIT_S = 60.0


def _topic_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _share_keys() -> list[str]:
    topic_id = _topic_id()
    return [
        f"sg:{topic_id}:0",
        f"sg:{topic_id}:-1",
        f"a:b:{topic_id}:3",
        "sg:AAAAAAAAAAAAAAAAAAAAAA:0",
        "sg",
        f"sg:{topic_id}:x",
        f"sg:{topic_id}:0:1",
        f":{topic_id}:0",
        f"sg:{topic_id[:-1]}:0",
        f"sg:{topic_id}:",
        "sg::0",
        f"sg:{uuid.uuid4()}:0",
    ]


def _coordinator_ready(wire_pair: WirePair, key_type: int, key: str) -> None:
    """Kafka answers COORDINATOR_NOT_AVAILABLE until its first FindCoordinator created the internal
    topic (__consumer_offsets, __share_group_state), and NOT_COORDINATOR to group requests until that
    topic is loaded; wait for it so the diffs compare the settled answers."""
    body = {"key_type": key_type, "coordinator_keys": [key]}
    deadline = time.monotonic() + WAIT_S
    while wire_pair.request(FIND_COORDINATOR, 6, body)["reference"]["coordinators"][0]["error_code"] != 0:
        assert time.monotonic() < deadline, f"the reference's coordinator of {key} did not come up"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def groups_ready(wire_pair: WirePair) -> None:
    _coordinator_ready(wire_pair, 0, "any-group")
    describe = {"groups": [unique_name("nope")], "include_authorized_operations": False}
    deadline = time.monotonic() + WAIT_S
    while wire_pair.request(DESCRIBE_GROUPS, 5, describe)["reference"]["groups"][0]["error_code"] != 0:
        assert time.monotonic() < deadline, "the reference's group coordinator did not load"
        time.sleep(0.2)


def test_share_partition_keys(wire_pair: WirePair) -> None:
    """Well-formed share partition keys are coordinated (a group id may hold ':', the topic need not
    exist); malformed ones are INVALID_REQUEST without a message."""
    _coordinator_ready(wire_pair, SHARE_KEY, f"sg:{_topic_id()}:0")
    wire_pair.assert_same(FIND_COORDINATOR, 6, {"key_type": SHARE_KEY, "coordinator_keys": _share_keys()})


@pytest.mark.parametrize("version", [4, 5])
def test_share_keys_before_v6(wire_pair: WirePair, version: int) -> None:
    body = {"key_type": SHARE_KEY, "coordinator_keys": [f"sg:{_topic_id()}:0"]}
    wire_pair.assert_same(FIND_COORDINATOR, version, body)


@pytest.mark.parametrize(("version", "key_type"), [(3, SHARE_KEY), (3, 3), (6, 3), (6, -1)])
def test_unknown_key_types(wire_pair: WirePair, version: int, key_type: int) -> None:
    body = {"key_type": key_type}
    body.update({"key": "g"} if version < 4 else {"coordinator_keys": ["g", "h"]})
    wire_pair.assert_same(FIND_COORDINATOR, version, body)


@pytest.mark.parametrize("version", range(7))
def test_group_key(wire_pair: WirePair, groups_ready: None, version: int) -> None:
    body = {"key_type": 0, "key": "g"} if version < 4 else {"key_type": 0, "coordinator_keys": ["g", "h"]}
    wire_pair.assert_same(FIND_COORDINATOR, version, body)


@pytest.mark.parametrize("version", [0, 3, 5, 6])
@pytest.mark.parametrize("operations", [False, True])
def test_describe_unknown_group(wire_pair: WirePair, groups_ready: None, version: int, operations: bool) -> None:
    body = {"groups": [unique_name("nope")], "include_authorized_operations": operations}
    wire_pair.assert_same(DESCRIBE_GROUPS, version, body)


def test_metadata_by_topic_id_with_an_empty_name(wire_pair: WirePair) -> None:
    """The Java consumer of a KIP-848 regex subscription (SubscriptionPattern) asks for its assigned
    topics by id with the name "": Kafka answers by the id (an unknown id UNKNOWN_TOPIC_ID)."""
    topic = unique_name("by-id")
    wire_pair.create_topics(topic)
    ids = wire_pair.request(3, 12, {"topics": [{"name": topic, "topic_id": uuid.UUID(int=0)}],
                                    "allow_auto_topic_creation": False, "include_topic_authorized_operations": False})
    for broker, response in ids.items():
        body = {
            "topics": [
                {"name": "", "topic_id": uuid.UUID(response["topics"][0]["topic_id"])},
                {"name": "", "topic_id": uuid.uuid4()},
            ],
            "allow_auto_topic_creation": False,
            "include_topic_authorized_operations": False,
        }
        with WireClient.connect(wire_pair.bootstraps[broker], timeout=30.0) as client:
            answer = client.request(3, 13, body)
        # Kafka lists the topics in no fixed order.
        found = sorted(((t.name, t.error_code) for t in answer.topics), key=repr)
        assert found == sorted([(topic, 0), (None, 100)], key=repr), (broker, answer)


class Member:
    """One KIP-848 consumer group member per broker, driven by raw ConsumerGroupHeartbeat v1."""

    def __init__(self, wire_pair: WirePair, group: str, topic: str) -> None:
        self.wire_pair, self.group, self.topic = wire_pair, group, topic
        self.member_id = uuid.uuid4().hex[:22]
        self.epochs: dict[str, int] = {}

    def heartbeat(self, broker: str, epoch: int) -> dict:
        body = {
            "group_id": self.group,
            "member_id": self.member_id,
            "member_epoch": epoch,
            "rebalance_timeout_ms": 30000,
            "subscribed_topic_names": [self.topic] if epoch == 0 else None,
            "topic_partitions": [] if epoch == 0 else None,
        }
        with WireClient.connect(self.wire_pair.bootstraps[broker], timeout=30.0) as client:
            response = client.request(68, 1, body)
        assert response.error_code == 0, (broker, response)
        self.epochs[broker] = response.member_epoch
        return response

    def join(self) -> None:
        for broker in self.wire_pair.bootstraps:
            self.heartbeat(broker, 0)

    def leave(self) -> None:
        for broker in self.wire_pair.bootstraps:
            self.heartbeat(broker, -1)

    def commit(self, partition: int) -> None:
        """OffsetCommit v9 with the member's epoch on each broker (the epochs may differ)."""
        for broker, bootstrap in self.wire_pair.bootstraps.items():
            body = {
                "group_id": self.group,
                "generation_id_or_member_epoch": self.epochs[broker],
                "member_id": self.member_id,
                "group_instance_id": None,
                "topics": [
                    {
                        "name": self.topic,
                        "partitions": [
                            {"partition_index": partition, "committed_offset": 0, "committed_leader_epoch": -1,
                             "committed_metadata": ""}
                        ],
                    }
                ],
            }
            with WireClient.connect(bootstrap, timeout=30.0) as client:
                response = client.request(8, 9, body)
            assert response.topics[0].partitions[0].error_code == 0, (broker, response)


def _listed(wire_pair: WirePair, group: str, version: int, body: dict) -> None:
    """ListGroups lists the group alike on both brokers (other groups of the session left out)."""
    answers = wire_pair.request(16, version, body)
    entries = {broker: [g for g in answer["groups"] if g["group_id"] == group] for broker, answer in answers.items()}
    assert entries["kafkapy"] == entries["reference"], entries


def test_shared_apis_on_a_consumer_group(wire_pair: WirePair, groups_ready: None) -> None:
    """A KIP-848 consumer group through the APIs every group type shares: listed as a consumer group,
    described by DescribeGroups as not a classic group, not deleted while it has a member, OffsetDelete
    keeping the offsets of a topic it subscribes to; once empty, offsets and the group go."""
    topic, other, group = unique_name("cg-in"), unique_name("cg-other"), unique_name("cg")
    wire_pair.create_topics(topic, partitions=2)
    wire_pair.create_topics(other)
    member = Member(wire_pair, group, topic)
    member.join()
    for filters in ([], ["consumer"], ["Classic"]):
        _listed(wire_pair, group, 5, {"states_filter": [], "types_filter": filters})
    _listed(wire_pair, group, 4, {"states_filter": []})
    for version in (0, 5, 6):
        for operations in (False, True):
            body = {"groups": [group], "include_authorized_operations": operations}
            wire_pair.assert_same(DESCRIBE_GROUPS, version, body)
    member.commit(0)
    partition_0 = [{"partition_index": 0}]
    offsets = {"group_id": group, "topics": [{"name": n, "partitions": partition_0} for n in (topic, other)]}
    wire_pair.assert_same(47, 0, offsets)
    wire_pair.assert_same(42, 2, {"groups_names": [group]})
    member.leave()
    _listed(wire_pair, group, 5, {"states_filter": ["empty"], "types_filter": []})
    wire_pair.assert_same(47, 0, offsets)
    wire_pair.assert_same(47, 0, offsets)
    wire_pair.assert_same(42, 2, {"groups_names": [group, group]})
    wire_pair.assert_same(DESCRIBE_GROUPS, 6, {"groups": [group], "include_authorized_operations": False})
    wire_pair.assert_same(47, 0, offsets)


def _same_epochs(verbose: str, group: str) -> str:
    """--members --verbose with the member's CURRENT-EPOCH and TARGET-EPOCH, which must be equal (the
    member has reconciled), shown as <epoch>: the epoch numbering itself is the consumer group
    coordinator's to match (Kafka 4.3.1 gives a first member epoch 2 where kafkapy gives 1)."""
    lines = []
    for line in verbose.splitlines():
        if line.startswith(group):
            columns = line.split()
            assert columns[5] == columns[7], line
            columns[5] = columns[7] = "<epoch>"
            line = " ".join(columns)
        lines.append(line)
    return "\n".join(lines)


def test_kafka_consumer_groups_tool_on_a_consumer_group(wire_pair: WirePair, groups_ready: None) -> None:
    """kafka-consumer-groups --list/--describe (offsets, --state, --members --verbose) print the same
    for a KIP-848 consumer group on both brokers (ports and the host form aside)."""
    topic, group = unique_name("cg-tool"), unique_name("cg-tool")
    wire_pair.create_topics(topic, partitions=2)
    member = Member(wire_pair, group, topic)
    member.join()
    member.commit(0)
    outputs: dict[str, list[str]] = {}
    for broker, bootstrap in wire_pair.bootstraps.items():
        common = ("--bootstrap-server", bootstrap)
        runs = [
            run_tool("kafka-consumer-groups", *common, "--describe", "--group", group),
            run_tool("kafka-consumer-groups", *common, "--describe", "--group", group, "--state"),
            run_tool("kafka-consumer-groups", *common, "--describe", "--group", group, "--members", "--verbose"),
            run_tool("kafka-consumer-groups", *common, "--list", "--type", "--state"),
        ]
        host, port = bootstrap.rsplit(":", 1)
        outputs[broker] = [
            f"rc={r.returncode}\n{r.stdout}".replace(bootstrap, "<bootstrap>").replace("/" + host, host)
            for r in runs
        ]
        # Only this test's group of the --list output (the session has others, whose longest id sets the
        # column widths: compared modulo spacing).
        listed = [" ".join(line.split()) for line in outputs[broker][3].splitlines() if group in line]
        outputs[broker][3] = "\n".join(listed)
        outputs[broker][2] = _same_epochs(outputs[broker][2], group)
    member.leave()
    for ours, theirs in zip(outputs["kafkapy"], outputs["reference"], strict=True):
        assert ours == theirs, "\n".join(difflib.unified_diff(theirs.splitlines(), ours.splitlines(), lineterm=""))
