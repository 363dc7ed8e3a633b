"""AlterReplicaLogDirs (key 34), versions 1-2: move partition replicas to another log directory.

v1: per log dir path, the partitions to move there (v0, gone in Kafka 4, is not served).  v2: flexible.
kafkapy has one log directory, the data dir, named as DescribeLogDirs names it: a partition asked
into it is already there (NONE); any other path, even the same directory spelled differently, is
LOG_DIR_NOT_FOUND, before the partition is looked up, as Kafka compares the path with its log dirs
as written. A partition named twice goes where its last entry says. Results are grouped by topic.
Needs ALTER on the cluster (Kafka's KafkaApis answers every partition CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import log_dir_path
from kafkapy.protocol.errors import ErrorCode


def _error(ctx: RequestContext, topic: str, partition: int, path: str) -> ErrorCode:
    if path != log_dir_path(ctx):
        return ErrorCode.LOG_DIR_NOT_FOUND
    if ctx.broker.logs.get_log(topic, partition) is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return ErrorCode.NONE


@handler(34, 1, 2, acl=((ResourceType.CLUSTER, AclOperation.ALTER),))
async def handle_alter_replica_log_dirs(ctx: RequestContext, request: dict) -> dict:
    destinations = {
        (t["name"], p): d["path"] for d in request["dirs"] for t in d["topics"] for p in t["partitions"]
    }
    allowed = ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER)
    by_topic: dict[str, list[dict]] = {}
    for (topic, partition), path in destinations.items():
        code = _error(ctx, topic, partition, path) if allowed else ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        by_topic.setdefault(topic, []).append({"partition_index": partition, "error_code": code})
    return {"results": [{"topic_name": t, "partitions": parts} for t, parts in by_topic.items()]}
