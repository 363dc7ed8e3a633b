"""Online migration between classic groups and KIP-848 consumer groups (Kafka 4's
``group.consumer.migration.policy``; GroupMetadataManager's convertToConsumerGroup,
convertToClassicGroup and the classic APIs it answers for a consumer group).

A consumer-protocol member (ConsumerGroupHeartbeat) joining a non-empty classic group whose
protocol type is ``consumer`` converts it into a consumer group when the policy allows upgrades:
every classic member becomes a consumer group member that keeps its last assignment and its
classic metadata (session timeout, JoinGroup protocols: Kafka's ClassicMemberMetadata), and goes on
speaking JoinGroup/SyncGroup/Heartbeat/LeaveGroup, answered from the consumer group's target
assignment. When the last consumer-protocol member leaves a group whose other members all speak
the classic protocol, the group converts back when the policy allows downgrades. An empty group
converts either way whatever the policy. Committed offsets belong to the group id and are kept.

This module holds what the conversions need that is not a coordinator's: the policy, the embedded
consumer protocol (ConsumerProtocolSubscription/Assignment, ``protocol_specs/internal/
consumer_protocol.kspec``) and the checks Kafka makes, with its messages.
"""

from __future__ import annotations

import base64
import logging
import struct
import uuid
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

import construct as c
import trio

from kafkapy.coordinator.assignors import Assignment
from kafkapy.coordinator.consumer_group import ConsumerGroup, ConsumerGroupMember, MemberState
from kafkapy.coordinator.group import CONSUMER_PROTOCOL_TYPE, ClassicGroup, JoinResult, SyncResult
from kafkapy.coordinator.group_configs import GroupConfigs
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.schema import message_construct
from kafkapy.protocol.specs import internal_specs

if TYPE_CHECKING:
    from kafkapy.coordinator.consumer_group_coordinator import ConsumerGroupCoordinator
    from kafkapy.coordinator.group_coordinator import GroupCoordinator, JoinRequest

log = logging.getLogger("kafkapy.coordinator")

_VERSION = struct.Struct(">h")
# The newest ConsumerProtocolSubscription/Assignment layout; Kafka reads newer versions with it.
CONSUMER_PROTOCOL_MAX_VERSION = 3

# topic name -> partitions, as the embedded consumer protocol names them.
TopicPartitions = dict[str, frozenset[int]]


class MigrationPolicy(StrEnum):
    """Kafka's ConsumerGroupMigrationPolicy (``group.consumer.migration.policy``, default bidirectional)."""

    DISABLED = "disabled"
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    BIDIRECTIONAL = "bidirectional"

    @property
    def upgrade_enabled(self) -> bool:
        return self in (MigrationPolicy.UPGRADE, MigrationPolicy.BIDIRECTIONAL)

    @property
    def downgrade_enabled(self) -> bool:
        return self in (MigrationPolicy.DOWNGRADE, MigrationPolicy.BIDIRECTIONAL)


def migration_policy(configs: GroupConfigs) -> MigrationPolicy:
    """The policy in effect, read at each use (case-insensitive, as Kafka's parse; unknown: disabled)."""
    name = str(configs.broker_value("group.consumer.migration.policy")).strip().lower()
    try:
        return MigrationPolicy(name)
    except ValueError:
        return MigrationPolicy.DISABLED


# The embedded consumer protocol.


@cache
def _schema(name: str, version: int) -> c.Construct:
    return message_construct(internal_specs("consumer_protocol")[name], version).compile()


def _decode(name: str, data: bytes) -> tuple[int, Any]:
    """(version, fields) of a ConsumerProtocol message; raises MalformedProtocol when unreadable."""
    try:
        (version,) = _VERSION.unpack_from(data)
        if version < 0:
            raise MalformedProtocol(f"{name} version {version}")
        fields = _schema(name, min(version, CONSUMER_PROTOCOL_MAX_VERSION)).parse(data[_VERSION.size :])
    except (struct.error, c.ConstructError, UnicodeDecodeError) as exc:
        raise MalformedProtocol(f"{name}: {exc}") from exc
    return version, fields


