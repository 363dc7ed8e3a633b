"""DeleteAcls (key 31), versions 1-3: removes the ACLs matching each filter.

v1: pattern type filter (Kafka 4 serves no v0).  v2: flexible.  v3: USER resources.
The principal must be allowed ALTER on the cluster; without an authorizer every filter gets
SECURITY_DISABLED, matching no ACL. Each filter answers the ACLs it removed (Kafka's filter semantics,
as DescribeAcls). A filter with an UNKNOWN element closes the connection, as Kafka's request parser does.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import acl_filter, refuse_acl_request, refuse_unknown_acl_elements
from kafkapy.apis.create_acls import NO_AUTHORIZER
from kafkapy.apis.describe_acls import FILTER_ELEMENTS
from kafkapy.protocol.errors import ErrorCode


@handler(31, 1, 3, acl=((ResourceType.CLUSTER, AclOperation.ALTER),))
async def handle_delete_acls(ctx: RequestContext, request: dict) -> dict | None:
    filters = request["filters"]
    refuse_unknown_acl_elements(filters, FILTER_ELEMENTS)
    refused = refuse_acl_request(ctx, AclOperation.ALTER, NO_AUTHORIZER)
    if refused is not None:
        return refused
    removed = ctx.broker.acls.delete([acl_filter(f) for f in filters], ctx.principal)
    return {
        "filter_results": [
            {
                "error_code": ErrorCode.NONE,
                "error_message": None,
                "matching_acls": [
                    {
                        "error_code": ErrorCode.NONE,
                        "error_message": None,
                        "resource_type": acl.resource_type,
                        "resource_name": acl.resource_name,
                        "pattern_type": acl.pattern_type,
                        "principal": acl.principal,
                        "host": acl.host,
                        "operation": acl.operation,
                        "permission_type": acl.permission_type,
                    }
                    for acl in acls
                ],
            }
            for acls in removed
        ]
    }
