"""Wire diffs of classic <-> consumer group online migration against Apache Kafka 4.3.1 (issue #16).

A ConsumerGroupHeartbeat joining a non-empty classic group converts it when Kafka would, and is
refused with Kafka 4.3.1's GROUP_ID_NOT_FOUND and message when it would not (another protocol type,
a custom assignor's user data, a malformed embedded protocol, the policy); the classic member then
speaks JoinGroup/SyncGroup/Heartbeat to the consumer group, and when the consumer-protocol member
leaves the group is classic again. Each broker gets its own classic member (their member ids
differ), so the steps compare per-broker requests.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reference_kafka import ReferenceKafka, ReferenceKafkaError, assemble
from wire_diff import WirePair, differences, normalize, plain, unique_name

from kafkapy.client.wire import WireClient
from tests.broker_process import BrokerProcess

JOIN_GROUP, SYNC_GROUP, HEARTBEAT, FIND_COORDINATOR, LIST_GROUPS, CONSUMER_GROUP_HEARTBEAT = 11, 14, 12, 10, 16, 68
REBALANCE_IN_PROGRESS, MEMBER_ID_REQUIRED = 27, 79
# The topic each group of these tests reads.
COMMIT_TOPIC: dict[str, str] = {}


def _string(s: str) -> bytes:
    return struct.pack(">h", len(s)) + s.encode()


def subscription(topic: str, owned: list[int]) -> bytes:
    """ConsumerProtocolSubscription v3 as kafka-clients writes it (no user data, no rack)."""
    owned_part = struct.pack(">i", 0)
    if owned:
        owned_part = struct.pack(">i", 1) + _string(topic) + struct.pack(">i", len(owned))
        owned_part += b"".join(struct.pack(">i", p) for p in owned)
    return (
        struct.pack(">hi", 3, 1) + _string(topic) + struct.pack(">i", -1) + owned_part + struct.pack(">i", -1)
        + struct.pack(">h", -1)
    )  # fmt: skip


def assignment(topic: str, partitions: list[int], user_data: bytes | None = None) -> bytes:
    out = struct.pack(">hi", 3, 1) + _string(topic) + struct.pack(">i", len(partitions))
    out += b"".join(struct.pack(">i", p) for p in partitions)
    return out + (struct.pack(">i", -1) if user_data is None else struct.pack(">i", len(user_data)) + user_data)


def request(bootstrap: str, api_key: int, version: int, body: dict) -> dict:
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        return plain(client.request(api_key, version, body))


def coordinator_ready(bootstrap: str, group: str) -> None:
    """Kafka creates __consumer_offsets on the first FindCoordinator and answers NOT_COORDINATOR (or
    COORDINATOR_LOAD_IN_PROGRESS) for a group until its partition is loaded."""
    deadline = time.monotonic() + 60
    while True:
        found = request(bootstrap, FIND_COORDINATOR, 4, {"key_type": 0, "coordinator_keys": [group]})
        if found["coordinators"][0]["error_code"] == 0:
            # The group's own partition of __consumer_offsets is loaded once OffsetFetch answers for it.
            body = {"groups": [{"group_id": group, "member_id": None, "member_epoch": -1, "topics": None}],
                    "require_stable": False}  # fmt: skip
            if request(bootstrap, 9, 9, body)["groups"][0]["error_code"] == 0:
                return
        assert time.monotonic() < deadline, f"no coordinator for {group} on {bootstrap}"
        time.sleep(0.2)


def join(bootstrap: str, group: str, member_id: str, metadata: bytes, protocol_type: str = "consumer") -> dict:
    body = {
        "group_id": group, "session_timeout_ms": 30000, "rebalance_timeout_ms": 30000, "member_id": member_id,
        "group_instance_id": None, "protocol_type": protocol_type,
        "protocols": [{"name": "range", "metadata": metadata}], "reason": None,
    }  # fmt: skip
    response = request(bootstrap, JOIN_GROUP, 9, body)
    if response["error_code"] == MEMBER_ID_REQUIRED:
        response = request(bootstrap, JOIN_GROUP, 9, {**body, "member_id": response["member_id"]})
    return response


def sync(
    bootstrap: str, group: str, member_id: str, generation: int, assignments: dict[str, bytes], kind: str = "consumer"
) -> dict:
    body = {
        "group_id": group, "generation_id": generation, "member_id": member_id, "group_instance_id": None,
        "protocol_type": kind, "protocol_name": "range",
        "assignments": [{"member_id": m, "assignment": a} for m, a in assignments.items()],
    }  # fmt: skip
    return request(bootstrap, SYNC_GROUP, 5, body)


def commit(bootstrap: str, group: str, member_id: str, generation: int, version: int) -> dict:
    """OffsetCommit of offset 1 on partition 0 (the first topic partition the group reads)."""
    body = {
        "group_id": group, "generation_id_or_member_epoch": generation, "member_id": member_id,
        "group_instance_id": None, "retention_time_ms": -1,
        "topics": [{"name": COMMIT_TOPIC[group], "partitions": [
            {"partition_index": 0, "committed_offset": 1, "committed_leader_epoch": -1, "committed_metadata": ""}]}],
    }  # fmt: skip
    return request(bootstrap, 8, version, body)


def heartbeat(bootstrap: str, group: str, member_id: str, generation: int) -> dict:
    body = {"group_id": group, "generation_id": generation, "member_id": member_id, "group_instance_id": None}
    return request(bootstrap, HEARTBEAT, 4, body)


def consumer_heartbeat(group: str, member_id: str, epoch: int, topic: str | None = None) -> dict:
    """A ConsumerGroupHeartbeat v1: a join (epoch 0) subscribing to ``topic``, or a leave (-1)."""
    return {
        "group_id": group, "member_id": member_id, "member_epoch": epoch, "instance_id": None, "rack_id": None,
        "rebalance_timeout_ms": 30000 if epoch == 0 else -1,
        "subscribed_topic_names": [topic] if topic else None, "subscribed_topic_regex": None,
        "server_assignor": None, "topic_partitions": [] if epoch == 0 else None,
    }  # fmt: skip


def classic_group(pair: WirePair, topic: str, **options: Any) -> tuple[str, dict[str, tuple[str, int]]]:
    """A stable classic group of one member on each broker: (group id, broker -> (member id, generation))."""
    group = unique_name("migrate")
    COMMIT_TOPIC[group] = topic
    metadata = options.get("metadata", subscription(topic, []))
    protocol_type = options.get("protocol_type", "consumer")
    owned = options.get("assignment", assignment(topic, [0, 1]))

    def setup(bootstrap: str) -> tuple[str, int]:
        coordinator_ready(bootstrap, group)
        joined = join(bootstrap, group, "", metadata, protocol_type)
        assert joined["error_code"] == 0, joined
        synced = sync(
            bootstrap, group, joined["member_id"], joined["generation_id"], {joined["member_id"]: owned}, protocol_type
        )
        assert synced["error_code"] == 0, synced
        return joined["member_id"], joined["generation_id"]

    return group, pair.on_both(setup)


def assert_alike(responses: dict[str, dict], ignore: tuple[str, ...] = ()) -> dict:
    """The two brokers' answers to their own (per-member) requests, compared as WirePair.assert_same does."""
    ours = normalize(responses["kafkapy"], ignore)
    theirs = normalize(responses["reference"], ignore)
    lines = differences(ours, theirs)
    assert not lines, "differs from Kafka 4.3.1:\n" + "\n".join(lines)
    return responses["kafkapy"]


