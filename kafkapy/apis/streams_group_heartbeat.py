"""StreamsGroupHeartbeat (key 88), version 0: a Kafka Streams member joins, heartbeats in and leaves a
KIP-1071 streams group.

v0: the topology (on join), the member's tasks, process id, endpoint and client tags; the answer
carries the member epoch, the tasks to run, statuses (missing source topics, ...) and, for
Interactive Queries, the partitions of every member's endpoint.
As Kafka's KafkaApis: READ on the group; with a topology, DESCRIBE on each of its topics; the broker
creates the missing internal topics when the principal may CREATE them (on the cluster or the topic).
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.join_group import client_host
from kafkapy.coordinator.streams_group import topology_topics
from kafkapy.protocol.errors import ErrorCode, KafkaError

STREAMS = "streams"


def streams_enabled(ctx: RequestContext) -> bool:
    """Kafka's isStreamsGroupProtocolEnabled: "streams" among group.coordinator.rebalance.protocols and the
    streams.version feature finalized at 1 or more."""
    protocols = ctx.broker.group_configs.broker_value("group.coordinator.rebalance.protocols")
    return STREAMS in protocols and ctx.broker.features.level("streams.version") >= 1


def error(ctx: RequestContext, code: ErrorCode, message: str | None = None) -> dict:
    """An error answer as Kafka's: its Status list is empty, not null (the Java default of a nullable
    array without a default)."""
    return {**(ctx.error_response(code, message) or {}), "status": []}


@handler(
    88, 0, 0,
    acl=(
        (ResourceType.GROUP, AclOperation.READ),
        (ResourceType.TOPIC, AclOperation.DESCRIBE),
        (ResourceType.CLUSTER, AclOperation.CREATE),
        (ResourceType.TOPIC, AclOperation.CREATE),
    ),
)  # fmt: skip
async def handle_streams_group_heartbeat(ctx: RequestContext, request: dict) -> dict:
    if not streams_enabled(ctx):
        return error(ctx, ErrorCode.UNSUPPORTED_VERSION)
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request["group_id"]):
        return error(ctx, ErrorCode.GROUP_AUTHORIZATION_FAILED)
    topology = request.get("topology")
    if topology is not None:
        names = topology_topics(topology)
        denied = sorted(t for t in names if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, t))
        if denied:
            return error(ctx, ErrorCode.TOPIC_AUTHORIZATION_FAILED, f"Unauthorized topics: {', '.join(denied)}")
    may_create_all = ctx.authorize(AclOperation.CREATE, ResourceType.CLUSTER)

    def may_create(topic: str) -> bool:
        return may_create_all or ctx.authorize(AclOperation.CREATE, ResourceType.TOPIC, topic)

    try:
        return ctx.broker.streams_groups.heartbeat(
            request, ctx.request.client_id or "", client_host(ctx), may_create=may_create
        )
    except KafkaError as exc:
        return error(ctx, exc.code, exc.message)
