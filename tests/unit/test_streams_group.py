"""The streams group model (kafkapy/coordinator/streams_group.py): topology configuration, the sticky
task assignor and the reconciliation of a member's tasks, against what KIP-1071 and Kafka's
StickyTaskAssignor / CurrentAssignmentBuilder document."""

from __future__ import annotations

from collections import Counter

from kafkapy.coordinator.streams_group import (
    EMPTY,
    AssignmentMember,
    MemberAssignment,
    MemberState,
    Status,
    Tasks,
    assign,
    configure,
    reconcile,
    task_set,
)
from kafkapy.coordinator.streams_group_records import (
    CURRENT_MEMBER_ASSIGNMENT,
    TOPOLOGY,
    decode_key,
    decode_value,
    key,
    value,
)


def info(name: str, partitions: int = 0, configs: dict[str, str] | None = None) -> dict:
    kv = [{"key": k, "value": v} for k, v in (configs or {}).items()]
    return {"name": name, "partitions": partitions, "replication_factor": 0, "topic_configs": kv}


def sub(sid: str, sources=(), sinks=(), changelogs=(), repartitions=(), copartition=()) -> dict:
    return {"subtopology_id": sid, "source_topics": list(sources), "source_topic_regex": [],
            "state_changelog_topics": list(changelogs), "repartition_sink_topics": list(sinks),
            "repartition_source_topics": list(repartitions), "copartition_groups": list(copartition)}  # fmt: skip


WORD_COUNT = {
    "epoch": 0,
    "subtopologies": [
        sub("0", sources=["in"], sinks=["app-rep"]),
        sub("1", changelogs=[info("app-log", configs={"cleanup.policy": "compact"})], repartitions=[info("app-rep")]),
    ],
}


def test_configure_derives_internal_topic_partitions_from_the_sources() -> None:
    configured = configure(WORD_COUNT, {"in": 4}.get)
    assert configured.task_counts == {"0": 4, "1": 4}
    assert {(t.name, t.partitions, t.configs) for t in configured.missing_internal} == {
        ("app-rep", 4, ()),
        ("app-log", 4, (("cleanup.policy", "compact"),)),
    }
    assert not configured.ready  # until they exist
    assert configure(WORD_COUNT, {"in": 4, "app-rep": 4, "app-log": 4}.get).ready


def test_configure_reports_missing_source_topics_and_unequal_copartitioned_ones() -> None:
    missing = configure(WORD_COUNT, {}.get)
    assert missing.statuses == [(Status.MISSING_SOURCE_TOPICS, "Source topics in are missing.")]
    joined = {"epoch": 0, "subtopologies": [
        sub("0", sources=["a", "b"], copartition=[{"source_topics": [0, 1], "source_topic_regex": [],
                                                   "repartition_source_topics": []}])]}  # fmt: skip
    [(status, _)] = configure(joined, {"a": 2, "b": 3}.get).statuses
    assert status == Status.INCORRECTLY_PARTITIONED_TOPICS
    assert configure(joined, {"a": 3, "b": 3}.get).ready


def tasks_of(n: int) -> set[tuple[str, int]]:
    return {("0", p) for p in range(n)}


def test_assign_balances_active_tasks_and_keeps_them_where_they_were() -> None:
    members = {m: AssignmentMember(f"p-{m}") for m in ("a", "b", "c")}
    target = assign(members, {"0": 7}, 0)
    counts = sorted(len(task_set(t.active)) for t in target.values())
    assert counts == [2, 2, 3]
    assert set().union(*(task_set(t.active) for t in target.values())) == tasks_of(7)
    # A fourth member joins: members keep what they had up to their share; only the excess moves.
    members = {m: AssignmentMember(f"p-{m}", target[m]) for m in target}
    members["d"] = AssignmentMember("p-d")
    after = assign(members, {"0": 7}, 0)
    moved = sum(len(task_set(after[m].active) - task_set(target[m].active)) for m in target)
    assert moved == 0 and len(task_set(after["d"].active)) == 1
    assert Counter(t for m in after.values() for t in task_set(m.active)) == Counter(tasks_of(7))


def test_standby_replicas_go_to_other_processes_only() -> None:
    members = {"a1": AssignmentMember("p1"), "a2": AssignmentMember("p1"), "b": AssignmentMember("p2")}
    target = assign(members, {"0": 4}, 1)
    for task in tasks_of(4):
        active = [m for m, t in target.items() if task in task_set(t.active)]
        standby = [m for m, t in target.items() if task in task_set(t.standby)]
        assert len(active) == 1 and len(standby) == 1
        assert members[active[0]].process_id != members[standby[0]].process_id
    # One process: no standby can be placed.
    alone = assign({"a": AssignmentMember("p1"), "b": AssignmentMember("p1")}, {"0": 2}, 1)
    assert all(not task_set(t.standby) for t in alone.values())


def test_reconcile_revokes_before_it_moves_the_epoch_on() -> None:
    mine = Tasks.of(active=[("0", 0), ("0", 1)])
    current = MemberAssignment(epoch=3, previous_epoch=2, assigned=mine)
    target = Tasks.of(active=[("0", 1), ("0", 2)])
    step = reconcile(current, target, 4, lambda t: False, None)
    assert step.state == MemberState.UNREVOKED_TASKS and step.epoch == 3
    assert task_set(step.assigned.active) == {("0", 1)} and task_set(step.pending_revocation.active) == {("0", 0)}
    # Nothing changes until the member reports it dropped the task.
    assert reconcile(step, target, 4, lambda t: False, mine) == step
    done = reconcile(step, target, 4, lambda t: False, Tasks.of(active=[("0", 1)]))
    assert (done.state, done.epoch, done.previous_epoch) == (MemberState.STABLE, 4, 3)
    assert task_set(done.assigned.active) == {("0", 1), ("0", 2)}


