"""InitProducerId (key 22), versions 0-6: producer ids for idempotent producers.

v0: transactional id and timeout; returns a producer id and epoch.
v1: same as v0.  v2: flexible.
v3: existing producer id/epoch (KIP-360); a non-transactional producer gets a fresh id, as from Kafka.
v4-v5: same as v3.  v6: two-phase-commit fields (KIP-939), not supported: enable_2pc is refused.
Transactional ids need the transaction coordinator (issue #4), which this broker does not run yet:
they get NOT_COORDINATOR, as from a Kafka broker that is not the id's coordinator; clients look for
the coordinator with FindCoordinator, which ApiVersions does not offer, and stop there.
"""

from __future__ import annotations

from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


@handler(22, 0, 6)
async def handle_init_producer_id(ctx: RequestContext, request: dict) -> dict:
    if request["transactional_id"] is not None:
        return {"error_code": ErrorCode.NOT_COORDINATOR}
    if request.get("enable2_pc"):
        return {"error_code": ErrorCode.INVALID_REQUEST}
    producer_id = ctx.broker.producer_ids.next_producer_id()
    return {"error_code": ErrorCode.NONE, "producer_id": producer_id, "producer_epoch": 0}
