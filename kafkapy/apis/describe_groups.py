"""DescribeGroups (key 15), versions 0-6: state, protocol and members of groups.

v0: state, protocol type, selected protocol (when Stable) and members with metadata and assignment
    (when Stable).
v1: throttle time.  v2: same as v1.
v3: authorized operations on request, from the authorizer.
v4: members' group instance ids.  v5: flexible.
v6: an unknown group answers GROUP_ID_NOT_FOUND with a message (KIP-1043); before, state Dead.
Only classic groups are described here: a group of another type (KIP-848 consumer, share, streams:
each described by its own API) answers as an unknown one does, with v6's message "Group X is not a
classic group.", as Kafka 4.3.1 does. An error leaves the authorized operations unset.
"""

from __future__ import annotations

from kafkapy.acl import OPERATIONS_NOT_REQUESTED, AclOperation, ResourceType, authorized_operations
from kafkapy.apis import RequestContext, handler
from kafkapy.coordinator.group import GroupState
from kafkapy.coordinator.group_types import GroupType
from kafkapy.protocol.errors import ErrorCode


def _describe(ctx: RequestContext, group_id: str, include_operations: bool) -> dict:
    group = ctx.broker.groups.groups.get(group_id)
    entry = {"group_id": group_id, "authorized_operations": OPERATIONS_NOT_REQUESTED, "error_code": ErrorCode.NONE}
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
        entry.update(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
        return entry
    operations = authorized_operations(ctx, ResourceType.GROUP, group_id, include_operations)
    group_type = ctx.broker.group_registry.type_of(group_id)
    if group is None or group.is_in(GroupState.DEAD) or group_type not in (None, GroupType.CLASSIC):
        entry.update(group_state=GroupState.DEAD.value, protocol_type="", protocol_data="", members=[])
        if ctx.version < 6:
            entry["authorized_operations"] = operations
        else:
            kind = "not found" if group_type in (None, GroupType.CLASSIC) else "is not a classic group"
            entry.update(error_code=ErrorCode.GROUP_ID_NOT_FOUND, error_message=f"Group {group_id} {kind}.")
        return entry
    entry["authorized_operations"] = operations
    stable = group.is_in(GroupState.STABLE) and group.protocol_name is not None
    protocol = group.protocol_name if stable else ""
    entry.update(
        group_state=group.state.value,
        protocol_type=group.protocol_type or "",
        protocol_data=protocol,
        members=[
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "client_host": m.client_host,
                "member_metadata": m.metadata(protocol) if stable else b"",
                "member_assignment": m.assignment if stable else b"",
            }
            for m in group.members.values()
        ],
    )
    return entry


@handler(15, 0, 6, acl=((ResourceType.GROUP, AclOperation.DESCRIBE),))
async def handle_describe_groups(ctx: RequestContext, request: dict) -> dict:
    include = bool(request.get("include_authorized_operations"))
    return {"groups": [_describe(ctx, group_id, include) for group_id in request["groups"]]}
