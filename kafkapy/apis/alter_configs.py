"""AlterConfigs (key 33), versions 0-2: replaces a topic's config overrides wholesale.

v0: resources with their complete new set of configs, validate_only.  v1: same as v0.  v2: flexible.
Configs left out return to their defaults. Invalid names or values are INVALID_CONFIG; the
alter.config.policy may refuse with POLICY_VIOLATION (validate_only included). Broker configs are
static here (server.properties), so altering a broker resource is INVALID_CONFIG.
"""

from __future__ import annotations

from collections import Counter

from kafkapy import policy
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.describe_configs import broker_resource_error
from kafkapy.configs import ResourceType
from kafkapy.protocol.errors import ErrorCode, KafkaError


def current_overrides(ctx: RequestContext, kind: int, name: str) -> dict[str, str]:
    """A resource's current overrides; KafkaError if it cannot be altered (also for IncrementalAlterConfigs)."""
    if kind == ResourceType.TOPIC:
        topic = ctx.broker.logs.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        return dict(topic.configs)
    if kind == ResourceType.BROKER:
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


def duplicate_error(kind: int, name: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_REQUEST, f"Duplicate resource {kind}/{name} in the request")


def _alter(ctx: RequestContext, resource: dict, validate_only: bool, duplicated: bool) -> dict:
    kind, name = resource["resource_type"], resource["resource_name"]
    try:
        if duplicated:
            raise duplicate_error(kind, name)
        current_overrides(ctx, kind, name)
        configs = {c["name"]: c["value"] for c in resource["configs"]}
        for key, value in configs.items():
            if value is None:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {key}")
        alter_topic(ctx, kind, name, configs, validate_only)
    except KafkaError as exc:
        return resource_result(kind, name, exc)
    return resource_result(kind, name)


@handler(33, 0, 2)
async def handle_alter_configs(ctx: RequestContext, request: dict) -> dict:
    counts = Counter((r["resource_type"], r["resource_name"]) for r in request["resources"])
    validate_only = request["validate_only"]
    responses = [
        _alter(ctx, r, validate_only, counts[(r["resource_type"], r["resource_name"])] > 1)
        for r in request["resources"]
    ]
    return {"responses": responses}
