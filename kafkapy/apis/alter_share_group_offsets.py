"""AlterShareGroupOffsets (key 91), version 0: sets the start offset of share partitions of a share group
without members (KIP-932; Admin.alterShareGroupOffsets, kafka-share-groups --reset-offsets).

v0: per topic name and partition, the new start offset; the in-flight records are forgotten and the
    state is written to __share_group_state. A group with members: NON_EMPTY_GROUP.
Served while share.version is finalized at 1 or more, UNSUPPORTED_VERSION otherwise, as Kafka 4.3.1.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._share import refuse_offsets_request
from kafkapy.apis.describe_quorum import NOT_HOSTED
from kafkapy.apis.share_group_heartbeat import share_groups_enabled
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _partition(ctx: RequestContext, group_id: str, name: str, partition: dict) -> dict:
    index = partition["partition_index"]
    state = ctx.broker.logs.topics.get(name)
    if state is None or not 0 <= index < len(state.partitions):
        unknown = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return {"partition_index": index, "error_code": unknown, "error_message": NOT_HOSTED}
    # Kafka 4.3.1 takes any start offset, even past the log end (it then waits for records there).
    try:
        ctx.broker.share_partitions.alter_start_offset(group_id, state, index, partition["start_offset"])
    except (KafkaError, OSError):
        return {"partition_index": index, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE}
    return {"partition_index": index, "error_code": ErrorCode.NONE}


@handler(91, 0, 0, acl=((ResourceType.GROUP, AclOperation.READ), (ResourceType.TOPIC, AclOperation.READ)))
async def handle_alter_share_group_offsets(ctx: RequestContext, request: dict) -> dict:
    if not share_groups_enabled(ctx):
        # Kafka 4.3.1 sends this one with the error's default message.
        return ctx.error_response(ErrorCode.UNSUPPORTED_VERSION, "The version of API is not supported.")
    group_id = request["group_id"]
    refused = refuse_offsets_request(ctx, group_id, AclOperation.READ)
    if refused is not None:
        return refused
    # As Kafka's KafkaApis: the topics refused before the coordinator (unknown, not authorized) come first,
    # then the coordinator's answer for the others.
    refused, responses = [], []
    for topic in request["topics"]:
        name = topic["topic_name"]
        state = ctx.broker.logs.topics.get(name)
        if not ctx.authorize(AclOperation.READ, ResourceType.TOPIC, name):
            partitions = [{"partition_index": p["partition_index"], "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED}
                          for p in topic["partitions"]]  # fmt: skip
            refused.append({"topic_name": name, "partitions": partitions})
            continue
        partitions = [_partition(ctx, group_id, name, p) for p in topic["partitions"]]
        if state is None:
            # An unknown topic is answered with the zero topic id, as Kafka does.
            refused.append({"topic_name": name, "partitions": partitions})
        else:
            responses.append({"topic_name": name, "topic_id": state.topic_id, "partitions": partitions})
            altered = [p["partition_index"] for p in partitions if p["error_code"] == ErrorCode.NONE]
            if altered:
                # The share group records them initialized (creating the group if absent, as Kafka does).
                try:
                    ctx.broker.share_groups.offsets_altered(group_id, state.topic_id, name, altered)
                except KafkaError as exc:
                    return ctx.error_response(exc.code, exc.message)
    return {"responses": refused + responses}
