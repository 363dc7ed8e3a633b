"""Wire diffs of the group APIs every group type shares (issue #16): FindCoordinator (10) with share
partition keys (key type 2, KIP-932), DescribeGroups (15) of groups that do not exist, with and without
authorized operations.

Both brokers are shared by the session; every test uses its own group ids.
"""

from __future__ import annotations

import base64
import time
import uuid

import pytest
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
