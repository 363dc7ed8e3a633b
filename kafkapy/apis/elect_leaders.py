"""ElectLeaders (key 43), versions 0-2: preferred or unclean leader elections.

v0: preferred elections for listed partitions (null: all).  v1: election type and a top-level
error code.  v2: flexible.
This broker is the only replica, hence already the preferred leader of every partition: listed
partitions get ELECTION_NOT_NEEDED (UNKNOWN_TOPIC_OR_PARTITION if absent), and "all partitions"
answers with none, as Kafka does when no election is needed.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


def _result(ctx: RequestContext, topic: str, partition: int) -> dict:
    if ctx.broker.logs.get_log(topic, partition) is None:
        code, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist."
    else:
        code, message = ErrorCode.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."
    return {"partition_id": partition, "error_code": code, "error_message": message}


@handler(43, 0, 2, acl=((ResourceType.CLUSTER, AclOperation.ALTER),))
async def handle_elect_leaders(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    wanted = request["topic_partitions"] or []
    results = [
        {"topic": t["topic"], "partition_result": [_result(ctx, t["topic"], p) for p in t["partitions"]]}
        for t in wanted
    ]
    return {"error_code": ErrorCode.NONE, "replica_election_results": results}
