"""ShareGroupHeartbeat (key 76), version 1: a KIP-932 share group member joins, heartbeats and leaves.

v0: early access in Kafka 4.0, no longer served.  v1: as Kafka 4.1+ (flexible), the member id
chosen by the client. Member epoch 0 joins (SubscribedTopicNames required), -1 leaves; the answer
carries the member epoch, the heartbeat interval and, when it changed, the assignment.
Served while the ``share.version`` feature is finalized at 1 or more (Kafka's
isShareGroupProtocolEnabled); UNSUPPORTED_VERSION otherwise.
"""

from __future__ import annotations

import trio

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.join_group import client_host
from kafkapy.coordinator.share_group_coordinator import HeartbeatRequest
from kafkapy.protocol.errors import ErrorCode, KafkaError

SHARE_VERSION = "share.version"


def share_groups_enabled(ctx: RequestContext) -> bool:
    """Kafka serves the share group APIs only with share.version finalized at 1 or more."""
    return ctx.broker.features.level(SHARE_VERSION) >= 1


@handler(76, 1, 1, acl=((ResourceType.GROUP, AclOperation.READ), (ResourceType.TOPIC, AclOperation.DESCRIBE)))
async def handle_share_group_heartbeat(ctx: RequestContext, request: dict) -> dict:
    if not share_groups_enabled(ctx):
        return ctx.error_response(ErrorCode.UNSUPPORTED_VERSION)
    group_id = request["group_id"]
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, group_id):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    topics = request.get("subscribed_topic_names")
    # As KafkaApis: every subscribed topic must be describable, or the heartbeat is refused.
    if topics and not all(ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, t) for t in topics):
        return ctx.error_response(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    heartbeat = HeartbeatRequest(
        group_id=group_id,
        member_id=request["member_id"],
        member_epoch=request["member_epoch"],
        rack_id=request.get("rack_id"),
        subscribed_topic_names=None if topics is None else list(topics),
        client_id=ctx.request.client_id or "",
        client_host=client_host(ctx),
    )
    try:
        result = ctx.broker.share_groups.heartbeat(heartbeat, trio.current_time())
    except KafkaError as exc:
        return ctx.error_response(exc.code, exc.message)
    assignment = None
    if result.assignment is not None:
        partitions = sorted(result.assignment.items(), key=lambda item: str(item[0]))
        assignment = {"topic_partitions": [{"topic_id": t, "partitions": ps} for t, ps in partitions]}
    return {
        "error_code": ErrorCode.NONE,
        "member_id": result.member_id,
        "member_epoch": result.member_epoch,
        "heartbeat_interval_ms": result.heartbeat_interval_ms,
        "assignment": assignment,
    }
