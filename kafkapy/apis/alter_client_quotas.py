"""AlterClientQuotas (key 49), versions 0-1: sets and removes client quotas.

v0: entries of an entity (user, client-id or both, or ip; a null name is the default) with ops
(key, value, remove), and validate_only.  v1: flexible.
The principal must ALTER_CONFIGS the cluster (else CLUSTER_AUTHORIZATION_FAILED for every entry).
Each entry is checked and applied whole as by Kafka's controller (ClientQuotaControlManager): an
unknown entity type or key, a bad combination, a value not above 0, too large or fractional for an
integral key get INVALID_REQUEST with Kafka's message; validate_only checks and changes nothing.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


@handler(49, 0, 1, acl=((ResourceType.CLUSTER, AclOperation.ALTER_CONFIGS),))
async def handle_alter_client_quotas(ctx: RequestContext, request: dict) -> dict | None:
    if not ctx.authorize(AclOperation.ALTER_CONFIGS, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    alterations = [
        (
            [(e["entity_type"], e["entity_name"]) for e in entry["entity"]],
            [(op["key"], None if op["remove"] else op["value"]) for op in entry["ops"]],
        )
        for entry in request["entries"]
    ]
    errors = ctx.broker.client_quotas.store.alter(alterations, request["validate_only"])
    return {
        "entries": [
            {
                "error_code": ErrorCode.NONE if error is None else ErrorCode.INVALID_REQUEST,
                "error_message": error,
                "entity": entry["entity"],
            }
            for entry, error in zip(request["entries"], errors, strict=True)
        ]
    }
