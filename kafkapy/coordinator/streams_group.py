"""KIP-1071 streams groups, sans-IO: the topology, its configuration against the cluster's topics, the
task assignor and the reconciliation of each member's tasks.

A streams group runs one Kafka Streams topology. The members send it when they join; the broker
"configures" it against the topics that exist (how many partitions each subtopology's source topics
have, hence how many tasks it has; which repartition and changelog topics must be created, with how
many partitions), assigns the tasks (Kafka's StickyTaskAssignor: active tasks balanced across
processes and kept where they were, standby replicas on other processes) and moves each member to
its target one step at a time: tasks are revoked from a member before they are given to another
(Kafka's streams CurrentAssignmentBuilder). Nothing here does I/O; the coordinator
(streams_group_coordinator.py) feeds it requests, topic metadata and the clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

# A set of tasks of one kind: subtopology id -> partitions (task ids are (subtopology, partition)).
TaskMap = Mapping[str, frozenset[int]]
Task = tuple[str, int]


def task_map(tasks: Iterable[Task]) -> dict[str, frozenset[int]]:
    """Tasks grouped by subtopology (only subtopologies with a task)."""
    grouped: dict[str, set[int]] = {}
    for subtopology, partition in tasks:
        grouped.setdefault(subtopology, set()).add(partition)
    return {s: frozenset(p) for s, p in grouped.items()}


def task_set(tasks: TaskMap) -> set[Task]:
    return {(s, p) for s, partitions in tasks.items() for p in partitions}


@dataclass(frozen=True)
class Tasks:
    """A member's active, standby and warm-up tasks."""

    active: TaskMap = field(default_factory=dict)
    standby: TaskMap = field(default_factory=dict)
    warmup: TaskMap = field(default_factory=dict)

    def kinds(self) -> tuple[TaskMap, TaskMap, TaskMap]:
        return self.active, self.standby, self.warmup

    def is_empty(self) -> bool:
        return not any(task_set(kind) for kind in self.kinds())

    def same_as(self, other: Tasks) -> bool:
        return all(task_set(a) == task_set(b) for a, b in zip(self.kinds(), other.kinds(), strict=True))

    @classmethod
    def of(cls, active: Iterable[Task] = (), standby: Iterable[Task] = (), warmup: Iterable[Task] = ()) -> Tasks:
        return cls(task_map(active), task_map(standby), task_map(warmup))


EMPTY = Tasks()


class Status(IntEnum):
    """Kafka's StreamsGroupHeartbeatResponse.Status codes."""

    STALE_TOPOLOGY = 0
    MISSING_SOURCE_TOPICS = 1
    INCORRECTLY_PARTITIONED_TOPICS = 2
    MISSING_INTERNAL_TOPICS = 3
    SHUTDOWN_APPLICATION = 4
    ASSIGNMENT_DELAYED = 5


class MemberState(IntEnum):
    """Kafka's MemberState of a streams member (its value is the State of CurrentMemberAssignment)."""

    STABLE = 1
    UNREVOKED_TASKS = 2
    UNRELEASED_TASKS = 3
    UNKNOWN = 127


class GroupState(StrEnum):
    """Kafka's StreamsGroupState, as ListGroups and StreamsGroupDescribe name it."""

    EMPTY = "Empty"
    NOT_READY = "NotReady"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


# --- topology -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InternalTopic:
    """A repartition or changelog topic the broker creates: its partitions and topic configs."""

    name: str
    partitions: int
    configs: tuple[tuple[str, str], ...]


@dataclass
class ConfiguredTopology:
    """The topology against the topics that exist: tasks per subtopology, or why it cannot run yet."""

    task_counts: dict[str, int]
    # Internal topics that do not exist yet, to be created with these partition counts and configs.
    missing_internal: list[InternalTopic]
    statuses: list[tuple[Status, str]]
    # Partition count of every topic the topology reads (source and repartition source topics).
    partition_counts: dict[str, int]

    @property
    def ready(self) -> bool:
        """Whether tasks can be assigned: every topic is there and correctly partitioned."""
        return not self.statuses and not self.missing_internal


