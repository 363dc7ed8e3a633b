"""Wire diffs of KIP-932 share group membership (ShareGroupHeartbeat 76, ShareGroupDescribe 77, and share
groups in ListGroups/DeleteGroups/ApiVersions): kafkapy answers as Apache Kafka 4.3.1 does (issue #16).

Kafka 4.3.1 assigns a share partition only once its share state is initialized, which its share
coordinator does asynchronously: its first heartbeat answers an empty assignment and the group epoch
moves on when the initialization completes. kafkapy initializes in the heartbeat, so members get
their partitions at once; the epochs and assignments of a live group are therefore left out of the
comparisons (``EPOCHS``) and checked on each broker for what both guarantee.
"""

from __future__ import annotations

import time

import pytest
from wire_diff import WirePair, plain, unique_name

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode

HEARTBEAT, DESCRIBE = 76, 77
SHARE_APIS = (HEARTBEAT, DESCRIBE)
EPOCHS = ("member_epoch", "group_epoch", "assignment_epoch", "assignment")
_NOT_READY = (ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.NOT_COORDINATOR)


def _heartbeat_body(group: str, member: str, epoch: int, topics: list[str] | None = None) -> dict:
    return {"group_id": group, "member_id": member, "member_epoch": epoch, "subscribed_topic_names": topics}


def _ready(bootstrap: str, group: str, timeout: float = 60.0) -> None:
    """Wait until the group's coordinator serves it (Kafka creates __consumer_offsets on first use)."""
    deadline = time.monotonic() + timeout
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        while True:
            found = client.request(10, 4, {"key_type": 0, "coordinator_keys": [group]}).coordinators[0]
            described = client.request(DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False})
            if found.error_code == 0 and described.groups[0].error_code not in _NOT_READY:
                return
            assert time.monotonic() < deadline, f"the coordinator of {group} is not ready after {timeout}s"
            time.sleep(0.2)


def _join(wire_pair: WirePair, group: str, member: str, topic: str, *more: str) -> dict[str, dict]:
    """``member`` joins ``group`` on both brokers (subscribed to ``topic`` and ``more``); the answers by broker."""
    wire_pair.on_both(lambda bootstrap: _ready(bootstrap, group))
    answers = wire_pair.request(HEARTBEAT, 1, _heartbeat_body(group, member, 0, [topic, *more]))
    for broker, answer in answers.items():
        assert answer["error_code"] == 0 and answer["member_epoch"] > 0, (broker, answer)
    return answers


@pytest.fixture(scope="module")
def share_topic(wire_pair: WirePair) -> str:
    topic = unique_name("share-queue")
    wire_pair.create_topics(topic, partitions=3)
    return topic


@pytest.mark.parametrize(
    ("group", "member", "epoch", "topics"),
    [
        ("", "m", 0, ["t"]),  # GroupId can't be empty.
        ("g", "", 0, ["t"]),  # an empty member id: INVALID_REQUEST without a message
        ("g", "x" * 37, 0, ["t"]),  # a member id longer than 36: the same
        ("g", "x" * 36, 0, None),  # 36 is accepted: SubscribedTopicNames must be set in first request.
        ("g", "m", 0, None),  # SubscribedTopicNames must be set in first request.
        ("g", "m", 0, []),
        ("g", "m", -2, None),  # MemberEpoch is invalid.
    ],
)
def test_invalid_heartbeats(wire_pair: WirePair, group: str, member: str, epoch: int, topics: list[str] | None) -> None:
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, member, epoch, topics))


def test_unknown_group_member_and_fencing(wire_pair: WirePair, share_topic: str) -> None:
    group = unique_name("share-fence")
    wire_pair.on_both(lambda bootstrap: _ready(bootstrap, group))
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "m1", 3))  # Share group ... not found.
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "m1", -1))
    _join(wire_pair, group, "m1", share_topic)
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "stranger", 2))  # not a member of group
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "stranger", -1))
    # FENCED_MEMBER_EPOCH names both epochs, which differ (see the module docstring): code only.
    fenced = wire_pair.request(HEARTBEAT, 1, _heartbeat_body(group, "m1", 50))
    for answer in fenced.values():
        assert answer["error_code"] == ErrorCode.FENCED_MEMBER_EPOCH
        assert answer["error_message"].startswith("The share group member has a greater member epoch (50)")
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "m1", -1), ignore=EPOCHS)


def test_epochs_of_a_group_subscribed_to_missing_topics(wire_pair: WirePair) -> None:
    """With nothing to assign or initialize both brokers agree on every epoch: a new share group is at
    epoch 1, its first member's join makes it 2, and the member gets epoch 2 with an empty assignment."""
    group = unique_name("share-epochs")
    wire_pair.on_both(lambda bootstrap: _ready(bootstrap, group))
    missing = unique_name("missing-topic")
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "m1", 0, [missing]))
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "m1", 2))
    wire_pair.assert_same(DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": True})
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "m1", -1))
    wire_pair.assert_same(DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False})


def test_describe_a_share_group_and_missing_ones(wire_pair: WirePair, share_topic: str) -> None:
    group = unique_name("share-describe")
    _join(wire_pair, group, "member-one", share_topic)
    # Several unknown groups, spread over __consumer_offsets partitions: Kafka answers by partition.
    unknown = [unique_name("nope") for _ in range(6)]
    body = {"group_ids": [unknown[0], group, *unknown[1:], ""], "include_authorized_operations": True}
    ours = wire_pair.assert_same(DESCRIBE, 1, body, ignore=EPOCHS, unordered=("subscribed_topic_names",))
    (described,) = [g for g in ours["groups"] if g["group_id"] == group]
    assert described["members"][0]["subscribed_topic_names"] == [share_topic]


