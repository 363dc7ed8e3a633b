"""OffsetForLeaderEpoch (key 23), versions 0-4: the end offset of a leader epoch, for truncation checks.

v0: end offset per requested epoch.  v1: the epoch the answer belongs to.  v2: current leader epoch
(fencing) and throttle time.  v3: replica id.  v4: flexible.
DESCRIBE on each topic, or CLUSTER_ACTION on the cluster for all of them, as in Kafka.
Every partition has had one leader, this broker, in epoch 0 (what Metadata and Fetch report), so
epoch 0 ends at the log end offset and later epochs are unknown (-1, -1), as in Kafka's leader
epoch cache. A current leader epoch above 0 is UNKNOWN_LEADER_EPOCH, below it (but -1, "unknown")
FENCED_LEADER_EPOCH, here and in Fetch and ListOffsets, as Kafka fences them.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError

LEADER_EPOCH = 0
UNDEFINED = -1


def current_leader_epoch_error(requested: int) -> ErrorCode | None:
    """Kafka's check of a request's current leader epoch against the partition's (Partition's
    localLogWithEpochOrThrow): -1 means the client does not know it; a newer one is
    UNKNOWN_LEADER_EPOCH (this broker has not caught up), an older one FENCED_LEADER_EPOCH."""
    if requested in (UNDEFINED, LEADER_EPOCH):
        return None
    return ErrorCode.UNKNOWN_LEADER_EPOCH if requested > LEADER_EPOCH else ErrorCode.FENCED_LEADER_EPOCH


def _partition(ctx: RequestContext, topic: str, partition: dict, authorized: bool) -> dict:
    entry = {"partition": partition["partition"], "error_code": ErrorCode.NONE}
    if not authorized:
        entry["error_code"] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        return entry
    try:
        log = ctx.broker.partition(topic, partition["partition"])
    except KafkaError as exc:
        entry["error_code"] = exc.code
        return entry
    epoch_error = current_leader_epoch_error(partition.get("current_leader_epoch", UNDEFINED))
    if epoch_error is not None:
        entry["error_code"] = epoch_error
    elif LEADER_EPOCH >= partition["leader_epoch"] >= 0:
        entry.update(leader_epoch=LEADER_EPOCH, end_offset=log.log_end_offset)
    else:
        entry.update(leader_epoch=UNDEFINED, end_offset=UNDEFINED)
    return entry


@handler(
    23, 0, 4,
    acl=((ResourceType.CLUSTER, AclOperation.CLUSTER_ACTION), (ResourceType.TOPIC, AclOperation.DESCRIBE)),
)
async def handle_offset_for_leader_epoch(ctx: RequestContext, request: dict) -> dict:
    # Kafka answers a principal with CLUSTER_ACTION on the cluster (a replica) for every topic.
    every_topic = ctx.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER)
    return {
        "topics": [
            {"topic": t["topic"], "partitions": [_partition(ctx, t["topic"], p, authorized) for p in t["partitions"]]}
            for t in request["topics"]
            for authorized in [every_topic or ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, t["topic"])]
        ]
    }
