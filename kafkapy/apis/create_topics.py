"""CreateTopics (key 19), versions 0-7: creates topics with partitions, assignments and configs.

v0: topics with partition count, replication factor, assignments and configs.
v1: validate_only (the same checks, including the create.topic.policy) and error messages.
v2-v3: same as v1 (v2 adds throttle time).
v4: num_partitions / replication_factor -1 mean the broker defaults.
v5: flexible; returns every config of the topic with its source, the partition count and replication factor.
v6: same as v5.  v7: returns the topic id.
Partition caps: more than 10,000 partitions in one request fail every topic of it with
POLICY_VIOLATION, as Kafka's controller does (MAX_PARTITIONS_PER_BATCH); a topic that would take the
broker past kafkapy.max.broker.partitions gets POLICY_VIOLATION. A topic whose files cannot be
made gets KAFKA_STORAGE_ERROR and leaves nothing behind.
Replication factor: one broker holds one replica. By default (kafkapy.strict.replication.factor=false)
a larger factor is accepted and the topic gets that one replica, which the response and Metadata
report; with the setting true it gets INVALID_REPLICATION_FACTOR, as from a one-node Apache Kafka.
"""

from __future__ import annotations

import logging
from collections import Counter

from kafkapy import policy
from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_manager import validate_topic_name
from kafkapy.topic_configs import describe_topic_configs

log = logging.getLogger("kafkapy.admin")

# Kafka's ReplicationControlManager.MAX_PARTITIONS_PER_BATCH: partitions one CreateTopics (and here
# one CreatePartitions) request may create.
MAX_PARTITIONS_PER_REQUEST = 10_000
EXCESSIVE_PARTITIONS_MESSAGE = "Excessively large number of partitions per request."


def check_replicas(ctx: RequestContext, replication: int, assignments: list[list[int]]) -> None:
    """Replication factor and replica assignment rules on a single broker (also for CreatePartitions)."""
    node = ctx.broker.node_id
    strict = ctx.broker.config.strict_replication_factor
    for replicas in assignments:
        if not replicas or len(set(replicas)) != len(replicas):
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"Invalid replica assignment {replicas}.")
        if strict and set(replicas) != {node}:
            message = f"The manual partition assignment includes unknown brokers {replicas}."
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, message)
    if replication <= 0:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0.")
    if strict and replication > 1:
        raise KafkaError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"Unable to replicate the partition {replication} time(s): The target replication factor of "
            f"{replication} cannot be reached because only 1 broker(s) are registered.",
        )


def _validate(ctx: RequestContext, topic: dict, configs: dict[str, str]) -> tuple[int, int]:
    """The partition count and requested replication factor; KafkaError if the topic cannot be created."""
    name = topic["name"]
    validate_topic_name(name)
    if name in ctx.broker.logs.topics:
        raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
    assignments = topic["assignments"]
    if assignments:
        if topic["num_partitions"] != -1 or topic["replication_factor"] != -1:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at "
                "the same time.",
            )
        indexes = sorted(a["partition_index"] for a in assignments)
        if indexes != list(range(len(assignments))):
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Partitions must be numbered from 0, without gaps.")
        partitions = len(assignments)
        replication = len(assignments[0]["broker_ids"])
    else:
        partitions = topic["num_partitions"]
        replication = topic["replication_factor"]
        if partitions == -1:
            partitions = ctx.broker.config.num_partitions
        if replication == -1:
            replication = ctx.broker.config.default_replication_factor
    if partitions <= 0:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS, "Number of partitions was set to an invalid non-positive value.")
    check_replicas(ctx, replication, [a["broker_ids"] for a in assignments])
    ctx.broker.logs.check_partition_limit(partitions)
    ctx.broker.logs.default_config.with_overrides(configs)
    request = policy.CreateTopicRequest(
        name,
        partitions,
        replication,
        {a["partition_index"]: list(a["broker_ids"]) for a in assignments} or None,
        configs,
    )
    policy.check(ctx.broker.config.create_topic_policy_class_name, request)
    return partitions, replication


def _create(ctx: RequestContext, topic: dict, validate_only: bool, duplicated: bool, may_create: bool) -> dict:
    name = topic["name"]
    entry: dict = {"name": name}
    try:
        if duplicated:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Topic '{name}' appears more than once in the request.")
        if not may_create and not ctx.authorize(AclOperation.CREATE, ResourceType.TOPIC, name):
            raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed.")
        configs = {c["name"]: c["value"] for c in topic["configs"]}
        if any(value is None for value in configs.values()):
            raise KafkaError(ErrorCode.INVALID_CONFIG, "Null value not supported for topic configs.")
        partitions, replication = _validate(ctx, topic, configs)
        if not validate_only:
            entry["topic_id"] = ctx.broker.logs.create_topic(name, partitions, configs).topic_id
            if replication > 1:
                log.info("replication factor above 1 requested; one replica created", extra={"topic": name})
    except KafkaError as exc:
        entry.update(error_code=exc.code, error_message=exc.message)
        return entry
    entry.update(error_code=ErrorCode.NONE, num_partitions=partitions, replication_factor=1)
    if ctx.authorize(AclOperation.DESCRIBE_CONFIGS, ResourceType.TOPIC, name):
        entry["configs"] = describe_topic_configs(
            configs, ctx.broker.config.log_properties, dynamic=ctx.broker.dynamic_config
        )
    else:
        entry["topic_config_error_code"] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
    return entry


def _requested_partitions(topic: dict, default: int) -> int:
    """Partitions a topic entry asks for, as Kafka's validateTotalNumberOfPartitions counts them."""
    if topic["assignments"]:
        return len(topic["assignments"])
    if topic["num_partitions"] == -1:
        return default
    return max(topic["num_partitions"], 0)


@handler(
    19, 0, 7,
    acl=(
        (ResourceType.CLUSTER, AclOperation.CREATE),
        (ResourceType.TOPIC, AclOperation.CREATE),
        (ResourceType.TOPIC, AclOperation.DESCRIBE_CONFIGS),
    ),
)
async def handle_create_topics(ctx: RequestContext, request: dict) -> dict:
    validate_only = request.get("validate_only", False)
    default = ctx.broker.config.num_partitions
    if sum(_requested_partitions(topic, default) for topic in request["topics"]) > MAX_PARTITIONS_PER_REQUEST:
        error = {"error_code": ErrorCode.POLICY_VIOLATION, "error_message": EXCESSIVE_PARTITIONS_MESSAGE}
        return {"topics": [{"name": topic["name"], **error} for topic in request["topics"]]}
    counts = Counter(topic["name"] for topic in request["topics"])
    # CREATE on the cluster allows every topic; else each topic needs its own.
    may_create = ctx.authorize(AclOperation.CREATE, ResourceType.CLUSTER)
    topics = [
        _create(ctx, topic, validate_only, counts[topic["name"]] > 1, may_create) for topic in request["topics"]
    ]
    return {"topics": topics}
