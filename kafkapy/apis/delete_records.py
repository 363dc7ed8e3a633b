"""DeleteRecords (key 21), versions 0-2: moves partitions' log start offsets forward.

v0: offsets per partition; -1 means the high watermark.  v1: same as v0.  v2: flexible.
Whole segments below the new log start offset are deleted at once; the offset is persisted in
log-start-offset-checkpoint, so it survives restarts. As in Kafka, topics whose cleanup.policy
lacks delete get POLICY_VIOLATION, and internal topics INVALID_TOPIC_EXCEPTION (their records are
the coordinators' state).
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.coordinator.internal_topics import is_internal
from kafkapy.protocol.errors import ErrorCode, KafkaError

HIGH_WATERMARK = -1


def _partition(ctx: RequestContext, topic: str, partition: dict, authorized: bool) -> tuple[dict, bool]:
    """The partition's response entry, and whether its log start offset moved."""
    index = partition["partition_index"]
    entry = {"partition_index": index, "low_watermark": -1, "error_code": ErrorCode.NONE}
    if not authorized:
        entry["error_code"] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        return entry, False
    try:
        log = ctx.broker.partition(topic, index)
        if is_internal(topic):
            raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot delete records of internal topic {topic}")
        if not log.config.delete:
            raise KafkaError(ErrorCode.POLICY_VIOLATION)
        offset = partition["offset"]
        before = log.log_start_offset
        entry["low_watermark"] = log.delete_records_before(log.high_watermark if offset == HIGH_WATERMARK else offset)
    except KafkaError as exc:
        entry["error_code"] = exc.code
        return entry, False
    return entry, entry["low_watermark"] != before


@handler(21, 0, 2, acl=((ResourceType.TOPIC, AclOperation.DELETE),))
async def handle_delete_records(ctx: RequestContext, request: dict) -> dict:
    topics = []
    moved = False
    for topic in request["topics"]:
        partitions = []
        authorized = ctx.authorize(AclOperation.DELETE, ResourceType.TOPIC, topic["name"])
        for partition in topic["partitions"]:
            entry, changed = _partition(ctx, topic["name"], partition, authorized)
            moved = moved or changed
            partitions.append(entry)
        topics.append({"name": topic["name"], "partitions": partitions})
    if moved:
        ctx.broker.logs.checkpoint_log_start_offsets()
    return {"topics": topics}
