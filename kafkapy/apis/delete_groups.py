"""DeleteGroups (key 42), versions 0-2: deletes empty groups and their offsets.

v0: group names; an error per group (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP).
v1: same as v0.  v2: flexible.
Tombstones for the group and each offset go to ``__consumer_offsets``.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


@handler(42, 0, 2, acl=((ResourceType.GROUP, AclOperation.DELETE),))
async def handle_delete_groups(ctx: RequestContext, request: dict) -> dict:
    wanted = list(dict.fromkeys(request["groups_names"]))
    denied = {g for g in wanted if not ctx.authorize(AclOperation.DELETE, ResourceType.GROUP, g)}
    allowed = [g for g in wanted if g not in denied]
    # A group of another kind (KIP-848 consumer, ...) is deleted by its own coordinator.
    owners = {g: ctx.broker.group_registry.owner(g) for g in allowed}
    typed = {g: owner for g, owner in owners.items() if owner is not None and owner is not ctx.broker.groups}
    errors = ctx.broker.groups.delete_groups([g for g in allowed if g not in typed])
    errors.update({g: owner.delete_group(g) for g, owner in typed.items()})
    errors.update(dict.fromkeys(denied, ErrorCode.GROUP_AUTHORIZATION_FAILED))
    return {"results": [{"group_id": group_id, "error_code": errors[group_id]} for group_id in wanted]}
