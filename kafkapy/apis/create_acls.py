"""CreateAcls (key 30), versions 1-3: adds ACLs.

v1: resource pattern type (Kafka 4 serves no v0).  v2: flexible.  v3: USER resources.
kafkapy has no authorizer yet (issue #14), so the answer is Kafka's without one: every creation
gets SECURITY_DISABLED once the principal may ALTER the cluster. A creation with an UNKNOWN element
closes the connection, as Kafka's request parser does.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import answer_without_authorizer, refuse_unknown_acl_elements

# Kafka's SecurityDisabledException message in AclApis.handleCreateAcls and handleDeleteAcls.
NO_AUTHORIZER = "No Authorizer is configured."
CREATION_ELEMENTS = ("resource_type", "resource_pattern_type", "operation", "permission_type")


@handler(30, 1, 3, acl=((ResourceType.CLUSTER, AclOperation.ALTER),))
async def handle_create_acls(ctx: RequestContext, request: dict) -> dict | None:
    refuse_unknown_acl_elements(request["creations"], CREATION_ELEMENTS)
    return answer_without_authorizer(ctx, AclOperation.ALTER, NO_AUTHORIZER)
