"""ListTransactions (key 66), versions 0-2: transactional ids, optionally filtered (KIP-664).

v0: flexible; filters by state name and producer id; unknown state names are echoed back.
v1: duration filter: only transactions running at least that many milliseconds (KIP-994).
v2: transactional id pattern, a regular expression matched against the whole id (KIP-1152).
"""

from __future__ import annotations

import re

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.coordinator.transaction_log import TxnState
from kafkapy.protocol.errors import ErrorCode


@handler(66, 0, 2, acl=((ResourceType.TRANSACTIONAL_ID, AclOperation.DESCRIBE),))
async def handle_list_transactions(ctx: RequestContext, request: dict) -> dict:
    names = request["state_filters"]
    states = {state for name in names if (state := TxnState.from_kafka_name(name)) is not None}
    unknown = [name for name in names if TxnState.from_kafka_name(name) is None]
    pattern = request.get("transactional_id_pattern")
    if pattern:
        try:
            re.compile(pattern)
        except re.error:
            return {"error_code": ErrorCode.INVALID_REQUEST, "unknown_state_filters": unknown}
    found = ctx.broker.transactions.list(
        states, set(request["producer_id_filters"]), request.get("duration_filter", -1), pattern
    )
    return {
        "error_code": ErrorCode.NONE,
        "unknown_state_filters": unknown,
        "transaction_states": [
            {
                "transactional_id": m.transactional_id,
                "producer_id": m.producer_id,
                "transaction_state": m.state.kafka_name,
            }
            for m in found
            if ctx.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, m.transactional_id)
        ],
    }
