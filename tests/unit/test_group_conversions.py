"""Classic <-> consumer group conversions, driven directly on both coordinators (no network), wired as
the broker wires them: what survives an upgrade and a downgrade (offsets, members, assignments), the
classic protocol a consumer group speaks to its classic members, and the policy's refusals."""

from __future__ import annotations

import struct
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from kafkapy.broker_config import BrokerConfig
from kafkapy.coordinator.consumer_group import MemberState
from kafkapy.coordinator.consumer_group_coordinator import ConsumerGroupCoordinator, HeartbeatRequest, OffsetsHolder
from kafkapy.coordinator.group import GroupState, OffsetAndMetadata
from kafkapy.coordinator.group_configs import GroupConfigs
from kafkapy.coordinator.group_coordinator import GroupCoordinator, JoinRequest
from kafkapy.coordinator.group_metadata_manager import GroupMetadataManager
from kafkapy.coordinator.group_migration import GroupMigration, decode_assignment, encode_assignment
from kafkapy.coordinator.group_types import GroupRegistry, GroupType
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log import LogConfig
from kafkapy.storage.log_manager import LogManager

GROUP = "g"
TOPIC = "t"


def subscription(owned: list[int] = ()) -> bytes:  # type: ignore[assignment]
    """ConsumerProtocolSubscription v1 of TOPIC, owning ``owned``."""
    name = struct.pack(">h", len(TOPIC)) + TOPIC.encode()
    out = struct.pack(">hi", 1, 1) + name + struct.pack(">i", -1)
    if not owned:
        return out + struct.pack(">i", 0)
    partitions = struct.pack(">i", len(owned)) + b"".join(struct.pack(">i", p) for p in owned)
    return out + struct.pack(">i", 1) + name + partitions


@dataclass
class Coordinators:
    classic: GroupCoordinator
    consumer: ConsumerGroupCoordinator
    registry: GroupRegistry
    settings: dict[str, str]

    def topic_id(self) -> uuid.UUID:
        return self.consumer.logs.topics[TOPIC].topic_id


def wire(data_dir: Path, settings: dict[str, str]) -> Coordinators:
    """Both coordinators, the registry and the migration, as Broker.__init__ wires them."""
    config = BrokerConfig(data_dir=data_dir, group_min_session_timeout_ms=1000)
    logs = LogManager.open(data_dir, LogConfig())
    if TOPIC not in logs.topics:
        logs.create_topic(TOPIC, 2)
    classic = GroupCoordinator(config, GroupMetadataManager(config, logs, clock=logs.clock), clock=logs.clock)
    classic.load()
    configs = GroupConfigs(settings)
    holder = OffsetsHolder(classic.delete_offsets_of, classic.member_count)
    consumer = ConsumerGroupCoordinator(logs, configs, classic.store, holder, clock=logs.clock)
    consumer.load(classic.group_manager.loaded)
    registry = GroupRegistry()
    registry.register(classic)
    registry.register(consumer)
    classic.migration = consumer.migration = GroupMigration(classic, consumer, configs)
    classic.owned_elsewhere = registry.owned_elsewhere
    classic.offsets_owner = registry.offsets_owner
    return Coordinators(classic, consumer, registry, settings)


@pytest.fixture
async def groups(tmp_path: Path) -> AsyncIterator[Coordinators]:
    c = wire(tmp_path, {})
    async with trio.open_nursery() as nursery:
        await nursery.start(c.classic.run)
        await nursery.start(c.consumer.run)
        yield c
        nursery.cancel_scope.cancel()


def join_request(
    member_id: str = "",
    owned: list[int] = (),  # type: ignore[assignment]
    protocols: tuple[str, ...] = ("range",),
    instance: str | None = None,
) -> JoinRequest:
    return JoinRequest(
        group_id=GROUP,
        member_id=member_id,
        group_instance_id=instance,
        client_id="classic",
        client_host="/127.0.0.1",
        session_timeout_ms=10_000,
        rebalance_timeout_ms=30_000,
        protocol_type="consumer",
        protocols=[(name, subscription(owned)) for name in protocols],
        require_known_member_id=True,
    )


