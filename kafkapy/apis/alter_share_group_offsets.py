"""AlterShareGroupOffsets (key 91), version 0: sets the start offset of share partitions of a share group
without members (KIP-932; Admin.alterShareGroupOffsets, kafka-share-groups --reset-offsets).

v0: per topic name and partition, the new start offset; the in-flight records are forgotten and the
    state is written to __share_group_state. A group with members: NON_EMPTY_GROUP.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._share import refuse_offsets_request
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _partition(ctx: RequestContext, group_id: str, name: str, partition: dict) -> dict:
    index = partition["partition_index"]
    state = ctx.broker.logs.topics.get(name)
    if state is None or not 0 <= index < len(state.partitions):
        return {"partition_index": index, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    log = state.partitions[index]
    offset = partition["start_offset"]
    if not log.log_start_offset <= offset <= log.high_watermark:
        # Kafka answers an offset outside the log as out of range.
        return {"partition_index": index, "error_code": ErrorCode.OFFSET_OUT_OF_RANGE}
    try:
        ctx.broker.share_partitions.alter_start_offset(group_id, state, index, offset)
    except (KafkaError, OSError):
        return {"partition_index": index, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE}
    return {"partition_index": index, "error_code": ErrorCode.NONE}


@handler(91, 0, 0, acl=((ResourceType.GROUP, AclOperation.READ), (ResourceType.TOPIC, AclOperation.READ)))
async def handle_alter_share_group_offsets(ctx: RequestContext, request: dict) -> dict:
    group_id = request["group_id"]
    refused = refuse_offsets_request(ctx, group_id, AclOperation.READ)
    if refused is not None:
        return refused
    responses = []
    for topic in request["topics"]:
        name = topic["topic_name"]
        state = ctx.broker.logs.topics.get(name)
        if not ctx.authorize(AclOperation.READ, ResourceType.TOPIC, name):
            partitions = [{"partition_index": p["partition_index"], "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED}
                          for p in topic["partitions"]]  # fmt: skip
        else:
            partitions = [_partition(ctx, group_id, name, p) for p in topic["partitions"]]
        responses.append(
            {"topic_name": name, "topic_id": state.topic_id if state else None, "partitions": partitions}
        )
    return {"responses": responses}
