"""Heartbeat (key 12), versions 0-4: a member keeps its session alive and learns of rebalances.

v0: group, generation and member id.  v1: throttle time.  v2: same as v1.
v3: group instance id (static membership).  v4: flexible.
REBALANCE_IN_PROGRESS tells the member to rejoin; the session is extended either way.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


@handler(12, 0, 4, acl=((ResourceType.GROUP, AclOperation.READ),))
async def handle_heartbeat(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request["group_id"]):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    error = ctx.broker.groups.heartbeat(
        request["group_id"], request["generation_id"], request["member_id"], request.get("group_instance_id")
    )
    return {"error_code": error}
