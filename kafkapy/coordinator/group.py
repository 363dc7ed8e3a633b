"""A classic consumer group's state: Kafka's GroupMetadata / MemberMetadata (ClassicGroup in Kafka 4).

Pure bookkeeping, no I/O and no timers: the GroupCoordinator drives the state machine

    Empty -> PreparingRebalance -> CompletingRebalance -> Stable -> PreparingRebalance ...
    (any state) -> Dead

and decides when a phase completes. A JoinGroup or SyncGroup that has to wait for its phase to
finish parks a ``Waiter`` on its member (Kafka's awaitingJoinCallback / awaitingSyncCallback).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

import trio

from kafkapy.protocol.errors import ErrorCode

T = TypeVar("T")

# ConsumerProtocol.PROTOCOL_TYPE: groups of this type carry subscriptions the broker can read.
CONSUMER_PROTOCOL_TYPE = "consumer"


class GroupState(StrEnum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


# Kafka's GroupState.validPreviousStates.
_VALID_PREVIOUS: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.PREPARING_REBALANCE: frozenset({GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY}),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(GroupState),
}


class Waiter(Generic[T]):
    """A response that a later event supplies; resolving twice keeps the first answer."""

    __slots__ = ("_event", "_result")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._result: T | None = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def resolve(self, result: T) -> None:
        if not self._event.is_set():
            self._result = result
            self._event.set()

    async def wait(self) -> T:
        await self._event.wait()
        assert self._result is not None
        return self._result


@dataclass
class JoinResult:
    """What a JoinGroup response carries."""

    error: ErrorCode
    member_id: str = ""
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str = ""
    skip_assignment: bool = False
    # (member id, group instance id, metadata of the selected protocol); only the leader gets them.
    members: list[tuple[str, str | None, bytes]] = field(default_factory=list)


@dataclass
class SyncResult:
    """What a SyncGroup response carries."""

    error: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(frozen=True)
class OffsetAndMetadata:
    """A committed offset (Kafka's OffsetAndMetadata); expire_timestamp only from OffsetCommit v2-v4."""

    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int
    expire_timestamp: int | None = None


@dataclass(eq=False)
class Member:
    """One member of a classic group (Kafka's MemberMetadata)."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    # (name, metadata) in the member's order of preference.
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    join_waiter: Waiter[JoinResult] | None = None
    sync_waiter: Waiter[SyncResult] | None = None
    # Joined for the first time and not yet through a completed join phase.
    is_new: bool = False
    # trio time at which the member's session expires; None while nothing is expected of it.
    heartbeat_deadline: float | None = None

    @property
    def is_static(self) -> bool:
        return self.group_instance_id is not None

    @property
    def awaiting_join(self) -> bool:
        return self.join_waiter is not None

    @property
    def awaiting_sync(self) -> bool:
        return self.sync_waiter is not None

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol: str) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        raise KeyError(protocol)

    def matches(self, protocols: list[tuple[str, bytes]]) -> bool:
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among those every member supports."""
        return next(name for name in self.protocol_names() if name in candidates)

    def resolve_join(self, result: JoinResult) -> bool:
        """Answer a parked JoinGroup; False if none was waiting."""
        waiter, self.join_waiter = self.join_waiter, None
        if waiter is None:
            return False
        waiter.resolve(result)
        return True

    def resolve_sync(self, result: SyncResult) -> bool:
        """Answer a parked SyncGroup; False if none was waiting."""
        waiter, self.sync_waiter = self.sync_waiter, None
        if waiter is None:
            return False
        waiter.resolve(result)
        return True


class ClassicGroup:
    """A group's members, generation, selected protocol, leader and committed offsets."""

    def __init__(self, group_id: str, now_ms: int, state: GroupState = GroupState.EMPTY) -> None:
        self.group_id = group_id
        self.state = state
        self.state_timestamp_ms: int | None = now_ms
        self.generation_id = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, Member] = {}
        # group.instance.id -> member id of the static member holding it.
        self.static_members: dict[str, str] = {}
        # JoinGroup v4+: member ids handed out with MEMBER_ID_REQUIRED -> trio deadline to rejoin by.
        self.pending_members: dict[str, float] = {}
        # Members that got their JoinGroup response but have not sent SyncGroup yet.
        self.pending_sync: set[str] = set()
        # Initial delayed join: a member joined during the delay, so the delay may be extended.
        self.new_member_added = False
        # PreparingRebalance timer, and what is left of the initial delay (None for a normal join phase).
        self.join_deadline: float | None = None
        self.initial_delay_remaining_ms: int | None = None
        # CompletingRebalance timer for members that do not send SyncGroup.
        self.sync_deadline: float | None = None
        self.offsets: dict[tuple[str, int], OffsetAndMetadata] = {}
        self.subscribed_topics: set[str] | None = None

    def __repr__(self) -> str:
        return f"ClassicGroup({self.group_id!r}, {self.state}, generation={self.generation_id})"

    # State.

    def is_in(self, *states: GroupState) -> bool:
        return self.state in states

    def transition(self, state: GroupState, now_ms: int) -> None:
        if self.state not in _VALID_PREVIOUS[state]:
            raise RuntimeError(f"group {self.group_id}: illegal transition {self.state} -> {state}")
        self.state = state
        self.state_timestamp_ms = now_ms

    def can_rebalance(self) -> bool:
        return self.state in _VALID_PREVIOUS[GroupState.PREPARING_REBALANCE]

    # Members.

    def has(self, member_id: str) -> bool:
        return member_id in self.members

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    def add(self, member: Member, waiter: Waiter[JoinResult] | None = None) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        if self.leader_id is None:
            self.leader_id = member.member_id
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        member.join_waiter = waiter
        self.pending_members.pop(member.member_id, None)

    def remove(self, member_id: str) -> Member | None:
        """Drop a member (and its static id); a new leader is the first remaining member."""
        member = self.members.pop(member_id, None)
        instance_id = member.group_instance_id if member is not None else None
        if instance_id is not None and self.static_members.get(instance_id) == member_id:
            del self.static_members[instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_members.pop(member_id, None)
        self.pending_sync.discard(member_id)
        return member

    def update_member(
        self,
        member: Member,
        protocols: list[tuple[str, bytes]],
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        waiter: Waiter[JoinResult] | None,
    ) -> None:
        member.protocols = protocols
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        if member.join_waiter is not None and waiter is not None:
            # A retried JoinGroup supersedes the parked one; that client gave up on it already.
            member.resolve_join(JoinResult(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id))
        member.join_waiter = waiter

    def is_static_member_fenced(self, group_instance_id: str | None, member_id: str) -> bool:
        """A static id is in use by a different member id: the caller is an old incarnation."""
        if group_instance_id is None:
            return False
        current = self.static_members.get(group_instance_id)
        return current is not None and current != member_id

    def replace_static_member(self, group_instance_id: str, old_member_id: str, new_member_id: str) -> Member:
        """Hand a static member's place to its new incarnation; a parked old one is fenced."""
        member = self.members.pop(old_member_id)
        member.resolve_join(JoinResult(ErrorCode.FENCED_INSTANCE_ID, old_member_id))
        member.resolve_sync(SyncResult(ErrorCode.FENCED_INSTANCE_ID))
        member.member_id = new_member_id
        self.members[new_member_id] = member
        if self.leader_id == old_member_id:
            self.leader_id = new_member_id
        self.static_members[group_instance_id] = new_member_id
        if old_member_id in self.pending_sync:
            self.pending_sync.discard(old_member_id)
            self.pending_sync.add(new_member_id)
        return member

    def has_all_members_joined(self) -> bool:
        return not self.pending_members and all(m.awaiting_join for m in self.members.values())

    def not_yet_rejoined(self) -> list[Member]:
        return [m for m in self.members.values() if not m.awaiting_join]

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def maybe_elect_new_joined_leader(self) -> bool:
        """Keep the leader if it rejoined, else pick any member that did; False if none did."""
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.awaiting_join:
            return True
        joined = next((m.member_id for m in self.members.values() if m.awaiting_join), None)
        if joined is None:
            return False
        self.leader_id = joined
        return True

    def current_member_metadata(self) -> list[tuple[str, str | None, bytes]]:
        """What the leader needs to compute the assignment: every member's selected-protocol metadata."""
        assert self.protocol_name is not None
        return [(m.member_id, m.group_instance_id, m.metadata(self.protocol_name)) for m in self.members.values()]

    # Protocols.

    def candidate_protocols(self) -> set[str]:
        """Protocols every member supports."""
        counts = Counter(name for m in self.members.values() for name in set(m.protocol_names()))
        return {name for name, count in counts.items() if count == len(self.members)}

    def supports_protocols(self, protocol_type: str, protocols: list[str]) -> bool:
        """Kafka's supportsProtocols: a joining member must share the type and a protocol with the group."""
        if not self.members:
            return bool(protocol_type) and bool(protocols)
        return protocol_type == self.protocol_type and any(p in self.candidate_protocols() for p in protocols)

    def select_protocol(self) -> str:
        """The candidate protocol most members prefer (ties go to the first member's preference)."""
        candidates = self.candidate_protocols()
        votes = Counter(m.vote(candidates) for m in self.members.values())
        return max(votes, key=votes.__getitem__)

    def init_next_generation(self, now_ms: int) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.transition(GroupState.COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.transition(GroupState.EMPTY, now_ms)
        self.subscribed_topics = self.compute_subscribed_topics()
        self.pending_sync.clear()

    def compute_subscribed_topics(self) -> set[str] | None:
        """Topics the members subscribe to, when the group speaks the consumer protocol; else None."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or self.protocol_name is None or not self.members:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            subscribed = parse_subscription_topics(member.metadata(self.protocol_name))
            if subscribed is None:
                return None
            topics |= subscribed
        return topics

    def is_subscribed_to(self, topic: str) -> bool:
        return self.subscribed_topics is not None and topic in self.subscribed_topics


_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


def parse_subscription_topics(metadata: bytes) -> set[str] | None:
    """Topics of a ConsumerProtocolSubscription (version int16, then topics as []string); None if unreadable."""
    try:
        pos = _INT16.size
        (count,) = _INT32.unpack_from(metadata, pos)
        pos += _INT32.size
        topics = set()
        for _ in range(count):
            (length,) = _INT16.unpack_from(metadata, pos)
            pos += _INT16.size
            if length < 0 or pos + length > len(metadata):
                return None
            topics.add(metadata[pos : pos + length].decode("utf-8"))
            pos += length
        return topics
    except (struct.error, UnicodeDecodeError):
        return None