def _configs(topic_info: dict) -> tuple[tuple[str, str], ...]:
    return tuple((c["key"], c["value"]) for c in topic_info.get("topic_configs") or ())


def _repartition_counts(subtopologies: list[dict], partitions_of: Callable[[str], int | None]) -> dict[str, int]:
    """Partition counts of the repartition topics, as Kafka's RepartitionTopics derives them: the count
    the topology fixes, else the count of the subtopology writing to it (the largest of its source
    topics), repeated until nothing changes (a repartition topic may feed another). An existing topic's
    own count is used only for a topic nothing determines."""
    counts: dict[str, int] = {}
    for sub in subtopologies:
        for info in sub["repartition_source_topics"]:
            if info["partitions"] > 0:
                counts[info["name"]] = info["partitions"]
    changed = True
    while changed:
        changed = False
        for sub in subtopologies:
            inputs = [partitions_of(t) for t in sub["source_topics"]]
            inputs += [counts.get(t["name"]) for t in sub["repartition_source_topics"]]
            known = [n for n in inputs if n]
            if not known:
                continue
            for sink in sub["repartition_sink_topics"]:
                if sink not in counts:
                    counts[sink] = max(known)
                    changed = True
    for sub in subtopologies:
        for info in sub["repartition_source_topics"]:
            if info["name"] not in counts and (existing := partitions_of(info["name"])) is not None:
                counts[info["name"]] = existing
    return counts


def _copartition(subtopologies: list[dict], counts: dict[str, int], statuses: list[tuple[Status, str]]) -> None:
    """Copartitioned topics must have as many partitions: repartition topics whose count the topology
    leaves open take the source topics' count; source topics that differ are a status (Kafka's
    CopartitionedTopicsEnforcer)."""
    for sub in subtopologies:
        for group in sub["copartition_groups"]:
            sources = [sub["source_topics"][i] for i in group["source_topics"]]
            repartitions = [sub["repartition_source_topics"][i] for i in group["repartition_source_topics"]]
            source_counts = {counts[t] for t in sources if t in counts}
            if len(source_counts) > 1:
                statuses.append(
                    (
                        Status.INCORRECTLY_PARTITIONED_TOPICS,
                        f"Following topics do not have the same number of partitions: [{', '.join(sorted(sources))}]",
                    )
                )
                continue
            target = next(iter(source_counts), None) or max(
                (counts.get(t["name"], 0) for t in repartitions), default=0
            )
            for info in repartitions:
                if info["partitions"] == 0 and target:
                    counts[info["name"]] = target


def _internal_topic(
    info: dict, expected: int, partitions_of: Callable[[str], int | None], statuses: list[tuple[Status, str]]
) -> bool:
    """Whether an internal topic is to be created (it does not exist and its count is known); one that
    exists with another partition count than the topology needs is a status (Kafka's message)."""
    existing = partitions_of(info["name"])
    if existing is None:
        return expected > 0
    mismatch_known = any(code == Status.INCORRECTLY_PARTITIONED_TOPICS for code, _ in statuses)
    if expected and existing != expected and not mismatch_known:
        statuses.append(
            (
                Status.INCORRECTLY_PARTITIONED_TOPICS,
                f"Existing topic {info['name']} has different number of partitions: expected {expected}, "
                f"found {existing}",
            )
        )
    return False


