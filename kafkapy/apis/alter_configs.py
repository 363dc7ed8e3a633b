"""AlterConfigs (key 33), versions 0-2: replaces a topic's config overrides wholesale.

v0: resources with their complete new set of configs, validate_only.  v1: same as v0.  v2: flexible.
Configs left out return to their defaults. Invalid names or values are INVALID_CONFIG; the
alter.config.policy may refuse with POLICY_VIOLATION (validate_only included). Broker configs are
static here (server.properties), so altering a broker resource is INVALID_CONFIG.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from kafkapy import policy
from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.describe_configs import broker_resource_error, config_authorization_error
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.topic_configs import ConfigResourceType


def current_overrides(ctx: RequestContext, kind: int, name: str) -> dict[str, str]:
    """A resource's current overrides; KafkaError if it cannot be altered (also for IncrementalAlterConfigs)."""
    if kind == ConfigResourceType.TOPIC:
        topic = ctx.broker.logs.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        return dict(topic.configs)
    if kind == ConfigResourceType.BROKER:
        error = broker_resource_error(ctx, name)
        raise error or KafkaError(
            ErrorCode.INVALID_CONFIG, "Broker configs are static on kafkapy: set them in server.properties."
        )
    raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {kind}")


def alter_topic(ctx: RequestContext, kind: int, name: str, configs: dict[str, str], validate_only: bool) -> None:
    """Validate (configs, policy) and unless ``validate_only`` apply a topic's new overrides."""
    ctx.broker.logs.default_config.with_overrides(configs)
    policy.check(ctx.broker.config.alter_config_policy_class_name, policy.AlterConfigRequest(kind, name, configs))
    ctx.broker.logs.alter_topic_configs(name, configs, validate_only=validate_only)
    if not validate_only:
        ctx.broker.cleaner.trigger()


def resource_result(kind: int, name: str, error: KafkaError | None = None) -> dict:
    result = {"resource_type": kind, "resource_name": name, "error_code": ErrorCode.NONE}
    if error is not None:
        result.update(error_code=error.code, error_message=error.message)
    return result


NewOverrides = Callable[[dict[str, str], list[dict]], dict[str, str]]


def alter_resources(ctx: RequestContext, request: dict, new_overrides: NewOverrides) -> dict:
    """The response of AlterConfigs or IncrementalAlterConfigs, which differ only in how a
    resource's new overrides follow from its current ones and the request's config entries."""
    resources = request["resources"]
    counts = Counter((r["resource_type"], r["resource_name"]) for r in resources)
    responses = []
    for resource in resources:
        kind, name = resource["resource_type"], resource["resource_name"]
        try:
            if counts[(kind, name)] > 1:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Duplicate resource {kind}/{name} in the request")
            denied = config_authorization_error(ctx, AclOperation.ALTER_CONFIGS, kind, name)
            if denied is not None:
                raise denied
            overrides = new_overrides(current_overrides(ctx, kind, name), resource["configs"])
            alter_topic(ctx, kind, name, overrides, request["validate_only"])
        except KafkaError as exc:
            responses.append(resource_result(kind, name, exc))
        else:
            responses.append(resource_result(kind, name))
    return {"responses": responses}


def _replace(current: dict[str, str], entries: list[dict]) -> dict[str, str]:
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
    return alter_resources(ctx, request, _replace)
