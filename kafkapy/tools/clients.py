"""``kafkapy produce`` and ``kafkapy consume``: quick pokes from a terminal, like the console scripts."""

from __future__ import annotations

import argparse
import sys
import time

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import build_batch, decode_records
from kafkapy.testing.wire import WireClient

EARLIEST, LATEST = -2, -1


def murmur2_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner for keyed records: murmur2(key), made positive, modulo partitions."""
    m, r = 0x5BD1E995, 24
    length = len(key)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = length % 4
    if tail:
        for i in range(tail - 1, -1, -1):
            h ^= key[length - tail + i] << (8 * i)
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def _partition_count(client: WireClient, topic: str) -> int:
    meta = client.request(3, 12, {"topics": [{"name": topic}], "allow_auto_topic_creation": True}).topics[0]
    if meta.error_code != ErrorCode.NONE:
        raise KafkaError(ErrorCode(meta.error_code), topic)
    return len(meta.partitions)


def produce(client: WireClient, args: argparse.Namespace) -> None:
    """One record per stdin line; ``KEY<sep>VALUE`` with --key-separator."""
    partitions = _partition_count(client, args.topic)
    by_partition: dict[int, list] = {}
    for n, line in enumerate(sys.stdin.buffer.read().splitlines()):
        key = None
        value = line
        if args.key_separator and args.key_separator.encode() in line:
            key, value = line.split(args.key_separator.encode(), 1)
        if args.partition is not None:
            partition = args.partition
        else:
            partition = murmur2_partition(key, partitions) if key is not None else n % partitions
        by_partition.setdefault(partition, []).append((key, value, [], None))
    data = [
        {"index": p, "records": build_batch(records, compression=args.compression)}
        for p, records in sorted(by_partition.items())
    ]
    if not data:
        return
    body = {"acks": -1, "timeout_ms": 30000, "topic_data": [{"name": args.topic, "partition_data": data}]}
    for part in client.request(0, 9, body).responses[0].partition_responses:
        if part.error_code != ErrorCode.NONE:
            raise KafkaError(ErrorCode(part.error_code), part.error_message)


def _start_offsets(client: WireClient, topic: str, partitions: list[int], timestamp: int) -> dict[int, int]:
    parts = [{"partition_index": p, "timestamp": timestamp} for p in partitions]
    response = client.request(2, 7, {"replica_id": -1, "topics": [{"name": topic, "partitions": parts}]})
    return {p.partition_index: p.offset for p in response.topics[0].partitions}


def consume(client: WireClient, args: argparse.Namespace) -> None:
    """Print records (``key<sep>value`` with --print-key) until --max-messages or --timeout-ms of quiet."""
    count = _partition_count(client, args.topic)
    partitions = [args.partition] if args.partition is not None else list(range(count))
    positions = _start_offsets(client, args.topic, partitions, EARLIEST if args.from_beginning else LATEST)
    printed = 0
    quiet_until = time.monotonic() + args.timeout_ms / 1000
    out = sys.stdout.buffer
    while time.monotonic() < quiet_until and (args.max_messages is None or printed < args.max_messages):
        parts = [{"partition": p, "fetch_offset": o, "partition_max_bytes": 1 << 20} for p, o in positions.items()]
        body = {"max_wait_ms": 500, "min_bytes": 1, "topics": [{"topic": args.topic, "partitions": parts}]}
        for part in client.request(1, 12, body).responses[0].partitions:
            for header, records in decode_records(part.records or b""):
                if header.is_control:
                    positions[part.partition_index] = header.next_offset
                    continue
                for record in records:
                    if record.offset < positions[part.partition_index]:
                        continue
                    if args.max_messages is not None and printed >= args.max_messages:
                        break
                    key = (record.key or b"null") + args.key_separator.encode() if args.print_key else b""
                    out.write(key + (record.value if record.value is not None else b"null") + b"\n")
                    printed += 1
                    positions[part.partition_index] = record.offset + 1
                    quiet_until = time.monotonic() + args.timeout_ms / 1000
    out.flush()
