"""TxnOffsetCommit (key 28), versions 0-5: commits a group's offsets inside a producer's transaction.

v0: transactional id, group id, producer id and epoch, offsets with metadata.  v1: same as v0.
v2: committed leader epoch.  v3: flexible; generation id, member id and group instance id, checked
    against the group as OffsetCommit does (KIP-447).
v4: a group whose offsets partition is not in the transaction gets TRANSACTION_ABORTABLE (INVALID_TXN_STATE
    before).  v5: transaction version 2 (KIP-890): that partition is added to the transaction, so
    producers send no AddOffsetsToTxn.
The offsets go to ``__consumer_offsets`` in a transactional batch of the producer and take effect when
the transaction commits (its marker reaches the offsets partition); an abort drops them.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import resolve_topic
from kafkapy.apis.offset_commit import commit_error
from kafkapy.coordinator.group import OffsetAndMetadata
from kafkapy.protocol.errors import ErrorCode

# The first TxnOffsetCommit version of transaction version 2 (KIP-890); TRANSACTION_ABORTABLE for older
# versions is mapped down by the specs' error line (Kafka's KafkaApis.handleTxnOffsetCommitRequest).
TV2_VERSION = 5


def _commit(ctx: RequestContext, request: dict, offsets: dict[tuple[str, int], OffsetAndMetadata]) -> ErrorCode:
    """The error every valid partition gets: the transaction's, the group's, or the append's."""
    group_id = request["group_id"]
    if not group_id:
        return ErrorCode.INVALID_GROUP_ID
    producer = (request["producer_id"], request["producer_epoch"])
    error = ctx.broker.transactions.check_txn_offset_commit(
        request["transactional_id"], *producer, group_id, implicit_add=ctx.version >= TV2_VERSION
    )
    if error != ErrorCode.NONE:
        return error
    member = (request.get("generation_id", -1), request.get("member_id", ""), request.get("group_instance_id"))
    return ctx.broker.groups.commit_txn_offsets(group_id, *member, producer, offsets)


@handler(
    28, 0, 5,
    acl=(
        (ResourceType.TRANSACTIONAL_ID, AclOperation.WRITE),
        (ResourceType.GROUP, AclOperation.READ),
        (ResourceType.TOPIC, AclOperation.READ),
    ),
)
async def handle_txn_offset_commit(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request["transactional_id"]):
        return ctx.error_response(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request["group_id"]):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    now = ctx.broker.clock.wall_ms()
    max_metadata = ctx.broker.config.offset_metadata_max_bytes
    offsets: dict[tuple[str, int], OffsetAndMetadata] = {}
    errors: list[tuple[str, int, ErrorCode]] = []
    for topic in request["topics"]:
        state, topic_error = resolve_topic(ctx, topic["name"], None, AclOperation.READ)
        for p in topic["partitions"]:
            index = p["partition_index"]
            metadata = p["committed_metadata"] or ""
            error = commit_error(state, topic_error, index, metadata, max_metadata)
            if error == ErrorCode.NONE:
                offsets[(topic["name"], index)] = OffsetAndMetadata(
                    p["committed_offset"], p.get("committed_leader_epoch", -1), metadata, now, None
                )
            errors.append((topic["name"], index, error))
    txn_error = _commit(ctx, request, offsets)
    by_topic: dict[str, list[dict]] = {}
    for name, index, error in errors:
        code = txn_error if error == ErrorCode.NONE else error
        by_topic.setdefault(name, []).append({"partition_index": index, "error_code": code})
    return {"topics": [{"name": name, "partitions": partitions} for name, partitions in by_topic.items()]}