def test_subscriptions_are_deduplicated_and_may_name_missing_or_internal_topics(
    wire_pair: WirePair, share_topic: str
) -> None:
    group = unique_name("share-subscribe")
    _join(wire_pair, group, "member-one", share_topic, "__consumer_offsets", share_topic, unique_name("missing"))
    body = {"group_ids": [group], "include_authorized_operations": False}
    wire_pair.assert_same(DESCRIBE, 1, body, ignore=EPOCHS, unordered=("subscribed_topic_names",))
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "member-one", -1), ignore=EPOCHS)


def test_list_and_delete_share_groups(wire_pair: WirePair, share_topic: str) -> None:
    group = unique_name("share-list")
    _join(wire_pair, group, "member-one", share_topic)
    listed = wire_pair.request(16, 5, {"states_filter": [], "types_filter": ["share"]})
    for broker, answer in listed.items():
        mine = [
            (g["protocol_type"], g["group_state"], g["group_type"]) for g in answer["groups"] if g["group_id"] == group
        ]
        assert mine == [("share", "Stable", "share")], broker
    wire_pair.assert_same(42, 2, {"groups_names": [group]})  # NON_EMPTY_GROUP
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "member-one", -1), ignore=EPOCHS)
    wire_pair.assert_same(DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False}, ignore=EPOCHS)
    wire_pair.assert_same(42, 2, {"groups_names": [group]})
    wire_pair.assert_same(DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False})


def test_a_classic_group_id_is_not_a_share_group(wire_pair: WirePair, share_topic: str) -> None:
    group = unique_name("classic")
    wire_pair.on_both(lambda bootstrap: _ready(bootstrap, group))
    join = {
        "group_id": group,
        "session_timeout_ms": 30000,
        "rebalance_timeout_ms": 30000,
        "member_id": "",
        "group_instance_id": "static-1",
        "protocol_type": "consumer",
        "protocols": [{"name": "range", "metadata": b""}],
    }
    wire_pair.request(11, 5, join)
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "m1", 0, [share_topic]))
    wire_pair.assert_same(DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False})


def test_classic_apis_on_a_share_group(wire_pair: WirePair, share_topic: str) -> None:
    group = unique_name("share-classic")
    _join(wire_pair, group, "member-one", share_topic)
    join = {
        "group_id": group,
        "session_timeout_ms": 30000,
        "rebalance_timeout_ms": 30000,
        "member_id": "",
        "group_instance_id": None,
        "protocol_type": "consumer",
        "protocols": [{"name": "range", "metadata": b""}],
    }
    wire_pair.assert_same(11, 9, join)  # INCONSISTENT_GROUP_PROTOCOL
    classic_heartbeat = {"group_id": group, "generation_id": 1, "member_id": "x", "group_instance_id": None}
    wire_pair.assert_same(12, 4, classic_heartbeat)  # UNKNOWN_MEMBER_ID
    fetched = {"group_id": group, "member_id": None, "member_epoch": -1, "topics": None}
    fetch = {"groups": [fetched], "require_stable": False}
    wire_pair.assert_same(9, 9, fetch)
    wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body(group, "member-one", -1), ignore=EPOCHS)


def test_api_versions_lists_the_share_group_apis(wire_pair: WirePair) -> None:
    answers = wire_pair.request(18, 4, {"client_software_name": "wire-diff", "client_software_version": "1"})
    ranges = {
        broker: {k["api_key"]: (k["min_version"], k["max_version"]) for k in plain(a)["api_keys"]}
        for broker, a in answers.items()
    }
    ranges = {broker: {key: r[key] for key in SHARE_APIS if key in r} for broker, r in ranges.items()}
    assert ranges["kafkapy"] == ranges["reference"] == {76: (1, 1), 77: (1, 1)}


def test_share_version_0_keeps_the_apis_listed_but_unsupported(wire_pair: WirePair) -> None:
    """Kafka 4.3.1 with share.version downgraded to 0 still lists 76/77 in ApiVersions but answers them
    UNSUPPORTED_VERSION (its isShareGroupProtocolEnabled), per group for ShareGroupDescribe."""

    def share_version(level: int, upgrade_type: int) -> None:
        update = {"feature": "share.version", "max_version_level": level, "upgrade_type": upgrade_type}
        body = {"timeout_ms": 30000, "feature_updates": [update], "validate_only": False}
        for broker, answer in wire_pair.request(57, 1, body).items():
            assert answer["error_code"] == 0, (broker, answer)

    share_version(0, 2)  # SAFE_DOWNGRADE
    try:
        deadline = time.monotonic() + 30
        while wire_pair.request(HEARTBEAT, 1, _heartbeat_body("g", "m", 0, ["t"]))["reference"]["error_code"] != 35:
            assert time.monotonic() < deadline, "the reference never applied share.version 0"
            time.sleep(0.2)
        test_api_versions_lists_the_share_group_apis(wire_pair)
        wire_pair.assert_same(HEARTBEAT, 1, _heartbeat_body("g", "m", 0, ["t"]))
        wire_pair.assert_same(DESCRIBE, 1, {"group_ids": ["g", "h"], "include_authorized_operations": False})
    finally:
        share_version(1, 1)  # UPGRADE
