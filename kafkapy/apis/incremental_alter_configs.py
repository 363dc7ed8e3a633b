"""IncrementalAlterConfigs (key 44), versions 0-1: SET, DELETE, APPEND and SUBTRACT on topic configs and
on a broker's dynamic configs.

v0: resources with (name, operation, value) changes, validate_only.  v1: flexible.
For a topic, APPEND and SUBTRACT apply to list configs only (cleanup.policy, the throttled replica
lists), starting from the default when the topic has no override; other configs get INVALID_CONFIG, as
do invalid names or values. A config named twice is INVALID_REQUEST. A BROKER resource is this node
("1") or the cluster-wide default (""): APPEND and SUBTRACT start from the config's effective value,
and the new set is checked, stored and applied as AlterConfigs does (kafkapy.dynamic_broker_config).
A BROKER_LOGGER resource (this node) sets Python logging levels for Kafka's log4j ones
(kafkapy.broker_loggers). A GROUP resource sets or deletes a group's config overrides (no group config is
a list: APPEND and SUBTRACT are INVALID_CONFIG), the new set checked as AlterConfigs does.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.alter_configs import alter_resources
from kafkapy.coordinator.group_config_store import group_incremental_changes
from kafkapy.dynamic_broker_config import incremental_changes
from kafkapy.topic_configs import BROKER_SYNONYMS, ConfigResourceType, apply_incremental


def _effective_broker_value(ctx: RequestContext, name: str) -> str | None:
    """A broker config's current value: dynamic, else server.properties, else Kafka's default."""
    static = ctx.broker.config.log_properties.get(name)
    if static is None and name in BROKER_SYNONYMS and BROKER_SYNONYMS[name][1] == 1:
        static = BROKER_SYNONYMS[name][0].default
    return ctx.broker.dynamic_config.value(name, static)


def _apply(ctx: RequestContext, kind: int, current: dict[str, str], entries: list[dict]) -> dict[str, str]:
    changes = [(e["name"], e["config_operation"], e["value"]) for e in entries]
    if kind == ConfigResourceType.BROKER:
        return incremental_changes(current, changes, lambda name: _effective_broker_value(ctx, name))
    if kind == ConfigResourceType.GROUP:
        return group_incremental_changes(current, changes)
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
    return alter_resources(ctx, request, _apply, incremental=True)
