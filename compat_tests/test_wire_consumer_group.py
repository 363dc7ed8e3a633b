"""Wire diffs of KIP-848 consumer groups: ConsumerGroupHeartbeat, ConsumerGroupDescribe and the offset
APIs' member epochs answered as Apache Kafka 4.3.1 answers them.

Topic ids and generated member ids differ between the two brokers: they are compared by presence only.
Both brokers see the client at 127.0.0.1, so client hosts are compared ("/127.0.0.1", Java's InetAddress).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_wire_errmap import _init_producer, _same_per_broker, _txn_offset_commit
from wire_diff import WirePair, differences, normalize, plain, unique_name

from kafkapy.client.wire import WireClient

HEARTBEAT, DESCRIBE = 68, 69
NOT_READY = (14, 15, 16)  # COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR
IGNORE = ("topic_id",)


def heartbeat_body(group: str, member: str, epoch: int, **fields: Any) -> dict:
    body = {
        "group_id": group,
        "member_id": member,
        "member_epoch": epoch,
        "instance_id": None,
        "rack_id": None,
        "rebalance_timeout_ms": -1,
        "subscribed_topic_names": None,
        "subscribed_topic_regex": None,
        "server_assignor": None,
        "topic_partitions": None,
    }
    body.update(fields)
    return body


def join_body(group: str, member: str, topic: str, **fields: Any) -> dict:
    return heartbeat_body(
        group, member, 0, rebalance_timeout_ms=30000, subscribed_topic_names=[topic], topic_partitions=[], **fields
    )


def _group_of(body: dict) -> str:
    """The (first) group a request names."""
    if "group_id" in body:
        return body["group_id"]
    if "groups" in body:
        return body["groups"][0]["group_id"]
    return (body.get("group_ids") or body["groups_names"])[0]


def _until_ready(bootstrap: str, api_key: int, version: int, body: dict, timeout: float = 30.0) -> dict:
    """The first answer that is not "coordinator not ready yet" (set-up, not what a diff tests)."""
    deadline = time.monotonic() + timeout
    group = _group_of(body)
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        # Kafka creates __consumer_offsets at the first FindCoordinator, and is NOT_COORDINATOR until then.
        while client.request(10, 3, {"key": group, "key_type": 0}).error_code != 0:
            assert time.monotonic() < deadline, f"no coordinator for {group} after {timeout}s"
            time.sleep(0.2)
        while True:
            response = plain(client.request(api_key, version, body))
            if response.get("error_code") not in NOT_READY:
                return response
            assert time.monotonic() < deadline, f"still {response} after {timeout}s"
            time.sleep(0.2)


def _same(responses: dict[str, dict], what: str, ignore: tuple[str, ...] = IGNORE) -> dict:
    ours, theirs = (normalize(responses[n], ignore) for n in ("kafkapy", "reference"))
    lines = differences(ours, theirs)
    assert not lines, f"{what} differs from Kafka 4.3.1:\n" + "\n".join(lines)
    return responses["kafkapy"]


def on_both_same(wire_pair: WirePair, api_key: int, version: int, body: dict, what: str = "") -> dict:
    responses = wire_pair.on_both(lambda b: _until_ready(b, api_key, version, body))
    return _same(responses, what or f"api {api_key} v{version}")


@pytest.fixture(scope="module")
def topic(wire_pair: WirePair) -> str:
    name = unique_name("cg-wire")
    wire_pair.create_topics(name, partitions=2)
    return name


def joined(wire_pair: WirePair, topic: str, member: str = "member-a") -> str:
    """A group with one member that joined (epoch 1) on each broker."""
    group = unique_name("cg")
    on_both_same(wire_pair, HEARTBEAT, 1, join_body(group, member, topic), "the join")
    return group


@pytest.mark.parametrize(
    ("case", "fields"),
    [
        ("empty member id", {"member_id": "", "member_epoch": 0}),
        ("no rebalance timeout", {"member_epoch": 0, "subscribed_topic_names": ["t"], "topic_partitions": []}),
        ("owned partitions on join",
         {"member_epoch": 0, "rebalance_timeout_ms": 1000, "subscribed_topic_names": ["t"]}),
        ("no subscription", {"member_epoch": 0, "rebalance_timeout_ms": 1000, "topic_partitions": []}),
        ("epoch -3", {"member_epoch": -3}),
        ("static leave without instance id", {"member_epoch": -2}),
        ("empty instance id", {"member_epoch": 1, "instance_id": ""}),
        ("empty rack id", {"member_epoch": 1, "rack_id": " "}),
        (
            "unknown assignor",
            {"member_epoch": 0, "rebalance_timeout_ms": 1000, "subscribed_topic_names": ["t"], "topic_partitions": [],
             "server_assignor": "sticky"},
        ),
        (
            "invalid regex",
            {"member_epoch": 0, "rebalance_timeout_ms": 1000, "subscribed_topic_regex": "a(b", "topic_partitions": []},
        ),
        ("unknown group", {"member_epoch": 3}),
        ("unknown group leave", {"member_epoch": -1}),
    ],
)  # fmt: skip
def test_heartbeat_refusals(wire_pair: WirePair, case: str, fields: dict) -> None:
    body = {**heartbeat_body(unique_name("cg"), "member-x", 0), **fields}
    on_both_same(wire_pair, HEARTBEAT, 1, body, case)


@pytest.mark.parametrize("regex", ["a)b", "[a", "\\q", "*a", "a**", "x{2,1}", "(?<!a)b", "a\\", "[z-a]"])
def test_invalid_regexes(wire_pair: WirePair, regex: str) -> None:
    """RE2/J's descriptions of each syntax error, from RE2's."""
    body = heartbeat_body(
        unique_name("cg"), "member-x", 0, rebalance_timeout_ms=1000, subscribed_topic_regex=regex, topic_partitions=[]
    )
    on_both_same(wire_pair, HEARTBEAT, 1, body, regex)


def test_heartbeat_v0_join_without_member_id_gets_one(wire_pair: WirePair, topic: str) -> None:
    body = join_body(unique_name("cg"), "", topic)
    responses = wire_pair.on_both(lambda b: _until_ready(b, HEARTBEAT, 0, body))
    ours = _same(responses, "v0 join", (*IGNORE, "member_id"))
    assert ours["member_id"]


def test_join_heartbeat_and_leave(wire_pair: WirePair, topic: str) -> None:
    group = joined(wire_pair, topic)
    on_both_same(wire_pair, HEARTBEAT, 1, join_body(group, "member-a", topic), "a rejoin with the same member id")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "member-a", 1), "a heartbeat")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "member-b", 1), "an unknown member")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "member-a", 7), "a fenced epoch")
    on_both_same(wire_pair, DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": True})
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "member-a", -1), "a leave")
    on_both_same(wire_pair, DESCRIBE, 0, {"group_ids": [group], "include_authorized_operations": False})


def test_describe_unknown_and_classic_groups(wire_pair: WirePair, topic: str) -> None:
    classic = unique_name("classic")
    commit = {
        "group_id": classic, "generation_id_or_member_epoch": -1, "member_id": "", "group_instance_id": None,
        "topics": [{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 0,
                                                   "committed_leader_epoch": -1, "committed_metadata": ""}]}],
    }  # fmt: skip
    on_both_same(wire_pair, 8, 9, commit, "a commit of a classic group")
    # One group per request: Kafka answers several in the order of their coordinator partitions.
    for group in (unique_name("none"), classic):
        on_both_same(wire_pair, DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False})


def _commit_body(group: str, topic: str, member: str, epoch: int) -> dict:
    return {
        "group_id": group,
        "generation_id_or_member_epoch": epoch,
        "member_id": member,
        "group_instance_id": None,
        "topics": [
            {
                "name": topic,
                "partitions": [
                    {
                        "partition_index": 0,
                        "committed_offset": 1,
                        "committed_leader_epoch": -1,
                        "committed_metadata": "",
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    ("version", "member", "epoch"),
    [(9, "member-a", 1), (9, "member-a", 2), (9, "member-a", 0), (9, "member-z", 1), (9, "", -1), (8, "member-a", 1),
     (8, "", -1), (2, "member-a", 1)],
)  # fmt: skip
def test_offset_commit_member_epochs(wire_pair: WirePair, topic: str, version: int, member: str, epoch: int) -> None:
    group = joined(wire_pair, topic)
    on_both_same(wire_pair, 8, version, _commit_body(group, topic, member, epoch))


def test_admin_commit_to_an_empty_consumer_group(wire_pair: WirePair, topic: str) -> None:
    group = joined(wire_pair, topic)
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "member-a", -1), "a leave")
    on_both_same(wire_pair, 8, 9, _commit_body(group, topic, "", -1))
    fetch = {"groups": [{"group_id": group, "member_id": None, "member_epoch": -1, "topics": None}],
             "require_stable": False}  # fmt: skip
    on_both_same(wire_pair, 9, 9, fetch)
    list_groups = {"states_filter": [], "types_filter": ["consumer"]}
    responses = wire_pair.request(16, 5, list_groups)
    for name, response in responses.items():
        mine = [g for g in response["groups"] if g["group_id"] == group]
        assert mine == [{"group_id": group, "protocol_type": "consumer", "group_state": "Empty",
                         "group_type": "consumer"}], (name, mine)  # fmt: skip


@pytest.mark.parametrize(("member", "epoch"), [("member-a", 1), ("member-a", 5), ("member-z", 1), (None, -1)])
def test_offset_fetch_member_epochs(wire_pair: WirePair, topic: str, member: str | None, epoch: int) -> None:
    group = joined(wire_pair, topic)
    body = {"groups": [{"group_id": group, "member_id": member, "member_epoch": epoch,
                        "topics": [{"name": topic, "partition_indexes": [0]}]}], "require_stable": False}  # fmt: skip
    on_both_same(wire_pair, 9, 9, body)


def test_delete_groups_of_a_consumer_group(wire_pair: WirePair, topic: str) -> None:
    group = joined(wire_pair, topic)
    on_both_same(wire_pair, 42, 2, {"groups_names": [group]}, "deleting a group with a member")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "member-a", -1), "a leave")
    on_both_same(wire_pair, 42, 2, {"groups_names": [group]}, "deleting the empty group")
    on_both_same(wire_pair, DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False})


def test_static_membership(wire_pair: WirePair, topic: str) -> None:
    """An instance id in use refuses a second member (UNRELEASED_INSTANCE_ID); after a leave with epoch -2
    a new member id takes over the epoch and partitions; the old member id is fenced."""
    group = unique_name("cg")
    static = {"instance_id": "i1"}
    on_both_same(wire_pair, HEARTBEAT, 1, join_body(group, "m1", topic, **static), "a static join")
    on_both_same(wire_pair, HEARTBEAT, 1, join_body(group, "m2", topic, **static), "the instance id in use")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "m1", -2, **static), "a static leave")
    on_both_same(wire_pair, DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False})
    on_both_same(wire_pair, HEARTBEAT, 1, join_body(group, "m3", topic, **static), "the replacement")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "m1", 2, **static), "the old member id")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "m1", -2, **static), "the old member id leaving")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "m9", -1), "an unknown member leaving")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "m3", 2, instance_id="i9"), "an unknown instance")


def test_a_commit_at_an_older_epoch_is_taken_for_partitions_owned_then(wire_pair: WirePair, topic: str) -> None:
    """KIP-1251 (Kafka 4.3): each partition keeps the member epoch it was assigned at; a commit with an
    older epoch is accepted for the partitions the member already owned at that epoch, STALE_MEMBER_EPOCH
    for the others. The sleeps let consumer.assignment.interval.ms (1 s) pass so each change is assigned."""
    later = unique_name("cg-wire-later")
    wire_pair.create_topics(later, partitions=2)
    group = unique_name("cg")
    on_both_same(wire_pair, HEARTBEAT, 1, join_body(group, "m1", topic), "the join")
    time.sleep(1.5)
    resubscribe = heartbeat_body(group, "m1", 2, subscribed_topic_names=[topic, later])
    on_both_same(wire_pair, HEARTBEAT, 1, resubscribe, "a new subscription")
    for epoch in (3, 2, 1, 4):
        for name in (topic, later):
            on_both_same(wire_pair, 8, 9, _commit_body(group, name, "m1", epoch), f"a commit at epoch {epoch}")
    fetch = {"groups": [{"group_id": group, "member_id": "m1", "member_epoch": 2, "topics": None}],
             "require_stable": False}  # fmt: skip
    on_both_same(wire_pair, 9, 9, fetch, "a fetch at an older epoch")


def test_offset_delete_of_a_subscribed_topic(wire_pair: WirePair, topic: str) -> None:
    """OffsetDelete on a consumer group: GROUP_SUBSCRIBED_TO_TOPIC while a member subscribes to it."""
    group = joined(wire_pair, topic)
    on_both_same(wire_pair, 8, 9, _commit_body(group, topic, "member-a", 2), "a commit")
    body = {"group_id": group, "topics": [{"name": topic, "partitions": [{"partition_index": 0}]}]}
    on_both_same(wire_pair, 47, 0, body, "deleting a subscribed topic's offsets")
    on_both_same(wire_pair, HEARTBEAT, 1, heartbeat_body(group, "member-a", -1), "a leave")
    on_both_same(wire_pair, 47, 0, body, "deleting them once the group is empty")


def test_the_members_preferred_assignor(wire_pair: WirePair, topic: str) -> None:
    group = unique_name("cg")
    on_both_same(wire_pair, HEARTBEAT, 1, join_body(group, "m1", topic, server_assignor="range"), "a range join")
    on_both_same(wire_pair, DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False})


@pytest.mark.parametrize(
    ("generation", "member"), [(2, "member-a"), (3, "member-a"), (1, "member-a"), (-1, ""), (2, "member-z")]
)
def test_txn_offset_commit_to_a_consumer_group(wire_pair: WirePair, topic: str, generation: int, member: str) -> None:
    """TxnOffsetCommit v3 with the member's epoch (Java EOS with group.protocol=consumer), a wrong epoch,
    none (the deprecated group-id-only API) and an unknown member, to a group with a member."""
    group = joined(wire_pair, topic)
    txn_id = unique_name("cg-txn")
    producers = wire_pair.on_both(lambda bootstrap: _init_producer(bootstrap, txn_id))

    def add_offsets(producer_id: int, epoch: int) -> dict:
        return {"transactional_id": txn_id, "group_id": group, "producer_id": producer_id, "producer_epoch": epoch}

    assert _same_per_broker(wire_pair, 25, 3, producers, add_offsets)["error_code"] == 0
    commit = _txn_offset_commit(txn_id, group, topic)

    def body(producer_id: int, epoch: int) -> dict:
        return {**commit(producer_id, epoch), "generation_id": generation, "member_id": member}

    _same_per_broker(wire_pair, 28, 3, producers, body)
