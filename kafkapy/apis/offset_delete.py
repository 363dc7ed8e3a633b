"""OffsetDelete (key 47), version 0: deletes a group's committed offsets of some partitions (KIP-496).

v0: the only version. An empty group loses any offsets; a consumer group with members only those of
topics none of its members subscribes to (GROUP_SUBSCRIBED_TO_TOPIC otherwise); a group of another
protocol type with members answers NON_EMPTY_GROUP. An empty group left without offsets is deleted.
A KIP-848 consumer group (its offsets are held per group id with the classic ones) loses those of
topics no member subscribes to, by name or regex, and stays; a group of a kind without committed
offsets (share, streams without them) is GROUP_ID_NOT_FOUND, as Kafka 4.3.1 answers.
"""

from __future__ import annotations

import functools

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import resolve_topic
from kafkapy.apis.offset_commit import partition_error
from kafkapy.coordinator.group_types import GroupType
from kafkapy.protocol.errors import ErrorCode


@handler(47, 0, 0, acl=((ResourceType.GROUP, AclOperation.DELETE), (ResourceType.TOPIC, AclOperation.READ)))
async def handle_offset_delete(ctx: RequestContext, request: dict) -> dict:
    group_id = request["group_id"]
    if not ctx.authorize(AclOperation.DELETE, ResourceType.GROUP, group_id):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if not group_id:
        return {"error_code": ErrorCode.INVALID_GROUP_ID}
    errors: dict[tuple[str, int], ErrorCode] = {}
    for topic in request["topics"]:
        state, topic_error = resolve_topic(ctx, topic["name"], None, AclOperation.READ)
        for p in topic["partitions"]:
            errors[(topic["name"], p["partition_index"])] = partition_error(state, topic_error, p["partition_index"])
    deletable = [tp for tp, error in errors.items() if error == ErrorCode.NONE]
    owner = ctx.broker.group_registry.owner(group_id)
    if owner is None or owner.group_type == GroupType.CLASSIC:
        group_error, results = ctx.broker.groups.delete_offsets(group_id, deletable)
    elif hasattr(owner, "is_subscribed"):
        subscribed = functools.partial(owner.is_subscribed, group_id)
        group_error, results = ctx.broker.groups.delete_offsets(group_id, deletable, subscribed)
    else:
        group_error, results = ErrorCode.GROUP_ID_NOT_FOUND, {}
    if group_error != ErrorCode.NONE:
        return {"error_code": group_error}
    errors.update(results)
    return {
        "error_code": ErrorCode.NONE,
        "topics": [
            {
                "name": topic["name"],
                "partitions": [
                    {
                        "partition_index": p["partition_index"],
                        "error_code": errors[(topic["name"], p["partition_index"])],
                    }
                    for p in topic["partitions"]
                ],
            }
            for topic in request["topics"]
        ],
    }
