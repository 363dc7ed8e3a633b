"""DescribeTopicPartitions (key 75), version 0: topics and partitions, paginated (KIP-966).

v0: topics by name (none: every topic), sorted by name, at most response_partition_limit partitions
per response with a cursor to continue from. Newer Java admin clients use it for describeTopics.
Eligible leader replicas are not tracked (null), as with ELR disabled in Kafka.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType, authorized_operations
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.metadata import topic_entry
from kafkapy.protocol.common import ZERO_UUID
from kafkapy.protocol.errors import ErrorCode


@handler(75, 0, 0, acl=((ResourceType.TOPIC, AclOperation.DESCRIBE),))
async def handle_describe_topic_partitions(ctx: RequestContext, request: dict) -> dict:
    logs = ctx.broker.logs
    # Every topic means every topic the principal may describe; a named one it may not is refused.
    names = sorted({t["name"] for t in request["topics"]} if request["topics"] else logs.topics)
    if not request["topics"]:
        names = [name for name in names if ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name)]
    cursor = request.get("cursor")
    if cursor is not None:
        names = [name for name in names if name >= cursor["topic_name"]]
    budget = max(request["response_partition_limit"], 1)
    topics: list[dict] = []
    next_cursor = None
    for name in names:
        state = logs.topics.get(name)
        if request["topics"] and not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name):
            topics.append({"error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED, "name": name, "topic_id": ZERO_UUID})
            continue
        if state is None:
            topics.append({"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "name": name, "topic_id": ZERO_UUID})
            continue
        entry = topic_entry(ctx, state)
        # Always computed, as Kafka's DescribeTopicPartitionsRequestHandler does.
        entry["topic_authorized_operations"] = authorized_operations(ctx, ResourceType.TOPIC, name)
        first = cursor["partition_index"] if cursor is not None and name == cursor["topic_name"] else 0
        partitions = entry["partitions"][first:]
        if len(partitions) > budget:
            next_cursor = {"topic_name": name, "partition_index": first + budget}
            partitions = partitions[:budget]
        # Kafka sends empty ELR lists, never null; the Java Admin (4.3) fails on null.
        entry["partitions"] = [{**p, "eligible_leader_replicas": [], "last_known_elr": []} for p in partitions]
        topics.append(entry)
        budget -= len(partitions)
        if next_cursor is not None:
            break
        if budget == 0 and name != names[-1]:
            next_cursor = {"topic_name": names[names.index(name) + 1], "partition_index": 0}
            break
    return {"topics": topics, "next_cursor": next_cursor}
