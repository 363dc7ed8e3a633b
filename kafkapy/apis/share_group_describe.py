"""ShareGroupDescribe (key 77), version 1: share groups with their epochs, assignor and members.

Answered in Kafka's order: denied groups, empty ids (INVALID_GROUP_ID), then the others grouped by
their __consumer_offsets partition (``coordinator_order``).

v0: early access in Kafka 4.0, no longer served.  v1: as Kafka 4.1+ (flexible).
Each group needs DESCRIBE on it; a group whose members are assigned a topic the principal may not
describe answers TOPIC_AUTHORIZATION_FAILED, as KafkaApis does. An unknown group is
GROUP_ID_NOT_FOUND "Group X not found.", a group of another type "Group X is not a share group.".
"""

from __future__ import annotations

from kafkapy.acl import OPERATIONS_NOT_REQUESTED, AclOperation, ResourceType, authorized_operations
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.share_group_heartbeat import share_groups_enabled
from kafkapy.coordinator.group_records import coordinator_order
from kafkapy.coordinator.share_group import SIMPLE_ASSIGNOR, ShareGroup
from kafkapy.protocol.errors import ErrorCode

UNAUTHORIZED_TOPICS = "The described group uses topics that the client is not authorized to describe."


def _denied(group_id: str) -> dict:
    return {"group_id": group_id, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED}


def _describe(ctx: RequestContext, group_id: str, include_operations: bool) -> dict:
    entry: dict = {"group_id": group_id, "error_code": ErrorCode.NONE}
    entry["authorized_operations"] = OPERATIONS_NOT_REQUESTED
    if not group_id:
        entry["error_code"] = ErrorCode.INVALID_GROUP_ID
        return entry
    group = ctx.broker.share_groups.groups.get(group_id)
    if group is None:
        other = ctx.broker.group_registry.owner(group_id) is not None
        message = f"Group {group_id} is not a share group." if other else f"Group {group_id} not found."
        entry.update(error_code=ErrorCode.GROUP_ID_NOT_FOUND, error_message=message)
        return entry
    members = _members(ctx, group)
    if members is None:
        entry.update(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, error_message=UNAUTHORIZED_TOPICS)
        return entry
    entry.update(
        group_state=group.state.value,
        group_epoch=group.group_epoch,
        assignment_epoch=group.assignment_epoch,
        assignor_name=SIMPLE_ASSIGNOR,
        members=members,
        authorized_operations=authorized_operations(ctx, ResourceType.GROUP, group_id, include_operations),
    )
    return entry


def _members(ctx: RequestContext, group: ShareGroup) -> list[dict] | None:
    """The members with their assignments by topic name; None if one names a topic the principal
    may not describe."""
    names = {t.topic_id: t.name for t in ctx.broker.logs.topics.values()}
    members = []
    for member in group.members.values():
        assigned = []
        for topic_id, partitions in sorted(member.assigned.items(), key=lambda item: str(item[0])):
            name = names.get(topic_id, "")
            if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name):
                return None
            assigned.append({"topic_id": topic_id, "topic_name": name, "partitions": partitions})
        members.append(
            {
                "member_id": member.member_id,
                "rack_id": member.rack_id,
                "member_epoch": member.member_epoch,
                "client_id": member.client_id,
                "client_host": member.client_host,
                "subscribed_topic_names": member.subscribed_topic_names,
                "assignment": {"topic_partitions": assigned},
            }
        )
    return members


@handler(77, 1, 1, acl=((ResourceType.GROUP, AclOperation.DESCRIBE), (ResourceType.TOPIC, AclOperation.DESCRIBE)))
async def handle_share_group_describe(ctx: RequestContext, request: dict) -> dict:
    if not share_groups_enabled(ctx):
        return ctx.error_response(ErrorCode.UNSUPPORTED_VERSION)
    include = bool(request.get("include_authorized_operations"))
    # Kafka answers the denied groups first, then the empty ids, then the rest by coordinator partition.
    wanted = request["group_ids"]
    denied = [g for g in wanted if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, g)]
    allowed = [g for g in wanted if g not in denied]
    order = [g for g in allowed if not g] + coordinator_order(
        [g for g in allowed if g], ctx.broker.groups.store.num_partitions
    )
    return {"groups": [_denied(g) for g in denied] + [_describe(ctx, g, include) for g in order]}
