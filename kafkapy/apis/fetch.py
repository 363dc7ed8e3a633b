"""Fetch (key 1), versions 4-18: reads record batches, long-polling until Kafka would answer or max_wait_ms.

v0-v3: not served (v4 is the oldest that Apache Kafka 4 and current clients use).
v4: isolation level: read_committed serves up to the last stable offset, with the aborted
    transactions of the fetched range (from the .txnindex files) so clients drop their records.
v5: log start offset.  v6: same as v5.
v7: fetch sessions; this broker answers every fetch as sessionless (session id 0), which clients
    handle by sending full fetches. An incremental fetch (an epoch other than 0 or -1) names a session
    this broker never created: FETCH_SESSION_ID_NOT_FOUND, as Kafka answers an unknown session.
v8-v10: same as v7.  v11: rack id and preferred read replica (always -1).
v12: flexible; diverging epoch, current leader, snapshot id (tagged, not sent).
v13: topics addressed by topic id.  v14: same as v13.  v15: replica state instead of replica id.
v16: node endpoints (tagged, not sent).  v17: replica directory id.  v18: high watermark of followers.
Record bytes go out with os.sendfile straight from the segment file.
"""

from __future__ import annotations

from typing import NamedTuple

import trio

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import find_topic, resolve_topic
from kafkapy.apis.offset_for_leader_epoch import current_leader_epoch_error
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log import Log
from kafkapy.storage.log_manager import TopicState

READ_COMMITTED = 1


class _Read(NamedTuple):
    """One pass over the requested partitions."""

    responses: list[dict]
    # Record bytes read (Kafka's bytesReadable).
    total: int
    # Some partition answered an error: Kafka answers at once.
    failed: bool
    # The partitions read without error, with what was asked of each, for the readiness check.
    read: list[tuple[Log, dict]]


def _partition_response(
    state: TopicState | None, unknown: ErrorCode, partition: dict, budget: int, first: bool, read_committed: bool
) -> tuple[dict, int, Log | None]:
    """Read one partition; returns its response entry, how many record bytes it holds and its log (None on error)."""
    index = partition["partition"]
    # Kafka sends empty (not null) records with an error too; librdkafka rejects null ones.
    entry = {
        "partition_index": index,
        "high_watermark": -1,
        "last_stable_offset": -1,
        "log_start_offset": -1,
        "records": b"",
    }
    if state is None or not 0 <= index < len(state.partitions):
        entry["error_code"] = unknown if state is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return entry, 0, None
    # v9+; Kafka's Fetch takes any negative epoch for "unknown" (4.3.1 answers -5 with no error).
    epoch_error = current_leader_epoch_error(max(partition.get("current_leader_epoch", -1), -1))
    if epoch_error is not None:
        entry["error_code"] = epoch_error
        return entry, 0, None
    log = state.partitions[index]
    hw = log.high_watermark
    lso = log.last_stable_offset
    entry.update(
        error_code=ErrorCode.NONE, high_watermark=hw, last_stable_offset=lso, log_start_offset=log.log_start_offset
    )
    limit = min(partition["partition_max_bytes"], budget)
    fetch_offset = partition["fetch_offset"]
    try:
        region = log.read(fetch_offset, limit, min_one_batch=first, max_offset=lso if read_committed else hw)
    except KafkaError as exc:
        entry["error_code"] = exc.code
        return entry, 0, None
    entry["records"] = region if region is not None else b""
    if read_committed:
        aborted = log.aborted_transactions(fetch_offset, lso) if region is not None else []
        entry["aborted_transactions"] = [
            {"producer_id": a.producer_id, "first_offset": a.first_offset} for a in aborted
        ]
    return entry, (region.length if region is not None else 0), log


