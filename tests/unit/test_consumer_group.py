"""KIP-848 reconciliation (Kafka's CurrentAssignmentBuilder) and the server-side assignors, against what
Kafka documents: revocation before reassignment, epochs fencing zombies, stickiness and balance."""

from __future__ import annotations

import uuid

import pytest

from kafkapy.coordinator.assignors import MemberSpec, RangeAssignor, UniformAssignor
from kafkapy.coordinator.consumer_group import (
    ConsumerGroup,
    ConsumerGroupMember,
    ConsumerGroupState,
    MemberState,
    next_assignment,
)
from kafkapy.coordinator.consumer_group_coordinator import ConsumerGroupCoordinator, _throw_if_epoch_invalid
from kafkapy.coordinator.consumer_group_records import changes, group_records, load_groups
from kafkapy.protocol.errors import ErrorCode, KafkaError

T1, T2 = uuid.UUID(int=1), uuid.UUID(int=2)


def _free(topic_id: uuid.UUID, partition: int) -> int:
    return -1


def test_a_partition_leaving_is_revoked_before_the_epoch_moves() -> None:
    member = ConsumerGroupMember("a", member_epoch=3, previous_member_epoch=2, assigned={T1: frozenset({0, 1})})
    target = {T1: frozenset({0})}
    step = next_assignment(member, 4, target, _free, owned={T1: frozenset({0, 1})})
    assert step.state == MemberState.UNREVOKED_PARTITIONS
    assert step.member_epoch == 3
    assert step.assigned == {T1: frozenset({0})} and step.pending_revocation == {T1: frozenset({1})}
    # Still reporting partition 1: no progress.
    assert next_assignment(step, 4, target, _free, owned={T1: frozenset({0, 1})}) is step
    # Revoked: the member moves to the target epoch.
    done = next_assignment(step, 4, target, _free, owned={T1: frozenset({0})})
    assert (done.state, done.member_epoch, done.assigned, done.pending_revocation) == (
        MemberState.STABLE, 4, {T1: frozenset({0})}, {}
    )


def test_a_partition_still_held_by_another_member_is_not_given_until_released() -> None:
    group = ConsumerGroup("g")
    holder = ConsumerGroupMember("a", member_epoch=1, assigned={T1: frozenset({0})})
    group.update_member(None, holder)
    joiner = ConsumerGroupMember("b", member_epoch=0)
    step = next_assignment(joiner, 2, {T1: frozenset({0, 1})}, group.current_partition_epoch, owned={})
    assert step.state == MemberState.UNRELEASED_PARTITIONS
    assert step.member_epoch == 2 and step.assigned == {T1: frozenset({1})}
    group.update_member(holder, None)
    done = next_assignment(step, 2, {T1: frozenset({0, 1})}, group.current_partition_epoch, owned={T1: frozenset({1})})
    assert done.state == MemberState.STABLE and done.assigned == {T1: frozenset({0, 1})}


def test_each_partition_keeps_the_epoch_it_was_assigned_at() -> None:
    member = ConsumerGroupMember("a", member_epoch=2, assigned={T1: frozenset({0})}, assignment_epochs={(T1, 0): 2})
    step = next_assignment(member, 3, {T1: frozenset({0}), T2: frozenset({0})}, _free, owned={T1: frozenset({0})})
    assert step.assignment_epochs == {(T1, 0): 2, (T2, 0): 3}


def test_group_states_follow_the_epochs() -> None:
    group = ConsumerGroup("g")
    assert group.state() == ConsumerGroupState.EMPTY
    group.update_member(None, ConsumerGroupMember("a", member_epoch=1))
    group.group_epoch, group.assignment_epoch = 2, 1
    assert group.state() == ConsumerGroupState.ASSIGNING
    group.assignment_epoch = 2
    assert group.state() == ConsumerGroupState.RECONCILING
    group.members["a"].member_epoch = 2
    assert group.state() == ConsumerGroupState.STABLE


@pytest.mark.parametrize(
    ("epoch", "owned"),
    [(6, {}), (4, {T1: frozenset({0})}), (3, {T1: frozenset({0})}), (4, None), (4, {T1: frozenset({0, 9})})],
)
def test_zombie_epochs_are_fenced(epoch: int, owned: dict | None) -> None:
    """A greater epoch, an older one than the previous, or the previous one owning more than assigned."""
    member = ConsumerGroupMember("a", member_epoch=5, previous_member_epoch=4, assigned={T1: frozenset({0, 1})})
    if epoch == 4 and owned == {T1: frozenset({0})}:
        _throw_if_epoch_invalid(member, epoch, owned)  # the lost-response case Kafka accepts
        return
    with pytest.raises(KafkaError) as raised:
        _throw_if_epoch_invalid(member, epoch, owned)
    assert raised.value.code == ErrorCode.FENCED_MEMBER_EPOCH


def _spec(*topics: uuid.UUID, **assignment: frozenset[int]) -> MemberSpec:
    return MemberSpec(frozenset(topics), {T1: assignment["t1"]} if "t1" in assignment else {})


