"""DeleteAcls (key 31), versions 1-3: removes the ACLs matching each filter.

v1: pattern type filter (Kafka 4 serves no v0).  v2: flexible.  v3: USER resources.
kafkapy has no authorizer yet (issue #14), so the answer is Kafka's without one: every filter gets
SECURITY_DISABLED, matching no ACL, once the principal may ALTER the cluster. A filter with an
UNKNOWN element closes the connection, as Kafka's request parser does.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import answer_without_authorizer, refuse_unknown_acl_elements
from kafkapy.apis.create_acls import NO_AUTHORIZER
from kafkapy.apis.describe_acls import FILTER_ELEMENTS


@handler(31, 1, 3, acl=((ResourceType.CLUSTER, AclOperation.ALTER),))
async def handle_delete_acls(ctx: RequestContext, request: dict) -> dict | None:
    refuse_unknown_acl_elements(request["filters"], FILTER_ELEMENTS)
    return answer_without_authorizer(ctx, AclOperation.ALTER, NO_AUTHORIZER)
