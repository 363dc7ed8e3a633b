"""DescribeClientQuotas (key 48), versions 0-1: the client quotas of the entities matching a filter.

v0: filter components (entity type; exact name, default or any name) and strict.  v1: flexible.
The principal must DESCRIBE_CONFIGS the cluster (else CLUSTER_AUTHORIZATION_FAILED). A malformed
filter is answered with Kafka's error and message at the top level and no entries: INVALID_REQUEST,
or UNSUPPORTED_VERSION for an unknown entity type (Kafka's ClientQuotasImage.describe).
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError


@handler(48, 0, 1, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE_CONFIGS),))
async def handle_describe_client_quotas(ctx: RequestContext, request: dict) -> dict | None:
    if not ctx.authorize(AclOperation.DESCRIBE_CONFIGS, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    components = [(c["entity_type"], c["match_type"], c["match"]) for c in request["components"]]
    try:
        found = ctx.broker.client_quotas.store.describe(components, request["strict"])
    except KafkaError as exc:
        return {"error_code": exc.code, "error_message": exc.message, "entries": None}
    entries = [
        {
            "entity": [{"entity_type": kind, "entity_name": name} for kind, name in entity],
            "values": [{"key": key, "value": value} for key, value in values.items()],
        }
        for entity, values in found
    ]
    # Kafka 4.3.1 sends an empty message, not a null one, with its entries.
    return {"error_code": ErrorCode.NONE, "error_message": "", "entries": entries}
