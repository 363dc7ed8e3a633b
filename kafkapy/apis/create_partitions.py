"""CreatePartitions (key 37), versions 0-3: adds partitions to existing topics.

v0: new total count per topic, optional assignments of the new partitions, validate_only.
v1: same as v0.  v2: flexible.  v3: same as v2.
The replica rules of CreateTopics apply to assignments (kafkapy.strict.replication.factor), and the
create.topic.policy sees the new count, as in KRaft.
"""

from __future__ import annotations

from collections import Counter

from kafkapy import policy
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.create_topics import MAX_PARTITIONS_PER_REQUEST, TOO_MANY_PARTITIONS, check_replicas
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _grow(ctx: RequestContext, topic: dict, validate_only: bool, duplicated: bool) -> dict:
    name = topic["name"]
    try:
        if duplicated:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Duplicate topic in request.")
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
        if count - current > MAX_PARTITIONS_PER_REQUEST:
            # Kafka 4.3.1 answers UNKNOWN_SERVER_ERROR here (its controller's batch limit escapes as an
            # unexpected exception); POLICY_VIOLATION is what it answers CreateTopics for the same limit.
            raise KafkaError(ErrorCode.POLICY_VIOLATION, TOO_MANY_PARTITIONS)
        assignments = [a["broker_ids"] for a in topic["assignments"] or []]
        if topic["assignments"] is not None and len(assignments) != count - current:
            raise KafkaError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"Attempted to add {count - current} additional partition(s), but only {len(assignments)} "
                "assignment(s) were specified.",
            )
        check_replicas(ctx, len(assignments[0]) if assignments else 1, assignments)
        request = policy.CreateTopicRequest(name, count, 1, None, dict(state.configs))
        policy.check(ctx.broker.config.create_topic_policy_class_name, request)
        if not validate_only:
            ctx.broker.logs.add_partitions(name, count)
    except KafkaError as exc:
        return {"name": name, "error_code": exc.code, "error_message": exc.message}
    return {"name": name, "error_code": ErrorCode.NONE}


@handler(37, 0, 3)
async def handle_create_partitions(ctx: RequestContext, request: dict) -> dict:
    counts = Counter(topic["name"] for topic in request["topics"])
    validate_only = request["validate_only"]
    return {"results": [_grow(ctx, t, validate_only, counts[t["name"]] > 1) for t in request["topics"]]}
