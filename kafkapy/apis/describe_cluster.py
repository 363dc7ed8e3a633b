"""DescribeCluster (key 60), versions 0-2: cluster id, controller and brokers.

v0: brokers, controller id, cluster id; authorized operations are not computed (no ACLs: the
"not requested" sentinel is sent, as Metadata does).  v1: endpoint type: brokers only, controller
endpoints are UNSUPPORTED_ENDPOINT_TYPE (this broker is no KRaft controller quorum member that
clients can reach).  v2: include_fenced_brokers and is_fenced (never fenced).
"""

from __future__ import annotations

from kafkapy.apis import RequestContext, handler
from kafkapy.apis.metadata import broker_entries
from kafkapy.protocol.errors import ErrorCode

BROKER_ENDPOINTS = 1


@handler(60, 0, 2, acl=())
async def handle_describe_cluster(ctx: RequestContext, request: dict) -> dict:
    endpoint_type = request.get("endpoint_type", BROKER_ENDPOINTS)
    if endpoint_type != BROKER_ENDPOINTS:
        return {
            "error_code": ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
            "error_message": "The target broker only supports broker endpoints.",
            "endpoint_type": endpoint_type,
            "cluster_id": ctx.broker.cluster_id,
        }
    return {
        "error_code": ErrorCode.NONE,
        "endpoint_type": endpoint_type,
        "cluster_id": ctx.broker.cluster_id,
        "controller_id": ctx.broker.node_id,
        "brokers": [{"broker_id": b["node_id"], "host": b["host"], "port": b["port"]} for b in broker_entries(ctx)],
    }
