"""OffsetFetch (key 9), versions 0-10: reads a group's committed offsets.

v0-v1: offsets of the listed partitions (Kafka 4 dropped v0; served here).
v2: a null topic list means every partition with an offset; top-level error code.
v3: throttle time.  v4: same as v3.  v5: committed leader epoch.  v6: flexible.
v7: require_stable: a partition with an offset pending in an ongoing transaction (TxnOffsetCommit)
    answers UNSTABLE_OFFSET_COMMIT, and the client retries (KIP-447).
v8: several groups in one request.
v9: member id and epoch, checked by KIP-848 consumer groups (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH).
v10: topics addressed by topic id.
A partition without a committed offset answers offset -1, leader epoch -1 and empty metadata.
"""

from __future__ import annotations

from collections import defaultdict

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import resolve_topic
from kafkapy.coordinator.group import OffsetAndMetadata
from kafkapy.protocol.errors import ErrorCode


def _partition(index: int, offset: OffsetAndMetadata | None, error: ErrorCode = ErrorCode.NONE) -> dict:
    if offset is None:
        # Kafka's INVALID_OFFSET and NO_METADATA.
        offset = OffsetAndMetadata(-1, -1, "", -1)
    return {
        "partition_index": index,
        "committed_offset": offset.offset,
        "committed_leader_epoch": offset.leader_epoch,
        "metadata": offset.metadata,
        "error_code": error,
    }


def _all_topics(ctx: RequestContext, group_id: str) -> list[dict]:
    """Every committed partition of the group, by topic (with its id, for v10)."""
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for (topic, index), offset in sorted(ctx.broker.groups.fetch_offsets(group_id, None).items()):
        # All topics means all the principal may describe.
        if ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, topic):
            by_topic[topic].append(_partition(index, offset))
    topics = []
    for name, partitions in by_topic.items():
        state = ctx.broker.logs.topics.get(name)
        if state is None and ctx.version >= 10:
            continue
        topic_id = state.topic_id if state is not None else None
        topics.append({"name": name, "topic_id": topic_id, "partitions": partitions})
    return topics


def _listed_topics(ctx: RequestContext, group_id: str, requested: list[dict], require_stable: bool) -> list[dict]:
    """The listed partitions; unknown topics or partitions simply have no offset (-1), as in Kafka."""
    topics = []
    for topic in requested:
        name, topic_id = topic.get("name"), topic.get("topic_id")
        error = ErrorCode.NONE
        if name is None:
            state, error = resolve_topic(ctx, None, topic_id, AclOperation.DESCRIBE)
            name = state.name if state is not None else None
        elif not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name):
            name, error = None, ErrorCode.TOPIC_AUTHORIZATION_FAILED
        indexes = topic["partition_indexes"]
        found = ctx.broker.groups.fetch_offsets(group_id, [(name, i) for i in indexes]) if name is not None else {}
        pending = ctx.broker.groups.store.pending_txn
        partitions = [
            _partition(i, None, ErrorCode.UNSTABLE_OFFSET_COMMIT)
            if require_stable and name is not None and pending.is_pending(group_id, name, i)
            else _partition(i, found.get((name, i)), error)
            for i in indexes
        ]
        topics.append({"name": topic.get("name"), "topic_id": topic_id, "partitions": partitions})
    return topics


def _group_topics(ctx: RequestContext, group_id: str, requested: list[dict] | None, require_stable: bool) -> list[dict]:
    return _all_topics(ctx, group_id) if requested is None else _listed_topics(ctx, group_id, requested, require_stable)


def _group(ctx: RequestContext, entry: dict, require_stable: bool) -> dict:
    """One group's entry (v8+), GROUP_AUTHORIZATION_FAILED for a group the principal may not describe;
    a KIP-848 group checks the member id and epoch (v9+) first."""
    group_id, requested = entry["group_id"], entry["topics"]
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
        return {"group_id": group_id, "topics": [], "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED}
    owner = ctx.broker.group_registry.offsets_owner(group_id)
    if owner is not None:
        error = owner.offset_fetch_error(group_id, entry.get("member_id"), entry.get("member_epoch", -1))
        if error != ErrorCode.NONE:
            return {"group_id": group_id, "topics": [], "error_code": error}
    return {
        "group_id": group_id,
        "topics": _group_topics(ctx, group_id, requested, require_stable),
        "error_code": ErrorCode.NONE,
    }


@handler(9, 0, 10, acl=((ResourceType.GROUP, AclOperation.DESCRIBE), (ResourceType.TOPIC, AclOperation.DESCRIBE)))
async def handle_offset_fetch(ctx: RequestContext, request: dict) -> dict:
    stable = request.get("require_stable", False)
    if ctx.version >= 8:
        return {"groups": [_group(ctx, g, stable) for g in request["groups"]]}
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, request["group_id"]):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    topics = _group_topics(ctx, request["group_id"], request["topics"], stable)
    return {"topics": topics, "error_code": ErrorCode.NONE}