def consumer_join(c: Coordinators, member_id: str) -> tuple[int, dict[uuid.UUID, frozenset[int]] | None]:
    result = c.consumer.heartbeat(
        HeartbeatRequest(GROUP, member_id, 0, None, None, 30_000, [TOPIC], None, None, {}, "consumer", "/127.0.0.1")
    )
    return result.member_epoch, result.assignment


async def classic_member_with_both_partitions(c: Coordinators) -> str:
    """A stable classic group of one member owning both partitions, with committed offsets."""
    first = await c.classic.join_group(join_request())
    joined = await c.classic.join_group(join_request(first.member_id))
    assert joined.error == ErrorCode.NONE and joined.generation_id == 1
    both = encode_assignment({TOPIC: frozenset({0, 1})}, 1)
    synced = await c.classic.sync_group(GROUP, 1, joined.member_id, None, "consumer", "range", {joined.member_id: both})
    assert synced.error == ErrorCode.NONE
    offsets = {(TOPIC, 0): OffsetAndMetadata(7, -1, "", 0), (TOPIC, 1): OffsetAndMetadata(9, -1, "", 0)}
    assert set(c.classic.commit_offsets(GROUP, 1, joined.member_id, None, offsets).values()) == {ErrorCode.NONE}
    return joined.member_id


def committed(c: Coordinators) -> dict[tuple[str, int], int]:
    return {tp: o.offset for tp, o in c.classic.fetch_offsets(GROUP, None).items() if o is not None}


async def test_upgrade_keeps_members_assignments_and_offsets(groups: Coordinators) -> None:
    classic_id = await classic_member_with_both_partitions(groups)
    epoch, assignment = consumer_join(groups, "newcomer")
    assert groups.registry.type_of(GROUP) is GroupType.CONSUMER
    group = groups.consumer.groups[GROUP]
    old = group.members[classic_id]
    # The classic member came over at its generation, owning what it owned, and keeps speaking classic.
    assert old.classic is not None and old.classic.session_timeout_ms == 10_000
    assert old.member_epoch == 1 and old.subscribed_topic_names == [TOPIC]
    # The newcomer bumped the group epoch; it gets a partition only once the classic member revoked it.
    assert epoch == 2 and assignment == {} and group.group_epoch == 2
    assert committed(groups) == {(TOPIC, 0): 7, (TOPIC, 1): 9}
    assert GROUP not in [listing.group_id for listing in groups.classic.listings()]


async def test_classic_member_reconciles_through_join_sync_heartbeat(groups: Coordinators) -> None:
    classic_id = await classic_member_with_both_partitions(groups)
    consumer_join(groups, "newcomer")
    c = groups.classic
    assert c.heartbeat(GROUP, 1, classic_id, None) == ErrorCode.REBALANCE_IN_PROGRESS
    # Still owning both: it keeps epoch 1 and is told to give one up (SyncGroup returns what it keeps).
    rejoined = await c.join_group(join_request(classic_id, owned=[0, 1]))
    assert (rejoined.error, rejoined.generation_id, rejoined.leader_id, rejoined.members) == (ErrorCode.NONE, 1, "", [])
    kept = await c.sync_group(GROUP, 1, classic_id, None, "consumer", "range", {})
    assert decode_assignment(kept.assignment) == ({TOPIC: frozenset({0})}, None)
    assert groups.consumer.groups[GROUP].members[classic_id].state == MemberState.UNREVOKED_PARTITIONS
    assert c.heartbeat(GROUP, 1, classic_id, None) == ErrorCode.REBALANCE_IN_PROGRESS
    revoked = await c.join_group(join_request(classic_id, owned=[0]))
    assert revoked.generation_id == 2
    assert (await c.sync_group(GROUP, 2, classic_id, None, "consumer", "range", {})).error == ErrorCode.NONE
    assert c.heartbeat(GROUP, 2, classic_id, None) == ErrorCode.NONE
    # Now the newcomer gets the released partition.
    result = groups.consumer.heartbeat(
        HeartbeatRequest(GROUP, "newcomer", 2, None, None, -1, None, None, None, {}, "consumer", "/127.0.0.1")
    )
    assert result.assignment == {groups.topic_id(): frozenset({1})}
    # Classic requests the consumer group refuses, as Kafka does.
    assert c.heartbeat(GROUP, 7, classic_id, None) == ErrorCode.ILLEGAL_GENERATION
    assert c.heartbeat(GROUP, 2, "newcomer", None) == ErrorCode.UNKNOWN_MEMBER_ID
    wrong = await c.sync_group(GROUP, 2, classic_id, None, "consumer", "roundrobin", {})
    assert wrong.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    other = await c.join_group(join_request(protocols=("roundrobin",)))
    assert other.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL


