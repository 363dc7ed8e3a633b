"""A KIP-848 consumer group and its members (Kafka's ConsumerGroup, ConsumerGroupMember and
CurrentAssignmentBuilder).

The group epoch counts the changes of membership and subscriptions; the target assignment is
computed by the broker's assignor for one group epoch (the assignment epoch). Each member
reconciles towards its target one step per heartbeat: partitions it must give up are first
revoked (the member keeps its epoch and stays UNREVOKED_PARTITIONS until its heartbeat no longer
reports them), and a partition is only handed to a member once no other member holds it
(UNRELEASED_PARTITIONS until then). Member epochs fence zombies: a heartbeat or a commit with an
epoch the coordinator does not expect is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from kafkapy.coordinator.assignors import Assignment

# Kafka's ConsumerGroupHeartbeatRequest epochs.
JOIN_GROUP_MEMBER_EPOCH = 0
LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2


class MemberState(StrEnum):
    """Kafka's MemberState, as ConsumerGroupMemberMetadata/CurrentMemberAssignment records store it."""

    STABLE = "stable"
    UNREVOKED_PARTITIONS = "unrevoked_partitions"
    UNRELEASED_PARTITIONS = "unreleased_partitions"
    UNKNOWN = "unknown"


# The int8 Kafka's CurrentMemberAssignmentValue stores for each state (MemberState.value()).
MEMBER_STATE_CODES = {
    MemberState.UNREVOKED_PARTITIONS: 0,
    MemberState.UNRELEASED_PARTITIONS: 1,
    MemberState.STABLE: 2,
    MemberState.UNKNOWN: 127,
}


class ConsumerGroupState(StrEnum):
    """Kafka's ConsumerGroup.ConsumerGroupState names, as ListGroups and ConsumerGroupDescribe report them."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


def merge(a: Assignment, b: Assignment) -> Assignment:
    out = dict(a)
    for topic_id, parts in b.items():
        out[topic_id] = out.get(topic_id, frozenset()) | parts
    return {t: p for t, p in out.items() if p}


def is_subset(owned: Assignment, of: Assignment) -> bool:
    return all(parts <= of.get(topic_id, frozenset()) for topic_id, parts in owned.items())


@dataclass
class ConsumerGroupMember:
    """One member: its subscription, epochs and reconciliation state (Kafka's ConsumerGroupMember)."""

    member_id: str
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: MemberState = MemberState.STABLE
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: list[str] = field(default_factory=list)
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    # The member epoch at which each owned partition was assigned to it (KIP-1251, Kafka 4.3): a commit
    # with an older epoch is still accepted for a partition the member already owned at that epoch.
    assignment_epochs: dict[tuple[uuid.UUID, int], int] = field(default_factory=dict)
    # trio times: the session's end, and the end of the time the member has to revoke partitions.
    session_deadline: float = float("inf")
    revocation_deadline: float | None = None

    def owned(self) -> Assignment:
        """Every partition the member may still be consuming (assigned or not yet revoked)."""
        return merge(self.assigned, self.pending_revocation)


@dataclass
class ConsumerGroup:
    """A consumer group: members, group epoch and the target assignment of one assignment epoch."""

    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ConsumerGroupMember] = field(default_factory=dict)
    # member id -> target partitions (Kafka's TargetAssignmentMember records).
    target: dict[str, Assignment] = field(default_factory=dict)
    # The hash of the subscribed topics' ids and partition counts at the group epoch's bump.
    metadata_hash: int = 0
    # The assignor the last target assignment used.
    assignor_name: str = ""
    # When (trio time) the target assignment was last computed; None: not since this broker started.
    last_assignment: float | None = None
    # (topic id, partition) -> the epoch of the member that holds it (assigned or pending revocation).
    partition_epochs: dict[tuple[uuid.UUID, int], int] = field(default_factory=dict)

    def state(self) -> ConsumerGroupState:
        """Kafka's ConsumerGroup.state(): Empty, Assigning (a new epoch to assign), Reconciling, Stable."""
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        for member in self.members.values():
            if member.state != MemberState.STABLE or member.member_epoch != self.assignment_epoch:
                return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def static_member(self, instance_id: str) -> ConsumerGroupMember | None:
        for member in self.members.values():
            if member.instance_id == instance_id:
                return member
        return None

    def current_partition_epoch(self, topic_id: uuid.UUID, partition: int) -> int:
        """The epoch of the member holding the partition, -1 if it is free (Kafka's currentPartitionEpoch)."""
        return self.partition_epochs.get((topic_id, partition), -1)

    def update_member(self, old: ConsumerGroupMember | None, new: ConsumerGroupMember | None) -> None:
        """Keep ``partition_epochs`` in step when a member is added, changes or goes."""
        if old is not None:
            for topic_id, parts in old.owned().items():
                for p in parts:
                    self.partition_epochs.pop((topic_id, p), None)
        if new is not None:
            for topic_id, parts in new.assigned.items():
                for p in parts:
                    self.partition_epochs[(topic_id, p)] = new.member_epoch
            for topic_id, parts in new.pending_revocation.items():
                for p in parts:
                    self.partition_epochs[(topic_id, p)] = new.member_epoch
            self.members[new.member_id] = new
        elif old is not None:
            self.members.pop(old.member_id, None)


