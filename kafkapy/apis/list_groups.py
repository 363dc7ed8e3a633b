"""ListGroups (key 16), versions 0-5: the groups this coordinator knows.

v0: group ids and protocol types.  v1: throttle time.  v2: same as v1.  v3: flexible.
v4: states filter and each group's state (KIP-518).
v5: types filter and each group's type (KIP-848); every group here is "classic".
Filters compare case-insensitively, as Kafka 4 does.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.coordinator.group import GroupState
from kafkapy.protocol.errors import ErrorCode

CLASSIC = "classic"


@handler(16, 0, 5, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE), (ResourceType.GROUP, AclOperation.DESCRIBE)))
async def handle_list_groups(ctx: RequestContext, request: dict) -> dict:
    states = {s.lower() for s in request.get("states_filter", [])}
    types = {t.lower() for t in request.get("types_filter", [])}
    # Kafka lists every group to a principal that may describe the cluster, else the groups it may describe.
    every_group = ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER)
    groups = [
        {
            "group_id": group.group_id,
            "protocol_type": group.protocol_type or "",
            "group_state": group.state.value,
            "group_type": CLASSIC,
        }
        for group in ctx.broker.groups.groups.values()
        if not group.is_in(GroupState.DEAD)
        and (not states or group.state.value.lower() in states)
        and (not types or CLASSIC in types)
        and (every_group or ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group.group_id))
    ]
    return {"error_code": ErrorCode.NONE, "groups": groups}
