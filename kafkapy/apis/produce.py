"""Produce (key 0), versions 3-13: appends record batches to partitions.

v0-v2: not served (magic v0/v1 message sets; Apache Kafka 4 dropped them too).
v3: magic v2 record batches, transactional id; a transactional batch is only accepted from its id's
    producer and epoch (else INVALID_PRODUCER_ID_MAPPING, INVALID_PRODUCER_EPOCH) for a partition of its
    ongoing transaction (Kafka's transaction verification, KIP-890), else INVALID_TXN_STATE.
v4: same as v3.  v5: log start offset.  v6-v7: same as v5.
v8: record errors and error message.  v9: flexible.
v10: current leader and node endpoints (tagged; not sent, there is one broker).
v11: a partition outside the ongoing transaction gets TRANSACTION_ABORTABLE (KIP-890).
v12: transaction version 2 (KIP-890): a transactional batch adds its partition to the ongoing transaction.
v13: topics addressed by topic id.
Internal topics (__consumer_offsets, __transaction_state) are written by the coordinators only: a
client's batch gets INVALID_TOPIC_EXCEPTION, as from Kafka, and Produce never auto-creates them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

import trio

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import CloseConnection, RequestContext, handler
from kafkapy.apis._common import may_create_topic, resolve_topic
from kafkapy.coordinator.internal_topics import is_internal
from kafkapy.logging_setup import RateLimitedLog
from kafkapy.protocol.common import TopicPartition
from kafkapy.protocol.compression import UndecodableRecords
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import BatchHeader, check_records, validate_batches
from kafkapy.storage.log_validator import check_batch_sizes, check_client_batch, inspect_records

VALID_ACKS = (0, 1, -1)
# The first Produce version of transaction version 2 (KIP-890; Kafka's
# AddPartitionsToTxnManager.produceRequestVersionToTransactionSupportedOperation).
TV2_VERSION = 12
# Records up to this size (inflated) are checked on the event loop, a few ms at most; larger or
# bomb batches are walked again in a worker thread, so other connections keep being served.
INLINE_RECORDS_BYTES = 2 * 1024 * 1024

T = TypeVar("T")
# Kafka logs the batches it cannot decompress; a client repeating one must not grow the log unbounded.
unreadable_log = RateLimitedLog(logging.getLogger("kafkapy.server"))


def _partition_error(ctx: RequestContext, index: int, code: ErrorCode, message: str | None = None) -> dict:
    """A partition's error, as the request's version carries it (the door never walks Produce answers)."""
    code, message = ctx.versioned_error(code, message)
    return {"index": index, "error_code": code, "base_offset": -1, "error_message": message}


async def _off_loop(inline: bool, work: Callable[[], T]) -> T:
    """Run CPU-bound ``work`` here when ``inline``, else in a worker thread (it holds no broker state)."""
    return work() if inline else await trio.to_thread.run_sync(work)


async def _check_records(records: memoryview | bytes, headers: list[BatchHeader], max_bytes: int) -> None:
    """Walk the records (check_records), bounding what they inflate to by socket.request.max.bytes.

    Kafka accepts no request larger, so no batch a client could also send uncompressed inflates
    past it; a bomb is refused after that much work, and only a worker thread does more than
    INLINE_RECORDS_BYTES of it.
    """
    if all(header.size <= INLINE_RECORDS_BYTES for header in headers):
        try:
            check_records(records, headers, max_uncompressed_bytes=min(max_bytes, INLINE_RECORDS_BYTES))
            return
        except KafkaError as exc:
            if exc.code != ErrorCode.MESSAGE_TOO_LARGE or max_bytes <= INLINE_RECORDS_BYTES:
                raise
    await trio.to_thread.run_sync(functools.partial(check_records, records, headers, max_uncompressed_bytes=max_bytes))


def _verify_transaction(
    ctx: RequestContext, txn_id: str | None, header: BatchHeader, partition: TopicPartition
) -> None:
    """The coordinator's verification of a transactional batch; v12+ adds the partition to the transaction
    (transaction version 2). Errors come in the newest vocabulary; the specs' error lines map them down
    for older versions (TRANSACTION_ABORTABLE is INVALID_TXN_STATE before v11)."""
    ctx.broker.transactions.verify_produce(
        txn_id, header.producer_id, header.producer_epoch, partition, implicit_add=ctx.version >= TV2_VERSION
    )


async def _append(ctx: RequestContext, topic: str, partition: dict, transactional_id: str | None) -> dict:
    """Validate and append one partition's records; the partition's response entry."""
    index = partition["index"]
    records = partition["records"]
    try:
        log = ctx.broker.partition(topic, index)
        if is_internal(topic):
            # Kafka's ReplicaManager check: a record there would be loaded by a coordinator at start-up.
            raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot append to internal topic {topic}")
        if not records:
            # Kafka's ProduceRequest.validateRecords: at least one batch; KafkaApis sends its error without
            # the message.
            raise KafkaError(ErrorCode.INVALID_RECORD)
        headers = validate_batches(records)
        if len(headers) != 1:
            # Since Produce v3 (magic v2) Kafka takes exactly one batch per partition (validateRecords).
            raise KafkaError(ErrorCode.INVALID_RECORD)
        header = headers[0]
        check_client_batch(header)
        check_batch_sizes(headers, log.config)
        await _check_records(records, headers, ctx.broker.config.socket_request_max_bytes)
        # Offsets are patched in place: a writable view into the request frame needs no copy.
        writable = isinstance(records, memoryview) and not records.readonly
        buf = records if writable else bytearray(records)
        now = ctx.broker.clock.wall_ms()
        inspected = log.config.inspects_records
        if inspected:
            # Decoding every record (keys, timestamps, recompression) goes off the loop when compressed.
            inspect = functools.partial(inspect_records, buf, headers, log.config, now, partition=log.dir.name)
            buf, headers = await _off_loop(header.compression == 0 and header.size <= INLINE_RECORDS_BYTES, inspect)
        if header.is_transactional:
            _verify_transaction(ctx, transactional_id, header, (topic, index))
        info = log.append(buf, headers, now_ms=now, inspected=inspected)
    except UndecodableRecords as exc:
        # Kafka 4.3.1's LogValidator fails on such data with an unexpected exception, logged: the client
        # gets UNKNOWN_SERVER_ERROR without a message (and the log start offset), which it does not
        # retry (CORRUPT_MESSAGE would be retried until delivery.timeout.ms).
        unreadable_log.warning("undecodable compressed records", topic=topic, partition=index, reason=exc.message)
        error = _partition_error(ctx, index, ErrorCode.UNKNOWN_SERVER_ERROR)
        return {**error, "log_start_offset": log.log_start_offset}
    except KafkaError as exc:
        return _partition_error(ctx, index, exc.code, exc.message)
    return {
        "index": index,
        "error_code": ErrorCode.NONE,
        "base_offset": info.first_offset,
        "log_append_time_ms": info.log_append_time_ms,
        "log_start_offset": info.log_start_offset,
    }


def _may_auto_create(ctx: RequestContext, name: str) -> bool:
    """kafkapy's Produce creates a missing topic (Kafka 4 leaves that to Metadata) under Metadata's
    rule: never an internal one, and only for a principal who may create it."""
    if is_internal(name) or name in ctx.broker.logs.topics:
        return False
    return ctx.broker.config.auto_create_topics_enable and may_create_topic(ctx, name)


async def _topic_response(ctx: RequestContext, topic: dict, acks: int, transactional_id: str | None) -> dict:
    name = topic.get("name")
    topic_id = topic.get("topic_id")
    partitions = topic["partition_data"]
    if name is None:
        state, code = resolve_topic(ctx, None, topic_id, AclOperation.WRITE)
        name = state.name if state is not None else None
    elif not ctx.authorize(AclOperation.WRITE, ResourceType.TOPIC, name):
        code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
    else:
        try:
            state = ctx.broker.topic(name, auto_create=acks in VALID_ACKS and _may_auto_create(ctx, name))
            code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if state is None else ErrorCode.NONE
        except KafkaError as exc:
            code = exc.code
    if code == ErrorCode.NONE and acks not in VALID_ACKS:
        # Kafka's KafkaApis answers a missing topic before ReplicaManager looks at acks.
        code = ErrorCode.INVALID_REQUIRED_ACKS
    if code != ErrorCode.NONE or name is None:
        results = [_partition_error(ctx, p["index"], code) for p in partitions]
    else:
        results = [await _append(ctx, name, p, transactional_id) for p in partitions]
    return {"name": topic.get("name"), "topic_id": topic_id, "partition_responses": results}


@handler(
    0, 3, 13,
    acl=(
        (ResourceType.TRANSACTIONAL_ID, AclOperation.WRITE),
        (ResourceType.TOPIC, AclOperation.WRITE),
        (ResourceType.CLUSTER, AclOperation.CREATE),
        (ResourceType.TOPIC, AclOperation.CREATE),
    ),
    maps_errors=True,
)
async def handle_produce(ctx: RequestContext, request: dict) -> dict | None:
    acks = request["acks"]
    txn_id = request.get("transactional_id")
    if txn_id is not None and not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        if acks == 0:
            raise CloseConnection("acks=0 produce with an unauthorized transactional id")
        return ctx.error_response(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    responses = [await _topic_response(ctx, topic, acks, txn_id) for topic in request["topic_data"]]
    if acks == 0:
        if any(p["error_code"] for t in responses for p in t["partition_responses"]):
            # An acks=0 producer reads no response; Kafka closes the connection so the client
            # notices the error and refreshes its metadata.
            raise CloseConnection("acks=0 produce failed")
        return None
    return {"responses": responses}