async def test_downgrade_when_the_last_consumer_protocol_member_leaves(groups: Coordinators) -> None:
    classic_id = await classic_member_with_both_partitions(groups)
    consumer_join(groups, "newcomer")
    group_epoch = groups.consumer.groups[GROUP].group_epoch
    groups.consumer.heartbeat(HeartbeatRequest(GROUP, "newcomer", -1, None, None, -1, None, None, None, None))
    assert groups.registry.type_of(GROUP) is GroupType.CLASSIC
    classic = groups.classic.groups[GROUP]
    # The classic group starts at the group epoch with the member's target assignment (the newcomer's
    # partition left with it), and rebalances at once.
    assert classic.generation_id == group_epoch and classic.protocol_name == "range"
    assert classic.is_in(GroupState.PREPARING_REBALANCE) and list(classic.members) == [classic_id]
    assert decode_assignment(classic.members[classic_id].assignment) == ({TOPIC: frozenset({0})}, None)
    assert committed(groups) == {(TOPIC, 0): 7, (TOPIC, 1): 9}
    assert groups.classic.heartbeat(GROUP, group_epoch, classic_id, None) == ErrorCode.REBALANCE_IN_PROGRESS
    again = await groups.classic.join_group(join_request(classic_id))
    assert again.error == ErrorCode.NONE and again.generation_id == group_epoch + 1 and again.leader_id == classic_id


async def test_a_classic_join_to_an_empty_consumer_group_makes_it_classic(groups: Coordinators) -> None:
    consumer_join(groups, "only")
    groups.consumer.heartbeat(HeartbeatRequest(GROUP, "only", -1, None, None, -1, None, None, None, None))
    assert groups.registry.type_of(GROUP) is GroupType.CONSUMER  # empty, still a consumer group
    first = await groups.classic.join_group(join_request())
    assert first.error == ErrorCode.MEMBER_ID_REQUIRED
    assert groups.registry.type_of(GROUP) is GroupType.CLASSIC


@pytest.mark.parametrize("policy", ["disabled", "downgrade"])
async def test_the_policy_refuses_an_upgrade(tmp_path: Path, policy: str) -> None:
    c = wire(tmp_path, {"group.consumer.migration.policy": policy})
    async with trio.open_nursery() as nursery:
        await nursery.start(c.classic.run)
        classic_id = await classic_member_with_both_partitions(c)
        with pytest.raises(KafkaError) as refused:
            consumer_join(c, "newcomer")
        assert refused.value.code == ErrorCode.GROUP_ID_NOT_FOUND
        reason = "online upgrade is disabled"
        assert refused.value.message == f"Cannot upgrade classic group {GROUP} to consumer group because {reason}."
        assert c.registry.type_of(GROUP) is GroupType.CLASSIC and GROUP not in c.consumer.groups
        assert c.classic.heartbeat(GROUP, 1, classic_id, None) == ErrorCode.NONE
        nursery.cancel_scope.cancel()


async def test_no_downgrade_when_the_policy_only_upgrades(tmp_path: Path) -> None:
    c = wire(tmp_path, {"group.consumer.migration.policy": "upgrade"})
    async with trio.open_nursery() as nursery:
        await nursery.start(c.classic.run)
        await nursery.start(c.consumer.run)
        classic_id = await classic_member_with_both_partitions(c)
        consumer_join(c, "newcomer")
        c.consumer.heartbeat(HeartbeatRequest(GROUP, "newcomer", -1, None, None, -1, None, None, None, None))
        assert c.registry.type_of(GROUP) is GroupType.CONSUMER
        assert list(c.consumer.groups[GROUP].members) == [classic_id]
        nursery.cancel_scope.cancel()


