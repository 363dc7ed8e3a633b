"""ListGroups (key 16), versions 0-5: the groups this coordinator knows.

v0: group ids and protocol types.  v1: throttle time.  v2: same as v1.  v3: flexible.
v4: states filter and each group's state (KIP-518).
v5: types filter and each group's type (KIP-848): classic, consumer, share or streams.
Filters compare case-insensitively, as Kafka 4 does.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


@handler(16, 0, 5, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE), (ResourceType.GROUP, AclOperation.DESCRIBE)))
async def handle_list_groups(ctx: RequestContext, request: dict) -> dict:
    states = {s.lower() for s in request.get("states_filter", [])}
    types = {t.lower() for t in request.get("types_filter", [])}
    # Kafka lists every group to a principal that may describe the cluster, else the groups it may describe.
    every_group = ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER)
    groups = [
        {
            "group_id": group.group_id,
            "protocol_type": group.protocol_type,
            "group_state": group.state,
            "group_type": group.group_type.value,
        }
        for group in ctx.broker.group_registry.listings()
        if (not states or group.state.lower() in states)
        and (not types or group.group_type.value in types)
        and (every_group or ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group.group_id))
    ]
    return {"error_code": ErrorCode.NONE, "groups": groups}