def on_both(pair: WirePair, fn: Callable[[str, str], dict], members: dict[str, tuple[str, int]]) -> dict[str, dict]:
    return {broker: fn(bootstrap, members[broker][0]) for broker, bootstrap in pair.bootstraps.items()}


def listed_type(bootstrap: str, group: str) -> tuple[str, str]:
    listed = request(bootstrap, LIST_GROUPS, 5, {"states_filter": [], "types_filter": []})
    return next((g["group_type"], g["group_state"]) for g in listed["groups"] if g["group_id"] == group)


@pytest.fixture(scope="module")
def topic(wire_pair: WirePair) -> str:
    name = unique_name("migrate")
    wire_pair.create_topics(name, partitions=2)
    return name


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("another protocol type", {"protocol_type": "connect"}),
        ("a custom assignor's user data", {"assignment_user_data": b"sticky"}),
        ("a malformed subscription", {"metadata": b"\x00"}),
    ],
)
def test_an_upgrade_kafka_refuses(wire_pair: WirePair, topic: str, case: str, options: dict[str, Any]) -> None:
    """GROUP_ID_NOT_FOUND with Kafka 4.3.1's reason; the group stays a stable classic group."""
    if "assignment_user_data" in options:
        options = {"assignment": assignment(topic, [0, 1], options["assignment_user_data"])}
    group, _ = classic_group(wire_pair, topic, **options)
    refused = wire_pair.assert_same(CONSUMER_GROUP_HEARTBEAT, 1, consumer_heartbeat(group, str(uuid.uuid4()), 0, topic))
    assert refused["error_code"] == 69 and "Cannot upgrade classic group" in refused["error_message"], (case, refused)
    for bootstrap in wire_pair.bootstraps.values():
        assert listed_type(bootstrap, group) == ("classic", "Stable")