async def test_a_classic_member_that_does_not_rejoin_is_removed_after_its_rebalance_timeout(
    groups: Coordinators, autojump_clock: trio.testing.MockClock
) -> None:
    classic_id = await classic_member_with_both_partitions(groups)
    consumer_join(groups, "newcomer")
    # Told to rejoin, it only heartbeats (its session stays alive) for longer than its 30 s rebalance timeout.
    for _ in range(12):
        if classic_id not in groups.consumer.groups[GROUP].members:
            break
        assert groups.classic.heartbeat(GROUP, 1, classic_id, None) == ErrorCode.REBALANCE_IN_PROGRESS
        await trio.sleep(3)
    assert list(groups.consumer.groups[GROUP].members) == ["newcomer"]
    result = groups.consumer.heartbeat(
        HeartbeatRequest(GROUP, "newcomer", 2, None, None, -1, None, None, None, {}, "consumer", "/127.0.0.1")
    )
    assert result.assignment == {groups.topic_id(): frozenset({0, 1})}


async def test_a_classic_member_that_joined_must_sync_within_its_rebalance_timeout(
    groups: Coordinators, autojump_clock: trio.testing.MockClock
) -> None:
    classic_id = await classic_member_with_both_partitions(groups)
    consumer_join(groups, "newcomer")
    assert (await groups.classic.join_group(join_request(classic_id, owned=[0]))).generation_id == 2
    # It heartbeats (its session stays alive) but never sends SyncGroup.
    for _ in range(9):
        assert groups.classic.heartbeat(GROUP, 2, classic_id, None) == ErrorCode.NONE
        await trio.sleep(3)
    assert classic_id in groups.consumer.groups[GROUP].members
    await trio.sleep(4)
    assert classic_id not in groups.consumer.groups[GROUP].members


async def test_the_consumer_protocol_member_session_ending_downgrades_the_group(
    groups: Coordinators, autojump_clock: trio.testing.MockClock
) -> None:
    classic_id = await classic_member_with_both_partitions(groups)
    consumer_join(groups, "newcomer")
    # The classic member rejoins and syncs (it gives up partition 1), then keeps heartbeating while the
    # newcomer goes silent past its consumer session (45 s).
    assert (await groups.classic.join_group(join_request(classic_id, owned=[0]))).generation_id == 2
    assert (await groups.classic.sync_group(GROUP, 2, classic_id, None, "consumer", "range", {})).error == 0
    for _ in range(20):
        if groups.registry.type_of(GROUP) is GroupType.CLASSIC:
            break
        assert groups.classic.heartbeat(GROUP, 2, classic_id, None) == ErrorCode.NONE
        await trio.sleep(3)
    assert groups.registry.type_of(GROUP) is GroupType.CLASSIC
    assert list(groups.classic.groups[GROUP].members) == [classic_id]
    assert committed(groups) == {(TOPIC, 0): 7, (TOPIC, 1): 9}


async def test_static_classic_members_of_a_consumer_group(groups: Coordinators) -> None:
    consumer_join(groups, "newcomer")
    first = await groups.classic.join_group(join_request(instance="i1"))
    assert first.error == ErrorCode.NONE and first.member_id  # a static member needs no MEMBER_ID_REQUIRED
    group = groups.consumer.groups[GROUP]
    assert group.static_member("i1") is group.members[first.member_id]
    fenced = await groups.classic.join_group(join_request("someone-else", instance="i1"))
    assert fenced.error == ErrorCode.FENCED_INSTANCE_ID
    unknown = await groups.classic.join_group(join_request(first.member_id, instance="i2"))
    assert unknown.error == ErrorCode.UNKNOWN_MEMBER_ID
    # A restarted instance (no member id) replaces its previous incarnation.
    again = await groups.classic.join_group(join_request(instance="i1"))
    assert again.error == ErrorCode.NONE and again.member_id != first.member_id
    assert set(group.members) == {"newcomer", again.member_id}
