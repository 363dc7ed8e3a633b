"""DescribeProducers (key 61), version 0: the active producers of partitions (KIP-664).

v0: flexible; per partition, each producer's id, epoch, last sequence and timestamp, the epoch of
    the coordinator that wrote its last marker and the first offset of its ongoing transaction.
"""

from __future__ import annotations

from kafkapy.acl import DENIED_MESSAGE, AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_manager import topic_name_error


def _topic_error(ctx: RequestContext, topic: str) -> KafkaError | None:
    """Kafka's answer for every partition of an invalid or absent topic (None: the topic exists)."""
    if topic in ctx.broker.logs.topics:
        return None
    message = "This server does not host this topic-partition."
    return topic_name_error(topic) or KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message)


def _partition(ctx: RequestContext, topic: str, index: int, authorized: bool) -> dict:
    if not authorized:
        return {
            "partition_index": index,
            "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED,
            "error_message": DENIED_MESSAGE[ResourceType.TOPIC],
        }
    error = _topic_error(ctx, topic)
    if error is not None:
        return {"partition_index": index, "error_code": error.code, "error_message": error.message}
    log = ctx.broker.logs.get_log(topic, index)
    if log is None:
        return {"partition_index": index, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    producers = [
        {
            "producer_id": entry.producer_id,
            "producer_epoch": entry.producer_epoch,
            "last_sequence": entry.last_seq,
            "last_timestamp": entry.last_timestamp,
            "coordinator_epoch": entry.coordinator_epoch,
            "current_txn_start_offset": -1
            if entry.current_txn_first_offset is None
            else entry.current_txn_first_offset,
        }
        for entry in log.producer_state.producers.values()
    ]
    return {"partition_index": index, "error_code": ErrorCode.NONE, "active_producers": producers}


@handler(61, 0, 0, acl=((ResourceType.TOPIC, AclOperation.READ),))
async def handle_describe_producers(ctx: RequestContext, request: dict) -> dict:
    return {
        "topics": [
            {
                "name": t["name"],
                "partitions": [_partition(ctx, t["name"], i, authorized) for i in t["partition_indexes"]],
            }
            for t in request["topics"]
            for authorized in [ctx.authorize(AclOperation.READ, ResourceType.TOPIC, t["name"])]
        ]
    }
