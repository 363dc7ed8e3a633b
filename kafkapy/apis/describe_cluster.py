"""DescribeCluster (key 60), versions 0-2: cluster id, controller and brokers.

v0: brokers, controller id, cluster id, and on request the operations the principal may do on the
cluster. Kafka 4.3.1 answers anyone: a principal without DESCRIBE on the cluster gets no operations
(0), not CLUSTER_AUTHORIZATION_FAILED.  v1: endpoint type: brokers only; asking for
controller endpoints is MISMATCHED_ENDPOINT_TYPE (this broker is no KRaft controller quorum member
that clients can reach), any other type UNSUPPORTED_ENDPOINT_TYPE, as Kafka 4.3.1 answers on a
broker listener.  v2: include_fenced_brokers and is_fenced (never fenced).
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType, authorized_operations
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.metadata import broker_entries
from kafkapy.protocol.errors import ErrorCode

BROKER_ENDPOINTS, CONTROLLER_ENDPOINTS = 1, 2


def _endpoint_type_error(endpoint_type: int) -> dict:
    """Kafka's answer on a broker listener to any endpoint type but its own: no cluster, no brokers."""
    if endpoint_type == CONTROLLER_ENDPOINTS:
        code = ErrorCode.MISMATCHED_ENDPOINT_TYPE
        message = "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"
    else:
        code, message = ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, f"Unsupported endpoint type {endpoint_type}"
    return {"error_code": code, "error_message": message, "endpoint_type": BROKER_ENDPOINTS, "cluster_id": ""}


@handler(60, 0, 2, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE),))
async def handle_describe_cluster(ctx: RequestContext, request: dict) -> dict:
    endpoint_type = request.get("endpoint_type", BROKER_ENDPOINTS)
    if endpoint_type != BROKER_ENDPOINTS:
        return _endpoint_type_error(endpoint_type)
    return {
        "cluster_authorized_operations": authorized_operations(
            ctx, ResourceType.CLUSTER, requested=request["include_cluster_authorized_operations"]
        ),
        "error_code": ErrorCode.NONE,
        "endpoint_type": endpoint_type,
        "cluster_id": ctx.broker.cluster_id,
        "controller_id": ctx.broker.node_id,
        "brokers": [{"broker_id": b["node_id"], "host": b["host"], "port": b["port"]} for b in broker_entries(ctx)],
    }
