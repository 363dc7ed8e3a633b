"""AlterConfigs (key 33), versions 0-2: replaces a topic's config overrides, or a broker's dynamic
configs, wholesale.

v0: resources with their complete new set of configs, validate_only.  v1: same as v0.  v2: flexible.
Configs left out return to their defaults. For a topic, invalid names or values are INVALID_CONFIG;
the alter.config.policy may refuse with POLICY_VIOLATION (validate_only included). A BROKER resource
is this node ("1") or the cluster-wide default (""): its dynamic configs, checked and worded as Kafka
4.3.1 does (kafkapy.dynamic_broker_config), persisted and applied at once. A GROUP resource (any
non-empty group id) gets its whole set of group config overrides, checked as Kafka's GroupConfig does
(kafkapy.coordinator.group_config_store), persisted, read by the coordinators at their next use. Broker loggers are
INVALID_REQUEST "Unknown resource type 8" here, as in Kafka (IncrementalAlterConfigs changes them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from kafkapy import policy
from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.describe_configs import config_authorization_error
from kafkapy.broker_loggers import alter_log_levels
from kafkapy.dynamic_broker_config import check_broker_resource
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_config import LogConfig
from kafkapy.topic_configs import ConfigResourceType, broker_topic_defaults


def current_overrides(ctx: RequestContext, kind: int, name: str) -> dict[str, str]:
    """A resource's current overrides; KafkaError if it cannot be altered (also for IncrementalAlterConfigs)."""
    if kind == ConfigResourceType.TOPIC:
        topic = ctx.broker.logs.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        return dict(topic.configs)
    if kind == ConfigResourceType.BROKER:
        check_broker_resource(name, ctx.broker.node_id)
        return dict(ctx.broker.dynamic_config.layer(name))
    if kind == ConfigResourceType.GROUP:
        if not name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Default group resources are not allowed.")
        return ctx.broker.group_config_store.overrides(name)
    if kind == ConfigResourceType.BROKER_LOGGER:
        # Kafka's AlterConfigs has no broker loggers (IncrementalAlterConfigs sets their levels).
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {kind}")
    raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {kind}")


def alter_resource(
    ctx: RequestContext, kind: int, name: str, configs: dict[str, str], validate_only: bool, requested: list[str]
) -> None:
    """Validate (configs, policy) and unless ``validate_only`` apply a topic's or a group's new overrides
    or a broker resource's new dynamic set; ``requested`` are the config names the request names."""
    if kind == ConfigResourceType.BROKER:
        _check_broker_configs(ctx, name, configs, requested)
    elif kind == ConfigResourceType.GROUP:
        ctx.broker.group_config_store.validate(configs)
    else:
        ctx.broker.logs.default_config.with_overrides(configs)
    policy.check(ctx.broker.config.alter_config_policy_class_name, policy.AlterConfigRequest(kind, name, configs))
    if validate_only:
        return
    if kind == ConfigResourceType.BROKER:
        ctx.broker.dynamic_config.replace(name, configs)
    elif kind == ConfigResourceType.GROUP:
        ctx.broker.group_config_store.replace(name, configs)
    else:
        ctx.broker.logs.alter_topic_configs(name, configs)
        ctx.broker.cleaner.trigger()


def _check_broker_configs(ctx: RequestContext, name: str, configs: dict[str, str], requested: list[str]) -> None:
    """Kafka's checks of a broker resource's new dynamic set, then that the topic defaults it makes hold
    together (INVALID_REQUEST, as Kafka's ConfigException)."""
    dynamic = ctx.broker.dynamic_config
    dynamic.validate(name, configs, requested)
    props = dynamic.log_properties(ctx.broker.config.log_properties, name, configs)
    try:
        LogConfig().with_overrides(broker_topic_defaults(props))
    except KafkaError as exc:
        raise KafkaError(ErrorCode.INVALID_REQUEST, exc.message) from None


def resource_result(kind: int, name: str, error: KafkaError | None = None) -> dict:
    result = {"resource_type": kind, "resource_name": name, "error_code": ErrorCode.NONE}
    if error is not None:
        result.update(error_code=error.code, error_message=error.message)
    return result


# (ctx, resource type, current overrides, the request's config entries) -> the new overrides.
NewOverrides = Callable[[RequestContext, int, dict[str, str], list[dict]], dict[str, str]]


def alter_resources(ctx: RequestContext, request: dict, new_overrides: NewOverrides, *, incremental: bool) -> dict:
    """The response of AlterConfigs or IncrementalAlterConfigs, which differ in how a resource's new
    overrides follow from its current ones and the request's config entries, and in that only the
    ``incremental`` one sets broker loggers' levels."""
    resources = request["resources"]
    counts = Counter((r["resource_type"], r["resource_name"]) for r in resources)
    responses = []
    for resource in resources:
        kind, name = resource["resource_type"], resource["resource_name"]
        try:
            if counts[(kind, name)] > 1:
                # Kafka 4.3.1's words in IncrementalAlterConfigs (its AlterConfigs never answers such a request).
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Each resource must appear at most once.")
            denied = config_authorization_error(ctx, AclOperation.ALTER_CONFIGS, kind, name)
            if denied is not None:
                raise denied
            if kind == ConfigResourceType.BROKER_LOGGER and incremental:
                alter_log_levels(ctx.broker.node_id, name, resource["configs"], request["validate_only"])
            else:
                overrides = new_overrides(ctx, kind, current_overrides(ctx, kind, name), resource["configs"])
                requested = [entry["name"] for entry in resource["configs"]]
                alter_resource(ctx, kind, name, overrides, request["validate_only"], requested)
        except KafkaError as exc:
            responses.append(resource_result(kind, name, exc))
        else:
            responses.append(resource_result(kind, name))
    return {"responses": responses}


def _replace(ctx: RequestContext, kind: int, current: dict[str, str], entries: list[dict]) -> dict[str, str]:
    """AlterConfigs: the entries are the complete new set of overrides."""
    for entry in entries:
        if entry["value"] is None:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {entry['name']}")
    return {entry["name"]: entry["value"] for entry in entries}


@handler(
    33, 0, 2,
    acl=(
        (ResourceType.CLUSTER, AclOperation.ALTER_CONFIGS),
        (ResourceType.TOPIC, AclOperation.ALTER_CONFIGS),
        (ResourceType.GROUP, AclOperation.ALTER_CONFIGS),
    ),
)
async def handle_alter_configs(ctx: RequestContext, request: dict) -> dict:
    return alter_resources(ctx, request, _replace, incremental=False)
