"""ShareFetch (key 78), versions 1-2: a share group member acquires records of share partitions (KIP-932).

v0: Kafka 4.0's early access version, removed in 4.1: not served.
v1: share sessions (epoch 0 opens, -1 closes, else the session's next epoch), acknowledgements piggy-backed
    for the session's partitions, AcquiredRecords ranges with their delivery counts beside the batches'
    bytes (the client delivers only the acquired records), MaxRecords, BatchSize and the acquisition lock
    timeout in the response.
v2: ShareAcquireMode (batch-optimized 0 or record-limit 1: kafkapy acquires whole batches in both) and
    IsRenewAck (refused with INVALID_REQUEST, as Kafka 4.3.1 answered every such request tried; a RENEW
    acknowledgement without it is the partition's INVALID_REQUEST).
The long poll ends at MaxWaitMs or as soon as records are acquired, woken by appends like Fetch's.
Served while share.version is finalized at 1 or more, UNSUPPORTED_VERSION otherwise, as Kafka 4.3.1.
"""

from __future__ import annotations

import trio

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._share import leader, share_topic
from kafkapy.apis.share_acknowledge import acknowledge_topics
from kafkapy.apis.share_group_heartbeat import share_groups_enabled
from kafkapy.coordinator.share_partitions import FINAL_EPOCH, INITIAL_EPOCH, SharePartitionManager, ShareSession
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_manager import TopicState

READ_COMMITTED = "read_committed"


def _session_partitions(session: ShareSession, request: dict) -> None:
    """Add the request's partitions to the session and drop its forgotten ones (Kafka's incremental
    share fetch: a request names only what changed)."""
    for topic in request["topics"]:
        session.partitions.update((topic["topic_id"], p["partition_index"]) for p in topic["partitions"])
    for forgotten in request["forgotten_topics_data"]:
        session.partitions.difference_update((forgotten["topic_id"], p) for p in forgotten["partitions"])


def _fetchable(ctx: RequestContext, session: ShareSession) -> tuple[list[tuple[TopicState, int]], dict]:
    """The session's partitions that can be read, and the error entries of the others, by topic id."""
    readable: list[tuple[TopicState, int]] = []
    errors: dict = {}
    for topic_id, partition in sorted(session.partitions):
        state, error = share_topic(ctx, topic_id)
        if state is not None and not 0 <= partition < len(state.partitions):
            error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if error != ErrorCode.NONE or state is None:
            errors.setdefault(topic_id, {})[partition] = {"partition_index": partition, "error_code": error}
        else:
            readable.append((state, partition))
    return readable, errors


def _acquire_all(
    manager: SharePartitionManager,
    group_id: str,
    member_id: str,
    readable: list[tuple[TopicState, int]],
    request: dict,
    read_committed: bool,
) -> dict:
    """One pass acquiring records from each readable partition, within MaxBytes and MaxRecords."""
    entries: dict = {}
    budget, records_left = request["max_bytes"], request["max_records"]
    for state, partition in readable:
        if budget <= 0 or records_left <= 0:
            break
        try:
            region, acquired = manager.acquire(
                group_id, member_id, state, partition, budget, records_left, read_committed
            )
        except KafkaError as exc:
            entries.setdefault(state.topic_id, {})[partition] = {"partition_index": partition, "error_code": exc.code}
            continue
        if not acquired:
            continue
        budget -= region.length if region is not None else 0
        records_left -= sum(a.last_offset - a.first_offset + 1 for a in acquired)
        entries.setdefault(state.topic_id, {})[partition] = {
            "partition_index": partition,
            "records": region,
            "acquired_records": [a._asdict() for a in acquired],
        }
    return entries


def _response(ctx: RequestContext, lock_ms: int, *parts: dict) -> dict:
    """The response of the partitions listed in ``parts`` (records, an error, an acknowledgement's outcome,
    or a full fetch's share partitions), merged by topic id and partition."""
    merged: dict = {}
    for part in parts:
        for topic_id, partitions in part.items():
            for index, entry in partitions.items():
                merged.setdefault(topic_id, {}).setdefault(index, {"partition_index": index}).update(entry)
    responses = [
        {
            "topic_id": topic_id,
            "partitions": [
                {"current_leader": leader(ctx), "records": b"", **entry} for _, entry in sorted(partitions.items())
            ],
        }
        for topic_id, partitions in merged.items()
    ]
    return {"error_code": ErrorCode.NONE, "acquisition_lock_timeout_ms": lock_ms, "responses": responses}


@handler(78, 1, 2, acl=((ResourceType.GROUP, AclOperation.READ), (ResourceType.TOPIC, AclOperation.READ)))
async def handle_share_fetch(ctx: RequestContext, request: dict) -> dict:
    if not share_groups_enabled(ctx):
        return ctx.error_response(ErrorCode.UNSUPPORTED_VERSION)
    group_id, member_id, epoch = request["group_id"] or "", request["member_id"] or "", request["share_session_epoch"]
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, group_id):
        return ctx.error_response(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    has_acks = any(p["acknowledgement_batches"] for t in request["topics"] for p in t["partitions"])
    # Kafka 4.3.1 answers both without a message. It refused every ShareFetch with IsRenewAck we tried
    # (with and without acknowledgements, MaxWaitMs 0, MaxRecords 0), before the session epoch moves on.
    if (epoch == INITIAL_EPOCH and has_acks) or request.get("is_renew_ack"):
        return ctx.error_response(ErrorCode.INVALID_REQUEST)
    manager = ctx.broker.share_partitions
    try:
        session = manager.session(group_id, member_id, epoch)
    except KafkaError as exc:
        return ctx.error_response(exc.code, exc.message)
    lock_ms = int(ctx.broker.group_configs.value(group_id, "share.record.lock.duration.ms"))
    acks = acknowledge_topics(ctx, group_id, member_id, request, "acknowledge_error_code")
    if epoch == FINAL_EPOCH:
        manager.close_session(group_id, member_id)
        return _response(ctx, lock_ms, acks)
    _session_partitions(session, request)
    readable, errors = _fetchable(ctx, session)
    # Start at another partition each time, so that one with a backlog does not take every fetch's budget.
    if readable:
        turn = session.epoch % len(readable)
        readable = readable[turn:] + readable[:turn]
    read_committed = ctx.broker.group_configs.value(group_id, "share.isolation.level") == READ_COMMITTED
    deadline = trio.current_time() + max(request["max_wait_ms"], 0) / 1000
    fetched = _acquire_all(manager, group_id, member_id, readable, request, read_committed)
    while not fetched and not errors and readable and trio.current_time() < deadline:
        with trio.move_on_at(deadline):
            await ctx.broker.wait_for_data([state.partitions[p] for state, p in readable])
        if (group_id, member_id) not in manager.sessions:
            break
        fetched = _acquire_all(manager, group_id, member_id, readable, request, read_committed)
    # A full fetch (the epoch that opened the session) answers every requested share partition that
    # exists, as Kafka 4.3.1's full share fetch context does; incremental ones only what changed.
    listed = {}
    if epoch == INITIAL_EPOCH:
        for state, partition in readable:
            if (group_id, state.topic_id, partition) in manager.partitions:
                listed.setdefault(state.topic_id, {})[partition] = {}
    return _response(ctx, lock_ms, listed, acks, errors, fetched)
