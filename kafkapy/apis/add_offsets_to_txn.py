"""AddOffsetsToTxn (key 25), versions 0-4: adds a group's ``__consumer_offsets`` partition to a transaction.

v0: transactional id, producer id and epoch, group id.  v1: same as v0 (throttle on error).
v2: same as v1.  v3: flexible.  v4: same as v3 (TRANSACTION_ABORTABLE may be returned).
The partition is found as FindCoordinator finds the group: abs(hash(group id)) % partitions.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError


@handler(25, 0, 4, acl=((ResourceType.TRANSACTIONAL_ID, AclOperation.WRITE), (ResourceType.GROUP, AclOperation.READ)))
async def handle_add_offsets_to_txn(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request["transactional_id"]):
        return {"error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED}
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request["group_id"]):
        return {"error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED}
    coordinator = ctx.broker.transactions
    try:
        partition = coordinator.offsets_partition(request["group_id"])
    except KafkaError:
        return {"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE}
    error = coordinator.add_partitions(
        request["transactional_id"], request["producer_id"], request["producer_epoch"], [partition]
    )
    return {"error_code": error}
