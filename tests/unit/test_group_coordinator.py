"""The classic group state machine, driven directly (no network), with trio's autojump clock for timeouts."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from kafkapy.broker_config import BrokerConfig
from kafkapy.clock import SYSTEM_CLOCK, Clock, ManualClock
from kafkapy.coordinator.group import GroupState, JoinResult, OffsetAndMetadata, SyncResult
from kafkapy.coordinator.group_coordinator import GroupCoordinator, JoinRequest
from kafkapy.coordinator.group_metadata_manager import GroupMetadataManager
from kafkapy.protocol.errors import ErrorCode
from kafkapy.storage.log import LogConfig
from kafkapy.storage.log_manager import LogManager

GROUP = "g"
SESSION_MS = 10_000
REBALANCE_MS = 30_000


def subscription(*topics: str) -> bytes:
    """A ConsumerProtocolSubscription v0: version, topics, null user data."""
    out = struct.pack(">hi", 0, len(topics))
    for topic in topics:
        out += struct.pack(">h", len(topic)) + topic.encode()
    return out + struct.pack(">i", -1)


def open_coordinator(data_dir: Path, clock: Clock = SYSTEM_CLOCK, **settings: object) -> GroupCoordinator:
    config = BrokerConfig(data_dir=data_dir, **settings)  # type: ignore[arg-type]
    logs = LogManager.open(data_dir, LogConfig(), clock=clock)
    if "t" not in logs.topics:
        logs.create_topic("t", 4)
    manager = GroupMetadataManager(config, logs, clock=logs.clock)
    coordinator = GroupCoordinator(config, manager, clock=logs.clock)
    coordinator.load()
    return coordinator


@pytest.fixture
async def coordinator(tmp_path: Path) -> AsyncIterator[GroupCoordinator]:
    c = open_coordinator(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(c.run)
        yield c
        nursery.cancel_scope.cancel()


def request(
    member_id: str = "",
    *,
    instance: str | None = None,
    protocols: list[str] | None = None,
    topics: tuple[str, ...] = ("t",),
    session_ms: int = SESSION_MS,
    v4: bool = True,
) -> JoinRequest:
    names = protocols or ["range"]
    return JoinRequest(
        group_id=GROUP,
        member_id=member_id,
        group_instance_id=instance,
        client_id="client",
        client_host="/127.0.0.1",
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=REBALANCE_MS,
        protocol_type="consumer",
        protocols=[(name, subscription(*topics)) for name in names],
        require_known_member_id=v4,
    )


async def join_new(c: GroupCoordinator, **kwargs: object) -> JoinResult:
    """The v4+ two-step join of a new member: MEMBER_ID_REQUIRED, then join with the id."""
    first = await c.join_group(request(**kwargs))  # type: ignore[arg-type]
    assert first.error == ErrorCode.MEMBER_ID_REQUIRED
    return await c.join_group(request(first.member_id, **kwargs))  # type: ignore[arg-type]


async def sync(c: GroupCoordinator, join: JoinResult, assignments: dict[str, bytes] | None = None) -> SyncResult:
    return await c.sync_group(GROUP, join.generation_id, join.member_id, None, None, None, assignments or {})


async def stable_group_of_one(c: GroupCoordinator) -> JoinResult:
    joined = await join_new(c)
    assert joined.error == ErrorCode.NONE
    result = await sync(c, joined, {joined.member_id: b"A"})
    assert result.error == ErrorCode.NONE and result.assignment == b"A"
    return joined


async def test_first_member_needs_member_id_then_leads_generation_one(coordinator: GroupCoordinator) -> None:
    joined = await join_new(coordinator)
    assert joined.error == ErrorCode.NONE
    assert joined.generation_id == 1
    assert joined.leader_id == joined.member_id
    assert joined.protocol_name == "range" and joined.protocol_type == "consumer"
    assert [m[0] for m in joined.members] == [joined.member_id]
    assert coordinator.groups[GROUP].state is GroupState.COMPLETING_REBALANCE
    assert (await sync(coordinator, joined, {joined.member_id: b"x"})).assignment == b"x"
    assert coordinator.groups[GROUP].state is GroupState.STABLE


async def test_second_member_triggers_rebalance_and_gets_leader_assignment(coordinator: GroupCoordinator) -> None:
    a = await stable_group_of_one(coordinator)
    results: dict[str, JoinResult] = {}

    async def join_b() -> None:
        results["b"] = await join_new(coordinator)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(join_b)
        await trio.testing.wait_all_tasks_blocked()
        assert coordinator.groups[GROUP].state is GroupState.PREPARING_REBALANCE
        assert coordinator.heartbeat(GROUP, a.generation_id, a.member_id, None) == ErrorCode.REBALANCE_IN_PROGRESS
        assert (await sync(coordinator, a)).error == ErrorCode.REBALANCE_IN_PROGRESS
        # Members may still commit while the group prepares to rebalance.
        offset = {("t", 0): OffsetAndMetadata(5, -1, "", 0)}
        assert coordinator.commit_offsets(GROUP, 1, a.member_id, None, offset) == {("t", 0): ErrorCode.NONE}
        results["a"] = await coordinator.join_group(request(a.member_id))
    ra, rb = results["a"], results["b"]
    assert ra.generation_id == rb.generation_id == 2
    assert ra.leader_id == rb.leader_id == a.member_id
    assert {m[0] for m in ra.members} == {a.member_id, rb.member_id} and rb.members == []
    async with trio.open_nursery() as nursery:
        got: dict[str, SyncResult] = {}

        async def follower() -> None:
            got["b"] = await sync(coordinator, rb)

        nursery.start_soon(follower)
        await trio.testing.wait_all_tasks_blocked()
        assert "b" not in got  # parked until the leader's assignment arrives
        got["a"] = await sync(coordinator, ra, {a.member_id: b"A", rb.member_id: b"B"})
    assert got["a"].assignment == b"A" and got["b"].assignment == b"B"
    assert coordinator.heartbeat(GROUP, 2, rb.member_id, None) == ErrorCode.NONE


async def test_protocol_selection_and_inconsistent_protocol(coordinator: GroupCoordinator) -> None:
    a = await join_new(coordinator, protocols=["range", "roundrobin"])
    assert a.protocol_name == "range"
    await sync(coordinator, a)
    bad = await coordinator.join_group(request(protocols=["sticky"]))
    assert bad.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL

    async def join_b() -> None:
        await join_new(coordinator, protocols=["roundrobin"])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(join_b)
        await trio.testing.wait_all_tasks_blocked()
        ra = await coordinator.join_group(request(a.member_id, protocols=["range", "roundrobin"]))
    # Only roundrobin is supported by both members.
    assert ra.protocol_name == "roundrobin"


async def test_error_codes_for_wrong_steps(coordinator: GroupCoordinator) -> None:
    assert (await coordinator.join_group(request(session_ms=10))).error == ErrorCode.INVALID_SESSION_TIMEOUT
    assert (await coordinator.join_group(request("nobody"))).error == ErrorCode.UNKNOWN_MEMBER_ID
    a = await stable_group_of_one(coordinator)
    assert coordinator.heartbeat(GROUP, 99, a.member_id, None) == ErrorCode.ILLEGAL_GENERATION
    assert coordinator.heartbeat(GROUP, 1, "nobody", None) == ErrorCode.UNKNOWN_MEMBER_ID
    assert coordinator.heartbeat("", 1, a.member_id, None) == ErrorCode.INVALID_GROUP_ID
    assert (await sync(coordinator, JoinResult(ErrorCode.NONE, a.member_id, 7))).error == ErrorCode.ILLEGAL_GENERATION
    offset = {("t", 0): OffsetAndMetadata(5, -1, "", 0)}
    assert coordinator.commit_offsets(GROUP, 1, "nobody", None, offset) == {("t", 0): ErrorCode.UNKNOWN_MEMBER_ID}
    assert coordinator.commit_offsets(GROUP, -1, "", None, offset) == {("t", 0): ErrorCode.UNKNOWN_MEMBER_ID}
    assert coordinator.commit_offsets(GROUP, 3, a.member_id, None, offset) == {("t", 0): ErrorCode.ILLEGAL_GENERATION}
    # GROUP_ID_NOT_FOUND, which the specs map to ILLEGAL_GENERATION before OffsetCommit v9.
    assert coordinator.commit_offsets("other", 3, "x", None, offset) == {("t", 0): ErrorCode.GROUP_ID_NOT_FOUND}
    assert coordinator.delete_groups([GROUP, "missing"]) == {
        GROUP: ErrorCode.NON_EMPTY_GROUP,
        "missing": ErrorCode.GROUP_ID_NOT_FOUND,
    }
    # The only member rejoining with a new subscription completes the join phase at once.
    rejoined = await coordinator.join_group(request(a.member_id, topics=("t", "u")))
    assert rejoined.generation_id == 2 and coordinator.groups[GROUP].subscribed_topics == {"t", "u"}
    assert (await sync(coordinator, a)).error == ErrorCode.ILLEGAL_GENERATION


async def test_commit_during_completing_rebalance_is_refused(coordinator: GroupCoordinator) -> None:
    a = await join_new(coordinator)
    offset = {("t", 0): OffsetAndMetadata(5, -1, "", 0)}
    assert coordinator.commit_offsets(GROUP, 1, a.member_id, None, offset) == {
        ("t", 0): ErrorCode.REBALANCE_IN_PROGRESS
    }


async def test_session_expiry_removes_member(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    a = await stable_group_of_one(coordinator)
    await trio.sleep(SESSION_MS / 1000 / 2)
    assert coordinator.heartbeat(GROUP, 1, a.member_id, None) == ErrorCode.NONE
    await trio.sleep(SESSION_MS / 1000 * 0.9)
    assert coordinator.groups[GROUP].has(a.member_id)  # the heartbeat extended the session
    await trio.sleep(SESSION_MS / 1000 * 0.2)
    group = coordinator.groups[GROUP]
    assert not group.has(a.member_id)
    assert group.state is GroupState.EMPTY and group.generation_id == 2
    assert coordinator.heartbeat(GROUP, 1, a.member_id, None) == ErrorCode.UNKNOWN_MEMBER_ID


async def test_member_not_rejoining_is_dropped_after_rebalance_timeout(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    a = await stable_group_of_one(coordinator)
    start = trio.current_time()

    async def keep_a_alive() -> None:
        # a heartbeats but never rejoins (e.g. stuck in a long poll).
        while coordinator.heartbeat(GROUP, a.generation_id, a.member_id, None) != ErrorCode.UNKNOWN_MEMBER_ID:
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(keep_a_alive)
        b = await join_new(coordinator)
    assert trio.current_time() - start == pytest.approx(REBALANCE_MS / 1000, abs=1.5)
    assert b.error == ErrorCode.NONE and b.leader_id == b.member_id and b.generation_id == 2
    assert list(coordinator.groups[GROUP].members) == [b.member_id]


async def test_pending_member_expires(coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock) -> None:
    first = await coordinator.join_group(request())
    assert coordinator.groups[GROUP].pending_members
    await trio.sleep(SESSION_MS / 1000 + 0.5)
    assert not coordinator.groups[GROUP].pending_members
    assert (await coordinator.join_group(request(first.member_id))).error == ErrorCode.UNKNOWN_MEMBER_ID


async def test_leave_group(coordinator: GroupCoordinator) -> None:
    a = await stable_group_of_one(coordinator)
    assert coordinator.leave_group(GROUP, [(a.member_id, None), ("ghost", None)]) == (
        ErrorCode.NONE,
        [ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID],
    )
    group = coordinator.groups[GROUP]
    assert group.state is GroupState.EMPTY and not group.members
    assert coordinator.leave_group("missing", [("x", None)]) == (ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID])


async def test_static_member_rejoins_without_rebalance_and_old_id_is_fenced(coordinator: GroupCoordinator) -> None:
    a = await coordinator.join_group(request(instance="i-a"))  # static members skip MEMBER_ID_REQUIRED
    assert a.error == ErrorCode.NONE and a.member_id.startswith("i-a-")
    await sync(coordinator, a, {a.member_id: b"A"})
    again = await coordinator.join_group(request(instance="i-a"))
    assert again.error == ErrorCode.NONE
    assert again.member_id != a.member_id and again.generation_id == a.generation_id == 1
    # Without skip_assignment the old leader id is returned, so the new incarnation does not assign.
    assert again.leader_id == a.member_id and again.members == []
    group = coordinator.groups[GROUP]
    assert group.state is GroupState.STABLE and group.generation_id == 1
    got = await coordinator.sync_group(GROUP, 1, again.member_id, "i-a", None, None, {})
    assert got.assignment == b"A"
    assert coordinator.heartbeat(GROUP, 1, a.member_id, "i-a") == ErrorCode.FENCED_INSTANCE_ID
    offset = {("t", 0): OffsetAndMetadata(5, -1, "", 0)}
    assert coordinator.commit_offsets(GROUP, 1, a.member_id, "i-a", offset) == {("t", 0): ErrorCode.FENCED_INSTANCE_ID}
    assert coordinator.leave_group(GROUP, [("", "i-a")]) == (ErrorCode.NONE, [ErrorCode.NONE])
    assert group.state is GroupState.EMPTY


async def test_initial_rebalance_delay_groups_first_members(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    c = open_coordinator(tmp_path, group_initial_rebalance_delay_ms=3000)
    results: list[JoinResult] = []

    async def member(delay: float) -> None:
        await trio.sleep(delay)
        results.append(await join_new(c))

    async with trio.open_nursery() as nursery:
        await nursery.start(c.run)
        start = trio.current_time()
        async with trio.open_nursery() as joiners:
            joiners.start_soon(member, 0)
            joiners.start_soon(member, 2)
        elapsed = trio.current_time() - start
        nursery.cancel_scope.cancel()
    assert [r.generation_id for r in results] == [1, 1]
    # The second member arrived within the delay, which was extended once.
    assert 5 <= elapsed <= 6.5


async def test_offsets_commit_fetch_and_offset_delete(coordinator: GroupCoordinator) -> None:
    commit = {("t", 0): OffsetAndMetadata(10, 3, "meta", 1000), ("t", 1): OffsetAndMetadata(20, -1, "", 1000)}
    assert set(coordinator.commit_offsets("simple", -1, "", None, commit).values()) == {ErrorCode.NONE}
    assert coordinator.fetch_offsets("simple", [("t", 0), ("t", 2)]) == {("t", 0): commit[("t", 0)], ("t", 2): None}
    assert coordinator.fetch_offsets("simple", None) == commit
    assert coordinator.fetch_offsets("nobody", None) == {}
    # A consumer group subscribed to t cannot lose t's offsets while it has members.
    a = await stable_group_of_one(coordinator)
    assert coordinator.commit_offsets(GROUP, 1, a.member_id, None, commit) == dict.fromkeys(commit, ErrorCode.NONE)
    assert coordinator.delete_offsets(GROUP, [("t", 0)]) == (
        ErrorCode.NONE,
        {("t", 0): ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC},
    )
    assert coordinator.delete_offsets("missing", [("t", 0)])[0] == ErrorCode.GROUP_ID_NOT_FOUND
    # An empty group loses them, and dies with its last offset.
    assert coordinator.delete_offsets("simple", [("t", 0)]) == (ErrorCode.NONE, {("t", 0): ErrorCode.NONE})
    assert "simple" in coordinator.groups
    coordinator.delete_offsets("simple", [("t", 1)])
    assert "simple" not in coordinator.groups


async def test_expire_offsets_and_deleted_topics(coordinator: GroupCoordinator) -> None:
    day = 24 * 3600 * 1000
    coordinator.commit_offsets("old", -1, "", None, {("t", 0): OffsetAndMetadata(1, -1, "", 0)})
    coordinator.commit_offsets("new", -1, "", None, {("t", 0): OffsetAndMetadata(1, -1, "", 6 * day)})
    coordinator.commit_offsets("explicit", -1, "", None, {("t", 0): OffsetAndMetadata(1, -1, "", 6 * day, 7 * day)})
    coordinator.expire_offsets(7 * day)
    assert "old" not in coordinator.groups and "explicit" not in coordinator.groups
    assert coordinator.fetch_offsets("new", None)
    coordinator.delete_topic_offsets(["t"])
    assert "new" not in coordinator.groups


async def test_offsets_of_topics_a_group_of_another_kind_subscribes_to_do_not_expire(
    coordinator: GroupCoordinator,
) -> None:
    """A KIP-848 consumer group's offsets are kept here by group id; its coordinator says what it subscribes to."""
    day = 24 * 3600 * 1000
    coordinator.group_manager.subscribed_elsewhere = lambda group_id, topic: (group_id, topic) == ("modern", "t")
    old = OffsetAndMetadata(1, -1, "", 0)
    coordinator.commit_offsets("modern", -1, "", None, {("t", 0): old, ("u", 0): old})
    coordinator.expire_offsets(8 * day)
    assert coordinator.fetch_offsets("modern", None) == {("t", 0): old}


