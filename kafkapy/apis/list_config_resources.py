"""ListConfigResources (key 74), versions 0-1: the resources that have configs, by type.

v0 (ListClientMetricsResources): the client metrics subscriptions only.
v1: resource types asked for (empty: every type Kafka supports: groups, client metrics, broker
loggers, brokers, topics); any other type is UNSUPPORTED_VERSION with no resources, as Kafka's
KafkaApis answers. Listed in Kafka's order: groups with config overrides (in its hash map's order),
client metrics subscriptions (kafkapy keeps none), this node as broker logger and as broker, then every
topic, internal ones too.
Needs DESCRIBE_CONFIGS on the cluster.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.dynamic_broker_config import hash_set_order
from kafkapy.protocol.errors import ErrorCode
from kafkapy.topic_configs import ConfigResourceType

SUPPORTED = (
    ConfigResourceType.GROUP,
    ConfigResourceType.CLIENT_METRICS,
    ConfigResourceType.BROKER_LOGGER,
    ConfigResourceType.BROKER,
    ConfigResourceType.TOPIC,
)


def _names(ctx: RequestContext, kind: ConfigResourceType) -> list[str]:
    """The resources of one type that have configs on this broker."""
    if kind in (ConfigResourceType.BROKER_LOGGER, ConfigResourceType.BROKER):
        return [str(ctx.broker.node_id)]
    if kind == ConfigResourceType.TOPIC:
        return sorted(ctx.broker.logs.topics)
    if kind == ConfigResourceType.GROUP:
        return hash_set_order(ctx.broker.group_configs.overrides)
    return []


@handler(74, 0, 1, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE_CONFIGS),))
async def handle_list_config_resources(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.DESCRIBE_CONFIGS, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if ctx.version == 0:
        wanted = {ConfigResourceType.CLIENT_METRICS}
    else:
        wanted = set(request["resource_types"]) or set(SUPPORTED)
        if not wanted <= set(SUPPORTED):
            return {"error_code": ErrorCode.UNSUPPORTED_VERSION, "config_resources": []}
    kinds = [kind for kind in SUPPORTED if kind in wanted]
    resources = [{"resource_name": name, "resource_type": kind} for kind in kinds for name in _names(ctx, kind)]
    return {"error_code": ErrorCode.NONE, "config_resources": resources}
