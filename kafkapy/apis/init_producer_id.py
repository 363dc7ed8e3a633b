"""InitProducerId (key 22), versions 0-6: producer ids and epochs for idempotent and transactional producers.

v0: transactional id and timeout; returns a producer id and epoch.
v1: same as v0.  v2: flexible.
v3: existing producer id/epoch (KIP-360): a transactional producer recovering from an abortable error
    keeps its id with a bumped epoch; a non-transactional producer gets a fresh id, as from Kafka.
    One of the two without the other (-1) is INVALID_REQUEST.
v4-v5: same as v3.  v6: two-phase-commit fields (KIP-939), not supported: enable_2pc is refused.
A transactional id goes to the transaction coordinator, which fences the id's previous producer by
bumping the epoch (aborting its ongoing transaction first: CONCURRENT_TRANSACTIONS, the client retries).
It needs WRITE on the transactional id; without one, IDEMPOTENT_WRITE on the cluster or WRITE on a topic.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import NO_PRODUCER_ID


def _may_write_idempotently(ctx: RequestContext) -> bool:
    """Kafka gives an idempotent producer its id with IDEMPOTENT_WRITE on the cluster or WRITE on any
    topic (since Kafka 3.0, KIP-679)."""
    return ctx.authorize(AclOperation.IDEMPOTENT_WRITE, ResourceType.CLUSTER) or ctx.authorize_any(
        AclOperation.WRITE, ResourceType.TOPIC
    )


@handler(
    22, 0, 6,
    acl=(
        (ResourceType.TRANSACTIONAL_ID, AclOperation.WRITE),
        (ResourceType.CLUSTER, AclOperation.IDEMPOTENT_WRITE),
        (ResourceType.TOPIC, AclOperation.WRITE),
    ),
)
async def handle_init_producer_id(ctx: RequestContext, request: dict) -> dict:
    invalid = {"error_code": ErrorCode.INVALID_REQUEST, "producer_id": NO_PRODUCER_ID, "producer_epoch": -1}
    if request.get("enable2_pc"):
        return invalid
    if (request.get("producer_id", NO_PRODUCER_ID) == NO_PRODUCER_ID) != (request.get("producer_epoch", -1) == -1):
        # Kafka checks this before anything else: a producer id needs its epoch, and an epoch its id.
        return invalid
    txn_id = request["transactional_id"]
    if txn_id is not None and not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        return {"error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED}
    if txn_id is None and not _may_write_idempotently(ctx):
        return {"error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED}
    if txn_id is None:
        producer_id = ctx.broker.producer_ids.next_producer_id()
        return {"error_code": ErrorCode.NONE, "producer_id": producer_id, "producer_epoch": 0}
    producer_id = request.get("producer_id", NO_PRODUCER_ID)
    expected = (producer_id, request.get("producer_epoch", -1)) if producer_id != NO_PRODUCER_ID else None
    error, producer_id, epoch = ctx.broker.transactions.init_producer_id(
        txn_id, request["transaction_timeout_ms"], expected
    )
    return {"error_code": error, "producer_id": producer_id, "producer_epoch": epoch}
