"""DescribeTransactions (key 65), version 0: the state of transactional ids (KIP-664).

v0: flexible; state name, timeout, start time, producer id and epoch, and the partitions of the
    ongoing transaction; TRANSACTIONAL_ID_NOT_FOUND for an unknown id.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


@handler(
    65, 0, 0,
    acl=(
        (ResourceType.TRANSACTIONAL_ID, AclOperation.DESCRIBE),
        (ResourceType.TOPIC, AclOperation.DESCRIBE),
    ),
)
async def handle_describe_transactions(ctx: RequestContext, request: dict) -> dict:
    return {"transaction_states": [_describe(ctx, txn_id) for txn_id in request["transactional_ids"]]}


def _describe(ctx: RequestContext, txn_id: str) -> dict:
    """One transaction, with the partitions of the topics the principal may describe (as Kafka filters them)."""
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, txn_id):
        return {"error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "transactional_id": txn_id}
    state = ctx.broker.transactions.describe(txn_id)
    if "topics" in state:
        state["topics"] = [
            t for t in state["topics"] if ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, t["topic"])
        ]
    return state
