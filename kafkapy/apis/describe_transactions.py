"""DescribeTransactions (key 65), version 0: the state of transactional ids (KIP-664).

v0: flexible; state name, timeout, start time, producer id and epoch, and the partitions of the
    ongoing transaction; TRANSACTIONAL_ID_NOT_FOUND for an unknown id.
"""

from __future__ import annotations

from kafkapy.apis import RequestContext, handler


@handler(65, 0, 0)
async def handle_describe_transactions(ctx: RequestContext, request: dict) -> dict:
    coordinator = ctx.broker.transactions
    return {"transaction_states": [coordinator.describe(txn_id) for txn_id in request["transactional_ids"]]}
