"""SyncGroup (key 14), versions 0-5: the leader hands out assignments; every member receives its own.

v0: generation, member id and the leader's assignments.  v1: throttle time.  v2: same as v1.
v3: group instance id (static membership).  v4: flexible.
v5: protocol type and name, checked against the group's and echoed back; null is
    INCONSISTENT_GROUP_PROTOCOL.
A member's request is parked until the leader's SyncGroup arrives (or the group rebalances again).
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


@handler(14, 0, 5, acl=((ResourceType.GROUP, AclOperation.READ),))
async def handle_sync_group(ctx: RequestContext, request: dict) -> dict:
    if ctx.version >= 5 and (request["protocol_type"] is None or request["protocol_name"] is None):
        # Kafka's areMandatoryProtocolTypeAndNamePresent, checked before the group is looked at.
        return {"error_code": ErrorCode.INCONSISTENT_GROUP_PROTOCOL, "assignment": b""}
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request["group_id"]):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    result = await ctx.broker.groups.sync_group(
        request["group_id"],
        request["generation_id"],
        request["member_id"],
        request.get("group_instance_id"),
        request.get("protocol_type"),
        request.get("protocol_name"),
        {a["member_id"]: bytes(a["assignment"]) for a in request["assignments"]},
    )
    return {
        "error_code": result.error,
        "protocol_type": result.protocol_type,
        "protocol_name": result.protocol_name,
        "assignment": result.assignment,
    }
