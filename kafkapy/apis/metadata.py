"""Metadata (key 3), versions 0-13: brokers, topics, partitions and their leaders.

v0: an empty topic list means all topics.
v1: null means all topics, empty means none; rack, controller id, is_internal.
v2: cluster id.  v3: throttle time.  v4: allow_auto_topic_creation.
v5: offline replicas.  v6: same as v5.  v7: leader epoch.
v8: authorized operations of the topics and the cluster, from the authorizer, on request.
v9: flexible.  v10: topic ids.  v11: drops cluster authorized operations.
v12: topics may be looked up by id alone.  v13: top-level error code.
A topic that a request auto-creates is answered UNKNOWN_TOPIC_OR_PARTITION with no partitions, in every
version, and is there from the next request on: Kafka 4.3.1's answer while its controller creates it.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType, authorized_operations
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import may_create_topic, resolve_topic
from kafkapy.coordinator.internal_topics import is_internal
from kafkapy.protocol.common import ZERO_UUID
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_manager import TopicState, validate_topic_name


def broker_entries(ctx: RequestContext) -> list[dict]:
    host, port = ctx.broker.config.advertised_for(ctx.listener_name)
    return [{"node_id": ctx.broker.node_id, "host": host, "port": port}]


def topic_entry(ctx: RequestContext, state: TopicState) -> dict:
    partitions = []
    for index in range(len(state.partitions)):
        replicas = ctx.broker.replicas(state.name, index)
        partitions.append(
            {
                "error_code": ErrorCode.NONE,
                "partition_index": index,
                "leader_id": replicas[0],
                "leader_epoch": 0,
                "replica_nodes": replicas,
                "isr_nodes": replicas,
            }
        )
    return {
        "error_code": ErrorCode.NONE,
        "name": state.name,
        "topic_id": state.topic_id,
        "is_internal": is_internal(state.name),
        "partitions": partitions,
    }


def _requested_topic(ctx: RequestContext, wanted: dict, auto_create: bool) -> dict:
    name = wanted.get("name")
    topic_id = wanted.get("topic_id") or ZERO_UUID
    # A topic id, when given, names the topic whatever the name says: the Java consumer of a KIP-848
    # regex subscription asks for its assigned topics by id with the name "" (Kafka 4.3.1 answers them).
    if name is None or topic_id != ZERO_UUID:
        state, error = resolve_topic(ctx, None, topic_id, AclOperation.DESCRIBE)
        if state is None:
            return {"error_code": error, "name": None, "topic_id": topic_id}
        name = state.name
    elif not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name):
        return {"error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED, "name": name, "topic_id": topic_id}
    creates = auto_create and ctx.broker.config.auto_create_topics_enable and name not in ctx.broker.logs.topics
    if creates and not may_create_topic(ctx, name):
        # Kafka answers a topic it may not create with TOPIC_AUTHORIZATION_FAILED.
        return {"error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED, "name": name}
    try:
        state = ctx.broker.topic(name, auto_create=auto_create)
    except KafkaError as exc:
        return {"error_code": exc.code, "name": name}
    if creates and state is not None:
        # Kafka 4.3.1 asks its controller to create the topic and answers "not yet" (every version):
        # the topic is there for the client's next Metadata request, as it is here.
        return {"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "name": name, "is_internal": is_internal(name)}
    if state is None:
        # Apache Kafka answers an illegal name with INVALID_TOPIC_EXCEPTION even when it would not
        # create the topic anyway.
        try:
            validate_topic_name(name)
        except KafkaError as exc:
            return {"error_code": exc.code, "name": name}
        return {"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "name": name}
    return topic_entry(ctx, state)


@handler(
    3, 0, 13,
    acl=(
        (ResourceType.TOPIC, AclOperation.DESCRIBE),
        (ResourceType.CLUSTER, AclOperation.CREATE),
        (ResourceType.TOPIC, AclOperation.CREATE),
    ),
)
async def handle_metadata(ctx: RequestContext, request: dict) -> dict:
    wanted = request["topics"]
    if wanted is None or (ctx.version == 0 and not wanted):
        # Every topic means every topic the principal may describe.
        topics = [
            topic_entry(ctx, state)
            for state in ctx.broker.logs.topics.values()
            if ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, state.name)
        ]
    else:
        # v0-v3 always auto-create; v4+ only when the client allows it.
        auto_create = request.get("allow_auto_topic_creation", True)
        topics = [_requested_topic(ctx, t, auto_create) for t in wanted]
    if request.get("include_topic_authorized_operations"):
        # Kafka computes them for the topics the principal may describe (a denied one keeps the sentinel).
        for topic in topics:
            if topic["name"] is not None and topic["error_code"] != ErrorCode.TOPIC_AUTHORIZATION_FAILED:
                topic["topic_authorized_operations"] = authorized_operations(ctx, ResourceType.TOPIC, topic["name"])
    return {
        "brokers": broker_entries(ctx),
        "cluster_id": ctx.broker.cluster_id,
        "controller_id": ctx.broker.node_id,
        "topics": topics,
        "cluster_authorized_operations": authorized_operations(
            ctx, ResourceType.CLUSTER, requested=bool(request.get("include_cluster_authorized_operations"))
        ),
    }
