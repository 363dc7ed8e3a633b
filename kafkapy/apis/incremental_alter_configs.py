"""IncrementalAlterConfigs (key 44), versions 0-1: SET, DELETE, APPEND and SUBTRACT on topic configs.

v0: resources with (name, operation, value) changes, validate_only.  v1: flexible.
APPEND and SUBTRACT apply to list configs only (cleanup.policy, the throttled replica lists),
starting from the default when the topic has no override; other configs get INVALID_CONFIG, as do
invalid names or values. A config named twice is INVALID_REQUEST. Broker configs are static here.
"""

from __future__ import annotations

from collections import Counter

from kafkapy.apis import RequestContext, handler
from kafkapy.apis.alter_configs import alter_topic, current_overrides, duplicate_error, resource_result
from kafkapy.configs import apply_incremental
from kafkapy.protocol.errors import KafkaError


def _alter(ctx: RequestContext, resource: dict, validate_only: bool, duplicated: bool) -> dict:
    kind, name = resource["resource_type"], resource["resource_name"]
    try:
        if duplicated:
            raise duplicate_error(kind, name)
        current = current_overrides(ctx, kind, name)
        changes = [(c["name"], c["config_operation"], c["value"]) for c in resource["configs"]]
        alter_topic(ctx, kind, name, apply_incremental(current, changes), validate_only)
    except KafkaError as exc:
        return resource_result(kind, name, exc)
    return resource_result(kind, name)


@handler(44, 0, 1)
async def handle_incremental_alter_configs(ctx: RequestContext, request: dict) -> dict:
    counts = Counter((r["resource_type"], r["resource_name"]) for r in request["resources"])
    validate_only = request["validate_only"]
    responses = [
        _alter(ctx, r, validate_only, counts[(r["resource_type"], r["resource_name"])] > 1)
        for r in request["resources"]
    ]
    return {"responses": responses}
