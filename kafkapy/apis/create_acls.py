"""CreateAcls (key 30), versions 1-3: adds ACLs.

v1: resource pattern type (Kafka 4 serves no v0).  v2: flexible.  v3: USER resources.
The principal must be allowed ALTER on the cluster. Without an authorizer every creation gets
SECURITY_DISABLED. A creation with an UNKNOWN element closes the connection, as Kafka's request
parser does; one with ANY or MATCH fails the whole request with UNKNOWN_SERVER_ERROR (Kafka's
ResourcePattern refuses them while the handler runs); a creation Kafka's AclApis or controller
refuses (a CLUSTER resource not named kafka-cluster, an empty name, a principal without a colon) gets
INVALID_REQUEST with Kafka's message, the others are created. All checked on Kafka 4.3.1.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import refuse_acl_request, refuse_unknown_acl_elements
from kafkapy.protocol.errors import ErrorCode
from kafkapy.security.authorizer import AclBinding, PatternType, PermissionType, invalid_binding

# Kafka's SecurityDisabledException message in AclApis.handleCreateAcls and handleDeleteAcls.
NO_AUTHORIZER = "No Authorizer is configured."
CREATION_ELEMENTS = ("resource_type", "resource_pattern_type", "operation", "permission_type")
# Kafka's ResourcePattern and AccessControlEntry refuse these in a binding (filters only).
_FILTER_ONLY = {
    "resource_type": {ResourceType.ANY},
    "resource_pattern_type": {PatternType.ANY, PatternType.MATCH},
    "operation": {AclOperation.ANY},
    "permission_type": {PermissionType.ANY},
}


def _binding(creation: dict) -> AclBinding:
    return AclBinding(
        ResourceType(creation["resource_type"]),
        creation["resource_name"],
        PatternType(creation["resource_pattern_type"]),
        creation["principal"],
        creation["host"],
        AclOperation(creation["operation"]),
        PermissionType(creation["permission_type"]),
    )


@handler(30, 1, 3, acl=((ResourceType.CLUSTER, AclOperation.ALTER),))
async def handle_create_acls(ctx: RequestContext, request: dict) -> dict | None:
    creations = request["creations"]
    refuse_unknown_acl_elements(creations, CREATION_ELEMENTS)
    refused = refuse_acl_request(ctx, AclOperation.ALTER, NO_AUTHORIZER)
    if refused is not None:
        return refused
    if any(c[name] in values for c in creations for name, values in _FILTER_ONLY.items()):
        return ctx.error_response(ErrorCode.UNKNOWN_SERVER_ERROR)
    bindings = [_binding(creation) for creation in creations]
    reasons = [invalid_binding(binding) for binding in bindings]
    valid = [binding for binding, reason in zip(bindings, reasons, strict=True) if reason is None]
    ctx.broker.acls.create(valid, ctx.principal)
    return {
        "results": [
            {"error_code": ErrorCode.NONE, "error_message": ""}
            if reason is None
            else {"error_code": ErrorCode.INVALID_REQUEST, "error_message": reason}
            for reason in reasons
        ]
    }
