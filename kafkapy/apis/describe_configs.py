"""DescribeConfigs (key 32), versions 0-4: topic and broker configs with their sources.

v0: names, values, read-only / default / sensitive flags.
v1: config source and synonyms (topic override, broker property, default), include_synonyms.
v2: same as v1.  v3: config type and documentation (include_documentation).  v4: flexible.
Topics list every topic config Apache Kafka 4 has (kafkapy.topic_configs), with Kafka's documentation.
This broker lists every broker config of Kafka 4.3.1 as Kafka does (kafkapy.broker_config_describe:
values, sources, types, read-only exactly for Kafka's dynamic configs, synonyms); the cluster-wide
default resource ("") lists the dynamic cluster defaults. A group lists Kafka 4.3.1's 17 group configs
(kafkapy.coordinator.group_config_store), its overrides over the broker's group.* configs, whether or
not the group exists; an empty group name is INVALID_REQUEST. A successful result's error_message is "",
as Kafka's. Broker loggers are INVALID_REQUEST. An invalid topic name is
INVALID_TOPIC_EXCEPTION; a resource type Kafka does not know fails the whole request, every resource
INVALID_REQUEST, as Kafka 4.3.1 answers. (Kafka 4 no longer serves v0, KIP-896; kafkapy still does.)
"""

from __future__ import annotations

from kafkapy.acl import CLUSTER_NAME, DENIED, DENIED_MESSAGE, AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.dynamic_broker_config import parse_node_id
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_manager import topic_name_error
from kafkapy.topic_configs import ConfigResourceType, describe_topic_configs

# ConfigResource.Type ids Kafka knows; any other fails the whole request.
KNOWN_RESOURCE_TYPES = frozenset(int(kind) for kind in ConfigResourceType if kind != ConfigResourceType.UNKNOWN)
# The message of Kafka's InvalidRequestException when a request cannot be handled at all.
MALFORMED_REQUEST = (
    "This most likely occurs because of a request being malformed by the client library or the message was sent "
    "to an incompatible broker. See the broker logs for more details."
)


def broker_resource_error(ctx: RequestContext, name: str) -> KafkaError | None:
    """The error for a broker resource that is not this broker or the cluster default "" (Kafka's
    ConfigHelper.resourceNameToBrokerId and its check)."""
    if not name:
        return None
    requested = parse_node_id(name)
    if requested is None:
        return KafkaError(ErrorCode.INVALID_REQUEST, f"Broker id must be an integer, but it is: {name}")
    if requested == ctx.broker.node_id:
        return None
    return KafkaError(
        ErrorCode.INVALID_REQUEST,
        f"Unexpected broker id, expected {ctx.broker.node_id} or empty string, but received {name}",
    )


# What a config resource is authorized on (Kafka's KafkaApis and ConfigAdminManager): a topic's and a
# group's configs on the topic or group, a broker's, its loggers' and client metrics' on the cluster.
_CONFIG_ACL_RESOURCE = {
    ConfigResourceType.TOPIC: ResourceType.TOPIC,
    ConfigResourceType.GROUP: ResourceType.GROUP,
    ConfigResourceType.BROKER: ResourceType.CLUSTER,
    ConfigResourceType.BROKER_LOGGER: ResourceType.CLUSTER,
    ConfigResourceType.CLIENT_METRICS: ResourceType.CLUSTER,
}


def config_authorization_error(
    ctx: RequestContext, operation: AclOperation, kind: int, name: str
) -> KafkaError | None:
    """The error, with Kafka's message, when the principal may not do ``operation`` on the resource's configs."""
    resource = _CONFIG_ACL_RESOURCE.get(kind)  # type: ignore[call-overload]
    if resource is None:
        return None
    if ctx.authorize(operation, resource, CLUSTER_NAME if resource == ResourceType.CLUSTER else name):
        return None
    return KafkaError(DENIED[resource], DENIED_MESSAGE[resource])


def _configs(ctx: RequestContext, kind: int, name: str, keys: list[str] | None) -> tuple[list[dict], KafkaError | None]:
    """A resource's config entries, or the error describing it."""
    if kind == ConfigResourceType.TOPIC:
        topic = ctx.broker.logs.topics.get(name)
        if topic is None:
            absent = KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
            return [], topic_name_error(name) or absent
        broker = ctx.broker
        return describe_topic_configs(topic.configs, broker.config.log_properties, keys, broker.dynamic_config), None
    if kind == ConfigResourceType.BROKER:
        error = broker_resource_error(ctx, name)
        if error is not None:
            return [], error
        # Imported here: Kafka's broker config table is large, and start-up must not load it (issue #21).
        from kafkapy.broker_config_describe import describe_broker, describe_cluster_default

        describe = describe_broker if name else describe_cluster_default
        return describe(ctx.broker.config, ctx.broker.dynamic_config, keys), None
    if kind == ConfigResourceType.GROUP:
        if not name:
            return [], KafkaError(ErrorCode.INVALID_REQUEST, "Group name must not be empty")
        return ctx.broker.group_config_store.describe(name, keys, ctx.broker.config.group_properties), None
    return [], KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {kind}")


def _describe(ctx: RequestContext, resource: dict, synonyms: bool, documentation: bool) -> dict:
    kind, name = resource["resource_type"], resource["resource_name"]
    # No keys, null or an empty list, is every config (Kafka's ConfigHelper).
    keys = resource["configuration_keys"] or None
    result = {
        "resource_type": kind,
        "resource_name": name,
        "error_code": ErrorCode.NONE,
        "error_message": "",
        "configs": [],
    }
    error = config_authorization_error(ctx, AclOperation.DESCRIBE_CONFIGS, kind, name)
    if error is None:
        result["configs"], error = _configs(ctx, kind, name, keys)
    if error is not None:
        result.update(error_code=error.code, error_message=error.message)
    if documentation and kind == ConfigResourceType.TOPIC:
        # Kafka's LogConfig documentation, in the generated table (imported here: it is large).
        from kafkapy.kafka_broker_configs import TOPIC_CONFIG_DOCS

        for entry in result["configs"]:
            entry["documentation"] = TOPIC_CONFIG_DOCS[entry["name"]]
    for entry in result["configs"]:
        if not synonyms:
            entry["synonyms"] = []
        if not documentation:
            entry["documentation"] = None
    return result


def _malformed(resource: dict) -> dict:
    return {
        "resource_type": resource["resource_type"],
        "resource_name": resource["resource_name"],
        "error_code": ErrorCode.INVALID_REQUEST,
        "error_message": MALFORMED_REQUEST,
    }


@handler(
    32, 0, 4,
    acl=(
        (ResourceType.CLUSTER, AclOperation.DESCRIBE_CONFIGS),
        (ResourceType.TOPIC, AclOperation.DESCRIBE_CONFIGS),
        (ResourceType.GROUP, AclOperation.DESCRIBE_CONFIGS),
    ),
)
async def handle_describe_configs(ctx: RequestContext, request: dict) -> dict:
    synonyms = request.get("include_synonyms", False)
    documentation = request.get("include_documentation", False)
    if any(r["resource_type"] not in KNOWN_RESOURCE_TYPES for r in request["resources"]):
        return {"results": [_malformed(r) for r in request["resources"]]}
    return {"results": [_describe(ctx, r, synonyms, documentation) for r in request["resources"]]}
