"""ListPartitionReassignments (key 46), version 0: the partition reassignments in progress.

v0: the ongoing reassignments of the given partitions (null: of every partition), each with its
replica set and the replicas being added and removed; partitions without one, and unknown topics
and partitions, are left out, as in Kafka. On one node a reassignment completes when it is made
(alter_partition_reassignments.py), so none is ever listed. Needs DESCRIBE on the cluster, as in
Kafka's ControllerApis.
"""

from __future__ import annotations

from kafkapy.acl import DENIED_MESSAGE, AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


@handler(46, 0, 0, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE),))
async def handle_list_partition_reassignments(ctx: RequestContext, request: dict) -> dict:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER):
        # Kafka's getErrorResponse echoes every partition asked about, though its entries carry no error.
        topics = [
            {"name": t["name"], "partitions": [{"partition_index": index} for index in t["partition_indexes"]]}
            for t in request["topics"] or ()
        ]
        message = DENIED_MESSAGE[ResourceType.CLUSTER]
        return {"error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": message, "topics": topics}
    return {"error_code": ErrorCode.NONE, "error_message": None, "topics": []}
