"""LeaveGroup (key 13), versions 0-5: members leave a group, which then rebalances.

v0: one member id.  v1: throttle time.  v2: same as v1.
v3: a batch of members, each by member id and/or group instance id (KIP-345), with an error each.
v4: flexible.  v5: a reason per member (KIP-800; logged only).
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


@handler(13, 0, 5, acl=((ResourceType.GROUP, AclOperation.READ),))
async def handle_leave_group(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request["group_id"]):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if ctx.version < 3:
        members = [(request["member_id"], None)]
    else:
        members = [(m["member_id"], m.get("group_instance_id")) for m in request["members"]]
    error, member_errors = ctx.broker.groups.leave_group(request["group_id"], members)
    if ctx.version < 3:
        # One member: its error is the request's error.
        return {"error_code": error if error != ErrorCode.NONE or not member_errors else member_errors[0]}
    return {
        "error_code": error,
        "members": [
            {"member_id": member_id, "group_instance_id": instance_id, "error_code": member_error}
            for (member_id, instance_id), member_error in zip(members, member_errors, strict=False)
        ],
    }