def _read(ctx: RequestContext, request: dict, read_committed: bool) -> _Read:
    """One pass over the requested partitions, each read from the one segment holding its fetch offset."""
    budget = request["max_bytes"]
    total = 0
    failed = False
    responses = []
    read = []
    for topic in request["topics"]:
        name = topic.get("topic")
        state, unknown = resolve_topic(ctx, name, topic.get("topic_id"), AclOperation.READ)
        partitions = []
        for partition in topic["partitions"]:
            entry, size, log = _partition_response(
                state, unknown, partition, budget - total, total == 0, read_committed
            )
            failed = failed or entry["error_code"] != ErrorCode.NONE
            if log is not None:
                read.append((log, partition))
            total += size
            partitions.append(entry)
        responses.append({"topic": name, "topic_id": topic.get("topic_id"), "partitions": partitions})
    return _Read(responses, total, failed, read)


def _ready(read: _Read, min_bytes: int, read_committed: bool) -> bool:
    """Whether the fetch is answered now (Kafka's ReplicaManager.fetchMessages, then DelayedFetch.tryComplete).

    At once with min_bytes read or an error. Otherwise Kafka's DelayedFetch looks at where each fetch
    offset lies against the high watermark (the LSO for read_committed): a fetch offset past it, or in an
    older segment than it, completes the fetch, because a read stops at the end of its segment and waiting
    would not make that response grow (a consumer catching up over closed segments must not pay max_wait_ms
    per segment); on the same segment, the bytes between the two, up to partition_max_bytes, count towards
    min_bytes.
    """
    if read.failed or read.total >= min_bytes:
        return True
    available = 0
    for log, partition in read.read:
        end_offset = log.last_stable_offset if read_committed else log.high_watermark
        fetch_offset = partition["fetch_offset"]
        if fetch_offset > end_offset:
            return True
        if fetch_offset == end_offset:
            continue
        fetch_at, end_at = log.offset_metadata(fetch_offset), log.offset_metadata(end_offset)
        if fetch_at.segment_base_offset < end_at.segment_base_offset:
            return True
        available += min(end_at.position - fetch_at.position, partition["partition_max_bytes"])
    return available >= min_bytes


def _fetched_logs(ctx: RequestContext, request: dict) -> list[Log]:
    """The existing partition logs a fetch reads: an append to one of them ends its long poll."""
    logs = []
    for topic in request["topics"]:
        state = find_topic(ctx, topic.get("topic"), topic.get("topic_id"))
        if state is not None:
            logs.extend(
                state.partitions[p["partition"]]
                for p in topic["partitions"]
                if 0 <= p["partition"] < len(state.partitions)
            )
    return logs


# Kafka's FetchMetadata.INITIAL_EPOCH and FINAL_EPOCH: the epochs of a full (sessionless) fetch.
FULL_FETCH_EPOCHS = (0, -1)


@handler(1, 4, 18, acl=((ResourceType.TOPIC, AclOperation.READ),))
async def handle_fetch(ctx: RequestContext, request: dict) -> dict:
    if request.get("session_epoch", -1) not in FULL_FETCH_EPOCHS:
        return {"error_code": ErrorCode.FETCH_SESSION_ID_NOT_FOUND, "session_id": 0, "responses": []}
    deadline = trio.current_time() + max(request["max_wait_ms"], 0) / 1000
    # Kafka's KafkaApis caps min_bytes at the response's max_bytes: a response that cannot grow is ready.
    min_bytes = min(request["min_bytes"], request["max_bytes"])
    read_committed = request.get("isolation_level", 0) == READ_COMMITTED
    read = _read(ctx, request, read_committed)
    # Like Kafka's ReplicaManager, a fetch of no partitions (a session being closed) is not held.
    watched = _fetched_logs(ctx, request) if not _ready(read, min_bytes, read_committed) else []
    while watched and trio.current_time() < deadline:
        with trio.move_on_at(deadline):
            await ctx.broker.wait_for_data(watched)
        read = _read(ctx, request, read_committed)
        if _ready(read, min_bytes, read_committed):
            break
    return {"error_code": ErrorCode.NONE, "session_id": 0, "responses": read.responses}