def test_reconcile_withholds_a_task_another_member_still_has() -> None:
    target = Tasks.of(active=[("0", 0), ("0", 1)])
    held = {("0", 1)}
    step = reconcile(MemberAssignment(epoch=1), target, 2, lambda t: t in held, None)
    assert (step.state, step.epoch) == (MemberState.UNRELEASED_TASKS, 2)
    assert task_set(step.assigned.active) == {("0", 0)}
    held.clear()
    done = reconcile(step, target, 2, lambda t: t in held, None)
    assert done.state == MemberState.STABLE and task_set(done.assigned.active) == task_set(target.active)
    assert reconcile(done, target, 2, lambda t: True, None) is done  # stable at the target epoch


def test_records_round_trip_in_kafkas_layouts() -> None:
    k = key(CURRENT_MEMBER_ASSIGNMENT, "g", "m")
    assert k[:2] == b"\x00\x16" and decode_key(k) == (CURRENT_MEMBER_ASSIGNMENT, "g", "m")
    fields = {"member_epoch": 3, "previous_member_epoch": 2, "state": 1,
              "active_tasks": [{"subtopology_id": "0", "partitions": [0, 2]}], "standby_tasks": [],
              "warmup_tasks": [], "active_tasks_pending_revocation": [], "standby_tasks_pending_revocation": [],
              "warmup_tasks_pending_revocation": []}  # fmt: skip
    assert decode_value(CURRENT_MEMBER_ASSIGNMENT, value(CURRENT_MEMBER_ASSIGNMENT, fields)) == fields
    assert decode_value(TOPOLOGY, value(TOPOLOGY, WORD_COUNT)) == WORD_COUNT
    assert decode_key(key(TOPOLOGY, "g")) == (TOPOLOGY, "g", None)
    assert EMPTY.is_empty()


def test_a_standby_task_becoming_active_on_the_same_member_is_revoked_as_standby_first() -> None:
    current = MemberAssignment(epoch=2, assigned=Tasks.of(active=[("0", 0)], standby=[("0", 1)]))
    target = Tasks.of(active=[("0", 0), ("0", 1)])
    step = reconcile(current, target, 3, lambda t: False, None)
    assert (step.state, step.epoch) == (MemberState.UNREVOKED_TASKS, 2)
    assert task_set(step.pending_revocation.standby) == {("0", 1)} and not task_set(step.assigned.standby)
    done = reconcile(step, target, 3, lambda t: False, Tasks.of(active=[("0", 0)]))
    assert (done.state, done.epoch) == (MemberState.STABLE, 3)
    assert task_set(done.assigned.active) == {("0", 0), ("0", 1)}


def test_assign_spreads_tasks_over_processes_before_members() -> None:
    """Two members on one process and one on another: the lone member's process gets its share too."""
    members = {"a1": AssignmentMember("p1"), "a2": AssignmentMember("p1"), "b": AssignmentMember("p2")}
    target = assign(members, {"0": 6}, 0)
    assert sorted(len(task_set(t.active)) for t in target.values()) == [2, 2, 2]
    assert assign({}, {"0": 3}, 1) == {}
    assert all(t.is_empty() for t in assign(members, {}, 1).values())


def test_configure_reports_the_first_internal_topic_that_no_longer_fits() -> None:
    """The source topic grew to 3 partitions: the repartition topic (2) must have 3, and so must the
    changelog; Kafka reports the repartition topic alone, and the group gets no tasks meanwhile."""
    grown = configure(WORD_COUNT, {"in": 3, "app-rep": 2, "app-log": 2}.get)
    assert grown.statuses == [
        (Status.INCORRECTLY_PARTITIONED_TOPICS, "Existing topic app-rep has different number of partitions: "
         "expected 3, found 2")
    ]  # fmt: skip
    assert not grown.ready and not grown.missing_internal


def test_each_active_task_keeps_the_epoch_it_was_assigned_at() -> None:
    """KIP-1251: a task kept across epochs keeps its assignment epoch; a task given later has the later one."""
    first = reconcile(MemberAssignment(), Tasks.of(active=[("0", 0)]), 1, lambda t: False, None)
    assert first.active_since(("0", 0)) == 1
    second = reconcile(first, Tasks.of(active=[("0", 0), ("0", 1)]), 2, lambda t: False, None)
    assert (second.active_since(("0", 0)), second.active_since(("0", 1)), second.active_since(("0", 2))) == (1, 2, None)
    fields = {"member_epoch": 2, "previous_member_epoch": 1, "state": 1,
              "active_tasks": [{"subtopology_id": "0", "partitions": [0, 1], "assignment_epochs": [1, 2]}],
              "standby_tasks": [], "warmup_tasks": [], "active_tasks_pending_revocation": [],
              "standby_tasks_pending_revocation": [], "warmup_tasks_pending_revocation": []}  # fmt: skip
    decoded = decode_value(CURRENT_MEMBER_ASSIGNMENT, value(CURRENT_MEMBER_ASSIGNMENT, fields))
    assert decoded["active_tasks"][0]["assignment_epochs"] == [1, 2]
