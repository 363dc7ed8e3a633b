"""AlterPartitionReassignments (key 45), versions 0-1: move partitions to other replica sets.

v0: per partition, a target replica set or null (cancel the reassignment in progress).
v1: allow_replication_factor_change (false: a target of another size is INVALID_REPLICATION_FACTOR),
echoed in the response.
Kafka's controller checks the target as a manual assignment (not empty, only registered brokers,
none twice) and completes a reassignment once the new replicas are in sync. The replica set lives in
the broker (``Broker.replicas``), where Metadata reads it; on one node the only valid target is the
set the partition already has, so the reassignment completes at once and none is ever in progress
(a cancel is NO_REASSIGNMENT_IN_PROGRESS). Needs ALTER on the cluster, as in Kafka's ControllerApis.
"""

from __future__ import annotations

from kafkapy.acl import DENIED_MESSAGE, AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _validate_target(registered: frozenset[int], current: list[int], target: list[int], allow_rf_change: bool) -> None:
    """Raise Kafka's error for a target replica set its controller refuses
    (ReplicationControlManager.validateManualPartitionAssignment, then the replication factor check)."""
    if not target:
        raise KafkaError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes an empty replica list."
        )
    previous = None
    for broker in sorted(target):
        if broker not in registered:
            raise KafkaError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"The manual partition assignment includes broker {broker}, but no such broker is registered.",
            )
        if broker == previous:
            raise KafkaError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"The manual partition assignment includes the broker {broker} more than once.",
            )
        previous = broker
    if not allow_rf_change and len(set(current)) != len(target):
        raise KafkaError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"The replication factor is changed from {len(set(current))} to {len(target)}",
        )


def _reassign(ctx: RequestContext, topic: str, partition: dict, allow_rf_change: bool) -> dict:
    """One partition's result: the target checked against the partition's replica set."""
    index = partition["partition_index"]
    result = {"partition_index": index, "error_code": ErrorCode.NONE, "error_message": None}
    try:
        state = ctx.broker.topic(topic)
        if state is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find a topic named {topic}.")
        if not 0 <= index < len(state.partitions):
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find partition {topic}:{index}.")
        target = partition["replicas"]
        if target is None:
            # Kafka answers with the error's default message, which ApiError sends as null.
            raise KafkaError(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS)
        _validate_target(ctx.broker.registered_brokers, ctx.broker.replicas(topic, index), target, allow_rf_change)
    except KafkaError as exc:
        result["error_code"], result["error_message"] = exc.code, exc.message
    return result


@handler(45, 0, 1, acl=((ResourceType.CLUSTER, AclOperation.ALTER),))
async def handle_alter_partition_reassignments(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, DENIED_MESSAGE[ResourceType.CLUSTER])
    if not request["topics"]:
        # Kafka's controller answers an empty request with an empty response: every field its default.
        return {"error_code": ErrorCode.NONE, "error_message": "", "responses": []}
    allow_rf_change = request.get("allow_replication_factor_change", True)
    responses = [
        {"name": t["name"], "partitions": [_reassign(ctx, t["name"], p, allow_rf_change) for p in t["partitions"]]}
        for t in request["topics"]
    ]
    return {
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "allow_replication_factor_change": allow_rf_change,
        "responses": responses,
    }