def test_upgrade_and_downgrade(wire_pair: WirePair, topic: str) -> None:
    """A consumer-protocol member converts the classic group; the classic member is told to rejoin,
    revokes before the newcomer gets a partition, and once the newcomer leaves the group is classic."""
    group, members = classic_group(wire_pair, topic)
    newcomer = str(uuid.uuid4())
    joined = wire_pair.assert_same(CONSUMER_GROUP_HEARTBEAT, 1, consumer_heartbeat(group, newcomer, 0, topic))
    assert joined["member_epoch"] == 2 and joined["assignment"] == {"topic_partitions": []}, joined
    for bootstrap in wire_pair.bootstraps.values():
        assert listed_type(bootstrap, group) == ("consumer", "Reconciling")
    told = on_both(wire_pair, lambda b, m: heartbeat(b, group, m, 1), members)
    assert assert_alike(told)["error_code"] == REBALANCE_IN_PROGRESS
    # It rejoins still owning both partitions: it keeps its epoch until it revokes one.
    rejoined = on_both(wire_pair, lambda b, m: join(b, group, m, subscription(topic, [0, 1])), members)
    assert assert_alike(rejoined, ignore=("member_id",))["generation_id"] == 1
    synced = on_both(wire_pair, lambda b, m: sync(b, group, m, 1, {}), members)
    assert assert_alike(synced)["assignment"] == assignment(topic, [0])
    assert assert_alike(on_both(wire_pair, lambda b, m: heartbeat(b, group, m, 1), members))["error_code"] == 27
    revoked = on_both(wire_pair, lambda b, m: join(b, group, m, subscription(topic, [0])), members)
    assert assert_alike(revoked, ignore=("member_id",))["generation_id"] == 2
    assert assert_alike(on_both(wire_pair, lambda b, m: sync(b, group, m, 2, {}), members))["error_code"] == 0
    assert assert_alike(on_both(wire_pair, lambda b, m: heartbeat(b, group, m, 2), members))["error_code"] == 0
    # A classic member commits with its generation, in any OffsetCommit version (v8 here).
    committed = on_both(wire_pair, lambda b, m: commit(b, group, m, 2, 8), members)
    assert assert_alike(committed)["topics"][0]["partitions"][0]["error_code"] == 0
    # An older generation commits a partition the member held since then (KIP-1251), else ILLEGAL_GENERATION.
    for generation, error in ((0, 22), (1, 0), (3, 22)):
        answered = on_both(wire_pair, lambda b, m, g=generation: commit(b, group, m, g, 9), members)
        assert assert_alike(answered)["topics"][0]["partitions"][0]["error_code"] == error, generation
    heartbeat_body = {**consumer_heartbeat(group, newcomer, 2), "member_epoch": 2}
    reconciled = wire_pair.assert_same(CONSUMER_GROUP_HEARTBEAT, 1, heartbeat_body)
    assert [t["partitions"] for t in reconciled["assignment"]["topic_partitions"]] == [[1]], reconciled
    # Classic requests a consumer group refuses.
    assert assert_alike(on_both(wire_pair, lambda b, m: heartbeat(b, group, m, 9), members))["error_code"] == 22
    wire_pair.assert_same(HEARTBEAT, 4, {"group_id": group, "generation_id": 2, "member_id": newcomer,
                                         "group_instance_id": None})  # fmt: skip
    refused = on_both(wire_pair, lambda b, m: join(b, group, "", subscription(topic, []), "connect"), members)
    assert assert_alike(refused)["error_code"] == 23
    # The last consumer-protocol member leaves: a classic group again, rebalancing at the group epoch.
    wire_pair.assert_same(CONSUMER_GROUP_HEARTBEAT, 1, consumer_heartbeat(group, newcomer, -1))
    for bootstrap in wire_pair.bootstraps.values():
        assert listed_type(bootstrap, group) == ("classic", "PreparingRebalance")
    told = on_both(wire_pair, lambda b, m: heartbeat(b, group, m, 2), members)
    assert assert_alike(told)["error_code"] == REBALANCE_IN_PROGRESS
    # It rejoins the classic group: a new generation, which it leads.
    again = on_both(wire_pair, lambda b, m: join(b, group, m, subscription(topic, [])), members)
    assert assert_alike(again, ignore=("member_id", "leader"))["generation_id"] == 3
    assert assert_alike(on_both(wire_pair, lambda b, m: heartbeat(b, group, m, 2), members))["error_code"] == 22