def configure(topology: dict, partitions_of: Callable[[str], int | None]) -> ConfiguredTopology:
    """Configure a topology (the heartbeat's Topology, snake_case) against the topics that exist.

    ``partitions_of(topic)`` is a topic's partition count, None if it does not exist. A subtopology has
    as many tasks as its largest input topic has partitions; its changelog topics have as many
    partitions as it has tasks (Kafka's InternalTopicManager).
    """
    subtopologies = topology["subtopologies"]
    statuses: list[tuple[Status, str]] = []
    missing_sources = sorted(
        {t for sub in subtopologies for t in sub["source_topics"] if partitions_of(t) is None}
    )
    if missing_sources:
        statuses.append((Status.MISSING_SOURCE_TOPICS, f"Source topics {', '.join(missing_sources)} are missing."))
        return ConfiguredTopology({}, [], statuses, {})
    counts = {t: n for sub in subtopologies for t in sub["source_topics"] if (n := partitions_of(t)) is not None}
    counts.update(_repartition_counts(subtopologies, partitions_of))
    _copartition(subtopologies, counts, statuses)
    task_counts: dict[str, int] = {}
    # Repartition topics first, then changelog topics, as Kafka lists them.
    missing: dict[str, InternalTopic] = {}
    changelogs: dict[str, InternalTopic] = {}
    for sub in subtopologies:
        inputs = [counts.get(t, 0) for t in sub["source_topics"]]
        inputs += [counts.get(t["name"], 0) for t in sub["repartition_source_topics"]]
        task_counts[sub["subtopology_id"]] = max(inputs, default=0)
    # Kafka checks the repartition topics, then the changelog topics, and reports the first mismatch.
    for sub in subtopologies:
        for info in sub["repartition_source_topics"]:
            expected = counts.get(info["name"], 0)
            if _internal_topic(info, expected, partitions_of, statuses):
                missing[info["name"]] = InternalTopic(info["name"], expected, _configs(info))
    for sub in subtopologies:
        tasks = task_counts[sub["subtopology_id"]]
        for info in sub["state_changelog_topics"]:
            if _internal_topic(info, tasks, partitions_of, statuses):
                changelogs[info["name"]] = InternalTopic(info["name"], tasks, _configs(info))
    return ConfiguredTopology(task_counts, [*missing.values(), *changelogs.values()], statuses, counts)


def topology_topics(topology: dict) -> set[str]:
    """Every topic a topology names: source, repartition and changelog topics."""
    topics: set[str] = set()
    for sub in topology["subtopologies"]:
        topics.update(sub["source_topics"], sub["repartition_sink_topics"])
        topics.update(t["name"] for t in (*sub["state_changelog_topics"], *sub["repartition_source_topics"]))
    return topics


# --- task assignment (Kafka's StickyTaskAssignor) ------------------------------------------------


@dataclass(frozen=True)
class AssignmentMember:
    """What the assignor knows of a member: its process and the tasks it has now (for stickiness)."""

    process_id: str
    current: Tasks = EMPTY


def assign(
    members: Mapping[str, AssignmentMember], task_counts: Mapping[str, int], num_standby_replicas: int
) -> dict[str, Tasks]:
    """The target assignment: every task active on exactly one member, balanced (no member has more
    than its share, rounded up), kept on the member that has it when that member is not over its share;
    then ``num_standby_replicas`` standby copies of each task on members of other processes (never on
    the process that has it active, nor twice on one process), kept where they were when possible."""
    if not members:
        return {}
    tasks = [(s, p) for s in sorted(task_counts) for p in range(task_counts[s])]
    ids = sorted(members)
    quota = math.ceil(len(tasks) / len(ids)) if tasks else 0
    active: dict[str, set[Task]] = {m: set() for m in ids}
    previous = {t: m for m in ids for t in task_set(members[m].current.active)}
    unassigned: list[Task] = []
    for task in tasks:
        owner = previous.get(task)
        if owner is not None and len(active[owner]) < quota:
            active[owner].add(task)
        else:
            unassigned.append(task)
    processes = {members[m].process_id for m in ids}
    for task in unassigned:
        owner = min(ids, key=lambda m: (_process_load(active, members, members[m].process_id), len(active[m]), m))
        active[owner].add(task)
    standby: dict[str, set[Task]] = {m: set() for m in ids}
    replicas = min(num_standby_replicas, len(processes) - 1)
    if replicas > 0:
        _assign_standby(members, ids, tasks, active, standby, replicas)
    return {m: Tasks.of(active[m], standby[m]) for m in ids}


def _process_load(load: Mapping[str, set[Task]], members: Mapping[str, AssignmentMember], process: str) -> float:
    """Tasks per member of one process (a process with more members takes more tasks)."""
    on_process = [m for m in load if members[m].process_id == process]
    return sum(len(load[m]) for m in on_process) / len(on_process)


