"""StreamsGroupDescribe (key 89), version 0: streams groups with their topology, members and assignments.

v0: per group its state, group and assignment epochs, the configured topology (subtopologies with
partition counts, null while the group is not ready), and each member with its process, endpoint,
current and target assignment; authorized operations on request.
As Kafka's KafkaApis: DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED), and DESCRIBE on every topic
of its topology (TOPIC_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from kafkapy.acl import OPERATIONS_NOT_REQUESTED, AclOperation, ResourceType, authorized_operations
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _describe(ctx: RequestContext, group_id: str, include_operations: bool) -> dict:
    entry: dict = {"group_id": group_id, "authorized_operations": OPERATIONS_NOT_REQUESTED}
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
        return {**entry, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED}
    owner = ctx.broker.group_registry.owner(group_id)
    if owner is not None and owner is not ctx.broker.streams_groups:
        message = f"Group {group_id} is not a streams group."
        return {**entry, "error_code": ErrorCode.GROUP_ID_NOT_FOUND, "error_message": message}
    try:
        described = ctx.broker.streams_groups.describe(group_id)
    except KafkaError as exc:
        return {**entry, "error_code": exc.code, "error_message": exc.message}
    topics = ctx.broker.streams_groups.topology_topics(group_id)
    if any(not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, t) for t in sorted(topics)):
        message = "The described group uses topics that the client is not authorized to describe."
        return {**entry, "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED, "error_message": message}
    operations = authorized_operations(ctx, ResourceType.GROUP, group_id, include_operations)
    return {**entry, **described, "error_code": ErrorCode.NONE, "authorized_operations": operations}


@handler(89, 0, 0, acl=((ResourceType.GROUP, AclOperation.DESCRIBE), (ResourceType.TOPIC, AclOperation.DESCRIBE)))
async def handle_streams_group_describe(ctx: RequestContext, request: dict) -> dict:
    include = bool(request.get("include_authorized_operations"))
    return {"groups": [_describe(ctx, group_id, include) for group_id in request["group_ids"]]}
