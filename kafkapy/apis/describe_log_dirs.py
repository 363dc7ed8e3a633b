"""DescribeLogDirs (key 35), versions 0-5: the data directory and the partitions in it.

v0: log dirs with each partition's size (offset lag 0: no future replicas).  v1: same as v0.
v2: flexible.  v3: top-level error code.  v4: total and usable bytes of the file system (-1 with
``--storage memory``, Kafka's UNKNOWN_VOLUME_BYTES).
v5: is_cordoned (never).
Topics not on this broker are left out, as in Kafka; null topics means every partition.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import log_dir_path
from kafkapy.protocol.errors import ErrorCode


@handler(35, 0, 5, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE),))
async def handle_describe_log_dirs(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    logs = ctx.broker.logs
    wanted = request["topics"]
    if wanted is None:
        selected = [(name, list(range(len(state.partitions)))) for name, state in logs.topics.items()]
    else:
        selected = [(t["topic"], t["partitions"]) for t in wanted if t["topic"] in logs.topics]
    topics = []
    for name, partitions in selected:
        entries = []
        for index in partitions:
            log = logs.get_log(name, index)
            if log is not None:
                entries.append({"partition_index": index, "partition_size": log.size_in_bytes, "offset_lag": 0})
        if entries:
            topics.append({"name": name, "partitions": entries})
    total, free = logs.fs.disk_usage(logs.data_dir)
    result = {
        "error_code": ErrorCode.NONE,
        "log_dir": log_dir_path(ctx),
        "topics": topics,
        "total_bytes": total,
        "usable_bytes": free,
    }
    return {"error_code": ErrorCode.NONE, "results": [result]}
