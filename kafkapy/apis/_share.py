"""What the share group APIs share (KIP-932): the topic a request names by id, the partitions' current
leader, and the group checks of the share group offsets APIs.

Not a handler module (no ``@handler``); discovery imports it like the others.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.coordinator.group_types import GroupType
from kafkapy.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from kafkapy.apis import RequestContext
    from kafkapy.storage.log_manager import TopicState


def leader(ctx: RequestContext) -> dict:
    """Every share partition's CurrentLeader: this node (leader epoch 0, as Metadata reports it)."""
    return {"leader_id": ctx.broker.node_id, "leader_epoch": 0}


def share_topic(ctx: RequestContext, topic_id: uuid.UUID) -> tuple[TopicState | None, ErrorCode]:
    """The topic a share request names by id, if the principal may READ it (Kafka's ShareFetch and
    ShareAcknowledge authorize READ on each topic)."""
    state = ctx.broker.logs.topic_by_id(topic_id)
    if state is None:
        return None, ErrorCode.UNKNOWN_TOPIC_ID
    if not ctx.authorize(AclOperation.READ, ResourceType.TOPIC, state.name):
        return None, ErrorCode.TOPIC_AUTHORIZATION_FAILED
    return state, ErrorCode.NONE


def share_group_error(ctx: RequestContext, group_id: str, *, must_be_empty: bool) -> tuple[ErrorCode, str | None]:
    """Whether the share group offsets APIs may work on ``group_id``: a group of another type is not
    found (Kafka's "Group X is not a share group."), and altering or deleting offsets needs a group
    without members (NON_EMPTY_GROUP)."""
    registry = ctx.broker.group_registry
    owner = registry.type_of(group_id)
    if owner is not None and owner != GroupType.SHARE:
        return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a share group."
    if must_be_empty and ctx.broker.share_groups.member_ids(group_id):
        return ErrorCode.NON_EMPTY_GROUP, "The group is not empty."
    return ErrorCode.NONE, None


def refuse_offsets_request(ctx: RequestContext, group_id: str, operation: AclOperation) -> dict | None:
    """AlterShareGroupOffsets' and DeleteShareGroupOffsets' answer before they touch any state (the
    principal may not do ``operation`` on the group, it is not a share group, or it has members), or
    None to go on."""
    if not ctx.authorize(operation, ResourceType.GROUP, group_id):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    error, message = share_group_error(ctx, group_id, must_be_empty=True)
    return ctx.error_response(error, message) if error != ErrorCode.NONE else None
