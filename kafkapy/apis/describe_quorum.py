"""DescribeQuorum (key 55), versions 0-2: the KRaft metadata quorum, as a combined-mode Kafka node has it.

kafkapy is one node that is broker and controller at once, like the single combined node the
reference runs: a quorum of one voter, this node, its leader. It keeps no metadata log, so the log's
offsets are those of a log holding only the leader's first record (the LeaderChangeMessage Kafka
writes when a voter becomes leader at epoch 1): high watermark and log end offset 1, constant.
v0: leader id and epoch, high watermark, voters and observers (none) with their log end offsets.
v1: last fetch and caught-up timestamps: the leader reports the current time for both, as Kafka does.
v2: error messages, each voter's directory id (one per data dir, derived from the cluster id so it is
stable across restarts), and the voters' listeners: the listeners this node serves DescribeQuorum on
(Kafka's controller listener; kafkapy has none apart from these).
Only the partition __cluster_metadata-0 is described; any other request is answered
UNKNOWN_TOPIC_OR_PARTITION for every partition it names, as Kafka's KafkaRaftClient answers.
Needs DESCRIBE on the cluster.
"""

from __future__ import annotations

import uuid

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode

METADATA_TOPIC = "__cluster_metadata"
# The leader epoch of a quorum whose only voter elected itself once, and the offsets of its log then.
LEADER_EPOCH = 1
LOG_END_OFFSET = 1
# Kafka's Errors.UNKNOWN_TOPIC_OR_PARTITION default message, which KafkaRaftClient sends.
NOT_HOSTED = "This server does not host this topic-partition."


def _describes_metadata_partition(request: dict) -> bool:
    """Kafka's KafkaRaftClient.hasValidTopicPartition: exactly one topic, __cluster_metadata, with partition 0 alone."""
    topics = request["topics"]
    if len(topics) != 1 or topics[0]["topic_name"] != METADATA_TOPIC:
        return False
    partitions = topics[0]["partitions"]
    return len(partitions) == 1 and partitions[0]["partition_index"] == 0


def _not_hosted(request: dict) -> dict:
    """Every partition named answered UNKNOWN_TOPIC_OR_PARTITION (Kafka's
    DescribeQuorumRequest.getPartitionLevelErrorResponse)."""
    topics = [
        {
            "topic_name": t["topic_name"],
            "partitions": [
                {"partition_index": p["partition_index"], "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                 "error_message": NOT_HOSTED}
                for p in t["partitions"]
            ],
        }
        for t in request["topics"]
    ]  # fmt: skip
    return {"error_code": ErrorCode.NONE, "error_message": "", "topics": topics, "nodes": []}


def _voter(ctx: RequestContext) -> dict:
    """This node as the leader voter: caught up with itself now."""
    now = ctx.broker.clock.wall_ms()
    return {
        "replica_id": ctx.broker.node_id,
        "replica_directory_id": uuid.uuid5(uuid.NAMESPACE_URL, f"kafkapy:{ctx.broker.cluster_id}:log-dir"),
        "log_end_offset": LOG_END_OFFSET,
        "last_fetch_timestamp": now,
        "last_caught_up_timestamp": now,
    }


def _nodes(ctx: RequestContext) -> list[dict]:
    listeners = []
    for listener in ctx.broker.config.client_listeners():
        host, port = listener.advertised
        listeners.append({"name": listener.name, "host": host, "port": port})
    return [{"node_id": ctx.broker.node_id, "listeners": listeners}]


@handler(55, 0, 2, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE),))
async def handle_describe_quorum(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER):
        # DescribeQuorumRequest.getTopLevelErrorResponse: the error alone, no topics.
        return {"error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": "", "topics": []}
    if not _describes_metadata_partition(request):
        return _not_hosted(request)
    partition = {
        "partition_index": 0,
        "error_code": ErrorCode.NONE,
        "error_message": "",
        "leader_id": ctx.broker.node_id,
        "leader_epoch": LEADER_EPOCH,
        "high_watermark": LOG_END_OFFSET,
        "current_voters": [_voter(ctx)],
        "observers": [],
    }
    return {
        "error_code": ErrorCode.NONE,
        "error_message": "",
        "topics": [{"topic_name": METADATA_TOPIC, "partitions": [partition]}],
        "nodes": _nodes(ctx),
    }
