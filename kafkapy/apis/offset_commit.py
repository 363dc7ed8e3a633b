"""OffsetCommit (key 8), versions 0-10: stores a group's committed offsets in ``__consumer_offsets``.

v0: offsets and metadata by group (Kafka 4 dropped v0-v1; served here for old clients).
v1: generation and member id; a per-partition commit timestamp.
v2: retention time instead of the commit timestamp (an explicit expire timestamp, as in Kafka).
v3: throttle time.  v4: same as v3.  v5: no retention time.  v6: committed leader epoch.
v7: group instance id (static membership).  v8: flexible.
v9: the member epoch of a KIP-848 consumer group in GenerationIdOrMemberEpoch (STALE_MEMBER_EPOCH); its
    members must commit with v9+ (UNSUPPORTED_VERSION), except in a transaction.
v10: topics addressed by topic id.
Offsets are in the log before the response goes out. Generation -1 without a member id commits for
a group that does not use group management (a consumer using assign()).
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import resolve_topic
from kafkapy.coordinator.group import OffsetAndMetadata
from kafkapy.protocol.errors import ErrorCode
from kafkapy.storage.log_manager import TopicState


def partition_error(state: TopicState | None, error: ErrorCode, partition: int) -> ErrorCode:
    """The topic's error, or UNKNOWN_TOPIC_OR_PARTITION for a partition it does not have."""
    if state is not None and not 0 <= partition < len(state.partitions):
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return error


def commit_error(
    state: TopicState | None, topic_error: ErrorCode, partition: int, metadata: str, max_metadata: int
) -> ErrorCode:
    """Why one partition's commit (plain or transactional) is refused, or NONE."""
    error = partition_error(state, topic_error, partition)
    if error == ErrorCode.NONE and len(metadata.encode()) > max_metadata:
        return ErrorCode.OFFSET_METADATA_TOO_LARGE
    return error


@handler(8, 0, 10, acl=((ResourceType.GROUP, AclOperation.READ), (ResourceType.TOPIC, AclOperation.READ)))
async def handle_offset_commit(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request["group_id"]):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    version = ctx.version
    now = ctx.broker.clock.wall_ms()
    retention = request.get("retention_time_ms", -1) if 2 <= version <= 4 else -1
    max_metadata = ctx.broker.config.offset_metadata_max_bytes
    offsets: dict[tuple[str, int], OffsetAndMetadata] = {}
    # (topic entry, partition index, topic name, error found here)
    entries: list[tuple[dict, int, str | None, ErrorCode]] = []
    for topic in request["topics"]:
        state, topic_error = resolve_topic(ctx, topic.get("name"), topic.get("topic_id"), AclOperation.READ)
        for p in topic["partitions"]:
            index = p["partition_index"]
            metadata = p["committed_metadata"] or ""
            error = commit_error(state, topic_error, index, metadata, max_metadata)
            name = state.name if state is not None else None
            if error == ErrorCode.NONE and name is not None:
                commit_ts = p.get("commit_timestamp", -1)
                commit_ts = now if commit_ts == -1 else commit_ts
                offsets[(name, index)] = OffsetAndMetadata(
                    p["committed_offset"],
                    p.get("committed_leader_epoch", -1),
                    metadata,
                    commit_ts,
                    commit_ts + retention if retention != -1 else None,
                )
            entries.append((topic, index, name, error))
    results = ctx.broker.groups.commit_offsets(
        request["group_id"],
        request.get("generation_id_or_member_epoch", -1),
        request.get("member_id", ""),
        request.get("group_instance_id"),
        offsets,
        api_version=version,
    )
    topics: list[dict] = []
    by_entry: dict[int, dict] = {}
    for topic, index, name, error in entries:
        if id(topic) not in by_entry:
            by_entry[id(topic)] = {"name": topic.get("name"), "topic_id": topic.get("topic_id"), "partitions": []}
            topics.append(by_entry[id(topic)])
        if error == ErrorCode.NONE and name is not None:
            error = results[(name, index)]
        by_entry[id(topic)]["partitions"].append({"partition_index": index, "error_code": error})
    return {"topics": topics}
