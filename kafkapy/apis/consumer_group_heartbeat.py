"""ConsumerGroupHeartbeat (key 68), versions 0-1: a KIP-848 consumer group member joins (epoch 0),
heartbeats with its epoch, reconciles its assignment and leaves (epoch -1, or -2 for a static member
that will come back).

v0: the coordinator generates the member id of a joining member that sends none.
v1: the member id is the consumer's own (required); SubscribedTopicRegex (RE2/J syntax).
Fields left null did not change since the last heartbeat. Errors come with Kafka's message.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.join_group import client_host
from kafkapy.coordinator.consumer_group_coordinator import HeartbeatRequest
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _request(ctx: RequestContext, request: dict) -> HeartbeatRequest:
    topic_partitions = request.get("topic_partitions")
    owned = (
        None
        if topic_partitions is None
        else {t["topic_id"]: frozenset(t["partitions"]) for t in topic_partitions if t["partitions"]}
    )
    return HeartbeatRequest(
        group_id=request["group_id"],
        member_id=request["member_id"],
        member_epoch=request["member_epoch"],
        instance_id=request.get("instance_id"),
        rack_id=request.get("rack_id"),
        rebalance_timeout_ms=request.get("rebalance_timeout_ms", -1),
        subscribed_topic_names=request.get("subscribed_topic_names"),
        subscribed_topic_regex=request.get("subscribed_topic_regex"),
        server_assignor=request.get("server_assignor"),
        owned=owned,
        client_id=ctx.request.client_id or "",
        client_host=client_host(ctx),
        version=ctx.version,
    )


@handler(68, 0, 1, acl=((ResourceType.GROUP, AclOperation.READ),))
async def handle_consumer_group_heartbeat(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request["group_id"]):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    try:
        result = ctx.broker.consumer_groups.heartbeat(_request(ctx, request))
    except KafkaError as exc:
        return {"error_code": exc.code, "error_message": exc.message}
    assignment = None
    if result.assignment is not None:
        assignment = {
            "topic_partitions": [
                {"topic_id": topic_id, "partitions": sorted(parts)} for topic_id, parts in result.assignment.items()
            ]
        }
    return {
        "error_code": ErrorCode.NONE,
        "member_id": result.member_id,
        "member_epoch": result.member_epoch,
        "heartbeat_interval_ms": result.heartbeat_interval_ms,
        "assignment": assignment,
    }