class MalformedProtocol(ValueError):
    """An embedded consumer protocol message that cannot be read (Kafka's SchemaException)."""


@dataclass(frozen=True)
class Subscription:
    """A classic member's ConsumerProtocolSubscription, what the conversion keeps of it."""

    version: int
    topics: list[str]
    rack_id: str | None
    owned_partitions: TopicPartitions


def decode_subscription(metadata: bytes) -> Subscription:
    version, fields = _decode("ConsumerProtocolSubscription", metadata)
    owned = {tp.topic: frozenset(tp.partitions) for tp in fields.get("owned_partitions") or ()}
    return Subscription(version, list(fields.topics), fields.get("rack_id"), owned)


def subscription_version(metadata: bytes) -> int:
    """The version a member's subscription was written in (Kafka's ConsumerProtocol.deserializeVersion)."""
    try:
        (version,) = _VERSION.unpack_from(metadata)
    except struct.error as exc:
        raise MalformedProtocol(f"ConsumerProtocolSubscription: {exc}") from exc
    return version


def decode_assignment(data: bytes) -> tuple[TopicPartitions, bytes | None]:
    """A ConsumerProtocolAssignment's partitions by topic, and its user data (None when absent).

    An empty assignment (a member that joined and never synced) assigns nothing.
    """
    if not data:
        return {}, None
    _, fields = _decode("ConsumerProtocolAssignment", data)
    partitions: dict[str, frozenset[int]] = {}
    for tp in fields.assigned_partitions:
        partitions[tp.topic] = partitions.get(tp.topic, frozenset()) | frozenset(tp.partitions)
    return partitions, fields.user_data


def encode_assignment(partitions: TopicPartitions, version: int) -> bytes:
    """A ConsumerProtocolAssignment in the version of the member's subscription (capped to the newest),
    as Kafka's prepareAssignment serializes a classic member's assignment in a consumer group."""
    if version < 0:
        raise MalformedProtocol(f"ConsumerProtocolAssignment version {version}")
    version = min(version, CONSUMER_PROTOCOL_MAX_VERSION)
    body = {
        "assigned_partitions": [
            {"topic": topic, "partitions": sorted(parts)} for topic, parts in sorted(partitions.items()) if parts
        ],
        "user_data": None,
    }
    return _VERSION.pack(version) + _schema("ConsumerProtocolAssignment", version).build(body)


# What a classic member keeps in a consumer group.


@dataclass(frozen=True)
class ClassicMemberMetadata:
    """Kafka's ConsumerGroupMemberMetadataValue.ClassicMemberMetadata: a consumer group member that
    speaks the classic protocol (null for a consumer-protocol member)."""

    session_timeout_ms: int
    # (name, metadata) of the JoinGroup protocols, in the member's order of preference.
    supported_protocols: tuple[tuple[str, bytes], ...]

    @property
    def protocol_name(self) -> str:
        """The protocol its JoinGroup and SyncGroup answers name: the member's first (Kafka's choice)."""
        return self.supported_protocols[0][0]

    def assignment_bytes(self, partitions: TopicPartitions) -> bytes:
        """What its SyncGroup returns for these partitions (Kafka's prepareAssignment)."""
        return encode_assignment(partitions, subscription_version(self.supported_protocols[0][1]))

    def to_record(self) -> dict[str, Any]:
        """The record's ClassicMemberMetadata struct (tag 0 of ConsumerGroupMemberMetadataValue)."""
        return {
            "session_timeout_ms": self.session_timeout_ms,
            "supported_protocols": [{"name": n, "metadata": m} for n, m in self.supported_protocols],
        }

    @classmethod
    def from_record(cls, fields: Any) -> ClassicMemberMetadata | None:
        if fields is None:
            return None
        protocols = tuple((p.name, bytes(p.metadata)) for p in fields.supported_protocols)
        return cls(fields.session_timeout_ms, protocols)


