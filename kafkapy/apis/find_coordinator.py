"""FindCoordinator (key 10), versions 0-6: which broker coordinates a group.

v0: one group key; the answer is this broker (node id and advertised host/port).
v1: key type (0 group, 1 transactional id), throttle time, error message.  v2: same as v1.
v3: flexible.  v4: batched coordinator keys (KIP-699), one answer per key.
v5: same as v4 (TRANSACTION_ABORTABLE exists).  v6: key type 2, share groups (KIP-932): not supported.
Every group and transactional id is coordinated here; answering creates ``__consumer_offsets`` or
``__transaction_state`` as Kafka does. Share groups and unknown key types get INVALID_REQUEST.
"""

from __future__ import annotations

from kafkapy.acl import DENIED, DENIED_MESSAGE, AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError

GROUP_KEY = 0
TRANSACTION_KEY = 1
SHARE_KEY = 2


def _refused(code: ErrorCode, message: str) -> dict:
    return {"error_code": code, "error_message": message, "node_id": -1, "host": "", "port": -1}


def _coordinator(ctx: RequestContext, key_type: int, key: str) -> dict:
    if key_type == SHARE_KEY:
        return _refused(ErrorCode.INVALID_REQUEST, "share groups are not supported")
    if key_type not in (GROUP_KEY, TRANSACTION_KEY):
        return _refused(ErrorCode.INVALID_REQUEST, f"unknown coordinator key type {key_type}")
    resource = ResourceType.GROUP if key_type == GROUP_KEY else ResourceType.TRANSACTIONAL_ID
    if not ctx.authorize(AclOperation.DESCRIBE, resource, key):
        return _refused(DENIED[resource], DENIED_MESSAGE[resource])
    store = ctx.broker.groups.store if key_type == GROUP_KEY else ctx.broker.transactions.store
    try:
        store.ensure_topic()
    except KafkaError as exc:
        return _refused(ErrorCode.COORDINATOR_NOT_AVAILABLE, exc.message)
    host, port = ctx.broker.config.advertised_for(ctx.listener_name)
    return {
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "node_id": ctx.broker.node_id,
        "host": host,
        "port": port,
    }


@handler(
    10, 0, 6,
    acl=(
        (ResourceType.GROUP, AclOperation.DESCRIBE),
        (ResourceType.TRANSACTIONAL_ID, AclOperation.DESCRIBE),
    ),
)
async def handle_find_coordinator(ctx: RequestContext, request: dict) -> dict:
    key_type = request.get("key_type", GROUP_KEY)
    if ctx.version < 4:
        return _coordinator(ctx, key_type, request["key"])
    keys = request["coordinator_keys"]
    return {"coordinators": [{"key": key, **_coordinator(ctx, key_type, key)} for key in keys]}
