"""DeleteGroups (key 42), versions 0-2: deletes empty groups and their offsets.

v0: group names; an error per group (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP).
v1: same as v0.  v2: flexible.
Tombstones for the group and each offset go to ``__consumer_offsets``.
"""

from __future__ import annotations

from kafkapy.apis import RequestContext, handler


@handler(42, 0, 2)
async def handle_delete_groups(ctx: RequestContext, request: dict) -> dict:
    errors = ctx.broker.groups.delete_groups(list(request["groups_names"]))
    return {"results": [{"group_id": group_id, "error_code": error} for group_id, error in errors.items()]}