def supports_protocols(classic_members: list[ClassicMemberMetadata], protocol_type: str, names: set[str]) -> bool:
    """Kafka's ConsumerGroup.supportsClassicProtocols: a classic JoinGroup to a consumer group must be
    of type ``consumer`` and share a protocol with every classic member already there."""
    if protocol_type != CONSUMER_PROTOCOL_TYPE:
        return False
    if not classic_members:
        return bool(names)
    return any(all(name in {n for n, _ in m.supported_protocols} for m in classic_members) for name in names)


# Kafka's checks, with its messages (Kafka 4.3.1's, read on the reference: ConsumerGroupHeartbeat answers
# GROUP_ID_NOT_FOUND with "Cannot upgrade classic group <id> to consumer group because <reason>.").

UPGRADE_DISABLED = "online upgrade is disabled"
NOT_CONSUMER_PROTOCOL = "the group does not use the consumer embedded protocol"
TOO_MANY_MEMBERS = "the group size exceeds the consumer group maximum size"
MALFORMED_PROTOCOL = "the embedded consumer protocol is malformed"
CUSTOM_ASSIGNOR = (
    "an unsupported custom assignor is in use. Please refer to the documentation or switch to a default "
    "assignor before re-attempting the upgrade"
)


def upgrade_refusal(group: ClassicGroup, policy: MigrationPolicy, consumer_group_max_size: int) -> str | None:
    """Why a non-empty classic group cannot become a consumer group, in Kafka's order (policy, protocol
    type, size), or None when it can; the members' protocol is read by the conversion itself."""
    if not policy.upgrade_enabled:
        return UPGRADE_DISABLED
    if group.protocol_type != CONSUMER_PROTOCOL_TYPE:
        return NOT_CONSUMER_PROTOCOL
    if len(group.members) > consumer_group_max_size:
        return TOO_MANY_MEMBERS
    return None


def upgrade_error(group_id: str, reason: str) -> KafkaError:
    """ConsumerGroupHeartbeat's answer when a classic group stays classic; the group is left as it was."""
    return KafkaError(
        ErrorCode.GROUP_ID_NOT_FOUND, f"Cannot upgrade classic group {group_id} to consumer group because {reason}."
    )


def downgrade_allowed(
    classic_members: int, members: int, leaving_is_consumer: bool, policy: MigrationPolicy, classic_max_size: int
) -> bool:
    """Kafka's validateOnlineDowngradeWithFencedMember: the member leaving is the last one speaking
    the consumer protocol, others remain, the policy allows it and they fit in a classic group."""
    if not (leaving_is_consumer and classic_members == members - 1):
        return False
    return members > 1 and policy.downgrade_enabled and members - 1 <= classic_max_size


