"""DescribeAcls (key 29), versions 1-3: the ACLs matching a filter.

v1: pattern type filter (Kafka 4 serves no v0).  v2: flexible.  v3: USER resources.
The principal must be allowed DESCRIBE on the cluster; without an authorizer the answer is
SECURITY_DISABLED. The matching ACLs come grouped by resource pattern, with Kafka's filter semantics
(MATCH: the patterns that cover the name: itself, ``*``, its prefixes). A filter with an UNKNOWN
element closes the connection, as Kafka's request parser does.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import acl_filter, refuse_acl_request, refuse_unknown_acl_elements
from kafkapy.protocol.errors import ErrorCode

# Kafka's AclApis.handleDescribeAcls message (CreateAcls and DeleteAcls say it differently).
NO_AUTHORIZER = "No Authorizer is configured on the broker"
FILTER_ELEMENTS = ("resource_type_filter", "pattern_type_filter", "operation", "permission_type")


@handler(29, 1, 3, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE),))
async def handle_describe_acls(ctx: RequestContext, request: dict) -> dict | None:
    refuse_unknown_acl_elements([request], FILTER_ELEMENTS)
    refused = refuse_acl_request(ctx, AclOperation.DESCRIBE, NO_AUTHORIZER)
    if refused is not None:
        return refused
    resources: dict[tuple, list[dict]] = {}
    for acl in ctx.broker.acls.describe(acl_filter(request)):
        entry = {
            "principal": acl.principal,
            "host": acl.host,
            "operation": acl.operation,
            "permission_type": acl.permission_type,
        }
        resources.setdefault((acl.resource_type, acl.resource_name, acl.pattern_type), []).append(entry)
    return {
        "error_code": ErrorCode.NONE,
        "error_message": "",
        "resources": [
            {"resource_type": rtype, "resource_name": name, "pattern_type": pattern, "acls": acls}
            for (rtype, name, pattern), acls in resources.items()
        ],
    }
