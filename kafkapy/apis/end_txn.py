"""EndTxn (key 26), versions 0-5: commits or aborts a producer's transaction.

v0: transactional id, producer id and epoch, commit flag.  v1: same as v0 (throttle on error).
v2: same as v1.  v3: flexible.  v4: same as v3 (TRANSACTION_ABORTABLE may be returned).
v5: transaction version 2 (KIP-890): the coordinator bumps the epoch when the transaction ends and
    returns the producer id and new epoch the producer continues with; a retry comes with the old epoch
    and gets the same answer, while the new epoch finds no transaction to end (INVALID_TXN_STATE).
The coordinator writes PrepareCommit/PrepareAbort, the markers and CompleteCommit/CompleteAbort before
answering, so the outcome is visible in every partition when the response arrives.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode

# The first EndTxn version of transaction version 2.
TV2_VERSION = 5


@handler(26, 0, 5, acl=((ResourceType.TRANSACTIONAL_ID, AclOperation.WRITE),))
async def handle_end_txn(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request["transactional_id"]):
        return {"error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED}
    error, producer_id, epoch = ctx.broker.transactions.end_txn(
        request["transactional_id"],
        request["producer_id"],
        request["producer_epoch"],
        request["committed"],
        bump_epoch=ctx.version >= TV2_VERSION,
    )
    return {"error_code": error, "producer_id": producer_id, "producer_epoch": epoch}
