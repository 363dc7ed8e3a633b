"""JoinGroup (key 11), versions 0-9: a member joins a classic group and waits for the join phase.

v0: session timeout; the rebalance timeout is the session timeout.
v1: rebalance timeout.  v2: throttle time.  v3: same as v2.
v4: a new member without an id first gets MEMBER_ID_REQUIRED with its id, then joins with it.
v5: group instance id (static membership, KIP-345).  v6: flexible.
v7: protocol type and nullable protocol name in the response.  v8: reason (KIP-800).
v9: skip_assignment for a rejoining static leader (KIP-814).
The request is parked until the phase completes (all members rejoined or the rebalance timeout).
A share or streams group's id answers INCONSISTENT_GROUP_PROTOCOL.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.coordinator.group_coordinator import JoinRequest
from kafkapy.coordinator.group_types import GroupType
from kafkapy.protocol.errors import ErrorCode


def client_host(ctx: RequestContext) -> str:
    """The client's address as Kafka shows it (InetAddress.toString: "/127.0.0.1")."""
    return "/" + ctx.client_host


@handler(11, 0, 9, acl=((ResourceType.GROUP, AclOperation.READ),))
async def handle_join_group(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request["group_id"]):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    # A share or streams group's id cannot take classic members (Kafka's classicGroupJoin).
    if ctx.broker.group_registry.type_of(request["group_id"]) in (GroupType.SHARE, GroupType.STREAMS):
        return ctx.error_response(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
    version = ctx.version
    session_timeout = request["session_timeout_ms"]
    result = await ctx.broker.groups.join_group(
        JoinRequest(
            group_id=request["group_id"],
            member_id=request["member_id"],
            group_instance_id=request.get("group_instance_id"),
            client_id=ctx.request.client_id or "",
            client_host=client_host(ctx),
            session_timeout_ms=session_timeout,
            rebalance_timeout_ms=request["rebalance_timeout_ms"] if version >= 1 else session_timeout,
            protocol_type=request["protocol_type"],
            protocols=[(p["name"], bytes(p["metadata"])) for p in request["protocols"]],
            require_known_member_id=version >= 4,
            supports_skip_assignment=version >= 9,
            reason=request.get("reason"),
        )
    )
    protocol_name = result.protocol_name
    if protocol_name is None and version < 7:
        protocol_name = ""
    return {
        "error_code": result.error,
        "generation_id": result.generation_id,
        "protocol_type": result.protocol_type,
        "protocol_name": protocol_name,
        "leader": result.leader_id,
        "skip_assignment": result.skip_assignment,
        "member_id": result.member_id,
        "members": [
            {"member_id": member_id, "group_instance_id": instance_id, "metadata": metadata}
            for member_id, instance_id, metadata in result.members
        ],
    }
