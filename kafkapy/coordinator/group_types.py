"""One group id namespace shared by Kafka 4's four kinds of groups (classic, consumer, share, streams).

Kafka 4's group coordinator keeps every group in one map whatever its type: a group id names at
most one group, ListGroups/DescribeGroups/DeleteGroups see all of them, and a request of the wrong
kind for a group (a ShareGroupHeartbeat on a consumer group) is refused. kafkapy has one
coordinator per kind (``GroupCoordinator`` for classic groups, and one each for KIP-848 consumer,
KIP-932 share and KIP-1071 streams groups); each registers with the ``GroupRegistry`` here, which
answers "who owns this group id" and lists them all. The shared APIs go through the registry, never
through one coordinator's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from kafkapy.protocol.errors import ErrorCode


class GroupType(StrEnum):
    """Kafka's GroupType names, as ListGroups v5+ (KIP-1043) filters and reports them."""

    CLASSIC = "classic"
    CONSUMER = "consumer"
    SHARE = "share"
    STREAMS = "streams"


@dataclass(frozen=True)
class GroupListing:
    """One group as ListGroups reports it."""

    group_id: str
    # "consumer" for consumer groups of either protocol, "" for a classic group with no protocol
    # (offsets only), "share" / "streams" for those groups: Kafka's ListGroups ProtocolType.
    protocol_type: str
    # Kafka's state name for the group's type (Stable, Empty, PreparingRebalance, Reconciling, ...).
    state: str
    group_type: GroupType


class TypedGroups(Protocol):
    """What each kind of group's coordinator offers the APIs every group type shares."""

    group_type: GroupType

    def owns(self, group_id: str) -> bool:
        """Whether a live group of this kind has this id."""
        ...

    def listings(self) -> Iterable[GroupListing]:
        """Every live group of this kind."""
        ...

    def delete_group(self, group_id: str) -> ErrorCode:
        """DeleteGroups of one owned group: NONE, NON_EMPTY_GROUP, ... (Kafka's per-group error)."""
        ...


class GroupOffsetsValidation(Protocol):
    """What a kind of group other than classic checks of OffsetCommit/TxnOffsetCommit/OffsetFetch on its
    groups (Kafka's Group.validateOffsetCommit/validateOffsetFetch). The offsets themselves are kept per
    group id by the classic GroupMetadataManager whatever the group's kind, as Kafka 4's
    OffsetMetadataManager keeps them."""

    def offset_commit_errors(
        self,
        group_id: str,
        member_id: str,
        member_epoch: int,
        instance_id: str | None,
        partitions: list[tuple[str, int]],
        *,
        api_version: int | None,
    ) -> dict[tuple[str, int], ErrorCode]:
        """For each (topic, partition): NONE if the commit may go to this owned group, else why not
        (``api_version`` None for a TxnOffsetCommit)."""
        ...

    def offset_fetch_error(self, group_id: str, member_id: str | None, member_epoch: int) -> ErrorCode:
        """NONE if OffsetFetch v9+ with this member id and epoch may read this owned group's offsets."""
        ...


def offset_fetch_check(member_epoch_of: Callable[[str], int | None], member_id: str | None, epoch: int) -> ErrorCode:
    """Kafka's validateOffsetFetch of a group with member epochs: no member id and a negative epoch (an
    admin) may read; else the member must exist (UNKNOWN_MEMBER_ID) at that epoch (STALE_MEMBER_EPOCH).
    ``member_epoch_of(member_id)``: the member's epoch, None if there is no such member."""
    if member_id is None and epoch < 0:
        return ErrorCode.NONE
    current = member_epoch_of(member_id or "")
    if current is None:
        return ErrorCode.UNKNOWN_MEMBER_ID
    return ErrorCode.STALE_MEMBER_EPOCH if epoch != current else ErrorCode.NONE


class GroupRegistry:
    """Which coordinator owns each group id; registered at broker construction, classic first."""

    def __init__(self) -> None:
        self._kinds: dict[GroupType, TypedGroups] = {}

    def register(self, groups: TypedGroups) -> None:
        self._kinds[groups.group_type] = groups

    def kind(self, group_type: GroupType) -> TypedGroups | None:
        """The coordinator of one kind of group (None if this broker has none)."""
        return self._kinds.get(group_type)

    def owner(self, group_id: str) -> TypedGroups | None:
        """The coordinator holding a live group with this id, or None."""
        for groups in self._kinds.values():
            if groups.owns(group_id):
                return groups
        return None

    def offsets_owner(self, group_id: str) -> GroupOffsetsValidation | None:
        """The owner of a group of a kind other than classic, when it validates offset requests itself."""
        for group_type, groups in self._kinds.items():
            if group_type != GroupType.CLASSIC and hasattr(groups, "offset_commit_errors") and groups.owns(group_id):
                return groups  # type: ignore[return-value]
        return None

    def owned_elsewhere(self, group_id: str) -> bool:
        """Whether a group of a kind other than classic has this id (its offsets, kept by the classic
        coordinator per group id, then make no classic group)."""
        return any(t != GroupType.CLASSIC and g.owns(group_id) for t, g in self._kinds.items())

    def type_of(self, group_id: str) -> GroupType | None:
        owner = self.owner(group_id)
        return None if owner is None else owner.group_type

    def listings(self) -> list[GroupListing]:
        """Every live group of every kind."""
        return [listing for groups in self._kinds.values() for listing in groups.listings()]
