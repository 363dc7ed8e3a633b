"""A KIP-932 share group: its members, epochs and assignments, and the ``simple`` assignor.

Kafka 4.3.1's ShareGroup keeps a group epoch (bumped by every change of membership, subscriptions
or the subscribed topics' metadata), a target assignment computed at an assignment epoch, and per
member a member epoch with the partitions it was given. Unlike a consumer group there is no
revocation phase: several members may fetch from one share partition at once (records are locked
per member by the share partition, not by the assignment), so a member moves straight to its target
assignment at the assignment epoch. This module is pure (no I/O, no clock): the coordinator
(share_group_coordinator.py) drives it and persists it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# topic id -> sorted partition indexes: what a member is given, as ShareGroupHeartbeat carries it.
Assignment = dict[uuid.UUID, list[int]]

# Kafka's only share group assignor (group.share.assignors default "simple").
SIMPLE_ASSIGNOR = "simple"

# The epochs of a share group that has no record of them yet (observed on Kafka 4.3.1).
FIRST_EPOCH = 1

# Kafka's MemberState byte in ShareGroupCurrentMemberAssignmentValue: a share member is always STABLE.
MEMBER_STATE_STABLE = 0


class ShareGroupState(StrEnum):
    """Kafka's ShareGroup.ShareGroupState names, as ShareGroupDescribe and ListGroups report them."""

    EMPTY = "Empty"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass
class ShareGroupMember:
    """One member as its ShareGroupMemberMetadata and ShareGroupCurrentMemberAssignment records keep it."""

    member_id: str
    member_epoch: int = 0
    previous_member_epoch: int = 0
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: list[str] = field(default_factory=list)
    assigned: Assignment = field(default_factory=dict)
    # trio time at which the session expires (not persisted: a loaded member gets a full session).
    session_deadline: float = float("inf")


@dataclass
class TopicPartitions:
    """A topic's share partitions in ShareGroupStatePartitionMetadata (initializing or initialized)."""

    name: str
    partitions: set[int] = field(default_factory=set)


@dataclass
class ShareGroup:
    """A share group's state, as its records in ``__consumer_offsets`` rebuild it."""

    group_id: str
    # A new share group starts at epoch 1 (and assignment epoch 1) in Kafka 4.3.1: its first member's
    # join writes group epoch 2, and a group that AlterShareGroupOffsets created describes as 1/1.
    group_epoch: int = FIRST_EPOCH
    # Kafka's MetadataHash: changes when a subscribed topic is created, deleted or grows partitions.
    metadata_hash: int = 0
    assignment_epoch: int = FIRST_EPOCH
    members: dict[str, ShareGroupMember] = field(default_factory=dict)
    # member id -> the assignment the assignor computed at ``assignment_epoch``.
    target: dict[str, Assignment] = field(default_factory=dict)
    # ShareGroupStatePartitionMetadata: whose share state is being / has been initialized or deleted.
    initializing: dict[uuid.UUID, TopicPartitions] = field(default_factory=dict)
    initialized: dict[uuid.UUID, TopicPartitions] = field(default_factory=dict)
    deleting: dict[uuid.UUID, str] = field(default_factory=dict)

    @property
    def state(self) -> ShareGroupState:
        return ShareGroupState.STABLE if self.members else ShareGroupState.EMPTY

    def subscribed_topic_names(self) -> set[str]:
        """Every topic some member subscribes to."""
        return {name for member in self.members.values() for name in member.subscribed_topic_names}

    def is_initialized(self, topic_id: uuid.UUID, partition: int) -> bool:
        found = self.initialized.get(topic_id)
        return found is not None and partition in found.partitions


def simple_assign(
    subscriptions: Mapping[str, Iterable[uuid.UUID]],
    partition_counts: Mapping[uuid.UUID, int],
    previous: Mapping[str, Assignment],
) -> dict[str, Assignment]:
    """Kafka's SimpleAssignor: every partition of a subscribed topic goes to at least one subscriber.

    ``subscriptions``: member id -> the topic ids it subscribes to (existing topics only);
    ``partition_counts``: topic id -> partitions; ``previous``: the last target assignment, kept where
    the balance allows (stickiness). When all members subscribe to the same topics (homogeneous) the
    partitions of all topics are balanced over all members together; otherwise each topic is balanced
    over its own subscribers. When there are more members than partitions, each partition is shared
    by ``ceil(members / partitions)`` members, so no member sits idle, as Kafka's simple assignor does.
    """
    members = sorted(subscriptions)
    result: dict[str, Assignment] = {m: {} for m in members}
    topic_sets = {frozenset(subscriptions[m]) for m in members}
    if len(topic_sets) <= 1:
        topics = sorted(next(iter(topic_sets), frozenset()), key=str)
        _assign_group(members, _partitions_of(topics, partition_counts), previous, result)
    else:
        every_topic = sorted({t for m in members for t in subscriptions[m]}, key=str)
        for topic in every_topic:
            subscribers = [m for m in members if topic in subscriptions[m]]
            _assign_group(subscribers, _partitions_of([topic], partition_counts), previous, result)
    return {m: {t: sorted(ps) for t, ps in a.items() if ps} for m, a in result.items()}


def _partitions_of(topics: Iterable[uuid.UUID], counts: Mapping[uuid.UUID, int]) -> list[tuple[uuid.UUID, int]]:
    return [(t, p) for t in topics for p in range(counts.get(t, 0))]


def _load(assignment: Assignment) -> int:
    return sum(len(ps) for ps in assignment.values())


def _assign_group(
    members: list[str],
    partitions: list[tuple[uuid.UUID, int]],
    previous: Mapping[str, Assignment],
    result: dict[str, Assignment],
) -> None:
    """Spread ``partitions`` over ``members`` (adding to ``result``): each partition to ``sharing``
    members, each member ``floor`` or ``quota`` of them, previous owners first."""
    if not members or not partitions:
        return
    sharing = -(-len(members) // len(partitions))
    slots = sharing * len(partitions)
    # Each member ends with ``floor`` or ``quota`` partitions: it keeps at most ``floor`` of its old
    # ones, so that the extra slots (slots % members) go where the balance needs them.
    floor, quota = slots // len(members), -(-slots // len(members))
    holders: dict[tuple[uuid.UUID, int], list[str]] = {tp: [] for tp in partitions}
    counts = dict.fromkeys(members, 0)

    def give(member: str, tp: tuple[uuid.UUID, int]) -> None:
        holders[tp].append(member)
        counts[member] += 1
        result[member].setdefault(tp[0], []).append(tp[1])

    # Stickiness: a member keeps what it had while the partition and the member stay within bounds,
    # its last partitions first (Kafka 4.3.1 takes a member's surplus from the front: a member that
    # had 0-2 keeps 2 when a second member joins).
    for member in members:
        owned = sorted(
            ((t, p) for t, ps in previous.get(member, {}).items() for p in ps), key=lambda tp: (str(tp[0]), tp[1])
        )
        for tp in reversed(owned):
            if tp in holders and len(holders[tp]) < sharing and counts[member] < floor:
                give(member, tp)
    # Then each partition short of sharers goes to the least loaded members that lack it.
    for tp in partitions:
        while len(holders[tp]) < sharing:
            candidates = [m for m in members if m not in holders[tp]]
            within = [m for m in candidates if counts[m] < quota] or candidates
            # Ties go to the member with the least across every topic (heterogeneous groups), then by id.
            give(min(within, key=lambda m: (counts[m], _load(result[m]))), tp)