@pytest.fixture(scope="module")
def upgrade_disabled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WirePair]:
    """Both brokers with group.consumer.migration.policy=disabled."""
    if request.config.getoption("--bootstrap") or request.config.getoption("--reference-kafka"):
        pytest.skip("wire diffs start both brokers themselves and run in the kafkapy pass")
    try:
        assemble()
    except ReferenceKafkaError as exc:
        pytest.skip(f"no reference Kafka to compare with: {exc}")
    base = Path(tmp_path_factory.mktemp("migration-disabled"))
    policy = {"group.consumer.migration.policy": "disabled"}
    overrides = tuple(arg for name, value in policy.items() for arg in ("--override", f"{name}={value}"))
    ours = BrokerProcess(base / "kafkapy", log_path=base / "kafkapy.log", extra_args=overrides)
    ours.start()
    try:
        with ReferenceKafka(base / "reference", properties=policy) as kafka:
            yield WirePair(ours.bootstrap, kafka.bootstrap)
    finally:
        ours.close()


def test_the_policy_refuses_upgrades_but_not_empty_groups(upgrade_disabled: WirePair) -> None:
    topic = unique_name("migrate")
    upgrade_disabled.create_topics(topic, partitions=2)
    group, _ = classic_group(upgrade_disabled, topic)
    refused = upgrade_disabled.assert_same(
        CONSUMER_GROUP_HEARTBEAT, 1, consumer_heartbeat(group, str(uuid.uuid4()), 0, topic)
    )
    reason = "online upgrade is disabled"
    assert refused["error_message"] == f"Cannot upgrade classic group {group} to consumer group because {reason}."
    # A classic group without members (only offsets) converts whatever the policy; its offsets stay.
    empty = unique_name("migrate-empty")
    commit = {
        "group_id": empty, "generation_id_or_member_epoch": -1, "member_id": "", "group_instance_id": None,
        "topics": [{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 5,
                                                    "committed_leader_epoch": -1, "committed_metadata": ""}]}],
    }  # fmt: skip
    upgrade_disabled.on_both(lambda b: coordinator_ready(b, empty))
    upgrade_disabled.assert_same(8, 9, commit)
    member = str(uuid.uuid4())
    joined = upgrade_disabled.assert_same(CONSUMER_GROUP_HEARTBEAT, 1, consumer_heartbeat(empty, member, 0, topic))
    assert joined["error_code"] == 0, joined
    for bootstrap in upgrade_disabled.bootstraps.values():
        assert listed_type(bootstrap, empty)[0] == "consumer"
    fetch = {
        "groups": [{"group_id": empty, "member_id": None, "member_epoch": -1,
                    "topics": [{"name": topic, "partition_indexes": [0]}]}],
        "require_stable": False,
    }  # fmt: skip
    fetched = upgrade_disabled.assert_same(9, 9, fetch)
    assert fetched["groups"][0]["topics"][0]["partitions"][0]["committed_offset"] == 5