def _owns_any(owned: Assignment | None, revoking: Assignment) -> bool:
    """Whether the member still reports a partition it must revoke (it reports nothing: assume it does)."""
    if owned is None:
        return True
    return any(parts & revoking.get(topic_id, frozenset()) for topic_id, parts in owned.items())


# Who holds a partition now: the epoch of its owner, -1 when free (ConsumerGroup.current_partition_epoch).
PartitionEpochs = Callable[[uuid.UUID, int], int]


def next_assignment(
    member: ConsumerGroupMember, target_epoch: int, target: Assignment, partition_epoch: PartitionEpochs,
    owned: Assignment | None,
) -> ConsumerGroupMember:
    """One reconciliation step of ``member`` towards ``target`` (Kafka's CurrentAssignmentBuilder.build):
    a new member object, or ``member`` itself when nothing can progress."""
    if member.state == MemberState.STABLE and member.member_epoch == target_epoch:
        return member
    if member.state == MemberState.UNREVOKED_PARTITIONS and _owns_any(owned, member.pending_revocation):
        return member
    return _compute(member, target_epoch, target, partition_epoch, owned)


def _compute(
    member: ConsumerGroupMember, target_epoch: int, target: Assignment, partition_epoch: PartitionEpochs,
    owned: Assignment | None,
) -> ConsumerGroupMember:
    """Kafka's computeNextAssignment: keep what stays, revoke what goes, add what is free."""
    assigned: Assignment = {}
    revoking: Assignment = {}
    adding: Assignment = {}
    unreleased = False
    for topic_id in set(member.assigned) | set(target):
        wanted = target.get(topic_id, frozenset())
        current = member.assigned.get(topic_id, frozenset())
        kept = current & wanted
        gone = current - kept
        free = frozenset(p for p in wanted - kept if partition_epoch(topic_id, p) == -1)
        unreleased = unreleased or len(free) < len(wanted - kept)
        if kept:
            assigned[topic_id] = kept
        if gone:
            revoking[topic_id] = gone
        if free:
            adding[topic_id] = free
    new = ConsumerGroupMember(**{**member.__dict__})
    new.previous_member_epoch = member.member_epoch
    if revoking and _owns_any(owned, revoking):
        # Revocation first: the member keeps its epoch until it stops reporting those partitions.
        new.state = MemberState.UNREVOKED_PARTITIONS
        new.assigned, new.pending_revocation = assigned, revoking
    else:
        new.member_epoch = target_epoch
        new.assigned, new.pending_revocation = merge(assigned, adding), {}
        new.state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
    owned_now = new.owned()
    new.assignment_epochs = {
        (t, p): member.assignment_epochs.get((t, p), new.member_epoch) for t, parts in owned_now.items() for p in parts
    }
    return new
