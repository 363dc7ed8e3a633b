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

import struct
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

import construct as c

from kafkapy.coordinator.group import CONSUMER_PROTOCOL_TYPE, ClassicGroup
from kafkapy.coordinator.group_configs import GroupConfigs
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.schema import message_construct
from kafkapy.protocol.specs import internal_specs

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

    def subscription(self) -> Subscription:
        """Every protocol carries the same subscription; Kafka reads the first."""
        return decode_subscription(self.supported_protocols[0][1])

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
