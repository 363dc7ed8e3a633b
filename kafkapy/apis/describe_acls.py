"""DescribeAcls (key 29), versions 1-3: the ACLs matching a filter.

v1: pattern type filter (Kafka 4 serves no v0).  v2: flexible.  v3: USER resources.
kafkapy has no authorizer yet (issue #14), so the answer is Kafka's without one: SECURITY_DISABLED
once the principal may DESCRIBE the cluster. A filter with an UNKNOWN element closes the connection,
as Kafka's request parser does.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import answer_without_authorizer, refuse_unknown_acl_elements

# Kafka's AclApis.handleDescribeAcls message (CreateAcls and DeleteAcls say it differently).
NO_AUTHORIZER = "No Authorizer is configured on the broker"
FILTER_ELEMENTS = ("resource_type_filter", "pattern_type_filter", "operation", "permission_type")


@handler(29, 1, 3, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE),))
async def handle_describe_acls(ctx: RequestContext, request: dict) -> dict | None:
    refuse_unknown_acl_elements([request], FILTER_ELEMENTS)
    return answer_without_authorizer(ctx, AclOperation.DESCRIBE, NO_AUTHORIZER)
