"""TxnOffsetCommit (key 28), versions 0-5: commits a group's offsets inside a producer's transaction.

v0: transactional id, group id, producer id and epoch, offsets with metadata.  v1: same as v0.
v2: committed leader epoch.  v3: flexible; generation id, member id and group instance id, checked
    against the group as OffsetCommit does (KIP-447).  v4: same as v3.  v5: same as v4 (TRANSACTION_ABORTABLE).
The offsets go to ``__consumer_offsets`` in a transactional batch of the producer and take effect when
the transaction commits (its marker reaches the offsets partition); an abort drops them.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import resolve_topic
from kafkapy.apis.offset_commit import commit_error
from kafkapy.coordinator.group import ClassicGroup, GroupState, OffsetAndMetadata
from kafkapy.coordinator.group_coordinator import wall_ms
from kafkapy.coordinator.group_records import offset_commit_record
from kafkapy.protocol.errors import ErrorCode, KafkaError


def _group_error(group: ClassicGroup | None, generation_id: int, member_id: str, instance_id: str | None) -> ErrorCode:
    """Kafka's doTxnCommitOffsets checks; an unknown group is one that only stores offsets."""
    if group is None:
        return ErrorCode.NONE
    if group.is_in(GroupState.DEAD):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if generation_id < 0 and group.is_in(GroupState.EMPTY):
        return ErrorCode.NONE
    if group.is_static_member_fenced(instance_id, member_id):
        return ErrorCode.FENCED_INSTANCE_ID
    if member_id and not group.has(member_id):
        return ErrorCode.UNKNOWN_MEMBER_ID
    if generation_id >= 0 and generation_id != group.generation_id:
        return ErrorCode.ILLEGAL_GENERATION
    return ErrorCode.NONE


def _commit(ctx: RequestContext, request: dict, offsets: dict[tuple[str, int], OffsetAndMetadata]) -> ErrorCode:
    """The error every valid partition gets: the transaction's, the group's, or the append's."""
    group_id = request["group_id"]
    if not group_id:
        return ErrorCode.INVALID_GROUP_ID
    producer = (request["producer_id"], request["producer_epoch"])
    error = ctx.broker.transactions.check_txn_offset_commit(request["transactional_id"], *producer, group_id)
    if error == ErrorCode.NONE:
        group = ctx.broker.groups.groups.get(group_id)
        error = _group_error(
            group, request.get("generation_id", -1), request.get("member_id", ""), request.get("group_instance_id")
        )
    if error != ErrorCode.NONE or not offsets:
        return error
    records = [offset_commit_record(group_id, topic, partition, o) for (topic, partition), o in offsets.items()]
    try:
        ctx.broker.groups.store.append(group_id, records, wall_ms(), producer=producer)
    except KafkaError as exc:
        return exc.code
    return ErrorCode.NONE


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
    now = wall_ms()
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
