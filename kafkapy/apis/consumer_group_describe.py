"""ConsumerGroupDescribe (key 69), versions 0-1: KIP-848 consumer groups with their epochs, assignor
and members (each with its current and target assignment).

v0: as described.  v1: each member's MemberType (1: a member of the consumer protocol).
A group that does not exist, or is of another kind, answers GROUP_ID_NOT_FOUND with Kafka's message.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType, authorized_operations
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _describe(ctx: RequestContext, group_id: str, include_operations: bool) -> dict:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
        return {"group_id": group_id, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED}
    names = {state.topic_id: name for name, state in ctx.broker.logs.topics.items()}
    try:
        entry = ctx.broker.consumer_groups.describe(group_id, names)
    except KafkaError as exc:
        return {"group_id": group_id, "error_code": exc.code, "error_message": exc.message}
    entry["authorized_operations"] = authorized_operations(ctx, ResourceType.GROUP, group_id, include_operations)
    return entry


@handler(69, 0, 1, acl=((ResourceType.GROUP, AclOperation.DESCRIBE),))
async def handle_consumer_group_describe(ctx: RequestContext, request: dict) -> dict:
    include = bool(request.get("include_authorized_operations"))
    return {"groups": [_describe(ctx, group_id, include) for group_id in request["group_ids"]]}
