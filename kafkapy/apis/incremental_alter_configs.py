"""IncrementalAlterConfigs (key 44), versions 0-1: SET, DELETE, APPEND and SUBTRACT on topic configs.

v0: resources with (name, operation, value) changes, validate_only.  v1: flexible.
APPEND and SUBTRACT apply to list configs only (cleanup.policy, the throttled replica lists),
starting from the default when the topic has no override; other configs get INVALID_CONFIG, as do
invalid names or values. A config named twice is INVALID_REQUEST. Broker configs are static here.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.alter_configs import alter_resources
from kafkapy.topic_configs import apply_incremental


def _apply(current: dict[str, str], entries: list[dict]) -> dict[str, str]:
    changes = [(e["name"], e["config_operation"], e["value"]) for e in entries]
    return apply_incremental(current, changes)


@handler(
    44, 0, 1,
    acl=(
        (ResourceType.CLUSTER, AclOperation.ALTER_CONFIGS),
        (ResourceType.TOPIC, AclOperation.ALTER_CONFIGS),
        (ResourceType.GROUP, AclOperation.ALTER_CONFIGS),
    ),
)
async def handle_incremental_alter_configs(ctx: RequestContext, request: dict) -> dict:
    return alter_resources(ctx, request, _apply)
