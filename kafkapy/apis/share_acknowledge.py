"""ShareAcknowledge (key 79), versions 1-2: a share group member acknowledges records it acquired (KIP-932).

v0: Kafka 4.0's early access version, removed in 4.1: not served.
v1: AcknowledgementBatches of the share session's partitions: ACCEPT, RELEASE, REJECT (and GAP for offsets
    that hold no record); the epoch must be the session's next one, -1 closes the session after them.
v2: IsRenewAck and the RENEW type (KIP-1222), and the acquisition lock timeout in the response.
The new states are written to __share_group_state before the answer.
Served while share.version is finalized at 1 or more, UNSUPPORTED_VERSION otherwise, as Kafka 4.3.1.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._share import leader, share_topic
from kafkapy.apis.share_group_heartbeat import share_groups_enabled
from kafkapy.coordinator.share_partition import AcknowledgeType
from kafkapy.coordinator.share_partitions import FINAL_EPOCH, INITIAL_EPOCH
from kafkapy.protocol.errors import ErrorCode, KafkaError


def acknowledge_topics(
    ctx: RequestContext, group_id: str, member_id: str, request: dict, error_field: str
) -> dict:
    """Apply the AcknowledgementBatches of every listed partition; the entries with their outcome in
    ``error_field``, by topic id and partition (only the partitions that had acknowledgements). A RENEW
    (4) in a request without IsRenewAck is that partition's INVALID_REQUEST, as Kafka 4.3.1 answers it."""
    entries: dict = {}
    manager = ctx.broker.share_partitions
    renew_allowed = bool(request.get("is_renew_ack"))
    for topic in request["topics"]:
        acked = [p for p in topic["partitions"] if p["acknowledgement_batches"]]
        if not acked:
            continue
        state, error = share_topic(ctx, topic["topic_id"])
        for partition in acked:
            index = partition["partition_index"]
            code = error
            if state is not None and not 0 <= index < len(state.partitions):
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            batches = partition["acknowledgement_batches"]
            if not renew_allowed and any(AcknowledgeType.RENEW in b["acknowledge_types"] for b in batches):
                code = ErrorCode.INVALID_REQUEST
            if state is not None and code == ErrorCode.NONE:
                code = manager.acknowledge(group_id, member_id, state, index, batches)
            entries.setdefault(topic["topic_id"], {})[index] = {"partition_index": index, error_field: code}
    return entries


@handler(79, 1, 2, acl=((ResourceType.GROUP, AclOperation.READ), (ResourceType.TOPIC, AclOperation.READ)))
async def handle_share_acknowledge(ctx: RequestContext, request: dict) -> dict:
    if not share_groups_enabled(ctx):
        return ctx.error_response(ErrorCode.UNSUPPORTED_VERSION)
    group_id, member_id, epoch = request["group_id"] or "", request["member_id"] or "", request["share_session_epoch"]
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, group_id):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if epoch == INITIAL_EPOCH:
        return ctx.error_response(ErrorCode.INVALID_SHARE_SESSION_EPOCH)
    manager = ctx.broker.share_partitions
    try:
        manager.session(group_id, member_id, epoch)
    except KafkaError as exc:
        return ctx.error_response(exc.code, exc.message)
    acks = acknowledge_topics(ctx, group_id, member_id, request, "error_code")
    if epoch == FINAL_EPOCH:
        manager.close_session(group_id, member_id)
    return {
        "error_code": ErrorCode.NONE,
        "acquisition_lock_timeout_ms": int(ctx.broker.group_configs.value(group_id, "share.record.lock.duration.ms")),
        "responses": [
            {
                "topic_id": topic_id,
                "partitions": [{"current_leader": leader(ctx), **e} for _, e in sorted(partitions.items())],
            }
            for topic_id, partitions in acks.items()
        ],
    }
