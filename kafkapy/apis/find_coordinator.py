"""FindCoordinator (key 10), versions 0-6: which broker coordinates a group.

v0: one group key; the answer is this broker (node id and advertised host/port).
v1: key type (0 group, 1 transactional id), throttle time, error message.  v2: same as v1.
v3: flexible.  v4: batched coordinator keys (KIP-699), one answer per key.
v5: same as v4 (TRANSACTION_ABORTABLE exists).  v6: key type 2, share partitions (KIP-932).
Every group and transactional id is coordinated here; answering creates ``__consumer_offsets`` or
``__transaction_state`` as Kafka does. A share key ("group:topic id:partition", the share
coordinator's, which Kafka's brokers ask for; needs CLUSTER_ACTION) is coordinated here too, from v6;
before v6, or malformed, it is INVALID_REQUEST without a message, as Kafka 4.3.1 answers. An unknown
key type fails the request with Kafka's malformed-request message.
"""

from __future__ import annotations

import base64
import binascii

from kafkapy.acl import CLUSTER_NAME, DENIED, DENIED_MESSAGE, AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.describe_configs import MALFORMED_REQUEST
from kafkapy.dynamic_broker_config import parse_node_id
from kafkapy.protocol.errors import ErrorCode, KafkaError

GROUP_KEY = 0
TRANSACTION_KEY = 1
SHARE_KEY = 2


def _refused(code: ErrorCode, message: str) -> dict:
    return {"error_code": code, "error_message": message, "node_id": -1, "host": "", "port": -1}


def is_share_partition_key(key: str) -> bool:
    """Kafka's SharePartitionKey form "group:topic id:partition": a group id (may hold ':'), a base64
    topic id of 16 bytes, a Java int."""
    group, _, rest = key.rpartition(":")
    group, _, topic_id = group.rpartition(":")
    if not group or parse_node_id(rest) is None or len(topic_id) > 24:
        return False
    try:
        raw = base64.urlsafe_b64decode(topic_id + "=" * (-len(topic_id) % 4))
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 16 and base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == topic_id.rstrip("=")


def _share_coordinator(ctx: RequestContext, key: str) -> dict:
    """The share coordinator of a share partition: this broker (its share state lives here)."""
    if ctx.version < 6 or not is_share_partition_key(key):
        return _refused(ErrorCode.INVALID_REQUEST, "")
    if not ctx.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME):
        return _refused(DENIED[ResourceType.CLUSTER], DENIED_MESSAGE[ResourceType.CLUSTER])
    return _this_broker(ctx)


def _this_broker(ctx: RequestContext) -> dict:
    host, port = ctx.broker.config.advertised_for(ctx.listener_name)
    return {
        "error_code": ErrorCode.NONE,
        # Kafka 4.3.1's words for success: the error's name before batching (v4), nothing after.
        "error_message": "NONE" if ctx.version < 4 else "",
        "node_id": ctx.broker.node_id,
        "host": host,
        "port": port,
    }


def _coordinator(ctx: RequestContext, key_type: int, key: str) -> dict:
    if key_type == SHARE_KEY:
        return _share_coordinator(ctx, key)
    resource = ResourceType.GROUP if key_type == GROUP_KEY else ResourceType.TRANSACTIONAL_ID
    if not ctx.authorize(AclOperation.DESCRIBE, resource, key):
        return _refused(DENIED[resource], DENIED_MESSAGE[resource])
    store = ctx.broker.groups.store if key_type == GROUP_KEY else ctx.broker.transactions.store
    try:
        store.ensure_topic()
    except KafkaError as exc:
        return _refused(ErrorCode.COORDINATOR_NOT_AVAILABLE, exc.message)
    return _this_broker(ctx)


@handler(
    10, 0, 6,
    acl=(
        (ResourceType.GROUP, AclOperation.DESCRIBE),
        (ResourceType.TRANSACTIONAL_ID, AclOperation.DESCRIBE),
        (ResourceType.CLUSTER, AclOperation.CLUSTER_ACTION),
    ),
)
async def handle_find_coordinator(ctx: RequestContext, request: dict) -> dict:
    key_type = request.get("key_type", GROUP_KEY)
    if key_type not in (GROUP_KEY, TRANSACTION_KEY, SHARE_KEY) or (key_type == SHARE_KEY and ctx.version < 4):
        return _malformed(ctx, request)
    if ctx.version < 4:
        return _coordinator(ctx, key_type, request["key"])
    keys = request["coordinator_keys"]
    return {"coordinators": [{"key": key, **_coordinator(ctx, key_type, key)} for key in keys]}


def _malformed(ctx: RequestContext, request: dict) -> dict:
    """Kafka's answer to a request it cannot handle at all: every key INVALID_REQUEST, malformed."""
    refused = _refused(ErrorCode.INVALID_REQUEST, MALFORMED_REQUEST)
    if ctx.version < 4:
        return refused
    return {"coordinators": [{"key": key, **refused} for key in request["coordinator_keys"]]}
