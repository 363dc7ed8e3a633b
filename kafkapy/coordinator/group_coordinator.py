"""The classic group coordinator (Kafka's kafka.coordinator.group.GroupCoordinator).

Runs entirely on the trio event loop, so group state needs no locks: a handler calls in, the
coordinator updates the ClassicGroup synchronously and, when the request has to wait for its phase
(JoinGroup until the join phase completes, SyncGroup until the leader's assignment arrives), parks
a Waiter that the handler awaits. Each client connection is its own task, so parking one request
never stops heartbeats or other groups.

Kafka's purgatories become deadlines on the group and its members (join phase, pending SyncGroups,
sessions, MEMBER_ID_REQUIRED members), all checked by one timer task, ``run``, which the broker
starts in its nursery; it also has offsets expired every offsets.retention.check.interval.ms.

As in Kafka, the groups themselves, their offsets and ``__consumer_offsets`` belong to the
GroupMetadataManager (group_metadata_manager.py): this class validates requests and runs the
rebalance protocol, and hands it what to store.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import trio

from kafkapy.broker_config import BrokerConfig
from kafkapy.clock import Clock
from kafkapy.coordinator.group import (
    ClassicGroup,
    GroupState,
    JoinResult,
    Member,
    OffsetAndMetadata,
    SyncResult,
    Waiter,
)
from kafkapy.coordinator.group_metadata_manager import GroupMetadataManager
from kafkapy.coordinator.group_records import OffsetsTopic
from kafkapy.coordinator.group_types import GroupListing, GroupOffsetsValidation, GroupType
from kafkapy.protocol.common import TopicPartition
from kafkapy.protocol.errors import ErrorCode

log = logging.getLogger("kafkapy.coordinator")

# Kafka's GroupCoordinator.NewMemberJoinTimeoutMs: how long a new member's JoinGroup may stay parked.
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000


@dataclass
class JoinRequest:
    """A JoinGroup request, version differences already resolved by the handler."""

    group_id: str
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    # JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED and its id.
    require_known_member_id: bool = True
    # JoinGroup v9+ (KIP-814): a rejoining static leader may be told to skip the assignment.
    supports_skip_assignment: bool = False
    reason: str | None = None


class GroupCoordinator:
    """The rebalance protocol of every classic group of this broker, and the timers that drive it."""

    group_type = GroupType.CLASSIC

    def __init__(self, config: BrokerConfig, group_manager: GroupMetadataManager, *, clock: Clock) -> None:
        self.config = config
        self.group_manager = group_manager
        self.clock = clock
        self._wakeup = trio.Event()
        # When the timer task is due to wake next; earlier deadlines must wake it.
        self._wake_at = float("inf")
        # The offsets of a group of another kind (a KIP-848 consumer group...) are kept here by group id,
        # in an offsets-only ClassicGroup that must not show as a classic group; that owner validates
        # the offset requests. Both set by the broker from its GroupRegistry.
        self.owned_elsewhere: Callable[[str], bool] = lambda group_id: False
        self.offsets_owner: Callable[[str], GroupOffsetsValidation | None] = lambda group_id: None

    @property
    def groups(self) -> dict[str, ClassicGroup]:
        """Every group, by id (the GroupMetadataManager's cache)."""
        return self.group_manager.groups

    @property
    def store(self) -> OffsetsTopic:
        """``__consumer_offsets``, for FindCoordinator, OffsetFetch and TxnOffsetCommit."""
        return self.group_manager.store

    # Start-up and timers.

    def load(self) -> None:
        """Rebuild every group from ``__consumer_offsets``; done before the broker serves requests."""
        self.group_manager.load()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire join, sync, session and pending-member deadlines; expire offsets periodically."""
        now = trio.current_time()
        for group in self.groups.values():
            for member in group.members.values():
                # Loaded members get a full session to show up again (Kafka's onGroupLoaded).
                member.heartbeat_deadline = now + member.session_timeout_ms / 1000
        interval = self.config.offsets_retention_check_interval_ms / 1000
        next_cleanup = now + interval
        task_status.started()
        while True:
            self._wakeup = trio.Event()
            self._wake_at = min(self._next_deadline(), next_cleanup)
            with trio.move_on_at(self._wake_at):
                await self._wakeup.wait()
            now = trio.current_time()
            self.fire_timers(now)
            if now >= next_cleanup:
                self.expire_offsets(self.clock.wall_ms())
                next_cleanup = now + interval

    def _poke(self, deadline: float) -> None:
        """A deadline was set: wake the timer task if it would otherwise sleep past it."""
        if deadline < self._wake_at:
            self._wake_at = deadline
            self._wakeup.set()

    def _next_deadline(self) -> float:
        deadlines = [float("inf")]
        for group in self.groups.values():
            deadlines.extend(d for d in (group.join_deadline, group.sync_deadline) if d is not None)
            deadlines.extend(group.pending_members.values())
            deadlines.extend(m.heartbeat_deadline for m in group.members.values() if m.heartbeat_deadline is not None)
        return min(deadlines)

    def fire_timers(self, now: float) -> None:
        """Run every expired deadline (Kafka's delayed operations timing out)."""
        for group in list(self.groups.values()):
            if group.join_deadline is not None and now >= group.join_deadline:
                self._on_join_deadline(group, now)
            if group.sync_deadline is not None and now >= group.sync_deadline:
                self._on_sync_expired(group)
            for member_id, deadline in list(group.pending_members.items()):
                if now >= deadline:
                    self._remove_pending_member(group, member_id)
            for member in list(group.members.values()):
                deadline = member.heartbeat_deadline
                if deadline is not None and now >= deadline and group.members.get(member.member_id) is member:
                    self._on_heartbeat_expired(group, member)

    def _schedule_heartbeat(self, member: Member, timeout_ms: int | None = None) -> None:
        """Kafka's completeAndScheduleNextHeartbeatExpiration."""
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        member.heartbeat_deadline = trio.current_time() + timeout / 1000
        self._poke(member.heartbeat_deadline)

    def _on_heartbeat_expired(self, group: ClassicGroup, member: Member) -> None:
        member.heartbeat_deadline = None
        # Members parked in JoinGroup or SyncGroup are covered by the phase timers (hasSatisfiedHeartbeat).
        if member.is_new or not (member.awaiting_join or member.awaiting_sync):
            log.info("member session expired", extra={"group": group.group_id, "member": member.member_id})
            self._remove_member_and_update_group(group, member)

    def _remove_pending_member(self, group: ClassicGroup, member_id: str) -> None:
        group.pending_members.pop(member_id, None)
        if group.is_in(GroupState.PREPARING_REBALANCE):
            self._try_complete_join(group)

    def _on_sync_expired(self, group: ClassicGroup) -> None:
        """Members that did not send SyncGroup within the rebalance timeout are removed."""
        group.sync_deadline = None
        if group.pending_sync and group.is_in(GroupState.COMPLETING_REBALANCE, GroupState.STABLE):
            log.info("removing members that did not sync", extra={"group": group.group_id})
            for member_id in list(group.pending_sync):
                member = group.remove(member_id)
                if member is not None:
                    member.heartbeat_deadline = None
            self._maybe_prepare_rebalance(group, "members did not send SyncGroup in time")

    # The rebalance protocol.

    def _maybe_prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        if group.can_rebalance():
            self._prepare_rebalance(group, reason)

    def _prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        if group.is_in(GroupState.COMPLETING_REBALANCE):
            self._propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        group.sync_deadline = None
        now = trio.current_time()
        delay_ms = self.config.group_initial_rebalance_delay_ms
        if group.is_in(GroupState.EMPTY):
            # Kafka's InitialDelayedJoin: wait for more first members before the first generation.
            group.initial_delay_remaining_ms = max(group.rebalance_timeout_ms() - delay_ms, 0)
            group.new_member_added = False
            group.join_deadline = now + delay_ms / 1000
        else:
            group.initial_delay_remaining_ms = None
            group.join_deadline = now + group.rebalance_timeout_ms() / 1000
        group.transition(GroupState.PREPARING_REBALANCE, self.clock.wall_ms())
        log.info(
            "preparing to rebalance",
            extra={"group": group.group_id, "generation": group.generation_id, "reason": reason},
        )
        self._poke(group.join_deadline)
        self._try_complete_join(group)

    def _try_complete_join(self, group: ClassicGroup) -> None:
        """Complete the join phase early once every member has rejoined (not during an initial delay)."""
        if (
            group.is_in(GroupState.PREPARING_REBALANCE)
            and group.initial_delay_remaining_ms is None
            and group.has_all_members_joined()
        ):
            self._complete_join(group)

    def _on_join_deadline(self, group: ClassicGroup, now: float) -> None:
        remaining = group.initial_delay_remaining_ms
        if remaining is not None and group.new_member_added and remaining > 0:
            delay = self.config.group_initial_rebalance_delay_ms
            group.new_member_added = False
            group.join_deadline = now + min(delay, remaining) / 1000
            group.initial_delay_remaining_ms = max(remaining - delay, 0)
            return
        self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        """Kafka's onCompleteJoin: drop dynamic members that did not rejoin, start the next generation."""
        group.join_deadline = None
        group.initial_delay_remaining_ms = None
        for member in group.not_yet_rejoined():
            if not member.is_static:
                member.heartbeat_deadline = None
                group.remove(member.member_id)
        if group.is_in(GroupState.DEAD):
            return
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Nobody rejoined: wait another rebalance timeout for sessions to expire the others.
            group.join_deadline = trio.current_time() + group.rebalance_timeout_ms() / 1000
            self._poke(group.join_deadline)
            return
        group.init_next_generation(self.clock.wall_ms())
        if group.is_in(GroupState.EMPTY):
            log.info("group is empty", extra={"group": group.group_id, "generation": group.generation_id})
            self.group_manager.store_group(group, {})
            return
        log.info(
            "group stabilized",
            extra={
                "group": group.group_id,
                "generation": group.generation_id,
                "protocol": group.protocol_name,
                "members": len(group.members),
            },
        )
        for member in group.members.values():
            leader = group.is_leader(member.member_id)
            member.resolve_join(self._current_generation(group, member, with_members=leader))
            self._schedule_heartbeat(member)
            member.is_new = False
            group.pending_sync.add(member.member_id)
        group.sync_deadline = trio.current_time() + group.rebalance_timeout_ms() / 1000
        self._poke(group.sync_deadline)

    def _propagate_assignment_error(self, group: ClassicGroup, error: ErrorCode) -> None:
        """Kafka's resetAndPropagateAssignmentError."""
        for member in group.members.values():
            member.assignment = b""
            member.resolve_sync(SyncResult(error))

    def _set_and_propagate_assignment(self, group: ClassicGroup, assignment: dict[str, bytes]) -> None:
        for member in group.members.values():
            member.assignment = assignment.get(member.member_id, b"")
            result = SyncResult(ErrorCode.NONE, group.protocol_type, group.protocol_name, member.assignment)
            if member.resolve_sync(result):
                self._schedule_heartbeat(member)

    def _remove_member_and_update_group(self, group: ClassicGroup, member: Member) -> None:
        # A parked JoinGroup of a new member learns it was dropped and may retry.
        member.resolve_join(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID))
        member.resolve_sync(SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
        member.heartbeat_deadline = None
        group.remove(member.member_id)
        if group.is_in(GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance(group, f"removing member {member.member_id}")
        elif group.is_in(GroupState.PREPARING_REBALANCE):
            self._try_complete_join(group)

    # JoinGroup.

    async def join_group(self, request: JoinRequest) -> JoinResult:
        outcome = self._join(request)
        group = self.groups.get(request.group_id)
        if group is not None and group.is_in(GroupState.PREPARING_REBALANCE):
            self._try_complete_join(group)
        if isinstance(outcome, Waiter):
            return await outcome.wait()
        return outcome

    def _join(self, request: JoinRequest) -> JoinResult | Waiter[JoinResult]:
        member_id = request.member_id
        if not request.group_id:
            return JoinResult(ErrorCode.INVALID_GROUP_ID, member_id)
        config = self.config
        if not config.group_min_session_timeout_ms <= request.session_timeout_ms <= config.group_max_session_timeout_ms:
            return JoinResult(ErrorCode.INVALID_SESSION_TIMEOUT, member_id)
        group = self.groups.get(request.group_id)
        if group is None:
            if member_id:
                return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
            if not request.protocol_type or not request.protocols:
                return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id)
            group = self.groups[request.group_id] = ClassicGroup(request.group_id, self.clock.wall_ms())
        if not member_id and len(group.members) + len(group.pending_members) >= config.group_max_size:
            return JoinResult(ErrorCode.GROUP_MAX_SIZE_REACHED, member_id)
        if group.is_in(GroupState.DEAD):
            # The group is being deleted; the client rediscovers the coordinator and retries.
            return JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id)
        if not group.supports_protocols(request.protocol_type, [name for name, _ in request.protocols]):
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id)
        if not member_id:
            return self._join_unknown_member(group, request)
        return self._join_current_member(group, request)

    def _join_unknown_member(self, group: ClassicGroup, request: JoinRequest) -> JoinResult | Waiter[JoinResult]:
        instance_id = request.group_instance_id
        member_id = f"{instance_id if instance_id is not None else request.client_id}-{uuid.uuid4()}"
        if instance_id is not None:
            if instance_id in group.static_members:
                return self._update_static_member_and_rebalance(group, request, member_id)
            return self._add_member_and_rebalance(group, request, member_id)
        if request.require_known_member_id:
            deadline = group.pending_members[member_id] = trio.current_time() + request.session_timeout_ms / 1000
            self._poke(deadline)
            return JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id)
        return self._add_member_and_rebalance(group, request, member_id)

    def _join_current_member(self, group: ClassicGroup, request: JoinRequest) -> JoinResult | Waiter[JoinResult]:
        member_id = request.member_id
        if member_id in group.pending_members:
            return self._add_member_and_rebalance(group, request, member_id)
        instance_id = request.group_instance_id
        if group.is_static_member_fenced(instance_id, member_id):
            return JoinResult(ErrorCode.FENCED_INSTANCE_ID, member_id)
        member = group.members.get(member_id)
        if member is None or (instance_id is not None and instance_id not in group.static_members):
            return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
        state = group.state
        if state is GroupState.PREPARING_REBALANCE:
            return self._update_member_and_rebalance(group, member, request, "member rejoined")
        if state is GroupState.COMPLETING_REBALANCE:
            if member.matches(request.protocols):
                # A retry of a JoinGroup whose response was lost: answer with the current generation.
                return self._current_generation(group, member, with_members=group.is_leader(member_id))
            return self._update_member_and_rebalance(group, member, request, "member changed its metadata")
        if state is GroupState.STABLE:
            if group.is_leader(member_id):
                # The leader rejoins to have topic metadata changes reassigned.
                return self._update_member_and_rebalance(group, member, request, "leader rejoined")
            if not member.matches(request.protocols):
                return self._update_member_and_rebalance(group, member, request, "member changed its subscription")
            return self._current_generation(group, member, with_members=False)
        return JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id)

    @staticmethod
    def _current_generation(group: ClassicGroup, member: Member, *, with_members: bool) -> JoinResult:
        return JoinResult(
            ErrorCode.NONE,
            member.member_id,
            group.generation_id,
            group.protocol_type,
            group.protocol_name,
            group.leader_id or "",
            members=group.current_member_metadata() if with_members else [],
        )

    def _add_member_and_rebalance(
        self, group: ClassicGroup, request: JoinRequest, member_id: str
    ) -> Waiter[JoinResult]:
        member = Member(
            member_id=member_id,
            group_instance_id=request.group_instance_id,
            client_id=request.client_id,
            client_host=request.client_host,
            rebalance_timeout_ms=request.rebalance_timeout_ms,
            session_timeout_ms=request.session_timeout_ms,
            protocol_type=request.protocol_type,
            protocols=request.protocols,
            is_new=True,
        )
        if group.is_in(GroupState.PREPARING_REBALANCE) and group.generation_id == 0:
            group.new_member_added = True
        waiter: Waiter[JoinResult] = Waiter()
        group.add(member, waiter)
        # New members cannot heartbeat while parked; a JoinGroup abandoned by its client must not
        # hold the group forever.
        self._schedule_heartbeat(member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance(group, f"adding new member {member_id}")
        return waiter

    def _update_member_and_rebalance(
        self, group: ClassicGroup, member: Member, request: JoinRequest, reason: str
    ) -> Waiter[JoinResult]:
        waiter: Waiter[JoinResult] = Waiter()
        group.update_member(member, request.protocols, request.rebalance_timeout_ms, request.session_timeout_ms, waiter)
        self._maybe_prepare_rebalance(group, f"{reason}: {member.member_id}")
        return waiter

    def _update_static_member_and_rebalance(
        self, group: ClassicGroup, request: JoinRequest, new_member_id: str
    ) -> JoinResult | Waiter[JoinResult]:
        """A known group.instance.id rejoins with a fresh member id (a restarted static member)."""
        instance_id = request.group_instance_id
        assert instance_id is not None
        old_member_id = group.static_members[instance_id]
        old_leader = group.leader_id
        member = group.replace_static_member(instance_id, old_member_id, new_member_id)
        old_protocols, old_timeouts = member.protocols, (member.rebalance_timeout_ms, member.session_timeout_ms)
        self._schedule_heartbeat(member)
        waiter: Waiter[JoinResult] = Waiter()
        group.update_member(member, request.protocols, request.rebalance_timeout_ms, request.session_timeout_ms, waiter)
        if group.is_in(GroupState.STABLE):
            if group.select_protocol() != group.protocol_name:
                self._maybe_prepare_rebalance(group, f"static member {instance_id} changed the group's protocol")
                return waiter
            error = self.group_manager.store_group(group, {m.member_id: m.assignment for m in group.members.values()})
            if error != ErrorCode.NONE:
                # Undo the replacement: the old incarnation stays the member.
                member.join_waiter = None
                group.replace_static_member(instance_id, new_member_id, old_member_id)
                member.protocols = old_protocols
                member.rebalance_timeout_ms, member.session_timeout_ms = old_timeouts
                return JoinResult(error, "")
            log.info(
                "static member rejoined without a rebalance",
                extra={"group": group.group_id, "instance": instance_id, "member": new_member_id},
            )
            if group.is_leader(new_member_id) and request.supports_skip_assignment:
                # KIP-814: the leader learns the members but must not compute a new assignment.
                result = self._current_generation(group, member, with_members=True)
                result.skip_assignment = True
            else:
                # The old leader id stops a rejoining leader without skip_assignment from assigning.
                result = self._current_generation(group, member, with_members=False)
                result.leader_id = old_leader or ""
            member.resolve_join(result)
        elif group.is_in(GroupState.COMPLETING_REBALANCE):
            # The leader may be assigning to the old member id: start over.
            self._prepare_rebalance(group, f"static member {instance_id} rejoined during CompletingRebalance")
        return waiter

    # SyncGroup, Heartbeat, LeaveGroup.

    def _member_error(
        self, group: ClassicGroup | None, member_id: str, instance_id: str | None, generation_id: int
    ) -> ErrorCode:
        """The checks SyncGroup and Heartbeat share, in Kafka's order."""
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_in(GroupState.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if group.is_static_member_fenced(instance_id, member_id):
            return ErrorCode.FENCED_INSTANCE_ID
        if not group.has(member_id):
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        return ErrorCode.NONE

    async def sync_group(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: dict[str, bytes],
    ) -> SyncResult:
        if not group_id:
            return SyncResult(ErrorCode.INVALID_GROUP_ID)
        group = self.groups.get(group_id)
        error = self._member_error(group, member_id, instance_id, generation_id)
        if error != ErrorCode.NONE:
            return SyncResult(error)
        assert group is not None
        if (protocol_type is not None and protocol_type != group.protocol_type) or (
            protocol_name is not None and protocol_name != group.protocol_name
        ):
            return SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        member = group.members[member_id]
        if group.is_in(GroupState.EMPTY):
            return SyncResult(ErrorCode.UNKNOWN_MEMBER_ID)
        if group.is_in(GroupState.PREPARING_REBALANCE):
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        self._sync_done(group, member_id)
        if group.is_in(GroupState.STABLE):
            self._schedule_heartbeat(member)
            return SyncResult(ErrorCode.NONE, group.protocol_type, group.protocol_name, member.assignment)
        # A retried SyncGroup (from another connection) shares the answer of the parked one.
        waiter: Waiter[SyncResult] = member.sync_waiter or Waiter()
        member.sync_waiter = waiter
        if group.is_leader(member_id):
            assignment = {mid: assignments.get(mid, b"") for mid in group.members}
            error = self.group_manager.store_group(group, assignment)
            if error != ErrorCode.NONE:
                self._propagate_assignment_error(group, error)
                self._maybe_prepare_rebalance(group, "storing the assignment failed")
            else:
                self._set_and_propagate_assignment(group, assignment)
                group.transition(GroupState.STABLE, self.clock.wall_ms())
                log.info("group is stable", extra={"group": group_id, "generation": group.generation_id})
        return await waiter.wait()

    @staticmethod
    def _sync_done(group: ClassicGroup, member_id: str) -> None:
        group.pending_sync.discard(member_id)
        if not group.pending_sync:
            group.sync_deadline = None

    def heartbeat(self, group_id: str, generation_id: int, member_id: str, instance_id: str | None) -> ErrorCode:
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.get(group_id)
        error = self._member_error(group, member_id, instance_id, generation_id)
        if error != ErrorCode.NONE:
            return error
        assert group is not None
        if group.is_in(GroupState.EMPTY):
            return ErrorCode.UNKNOWN_MEMBER_ID
        self._schedule_heartbeat(group.members[member_id])
        if group.is_in(GroupState.PREPARING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave_group(self, group_id: str, members: list[tuple[str, str | None]]) -> tuple[ErrorCode, list[ErrorCode]]:
        """Remove (member id, group instance id) pairs; an empty member id removes by instance id."""
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID, []
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID for _ in members]
        if group.is_in(GroupState.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        return ErrorCode.NONE, [self._leave(group, member_id, instance_id) for member_id, instance_id in members]

    def _leave(self, group: ClassicGroup, member_id: str, instance_id: str | None) -> ErrorCode:
        if not member_id:
            current = group.static_members.get(instance_id) if instance_id is not None else None
            if current is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            member_id = current
        elif member_id in group.pending_members:
            self._remove_pending_member(group, member_id)
            return ErrorCode.NONE
        elif group.is_static_member_fenced(instance_id, member_id):
            return ErrorCode.FENCED_INSTANCE_ID
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        log.info("member left", extra={"group": group.group_id, "member": member_id})
        self._remove_member_and_update_group(group, member)
        return ErrorCode.NONE

    # Offsets: validated here, kept and persisted by the GroupMetadataManager.

    def commit_offsets(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        instance_id: str | None,
        offsets: dict[TopicPartition, OffsetAndMetadata],
        *,
        api_version: int = 10,
    ) -> dict[TopicPartition, ErrorCode]:
        """Store offsets (already validated per partition by the handler); an error per partition."""
        owner = self.offsets_owner(group_id)
        if owner is not None:
            errors = owner.offset_commit_errors(
                group_id, member_id, generation_id, instance_id, list(offsets), api_version=api_version
            )
            accepted = {tp: offset for tp, offset in offsets.items() if errors[tp] == ErrorCode.NONE}
            if accepted:
                errors.update(dict.fromkeys(accepted, self.group_manager.store_offsets(group_id, accepted)))
            return errors
        error = self._commit_error(group_id, generation_id, member_id, instance_id)
        if error == ErrorCode.NONE and offsets:
            error = self.group_manager.store_offsets(group_id, offsets)
        return {tp: error for tp in offsets}

    def _commit_error(self, group_id: str, generation_id: int, member_id: str, instance_id: str | None) -> ErrorCode:
        """Kafka's validateOffsetCommit plus the state checks of doCommitOffsets."""
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                # A generation of a group this coordinator does not know (Kafka's OffsetMetadataManager);
                # ILLEGAL_GENERATION before OffsetCommit v9, by the specs' error line.
                return ErrorCode.GROUP_ID_NOT_FOUND
            group = ClassicGroup(group_id, self.clock.wall_ms())
        if group.is_in(GroupState.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation_id >= 0 or member_id or instance_id is not None:
            if group.is_static_member_fenced(instance_id, member_id):
                return ErrorCode.FENCED_INSTANCE_ID
            if (generation_id >= 0 or member_id) and not group.has(member_id):
                return ErrorCode.UNKNOWN_MEMBER_ID
            if generation_id >= 0 and generation_id != group.generation_id:
                return ErrorCode.ILLEGAL_GENERATION
        elif not group.is_in(GroupState.EMPTY):
            # Only members may commit for a group with members.
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_in(GroupState.COMPLETING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        member = group.members.get(member_id)
        if member is not None and group.is_in(GroupState.STABLE, GroupState.PREPARING_REBALANCE):
            # A commit counts as a sign of life, as in Kafka.
            self._schedule_heartbeat(member)
        return ErrorCode.NONE

    def commit_txn_offsets(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        instance_id: str | None,
        producer: tuple[int, int],
        offsets: dict[TopicPartition, OffsetAndMetadata],
    ) -> ErrorCode:
        """Kafka's handleTxnCommitOffsets, once the transaction coordinator accepted ``producer`` (id, epoch)."""
        owner = self.offsets_owner(group_id)
        if owner is not None:
            errors = owner.offset_commit_errors(
                group_id, member_id, generation_id, instance_id, list(offsets), api_version=None
            )
            error = next((e for e in errors.values() if e != ErrorCode.NONE), ErrorCode.NONE)
        else:
            error = self._txn_commit_error(self.groups.get(group_id), generation_id, member_id, instance_id)
        if error != ErrorCode.NONE or not offsets:
            return error
        return self.group_manager.store_txn_offsets(group_id, offsets, producer)

    @staticmethod
    def _txn_commit_error(
        group: ClassicGroup | None, generation_id: int, member_id: str, instance_id: str | None
    ) -> ErrorCode:
        """Kafka's validateTransactionalOffsetCommit; an unknown group is one that only stores offsets, unless
        the commit names a generation of it (ILLEGAL_GENERATION, as from Kafka 4.3.1)."""
        if group is None:
            return ErrorCode.ILLEGAL_GENERATION if generation_id >= 0 else ErrorCode.NONE
        if group.is_in(GroupState.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and group.is_in(GroupState.EMPTY):
            return ErrorCode.NONE
        if group.is_static_member_fenced(instance_id, member_id):
            return ErrorCode.FENCED_INSTANCE_ID
        if member_id and not group.has(member_id):
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation_id >= 0 and generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        return ErrorCode.NONE

    def fetch_offsets(
        self, group_id: str, partitions: list[TopicPartition] | None
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Kafka's handleFetchOffsets: the GroupMetadataManager's committed offsets."""
        return self.group_manager.fetch_offsets(group_id, partitions)

    def delete_offsets(
        self, group_id: str, partitions: list[TopicPartition]
    ) -> tuple[ErrorCode, dict[TopicPartition, ErrorCode]]:
        """OffsetDelete: drop offsets of topics the group does not subscribe to (all of them if it is empty)."""
        group = self.groups.get(group_id)
        if group is None or group.is_in(GroupState.DEAD):
            return ErrorCode.GROUP_ID_NOT_FOUND, {}
        if not group.is_in(GroupState.EMPTY) and group.protocol_type != "consumer":
            return ErrorCode.NON_EMPTY_GROUP, {}
        errors: dict[TopicPartition, ErrorCode] = {}
        deletable: set[TopicPartition] = set()
        for tp in partitions:
            subscribed = not group.is_in(GroupState.EMPTY) and group.is_subscribed_to(tp[0])
            # A consumer group's offsets are kept here by group id; its own coordinator knows its subscriptions.
            if subscribed or self.group_manager.subscribed_elsewhere(group_id, tp[0]):
                errors[tp] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
            else:
                errors[tp] = ErrorCode.NONE
                deletable.add(tp)
        self.group_manager.cleanup([group], lambda g: [tp for tp in g.offsets if tp in deletable])
        return ErrorCode.NONE, errors

    def delete_topic_offsets(self, topics: Iterable[str]) -> None:
        """Kafka's handleDeletedPartitions: DeleteTopics drops every group's offsets of the topics."""
        self.group_manager.delete_topic_offsets(topics)

    def expire_offsets(self, now_ms: int) -> None:
        """What the timer does every offsets.retention.check.interval.ms (GroupMetadataManager.expire_offsets)."""
        self.group_manager.expire_offsets(now_ms)

    def complete_txn_offsets(self, producer_id: int, commit: bool) -> None:
        """Kafka's scheduleHandleTxnCompletion: a transaction's offsets apply on COMMIT, are dropped on ABORT."""
        self.group_manager.complete_txn_offsets(producer_id, commit)

    def rewrite_offsets_topic(self) -> None:
        """After DeleteTopics took ``__consumer_offsets``: GroupMetadataManager.rewrite_offsets_topic."""
        self.group_manager.rewrite_offsets_topic()

    # Admin.

    def reset(self) -> None:
        """Forget every group and its offsets (KafkaBroker.reset; ``__consumer_offsets`` is deleted with the topics).

        Requests parked in JoinGroup or SyncGroup answer UNKNOWN_MEMBER_ID, as to a member a fresh
        coordinator has never seen, so their clients rejoin.
        """
        for group in self.groups.values():
            for member in group.members.values():
                member.resolve_join(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID))
                member.resolve_sync(SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
        self.group_manager.reset()
        self._poke(float("-inf"))

    # The registry's view (group_types.py): every group type shares one id namespace.

    def owns(self, group_id: str) -> bool:
        group = self.groups.get(group_id)
        return group is not None and not group.is_in(GroupState.DEAD) and not self.owned_elsewhere(group_id)

    def listings(self) -> Iterable[GroupListing]:
        for group in self.groups.values():
            if not group.is_in(GroupState.DEAD) and not self.owned_elsewhere(group.group_id):
                yield GroupListing(group.group_id, group.protocol_type or "", group.state.value, GroupType.CLASSIC)

    def delete_group(self, group_id: str) -> ErrorCode:
        return self.delete_groups([group_id])[group_id]

    def member_count(self, group_id: str) -> int | None:
        """How many members a live classic group with this id has (None: there is none)."""
        group = self.groups.get(group_id)
        return None if group is None or group.is_in(GroupState.DEAD) else len(group.members)

    def delete_offsets_of(self, group_id: str) -> None:
        """Drop every committed offset of a group id (its group of another kind was deleted)."""
        group = self.groups.get(group_id)
        if group is not None and group.is_in(GroupState.EMPTY):
            group.transition(GroupState.DEAD, self.clock.wall_ms())
            self.group_manager.cleanup([group], lambda g: list(g.offsets))

    def delete_groups(self, group_ids: list[str]) -> dict[str, ErrorCode]:
        errors: dict[str, ErrorCode] = {}
        dead: list[ClassicGroup] = []
        for group_id in group_ids:
            group = self.groups.get(group_id)
            if group is None or group.is_in(GroupState.DEAD):
                errors[group_id] = ErrorCode.GROUP_ID_NOT_FOUND
            elif not group.is_in(GroupState.EMPTY):
                errors[group_id] = ErrorCode.NON_EMPTY_GROUP
            else:
                group.transition(GroupState.DEAD, self.clock.wall_ms())
                dead.append(group)
                errors[group_id] = ErrorCode.NONE
        self.group_manager.cleanup(dead, lambda g: list(g.offsets))
        return errors
