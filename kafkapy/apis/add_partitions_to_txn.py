"""AddPartitionsToTxn (key 24), versions 0-5: adds partitions to a producer's transaction.

v0: one transactional id with its topics and partitions.  v1: same as v0 (throttle on error).
v2: same as v1.  v3: flexible.
v4: batched transactions with verify_only (KIP-890), the broker-to-coordinator form; a top-level
    error code and results per transaction.  v5: same as v4 (TRANSACTION_ABORTABLE may be returned).
A partition that does not exist gets UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED,
as in Kafka; otherwise every partition gets the coordinator's answer.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.common import TopicPartition
from kafkapy.protocol.errors import ErrorCode


def _not_attempted(
    partitions: list[TopicPartition], failed: set[TopicPartition], error: ErrorCode
) -> dict[TopicPartition, ErrorCode]:
    """``error`` for the failed partitions; the others were not attempted (the request is all or nothing)."""
    return {tp: error if tp in failed else ErrorCode.OPERATION_NOT_ATTEMPTED for tp in partitions}


def _errors(ctx: RequestContext, txn: dict) -> dict[TopicPartition, ErrorCode]:
    """Kafka's handleAddPartitionsToTxnRequest for one transaction."""
    partitions = [(topic["name"], p) for topic in txn["topics"] for p in topic["partitions"]]
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn["transactional_id"]):
        return dict.fromkeys(partitions, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    denied = {t["name"] for t in txn["topics"] if not ctx.authorize(AclOperation.WRITE, ResourceType.TOPIC, t["name"])}
    if denied:
        failed = {tp for tp in partitions if tp[0] in denied}
        return _not_attempted(partitions, failed, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    unknown = {tp for tp in partitions if ctx.broker.logs.get_log(*tp) is None}
    if unknown:
        return _not_attempted(partitions, unknown, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    coordinator = ctx.broker.transactions
    args = (txn["transactional_id"], txn["producer_id"], txn["producer_epoch"], partitions)
    if txn.get("verify_only"):
        return coordinator.verify_partitions(*args)
    error = coordinator.add_partitions(*args)
    return dict.fromkeys(partitions, error)


def _topic_results(errors: dict[TopicPartition, ErrorCode]) -> list[dict]:
    by_topic: dict[str, list[dict]] = {}
    for (topic, partition), error in errors.items():
        by_topic.setdefault(topic, []).append({"partition_index": partition, "partition_error_code": error})
    return [{"name": topic, "results_by_partition": results} for topic, results in by_topic.items()]


@handler(
    24, 0, 5,
    acl=(
        (ResourceType.TRANSACTIONAL_ID, AclOperation.WRITE),
        (ResourceType.TOPIC, AclOperation.WRITE),
        (ResourceType.CLUSTER, AclOperation.CLUSTER_ACTION),
    ),
)
async def handle_add_partitions_to_txn(ctx: RequestContext, request: dict) -> dict:
    if ctx.version <= 3:
        txn = {
            "transactional_id": request["v3_and_below_transactional_id"],
            "producer_id": request["v3_and_below_producer_id"],
            "producer_epoch": request["v3_and_below_producer_epoch"],
            "topics": request["v3_and_below_topics"],
        }
        return {"results_by_topic_v3_and_below": _topic_results(_errors(ctx, txn))}
    # v4+ is sent by brokers verifying a produce (KIP-890): Kafka requires CLUSTER_ACTION.
    if not ctx.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    results = [
        {"transactional_id": txn["transactional_id"], "topic_results": _topic_results(_errors(ctx, txn))}
        for txn in request["transactions"]
    ]
    return {"error_code": ErrorCode.NONE, "results_by_transaction": results}
