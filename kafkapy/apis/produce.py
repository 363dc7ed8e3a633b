"""Produce (key 0), versions 3-13: appends record batches to partitions.

v0-v2: not served (magic v0/v1 message sets; Apache Kafka 4 dropped them too).
v3: magic v2 record batches, transactional id; a transactional batch is only accepted for a partition
    of its producer's ongoing transaction (Kafka's transaction verification, KIP-890), else INVALID_TXN_STATE.
v4: same as v3.  v5: log start offset.  v6-v7: same as v5.
v8: record errors and error message.  v9: flexible.
v10: current leader and node endpoints (tagged; not sent, there is one broker).
v11-v12: same as v10.  v13: topics addressed by topic id.
Internal topics (__consumer_offsets, __transaction_state) are written by the coordinators only: a
client's batch gets INVALID_TOPIC_EXCEPTION, as from Kafka, and Produce never auto-creates them.
"""

from __future__ import annotations

from kafkapy.apis import CloseConnection, RequestContext, handler
from kafkapy.broker import now_ms
from kafkapy.coordinator.internal_topics import is_internal
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import NO_PRODUCER_ID, validate_batches

VALID_ACKS = (0, 1, -1)


def _partition_error(index: int, code: ErrorCode, message: str | None = None) -> dict:
    return {"index": index, "error_code": code, "base_offset": -1, "error_message": message}


def _append(ctx: RequestContext, topic: str, partition: dict, transactional_id: str | None) -> dict:
    """Validate and append one partition's records; the partition's response entry."""
    index = partition["index"]
    records = partition["records"]
    try:
        log = ctx.broker.partition(topic, index)
        if is_internal(topic):
            # Kafka's ReplicaManager check: a record there would be loaded by a coordinator at start-up.
            raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot append to internal topic {topic}")
        if not records:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "empty records")
        headers = validate_batches(records)
        if len(headers) != 1:
            # Since Produce v3 (magic v2) Kafka takes exactly one batch per partition.
            raise KafkaError(ErrorCode.INVALID_RECORD, f"expected one record batch, got {len(headers)}")
        header = headers[0]
        if header.is_control:
            raise KafkaError(ErrorCode.INVALID_RECORD, "clients may not produce control batches")
        if header.producer_id != NO_PRODUCER_ID and header.base_sequence < 0:
            raise KafkaError(ErrorCode.INVALID_RECORD, f"invalid sequence {header.base_sequence} with a producer id")
        if header.is_transactional:
            ctx.broker.transactions.verify_produce(
                transactional_id, header.producer_id, header.producer_epoch, (topic, index)
            )
        # Offsets are patched in place: a writable view into the request frame needs no copy.
        writable = isinstance(records, memoryview) and not records.readonly
        info = log.append(records if writable else bytearray(records), headers, now_ms=now_ms())
    except KafkaError as exc:
        return _partition_error(index, exc.code, exc.message)
    ctx.broker.after_append(log)
    return {
        "index": index,
        "error_code": ErrorCode.NONE,
        "base_offset": info.first_offset,
        "log_append_time_ms": info.log_append_time_ms,
        "log_start_offset": info.log_start_offset,
    }


def _topic_response(ctx: RequestContext, topic: dict, acks: int, transactional_id: str | None) -> dict:
    name = topic.get("name")
    topic_id = topic.get("topic_id")
    partitions = topic["partition_data"]
    if acks not in VALID_ACKS:
        code = ErrorCode.INVALID_REQUIRED_ACKS
    elif name is None:
        state = ctx.broker.logs.topic_by_id(topic_id)
        code = ErrorCode.UNKNOWN_TOPIC_ID if state is None else ErrorCode.NONE
        name = state.name if state is not None else None
    else:
        try:
            state = ctx.broker.topic(name, auto_create=not is_internal(name))
            code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if state is None else ErrorCode.NONE
        except KafkaError as exc:
            code = exc.code
    if code != ErrorCode.NONE or name is None:
        results = [_partition_error(p["index"], code) for p in partitions]
    else:
        results = [_append(ctx, name, p, transactional_id) for p in partitions]
    return {"name": topic.get("name"), "topic_id": topic_id, "partition_responses": results}


@handler(0, 3, 13)
async def handle_produce(ctx: RequestContext, request: dict) -> dict | None:
    acks = request["acks"]
    txn_id = request.get("transactional_id")
    responses = [_topic_response(ctx, topic, acks, txn_id) for topic in request["topic_data"]]
    if acks == 0:
        if any(p["error_code"] for t in responses for p in t["partition_responses"]):
            # An acks=0 producer reads no response; Kafka closes the connection so the client
            # notices the error and refreshes its metadata.
            raise CloseConnection("acks=0 produce failed")
        return None
    return {"responses": responses}
