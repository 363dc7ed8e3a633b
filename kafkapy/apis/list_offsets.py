"""ListOffsets (key 2), versions 1-11: offsets by timestamp, earliest, latest and max timestamp.

v0: not served (old-style offset lists; Apache Kafka 4 dropped it).
v1: one offset and its timestamp per partition.  v2: isolation level (latest is the last stable
offset for read_committed).  v3: same as v2.
v4: current leader epoch in, leader epoch out.  v5: same as v4.  v6: flexible.
v7: max timestamp (-3).  v8: earliest local (-4, same as earliest here: no tiered storage).
v9: earliest pending upload (-5; nothing is ever uploaded, so no offset).  v10: timeout_ms.
v11: same as v10.
A special (negative) timestamp older than the version that defines it, or one no version defines, is
UNSUPPORTED_VERSION; a current leader epoch other than 0 or -1 is fenced (offset_for_leader_epoch);
a partition asked for twice is INVALID_REQUEST (Kafka answers it once, kafkapy at each place).
"""

from __future__ import annotations

from collections import Counter

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis.offset_for_leader_epoch import current_leader_epoch_error
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log import Log

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
EARLIEST_PENDING_UPLOAD = -5
LATEST_TIERED = -6
READ_COMMITTED = 1
# The first ListOffsets version that knows each special timestamp (Kafka's ListOffsetsRequest).
SPECIAL_TIMESTAMP_VERSIONS = {
    LATEST: 0,
    EARLIEST: 0,
    MAX_TIMESTAMP: 7,
    EARLIEST_LOCAL: 8,
    EARLIEST_PENDING_UPLOAD: 9,
    LATEST_TIERED: 11,
}


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


def _check_query(ctx: RequestContext, partition: dict) -> None:
    """Raise KafkaError when an existing partition's query cannot be answered, as Kafka checks it."""
    epoch_error = current_leader_epoch_error(partition.get("current_leader_epoch", -1))
    if epoch_error is not None:
        raise KafkaError(epoch_error)
    timestamp = partition["timestamp"]
    if timestamp < 0 and SPECIAL_TIMESTAMP_VERSIONS.get(timestamp, ctx.version + 1) > ctx.version:
        raise KafkaError(ErrorCode.UNSUPPORTED_VERSION)


def _partition(
    ctx: RequestContext, topic: str, partition: dict, read_committed: bool, authorized: bool, duplicated: bool
) -> dict:
    index = partition["partition_index"]
    entry = {"partition_index": index, "error_code": ErrorCode.NONE, "offset": -1, "timestamp": -1, "leader_epoch": -1}
    if not authorized:
        entry["error_code"] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        return entry
    try:
        if duplicated:  # checked first, as Kafka does before it looks for the partition
            raise KafkaError(ErrorCode.INVALID_REQUEST)
        log = ctx.broker.partition(topic, index)
        _check_query(ctx, partition)
    except KafkaError as exc:
        entry["error_code"] = exc.code
        return entry
    offset, timestamp = _lookup(log, partition["timestamp"], read_committed)
    entry.update(offset=offset, timestamp=timestamp, leader_epoch=0 if offset >= 0 else -1)
    return entry


@handler(2, 1, 11, acl=((ResourceType.TOPIC, AclOperation.DESCRIBE),))
async def handle_list_offsets(ctx: RequestContext, request: dict) -> dict:
    read_committed = request.get("isolation_level", 0) == READ_COMMITTED
    asked = Counter((t["name"], p["partition_index"]) for t in request["topics"] for p in t["partitions"])
    return {
        "topics": [
            {
                "name": topic["name"],
                "partitions": [
                    _partition(ctx, topic["name"], p, read_committed, authorized, asked[key] > 1)
                    for p in topic["partitions"]
                    for key in [(topic["name"], p["partition_index"])]
                ],
            }
            for topic in request["topics"]
            for authorized in [ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, topic["name"])]
        ]
    }