def test_uniform_is_balanced_and_sticky() -> None:
    first = UniformAssignor().assign({"a": _spec(T1)}, {T1: 6})
    assert first == {"a": {T1: frozenset(range(6))}}
    second = UniformAssignor().assign({"a": _spec(T1, t1=frozenset(range(6))), "b": _spec(T1)}, {T1: 6})
    assert len(second["a"][T1]) == 3 and len(second["b"][T1]) == 3
    assert second["a"][T1] | second["b"][T1] == frozenset(range(6))
    # A third member takes from both; nobody loses a partition it can keep.
    specs = {m: MemberSpec(frozenset({T1}), second.get(m, {})) for m in ("a", "b", "c")}
    third = UniformAssignor().assign(specs, {T1: 6})
    assert sorted(len(third[m][T1]) for m in "abc") == [2, 2, 2]
    assert third["a"][T1] <= second["a"][T1] and third["b"][T1] <= second["b"][T1]


def test_uniform_balances_members_with_different_subscriptions() -> None:
    out = UniformAssignor().assign({"a": _spec(T1), "b": _spec(T1, T2)}, {T1: 4, T2: 2})
    assert out["b"].get(T2) == frozenset({0, 1})
    assert len(out["a"].get(T1, frozenset())) + len(out["b"].get(T1, frozenset())) == 4
    assert abs(sum(map(len, out["a"].values())) - sum(map(len, out["b"].values()))) <= 1


def test_range_gives_consecutive_ranges_in_member_order() -> None:
    out = RangeAssignor().assign({"b": _spec(T1, T2), "a": _spec(T1, T2)}, {T1: 5, T2: 2})
    assert out["a"] == {T1: frozenset({0, 1, 2}), T2: frozenset({0})}
    assert out["b"] == {T1: frozenset({3, 4}), T2: frozenset({1})}


def test_records_rebuild_the_group_and_tombstone_what_went() -> None:
    group = ConsumerGroup("g", group_epoch=4, assignment_epoch=4, metadata_hash=-7)
    stable = ConsumerGroupMember(
        "a", member_epoch=4, previous_member_epoch=3, instance_id="i", client_id="c", client_host="/h",
        rebalance_timeout_ms=3000, subscribed_topic_names=["t"], server_assignor="range", assigned={T1: frozenset({0})},
        assignment_epochs={(T1, 0): 3},
    )  # fmt: skip
    revoking = ConsumerGroupMember(
        "b", member_epoch=3, previous_member_epoch=3, state=MemberState.UNREVOKED_PARTITIONS,
        subscribed_topic_regex="t.*", assigned={T1: frozenset({1})}, pending_revocation={T2: frozenset({0, 1})},
        assignment_epochs={(T1, 1): 2, (T2, 0): 1, (T2, 1): 3},
    )  # fmt: skip
    group.update_member(None, stable)
    group.update_member(None, revoking)
    group.target = {"a": {T1: frozenset({0})}, "b": {T1: frozenset({1})}}
    written = group_records(group, {"t.*": ["t"]})
    keys_and_values = [(int.from_bytes(k[:2], "big"), k, v) for k, v in written.items()]
    [(loaded, records)] = load_groups(keys_and_values).values()
    assert records == written
    assert (loaded.group_epoch, loaded.assignment_epoch, loaded.metadata_hash) == (4, 4, -7)
    assert loaded.target == group.target
    for member in (stable, revoking):
        again = loaded.members[member.member_id]
        assert again.__dict__ == member.__dict__
    assert loaded.partition_epochs == group.partition_epochs
    # Member b goes: its three records are tombstoned, the rest unchanged is not written again.
    group.update_member(revoking, None)
    group.target.pop("b")
    out = changes(written, group_records(group, {}))
    assert sorted(v is None for _, v in out) == [True] * 4  # b's three records and the regex
    assert all(written[k] is not None for k, _ in out)


def test_the_regex_cache_does_not_grow_with_what_clients_send() -> None:
    coordinator = ConsumerGroupCoordinator(None, None, None, None, clock=None)  # type: ignore[arg-type]
    for i in range(3000):
        coordinator._regex(f"topic-{i}-.*")
    assert 0 < len(coordinator._regexes) <= 1024
    with pytest.raises(KafkaError) as raised:
        coordinator._regex("a(b")
    assert raised.value.code == ErrorCode.INVALID_REGULAR_EXPRESSION
    assert raised.value.message == "SubscribedTopicRegex `a(b` is not a valid regular expression: missing closing )."


def test_a_known_member_rejoining_with_epoch_0_is_not_fenced() -> None:
    """Kafka 4.3.1 answers such a rejoin (a client recovering from an error) with the member's epoch."""
    member = ConsumerGroupMember("a", member_epoch=5, previous_member_epoch=4, assigned={T1: frozenset({0})})
    _throw_if_epoch_invalid(member, 0, {})