async def test_offsets_expire_on_the_timer_by_the_injected_clock(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Retention is measured on the broker's wall clock, the check interval on trio's: both are fakes here."""
    clock = ManualClock()
    c = open_coordinator(tmp_path, clock, offsets_retention_ms=60_000, offsets_retention_check_interval_ms=1_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(c.run)
        c.commit_offsets("simple", -1, "", None, {("t", 0): OffsetAndMetadata(1, -1, "", clock.wall_ms())})
        clock.advance(59_999)
        await trio.sleep(5)
        assert c.fetch_offsets("simple", None), "expired before offsets.retention.ms"
        clock.advance(1)
        await trio.sleep(5)
        assert "simple" not in c.groups
        nursery.cancel_scope.cancel()
    c.group_manager.logs.close()


async def test_delete_empty_group(coordinator: GroupCoordinator) -> None:
    a = await stable_group_of_one(coordinator)
    coordinator.commit_offsets(GROUP, 1, a.member_id, None, {("t", 0): OffsetAndMetadata(5, -1, "", 0)})
    coordinator.leave_group(GROUP, [(a.member_id, None)])
    assert coordinator.delete_groups([GROUP]) == {GROUP: ErrorCode.NONE}
    assert GROUP not in coordinator.groups
    assert coordinator.fetch_offsets(GROUP, [("t", 0)]) == {("t", 0): None}


async def test_state_survives_reload(tmp_path: Path) -> None:
    c = open_coordinator(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(c.run)
        a = await c.join_group(request(instance="i-a"))
        await sync(c, a, {a.member_id: b"assigned"})
        c.commit_offsets(GROUP, 1, a.member_id, None, {("t", 2): OffsetAndMetadata(42, 7, "m", 1234)})
        c.commit_offsets("gone", -1, "", None, {("t", 0): OffsetAndMetadata(1, -1, "", 0)})
        c.commit_offsets("kept", -1, "", None, {("t", 0): OffsetAndMetadata(9, -1, "", 0)})
        assert c.delete_groups(["gone"]) == {"gone": ErrorCode.NONE}
        nursery.cancel_scope.cancel()
    c.group_manager.logs.close()

    reloaded = open_coordinator(tmp_path)
    group = reloaded.groups[GROUP]
    assert group.state is GroupState.STABLE and group.generation_id == 1
    assert group.protocol_name == "range" and group.leader_id == a.member_id
    member = group.members[a.member_id]
    assert member.assignment == b"assigned" and member.group_instance_id == "i-a"
    assert group.static_members == {"i-a": a.member_id} and group.subscribed_topics == {"t"}
    assert reloaded.fetch_offsets(GROUP, None) == {("t", 2): OffsetAndMetadata(42, 7, "m", 1234)}
    assert set(reloaded.groups) == {GROUP, "kept"}
    # The loaded member carries on in its generation.
    async with trio.open_nursery() as nursery:
        await nursery.start(reloaded.run)
        assert reloaded.heartbeat(GROUP, 1, a.member_id, "i-a") == ErrorCode.NONE
        nursery.cancel_scope.cancel()
