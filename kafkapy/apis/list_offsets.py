"""ListOffsets (key 2), versions 1-11: offsets by timestamp, earliest, latest and max timestamp.

v0: not served (old-style offset lists; Apache Kafka 4 dropped it).
v1: one offset and its timestamp per partition.  v2: isolation level (latest is the last stable
offset for read_committed).  v3: same as v2.
v4: current leader epoch in, leader epoch out.  v5: same as v4.  v6: flexible.
v7: max timestamp (-3).  v8: earliest local (-4, same as earliest here: no tiered storage).
v9: earliest pending upload (-5; nothing is ever uploaded, so no offset).  v10: timeout_ms.
v11: same as v10.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log import Log

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
EARLIEST_PENDING_UPLOAD = -5
LATEST_TIERED = -6
READ_COMMITTED = 1


def _lookup(log: Log, timestamp: int, read_committed: bool) -> tuple[int, int]:
    """(offset, timestamp) answering one partition's query; (-1, -1) when there is none."""
    if timestamp == LATEST:
        return (log.last_stable_offset if read_committed else log.high_watermark), -1
    if timestamp in (EARLIEST, EARLIEST_LOCAL):
        return log.log_start_offset, -1
    if timestamp == MAX_TIMESTAMP:
        latest_max = log.max_timestamp_and_offset()
        return (latest_max.offset, latest_max.timestamp) if latest_max is not None else (-1, -1)
    if timestamp in (EARLIEST_PENDING_UPLOAD, LATEST_TIERED):
        return -1, -1
    found = log.offset_for_timestamp(timestamp)
    return (found.offset, found.timestamp) if found is not None else (-1, -1)


def _partition(ctx: RequestContext, topic: str, partition: dict, read_committed: bool, authorized: bool) -> dict:
    index = partition["partition_index"]
    entry = {"partition_index": index, "error_code": ErrorCode.NONE}
    if not authorized:
        entry["error_code"] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        return entry
    try:
        log = ctx.broker.partition(topic, index)
    except KafkaError as exc:
        entry["error_code"] = exc.code
        return entry
    offset, timestamp = _lookup(log, partition["timestamp"], read_committed)
    entry.update(offset=offset, timestamp=timestamp, leader_epoch=0 if offset >= 0 else -1)
    return entry


@handler(2, 1, 11, acl=((ResourceType.TOPIC, AclOperation.DESCRIBE),))
async def handle_list_offsets(ctx: RequestContext, request: dict) -> dict:
    read_committed = request.get("isolation_level", 0) == READ_COMMITTED
    return {
        "topics": [
            {
                "name": topic["name"],
                "partitions": [
                    _partition(ctx, topic["name"], p, read_committed, authorized) for p in topic["partitions"]
                ],
            }
            for topic in request["topics"]
            for authorized in [ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, topic["name"])]
        ]
    }
