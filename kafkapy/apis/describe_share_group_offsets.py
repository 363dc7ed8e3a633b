"""DescribeShareGroupOffsets (key 90), versions 0-1: the start offset of each share partition of share
groups (KIP-932), as Admin.listShareGroupOffsets and kafka-share-groups --describe show them.

v0: start offset and leader epoch per partition; a null topic list describes every topic the group has
    share-partition state for.
v1: the lag (records past the start offset not yet delivered to completion).
Served while share.version is finalized at 1 or more, UNSUPPORTED_VERSION otherwise, as Kafka 4.3.1.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._share import share_group_error
from kafkapy.apis.share_group_heartbeat import share_groups_enabled
from kafkapy.coordinator.share_partition import delivery_complete_count
from kafkapy.protocol.errors import ErrorCode
from kafkapy.storage.log_manager import TopicState

# Kafka's answer for a partition without share-partition state: no start offset, no lag.
UNKNOWN = -1


def java_long(value: int) -> int:
    """``value`` as a Java long computation gives it (two's complement, 64 bits)."""
    return (value + 2**63) % 2**64 - 2**63


def _partition(ctx: RequestContext, group_id: str, state: TopicState, index: int) -> dict:
    entry = {"partition_index": index, "start_offset": UNKNOWN, "leader_epoch": 0, "lag": UNKNOWN}
    if not 0 <= index < len(state.partitions):
        return {**entry, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    sp = ctx.broker.share_partitions.partitions.get((group_id, state.topic_id, index))
    if sp is not None:
        done = delivery_complete_count(sp.snapshot())
        # Kafka 4.3.1 does not bound it: a start offset moved past the log end shows a negative lag, and
        # one altered to a huge negative offset wraps around as Java's long arithmetic does.
        lag = java_long(state.partitions[index].high_watermark - sp.start_offset - done)
        entry.update(start_offset=sp.start_offset, lag=lag)
    return entry


def _topics(ctx: RequestContext, group_id: str, topics: list[dict] | None) -> list[dict]:
    """The described topics: those asked for, or (null) every topic with state for the group."""
    if topics is None:
        by_id: dict = {}
        for _, topic_id, partition in ctx.broker.share_partitions.group_partitions(group_id):
            by_id.setdefault(topic_id, []).append(partition)
        named = [(ctx.broker.logs.topic_by_id(t), sorted(ps)) for t, ps in by_id.items()]
        topics = [{"topic_name": s.name, "partitions": ps} for s, ps in named if s is not None]
    answers = []
    for topic in topics:
        name = topic["topic_name"]
        state = ctx.broker.logs.topics.get(name)
        # Kafka 4.3.1 answers an unknown topic's partitions without an error: no start offset, no lag.
        error = ErrorCode.NONE
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name):
            error = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        if state is None or error != ErrorCode.NONE:
            partitions = [{"partition_index": p, "start_offset": UNKNOWN, "lag": UNKNOWN, "error_code": error}
                          for p in topic["partitions"]]  # fmt: skip
            answers.append({"topic_name": name, "partitions": partitions})
            continue
        partitions = [_partition(ctx, group_id, state, p) for p in topic["partitions"]]
        answers.append({"topic_name": name, "topic_id": state.topic_id, "partitions": partitions})
    return answers


@handler(90, 0, 1, acl=((ResourceType.GROUP, AclOperation.DESCRIBE), (ResourceType.TOPIC, AclOperation.DESCRIBE)))
async def handle_describe_share_group_offsets(ctx: RequestContext, request: dict) -> dict:
    if not share_groups_enabled(ctx):
        return ctx.error_response(ErrorCode.UNSUPPORTED_VERSION)
    groups = []
    for group in request["groups"]:
        group_id = group["group_id"]
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            groups.append({"group_id": group_id, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED})
            continue
        error, message = share_group_error(ctx, group_id, must_be_empty=False)
        if error != ErrorCode.NONE:
            groups.append({"group_id": group_id, "error_code": error, "error_message": message})
            continue
        groups.append({"group_id": group_id, "topics": _topics(ctx, group_id, group["topics"])})
    return {"groups": groups}