def _assign_standby(
    members: Mapping[str, AssignmentMember],
    ids: list[str],
    tasks: list[Task],
    active: dict[str, set[Task]],
    standby: dict[str, set[Task]],
    replicas: int,
) -> None:
    previous = {m: task_set(members[m].current.standby) for m in ids}
    for task in tasks:
        taken = {members[m].process_id for m in ids if task in active[m]}
        for _ in range(replicas):
            eligible = [m for m in ids if members[m].process_id not in taken]
            if not eligible:
                break
            owner = min(
                eligible,
                key=lambda m: (task not in previous[m], len(active[m]) + len(standby[m]), m),
            )
            standby[owner].add(task)
            taken.add(members[owner].process_id)


# --- reconciliation (Kafka's streams CurrentAssignmentBuilder) ---------------------------------


@dataclass(frozen=True)
class MemberAssignment:
    """A member's place in reconciliation: its epoch, state, the tasks it may run and those it must
    give up before it moves on (CurrentMemberAssignment record)."""

    epoch: int = 0
    previous_epoch: int = -1
    state: MemberState = MemberState.STABLE
    assigned: Tasks = EMPTY
    pending_revocation: Tasks = EMPTY
    # The member epoch at which each active task was given to the member (KIP-1251, Kafka 4.3): an
    # offset commit at an older epoch is accepted for the tasks it already had then.
    active_epochs: Mapping[Task, int] = field(default_factory=dict)

    def active_since(self, task: Task) -> int | None:
        """The epoch the member has had an active task since (None: it does not have it)."""
        if task not in task_set(self.assigned.active):
            return None
        return self.active_epochs.get(task, self.epoch)


def _owned_covers_no_revocation(owned: Tasks | None, pending: Tasks) -> bool:
    """Whether the member's reported tasks show it gave up every task pending revocation."""
    if owned is None:
        return False
    return all(
        not (task_set(have) & task_set(revoke)) for have, revoke in zip(owned.kinds(), pending.kinds(), strict=True)
    )


def reconcile(
    current: MemberAssignment,
    target: Tasks,
    target_epoch: int,
    active_elsewhere: Callable[[Task], bool],
    owned: Tasks | None,
) -> MemberAssignment:
    """The member's next assignment towards ``target`` (at ``target_epoch``).

    ``active_elsewhere(task)``: another member still has the task active (assigned or pending its
    revocation), so it cannot be given yet. ``owned``: the tasks the member reported in this
    heartbeat (None if unchanged). Tasks the target takes away are revoked first: the member keeps its
    epoch, is told only the tasks it keeps, and moves on once it reports having dropped the others.
    """
    if current.state == MemberState.UNREVOKED_TASKS:
        if not _owned_covers_no_revocation(owned, current.pending_revocation):
            return current
    elif current.state == MemberState.STABLE and current.epoch == target_epoch:
        return current
    return _next_assignment(current, target, target_epoch, active_elsewhere)


def _next_assignment(
    current: MemberAssignment,
    target: Tasks,
    target_epoch: int,
    active_elsewhere: Callable[[Task], bool],
) -> MemberAssignment:
    kinds = zip(current.assigned.kinds(), target.kinds(), strict=True)
    pairs = [(task_set(have), task_set(want)) for have, want in kinds]
    kept = [have & want for have, want in pairs]
    revoked = [have - want for have, want in pairs]
    if any(revoked):
        epochs = _epochs(current, kept[0], current.epoch)
        return MemberAssignment(
            current.epoch,
            current.previous_epoch,
            MemberState.UNREVOKED_TASKS,
            Tasks.of(*kept),
            Tasks.of(*revoked),
            epochs,
        )
    wanted_active = task_set(target.active)
    unreleased = {t for t in wanted_active - kept[0] if active_elsewhere(t)}
    active = wanted_active - unreleased
    assigned = Tasks.of(active, task_set(target.standby), task_set(target.warmup))
    state = MemberState.UNRELEASED_TASKS if unreleased else MemberState.STABLE
    return MemberAssignment(target_epoch, current.epoch, state, assigned, EMPTY, _epochs(current, active, target_epoch))


def _epochs(current: MemberAssignment, active: set[Task], epoch: int) -> dict[Task, int]:
    """The assignment epoch of each active task: kept from before, or ``epoch`` for a task it gets now."""
    return {t: since if (since := current.active_since(t)) is not None else epoch for t in active}
