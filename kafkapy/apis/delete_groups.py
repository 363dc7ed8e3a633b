"""DeleteGroups (key 42), versions 0-2: deletes empty groups and their offsets.

v0: group names; an error per group (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP).
v1: same as v0.  v2: flexible.
Tombstones for the group and each offset go to ``__consumer_offsets``; a group of another type
(a share group) is deleted by its own coordinator (``GroupRegistry``).
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.coordinator.group_types import GroupType
from kafkapy.protocol.errors import ErrorCode


@handler(42, 0, 2, acl=((ResourceType.GROUP, AclOperation.DELETE),))
async def handle_delete_groups(ctx: RequestContext, request: dict) -> dict:
    wanted = list(dict.fromkeys(request["groups_names"]))
    denied = {g for g in wanted if not ctx.authorize(AclOperation.DELETE, ResourceType.GROUP, g)}
    # A group of another type (share, ...) is deleted by its own coordinator; the rest are classic.
    errors: dict[str, ErrorCode] = {}
    classic = []
    for group_id in (g for g in wanted if g not in denied):
        owner = ctx.broker.group_registry.owner(group_id)
        if owner is None or owner.group_type is GroupType.CLASSIC:
            classic.append(group_id)
        else:
            errors[group_id] = owner.delete_group(group_id)
    errors.update(ctx.broker.groups.delete_groups(classic))
    errors.update(dict.fromkeys(denied, ErrorCode.GROUP_AUTHORIZATION_FAILED))
    return {"results": [{"group_id": group_id, "error_code": errors[group_id]} for group_id in wanted]}
