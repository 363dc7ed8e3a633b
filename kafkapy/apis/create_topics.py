"""CreateTopics (key 19), versions 0-7: creates topics with partitions and configs.

v0: topics with partition count, replication factor, assignments and configs.
v1: validate_only and error messages.  v2-v3: same as v1 (v2 adds throttle time).
v4: num_partitions / replication_factor -1 mean the broker defaults.
v5: flexible; returns the topic's configs, partition count and replication factor.
v6: same as v5.  v7: returns the topic id.
One broker holds one replica, so a replication factor above 1 gets INVALID_REPLICATION_FACTOR,
as from a one-node Apache Kafka.
"""

from __future__ import annotations

from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_manager import validate_topic_name

# Kafka's DescribeConfigs ConfigSource for a topic override.
DYNAMIC_TOPIC_CONFIG = 1


def _validate(ctx: RequestContext, topic: dict) -> tuple[int, int]:
    """The partition count and replication factor to create with; KafkaError if invalid."""
    name = topic["name"]
    if name in ctx.broker.logs.topics:
        raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
    if topic["assignments"]:
        partitions = len(topic["assignments"])
        replication = len(topic["assignments"][0]["broker_ids"])
    else:
        partitions = topic["num_partitions"]
        replication = topic["replication_factor"]
    if partitions == -1:
        partitions = ctx.broker.config.num_partitions
    if replication == -1:
        replication = ctx.broker.config.default_replication_factor
    if partitions <= 0:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
    if replication <= 0:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0.")
    if replication > 1:
        raise KafkaError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"Unable to replicate the partition {replication} time(s): The target replication factor of "
            f"{replication} cannot be reached because only 1 broker(s) are registered.",
        )
    return partitions, replication


def _create(ctx: RequestContext, topic: dict, validate_only: bool) -> dict:
    name = topic["name"]
    configs = {c["name"]: c["value"] for c in topic["configs"]}
    entry: dict = {"name": name}
    try:
        partitions, replication = _validate(ctx, topic)
        if validate_only:
            validate_topic_name(name)
            ctx.broker.logs.default_config.with_overrides(configs)
        else:
            entry["topic_id"] = ctx.broker.logs.create_topic(name, partitions, configs).topic_id
    except KafkaError as exc:
        entry.update(error_code=exc.code, error_message=exc.message)
        return entry
    # Only the overrides are listed; DescribeConfigs (issue 5) will report every config.
    entry.update(
        error_code=ErrorCode.NONE,
        num_partitions=partitions,
        replication_factor=replication,
        configs=[
            {"name": key, "value": value, "config_source": DYNAMIC_TOPIC_CONFIG}
            for key, value in sorted(configs.items())
        ],
    )
    return entry


@handler(19, 0, 7)
async def handle_create_topics(ctx: RequestContext, request: dict) -> dict:
    validate_only = request.get("validate_only", False)
    return {"topics": [_create(ctx, topic, validate_only) for topic in request["topics"]]}
