"""AlterClientQuotas (key 49), versions 0-1: sets and removes client quotas.

v0: entries of an entity (user, client-id or both, or ip; a null name is the default) with ops
(key, value, remove), and validate_only.  v1: flexible.
The principal must ALTER_CONFIGS the cluster (else CLUSTER_AUTHORIZATION_FAILED for every entry).
Each entry is checked and applied whole as by Kafka's controller (ClientQuotaControlManager): an
unknown entity type or key, a bad combination, an ip that is neither an address nor a host name that
resolves, a value not above 0, too large or fractional for an integral key get INVALID_REQUEST with
Kafka's message; validate_only checks and changes nothing.
"""

from __future__ import annotations

import socket

import trio

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode
from kafkapy.security.quotas.store import IP, is_ip

# How long an ip entity's host name may take to resolve before it counts as unresolvable.
RESOLVE_TIMEOUT_S = 5.0


@handler(49, 0, 1, acl=((ResourceType.CLUSTER, AclOperation.ALTER_CONFIGS),))
async def handle_alter_client_quotas(ctx: RequestContext, request: dict) -> dict | None:
    if not ctx.authorize(AclOperation.ALTER_CONFIGS, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    alterations = [
        (
            [(e["entity_type"], e["entity_name"]) for e in entry["entity"]],
            [(op["key"], None if op["remove"] else op["value"]) for op in entry["ops"]],
        )
        for entry in request["entries"]
    ]
    hosts = {name for names, _ in alterations for kind, name in names if kind == IP and name and not is_ip(name)}
    resolvable = {host for host in hosts if await _resolves(host)}
    errors = ctx.broker.client_quotas.store.alter(alterations, request["validate_only"], resolvable)
    return {
        "entries": [
            {
                "error_code": ErrorCode.NONE if error is None else ErrorCode.INVALID_REQUEST,
                "error_message": error,
                "entity": entry["entity"],
            }
            for entry, error in zip(request["entries"], errors, strict=True)
        ]
    }


async def _resolves(host: str) -> bool:
    """Does ``host`` resolve (Kafka's InetAddress.getByName)? Looked up in a worker thread, bounded in time."""
    with trio.move_on_after(RESOLVE_TIMEOUT_S):
        try:
            await trio.socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return False
        return True
    return False
