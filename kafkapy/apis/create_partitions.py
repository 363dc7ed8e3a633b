"""CreatePartitions (key 37), versions 0-3: adds partitions to existing topics.

v0: new total count per topic, optional assignments of the new partitions, validate_only.
v1: same as v0.  v2: flexible.  v3: same as v2.
The replica rules of CreateTopics apply to assignments (kafkapy.strict.replication.factor), and the
create.topic.policy sees the new count, as in KRaft. Adding partitions past kafkapy.max.broker.partitions
gets POLICY_VIOLATION; adding more than 10,000 in one go gets UNKNOWN_SERVER_ERROR without a message, as
from Kafka 4.3.1 (its bound on the records of one controller operation; validate_only is not bounded);
partitions whose files cannot be made get KAFKA_STORAGE_ERROR, and none of them is added.
"""

from __future__ import annotations

from collections import Counter

from kafkapy import policy
from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.create_topics import MAX_PARTITIONS_PER_REQUEST, check_replicas
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _grow(ctx: RequestContext, topic: dict, validate_only: bool, duplicated: bool) -> dict:
    name = topic["name"]
    try:
        if duplicated:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Duplicate topic in request.")
        if not ctx.authorize(AclOperation.ALTER, ResourceType.TOPIC, name):
            # Kafka 4.3.1 sends no message with it.
            raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, None)
        state = ctx.broker.logs.topics.get(name)
        if state is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
        current, count = len(state.partitions), topic["count"]
        if count < current:
            raise KafkaError(
                ErrorCode.INVALID_PARTITIONS,
                f"The topic {name} currently has {current} partition(s); {count} would not be an increase.",
            )
        if count == current:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partition(s).")
        assignments = [a["broker_ids"] for a in topic["assignments"] or []]
        if topic["assignments"] is not None and len(assignments) != count - current:
            raise KafkaError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"Attempted to add {count - current} additional partition(s), but only {len(assignments)} "
                "assignment(s) were specified.",
            )
        check_replicas(ctx, len(assignments[0]) if assignments else 1, assignments)
        if not validate_only and count - current > MAX_PARTITIONS_PER_REQUEST:
            # Kafka's controller bounds the records of one operation; the bound escapes as an unexpected
            # error, sent without its message (only when partitions are really added).
            raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR)
        ctx.broker.logs.check_partition_limit(count - current)
        request = policy.CreateTopicRequest(name, count, 1, None, dict(state.configs))
        policy.check(ctx.broker.config.create_topic_policy_class_name, request)
        if not validate_only:
            ctx.broker.logs.add_partitions(name, count)
    except KafkaError as exc:
        return {"name": name, "error_code": exc.code, "error_message": exc.message}
    return {"name": name, "error_code": ErrorCode.NONE}


@handler(37, 0, 3, acl=((ResourceType.TOPIC, AclOperation.ALTER),))
async def handle_create_partitions(ctx: RequestContext, request: dict) -> dict:
    counts = Counter(topic["name"] for topic in request["topics"])
    validate_only = request["validate_only"]
    return {"results": [_grow(ctx, t, validate_only, counts[t["name"]] > 1) for t in request["topics"]]}