def new_member_id() -> str:
    """A member id as Kafka's consumer group coordinator makes them (Uuid.randomUuid().toString())."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class GroupMigration:
    """The conversions, and the classic protocol spoken to a consumer group by its classic members.

    The classic coordinator hands a JoinGroup/SyncGroup/Heartbeat/LeaveGroup for a group id the
    consumer group coordinator owns here (``classic_*``), and the consumer group coordinator asks here
    to upgrade a classic group (``upgrade``) and whether a leaving member downgrades its group
    (``maybe_downgrade``). Offsets stay with the classic GroupMetadataManager by group id throughout.
    """

    def __init__(self, classic: GroupCoordinator, consumer: ConsumerGroupCoordinator, configs: GroupConfigs) -> None:
        self.classic = classic
        self.consumer = consumer
        self.configs = configs

    def _policy(self) -> MigrationPolicy:
        return migration_policy(self.configs)

    # Topic names (the embedded protocol) and topic ids (consumer groups).

    def _ids(self, partitions: TopicPartitions) -> Assignment:
        """The partitions of existing topics by topic id (Kafka drops the unknown ones)."""
        topics = self.consumer.logs.topics
        return {topics[name].topic_id: parts for name, parts in partitions.items() if name in topics and parts}

    def _names(self, assignment: Assignment) -> TopicPartitions:
        by_id = {state.topic_id: name for name, state in self.consumer.logs.topics.items()}
        return {by_id[topic_id]: parts for topic_id, parts in assignment.items() if topic_id in by_id}

    # Classic -> consumer.

    def replace_empty_classic(self, group_id: str) -> None:
        """A new consumer group takes the id of an empty classic group: its metadata goes, its offsets
        stay (Kafka's maybeDeleteEmptyClassicGroup)."""
        self.classic.retire(self.classic.groups[group_id], ErrorCode.REBALANCE_IN_PROGRESS)

    def upgrade(self, group_id: str) -> ConsumerGroup:
        """A ConsumerGroupHeartbeat joins a classic group with members: it converts (Kafka's
        validateOnlineUpgrade + convertToConsumerGroup), else KafkaError GROUP_ID_NOT_FOUND with Kafka's
        reason; its offsets stay, kept by group id."""
        classic_group = self.classic.groups[group_id]
        max_size = int(self.configs.broker_value("group.consumer.max.size"))
        reason = upgrade_refusal(classic_group, self._policy(), max_size)
        if reason is None:
            try:
                group = self._consumer_group_from(classic_group)
            except MalformedProtocol:
                reason = MALFORMED_PROTOCOL
            except CustomAssignor:
                reason = CUSTOM_ASSIGNOR
        if reason is not None:
            log.info("classic group not upgraded", extra={"group": group_id, "reason": reason})
            raise upgrade_error(group_id, reason)
        self.classic.retire(classic_group, ErrorCode.REBALANCE_IN_PROGRESS)
        self.consumer.groups[group_id] = group
        log.info("classic group upgraded to a consumer group", extra={"group": group_id, "epoch": group.group_epoch})
        return group

    def _consumer_group_from(self, classic_group: ClassicGroup) -> ConsumerGroup:
        """Kafka's ConsumerGroup.fromClassicGroup: every member keeps its last assignment as its target,
        at the classic generation, stable; they rejoin when the group epoch moves on."""
        epoch = classic_group.generation_id
        group = ConsumerGroup(classic_group.group_id, group_epoch=epoch, assignment_epoch=epoch)
        now = trio.current_time()
        for old in classic_group.members.values():
            partitions, user_data = decode_assignment(old.assignment)
            if user_data:
                raise CustomAssignor
            protocol = classic_group.protocol_name or old.protocols[0][0]
            subscription = decode_subscription(old.metadata(protocol))
            assigned = self._ids(partitions)
            member = ConsumerGroupMember(
                old.member_id,
                member_epoch=epoch,
                previous_member_epoch=epoch,
                state=MemberState.STABLE,
                instance_id=old.group_instance_id,
                rack_id=subscription.rack_id,
                client_id=old.client_id,
                client_host=old.client_host,
                rebalance_timeout_ms=old.rebalance_timeout_ms,
                subscribed_topic_names=sorted(set(subscription.topics)),
                assigned=assigned,
                # Owned since the classic generation, for KIP-1251's older-epoch commits.
                assignment_epochs={(t, p): epoch for t, parts in assigned.items() for p in parts},
                classic=ClassicMemberMetadata(old.session_timeout_ms, tuple(old.protocols)),
            )
            member.session_deadline = now + old.session_timeout_ms / 1000
            group.target[member.member_id] = assigned
            group.update_member(None, member)
        group.metadata_hash = self.consumer._metadata_hash(group)
        return group

    # Consumer -> classic.

    def maybe_downgrade(self, group: ConsumerGroup, leaving: ConsumerGroupMember) -> bool:
        """Kafka's validateOnlineDowngradeWithFencedMember + convertToClassicGroup, when ``leaving``
        (leaving or fenced) is the last member speaking the consumer protocol: the others become a
        classic group at the group epoch, with their target assignment, which rebalances at once."""
        classic_members = [m for m in group.members.values() if m.classic is not None]
        allowed = downgrade_allowed(
            len(classic_members),
            len(group.members),
            leaving.classic is None,
            self._policy(),
            self.classic.config.group_max_size,
        )
        if not allowed:
            return False
        members = [(m, self._names(group.target.get(m.member_id, {}))) for m in classic_members]
        del self.consumer.groups[group.group_id]
        self.classic.adopt(group.group_id, group.group_epoch, members)
        log.info("consumer group downgraded to a classic group", extra={"group": group.group_id})
        return True

    # The classic protocol in a consumer group.

    def _classic_member(
        self, group: ConsumerGroup, member_id: str, instance_id: str | None
    ) -> ConsumerGroupMember | ErrorCode:
        """Kafka's validateConsumerGroupMember + throwIfMemberDoesNotUseClassicProtocol."""
        if instance_id is None:
            member = group.members.get(member_id)
            if member is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
        else:
            member = group.static_member(instance_id)
            if member is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if member.member_id != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if member.classic is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return member

    def _renew_session(self, member: ConsumerGroupMember) -> None:
        assert member.classic is not None
        member.session_deadline = trio.current_time() + member.classic.session_timeout_ms / 1000
        self.consumer._poke()

    def _owe_within_rebalance_timeout(self, member: ConsumerGroupMember, *, replace: bool) -> None:
        """The member must send its next JoinGroup or SyncGroup within its rebalance timeout, or be
        removed (Kafka's consumer group join/sync timeouts; ``replace``: a new sync timeout after a
        join, else a join timeout if none is running)."""
        deadline = trio.current_time() + max(member.rebalance_timeout_ms, 0) / 1000
        if replace or member.classic_deadline is None:
            member.classic_deadline = deadline
        self.consumer._poke()

    def classic_join(self, request: JoinRequest) -> JoinResult | None:
        """A JoinGroup for a consumer group: None when the group is empty (it is deleted and the join goes
        on as a classic one, Kafka's maybeDeleteEmptyConsumerGroup), else Kafka's
        classicGroupJoinToConsumerGroup answered at once."""
        group = self.consumer.groups[request.group_id]
        if not group.members:
            del self.consumer.groups[request.group_id]
            self.consumer._persist(request.group_id)
            return None
        member_id = request.member_id or new_member_id()
        try:
            self.consumer._throw_if_full(group, member_id)
        except KafkaError as exc:
            return JoinResult(exc.code, request.member_id)
        classic_members = [m.classic for m in group.members.values() if m.classic is not None]
        if not supports_protocols(classic_members, request.protocol_type, {n for n, _ in request.protocols}):
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, request.member_id)
        if request.require_known_member_id and not request.member_id and request.group_instance_id is None:
            return JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id)
        try:
            subscription = decode_subscription(request.protocols[0][1])
        except MalformedProtocol:
            return JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, request.member_id)
        member = self._joining_member(group, member_id, request.group_instance_id, known=bool(request.member_id))
        if isinstance(member, ErrorCode):
            return JoinResult(member, request.member_id)
        updated = ConsumerGroupMember(**{**member.__dict__})
        updated.instance_id = request.group_instance_id or member.instance_id
        if subscription.rack_id is not None:
            updated.rack_id = subscription.rack_id
        updated.rebalance_timeout_ms = request.rebalance_timeout_ms
        updated.subscribed_topic_names = sorted(set(subscription.topics))
        updated.client_id, updated.client_host = request.client_id, request.client_host
        updated.classic = ClassicMemberMetadata(request.session_timeout_ms, tuple(request.protocols))
        owned = self._ids(subscription.owned_partitions)
        reconciled = self.consumer.update_and_reconcile(group, member, updated, owned)
        error = self.consumer._persist(group.group_id)
        if error != ErrorCode.NONE:
            return JoinResult(error, request.member_id)
        self._renew_session(reconciled)
        self._owe_within_rebalance_timeout(reconciled, replace=True)
        assert reconciled.classic is not None
        return JoinResult(
            ErrorCode.NONE,
            reconciled.member_id,
            reconciled.member_epoch,
            CONSUMER_PROTOCOL_TYPE,
            reconciled.classic.protocol_name,
        )

    def _joining_member(
        self, group: ConsumerGroup, member_id: str, instance_id: str | None, *, known: bool
    ) -> ConsumerGroupMember | ErrorCode:
        """The member a JoinGroup updates: itself, a new one, or a static member's new incarnation when
        it joins without a member id (Kafka's getOrMaybeSubscribe*ConsumerGroupMember with the classic
        protocol); a static member's known member id must be the instance's current one."""
        if instance_id is not None:
            existing = group.static_member(instance_id)
            if known and existing is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if known and existing is not None and existing.member_id != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
            if not known and existing is not None:
                return group.replace_static_member(existing, member_id, 0, 0)
        member = group.members.get(member_id)
        if member is None:
            log.info("member joins the consumer group with the classic protocol", extra={"group": group.group_id})
            return ConsumerGroupMember(member_id)
        return member

    def classic_sync(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
    ) -> SyncResult:
        """Kafka's classicGroupSyncToConsumerGroup: the member's current assignment, in its subscription's version."""
        group = self.consumer.groups[group_id]
        if not group.members:
            return SyncResult(ErrorCode.UNKNOWN_MEMBER_ID)
        member = self._classic_member(group, member_id, instance_id)
        if isinstance(member, ErrorCode):
            return SyncResult(member)
        classic = member.classic
        assert classic is not None
        if generation_id != member.member_epoch:
            return SyncResult(ErrorCode.ILLEGAL_GENERATION)
        if (protocol_type is not None and protocol_type != CONSUMER_PROTOCOL_TYPE) or (
            protocol_name is not None and protocol_name != classic.protocol_name
        ):
            return SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        if group.group_epoch > member.member_epoch and member.state != MemberState.UNREVOKED_PARTITIONS:
            self._owe_within_rebalance_timeout(member, replace=False)
            return SyncResult(ErrorCode.REBALANCE_IN_PROGRESS)
        member.classic_deadline = None
        self._renew_session(member)
        assignment = classic.assignment_bytes(self._names(member.assigned))
        return SyncResult(ErrorCode.NONE, protocol_type, protocol_name, assignment)

    def classic_heartbeat(
        self, group_id: str, generation_id: int, member_id: str, instance_id: str | None
    ) -> ErrorCode:
        """Kafka's classicGroupHeartbeatToConsumerGroup: REBALANCE_IN_PROGRESS when the member must rejoin
        (a newer group epoch, partitions to revoke, or partitions now free to take)."""
        group = self.consumer.groups[group_id]
        member = self._classic_member(group, member_id, instance_id)
        if isinstance(member, ErrorCode):
            return member
        if generation_id != member.member_epoch:
            return ErrorCode.ILLEGAL_GENERATION
        self._renew_session(member)
        if (
            member.member_epoch < group.group_epoch
            or member.state == MemberState.UNREVOKED_PARTITIONS
            or (member.state == MemberState.UNRELEASED_PARTITIONS and not self._waiting_on_unreleased(group, member))
        ):
            self._owe_within_rebalance_timeout(member, replace=False)
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    @staticmethod
    def _waiting_on_unreleased(group: ConsumerGroup, member: ConsumerGroupMember) -> bool:
        """Kafka's waitingOnUnreleasedPartition: a target partition is still held by another member."""
        for topic_id, parts in group.target.get(member.member_id, {}).items():
            mine = member.assigned.get(topic_id, frozenset())
            if any(p not in mine and group.current_partition_epoch(topic_id, p) != -1 for p in parts):
                return True
        return False

    def classic_leave(self, group_id: str, members: list[tuple[str, str | None]]) -> list[ErrorCode]:
        """Kafka's classicGroupLeaveToConsumerGroup: classic members leave; the group epoch moves on."""
        group = self.consumer.groups[group_id]
        errors = []
        for member_id, instance_id in members:
            if instance_id is not None and not member_id:
                static = group.static_member(instance_id)
                member_id = static.member_id if static is not None else ""
            found = self._classic_member(group, member_id, instance_id)
            if isinstance(found, ErrorCode):
                errors.append(found)
                continue
            log.info("classic member left the consumer group", extra={"group": group_id, "member": member_id})
            self.consumer._remove_member(group, found)
            errors.append(ErrorCode.NONE)
        if ErrorCode.NONE in errors:
            self.consumer._persist(group_id)
        return errors


class CustomAssignor(Exception):
    """A classic member's assignment carries user data, which a consumer group cannot keep."""
