"""DeleteShareGroupOffsets (key 92), version 0: deletes a share group's share-partition state for whole
topics (KIP-932; Admin.deleteShareGroupOffsets, kafka-share-groups --delete-offsets).

v0: per topic name; the state is tombstoned in __share_group_state, and the next member to fetch the
    topic starts again from share.auto.offset.reset. A group with members: NON_EMPTY_GROUP.
Served while share.version is finalized at 1 or more, UNSUPPORTED_VERSION otherwise, as Kafka 4.3.1.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._share import refuse_offsets_request
from kafkapy.apis.describe_quorum import NOT_HOSTED
from kafkapy.apis.share_group_heartbeat import share_groups_enabled
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _topic(ctx: RequestContext, group_id: str, name: str) -> dict:
    state = ctx.broker.logs.topics.get(name)
    if not ctx.authorize(AclOperation.READ, ResourceType.TOPIC, name):
        return {"topic_name": name, "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED}
    if state is None:
        return {"topic_name": name, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "error_message": NOT_HOSTED}
    try:
        ctx.broker.share_partitions.delete(group_id, [state.topic_id])
        # The next assignment of the topic initializes its share partitions afresh.
        ctx.broker.share_groups.offsets_deleted(group_id, [state.topic_id])
    except (KafkaError, OSError):
        return {"topic_name": name, "topic_id": state.topic_id, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE}
    return {"topic_name": name, "topic_id": state.topic_id, "error_code": ErrorCode.NONE}


@handler(92, 0, 0, acl=((ResourceType.GROUP, AclOperation.DELETE), (ResourceType.TOPIC, AclOperation.READ)))
async def handle_delete_share_group_offsets(ctx: RequestContext, request: dict) -> dict:
    if not share_groups_enabled(ctx):
        # Kafka 4.3.1 sends this one with the error's default message.
        return ctx.error_response(ErrorCode.UNSUPPORTED_VERSION, "The version of API is not supported.")
    group_id = request["group_id"]
    refused = refuse_offsets_request(ctx, group_id, AclOperation.DELETE)
    if refused is not None:
        return refused
    if not ctx.broker.share_groups.owns(group_id):
        return ctx.error_response(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")
    return {"responses": [_topic(ctx, group_id, topic["topic_name"]) for topic in request["topics"]]}
