"""``kafkapy produce`` and ``kafkapy consume``: quick pokes from a terminal, like the console scripts."""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import RecordTuple, build_batch, decode_records
from kafkapy.protocol.specs import ApiKey
from kafkapy.tools import ToolError

EARLIEST, LATEST = -2, -1
# Kafka's codec names, in the order of their ids in a batch's attributes.
COMPRESSION_CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
# kafka-console-producer's defaults: --timeout (its linger.ms) 1000 ms and --batch-size 16384 bytes.
DEFAULT_LINGER_MS = 1000
DEFAULT_BATCH_SIZE = 16384
# Lines read ahead of the batches being sent: stdin is read no faster than the broker takes it.
LINES_AHEAD = 1000
# How long Ctrl-C waits for a line the reader thread has taken from stdin but not yet queued: the
# thread needs a scheduler slot to queue it, which a loaded machine can take 100+ ms to give.
INTERRUPT_GRACE_S = 0.5
# Bytes of stdin read at a time.
READ_CHUNK = 64 * 1024
# A topic the producer's first Metadata auto-creates is answered "not yet" (by Kafka and kafkapy alike):
# kafka-console-producer asks again every retry.backoff.ms (100) for up to max.block.ms (60 s).
AUTO_CREATE_BACKOFF_S = 0.1
AUTO_CREATE_WAIT_S = 60.0
# A v2 record's framing beyond key and value (length, attributes, deltas, header count): at most this.
RECORD_OVERHEAD = 21


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


def _partition_count(client: WireClient, topic: str, *, create: bool) -> int:
    """How many partitions ``topic`` has; ToolError if it does not exist (and is not auto-created)."""
    body = {"topics": [{"name": topic}], "allow_auto_topic_creation": create}
    meta = client.request(ApiKey.METADATA, 12, body).topics[0]
    deadline = time.monotonic() + AUTO_CREATE_WAIT_S
    while create and meta.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION and time.monotonic() < deadline:
        time.sleep(AUTO_CREATE_BACKOFF_S)
        meta = client.request(ApiKey.METADATA, 12, body).topics[0]
    if meta.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
        raise ToolError(f"topic '{topic}' does not exist")
    if meta.error_code != ErrorCode.NONE:
        raise KafkaError(ErrorCode(meta.error_code), topic)
    return len(meta.partitions)


def _check_partition(topic: str, partition: int | None, count: int) -> None:
    if partition is not None and not 0 <= partition < count:
        raise ToolError(f"topic '{topic}' has no partition {partition} (it has {count}: 0-{count - 1})")


def _read_lines(fd: int, lines: queue.Queue[bytes | None]) -> None:
    """Queue each line read from ``fd`` as it arrives, without its line ending; None at EOF.

    Plain ``os.read`` rather than ``sys.stdin``: this thread may still be waiting in a read when the
    tool exits (Ctrl-C, an error), and Python aborts at exit on a buffered stdin another thread holds.
    """
    partial: list[bytes] = []
    while chunk := os.read(fd, READ_CHUNK):
        *complete, rest = chunk.split(b"\n")
        if complete:
            complete[0] = b"".join([*partial, complete[0]])
            partial = []
            for line in complete:
                lines.put(line.removesuffix(b"\r"))
        partial.append(rest)
    last = b"".join(partial)
    if last:
        lines.put(last.removesuffix(b"\r"))
    lines.put(None)


class _Batches:
    """Records waiting to be produced, one batch per partition.

    A batch goes out ``linger_ms`` after its first record at the latest, or as soon as it holds
    ``batch_size`` bytes; a record larger than that goes alone (kafka-console-producer's linger.ms
    and batch.size). A record the topic refuses as too large is reported by line and skipped.
    """

    def __init__(self, client: WireClient, args: argparse.Namespace) -> None:
        self.client = client
        self.topic = args.topic
        self.compression = COMPRESSION_CODECS.index(args.compression)
        self.linger_s = max(args.linger_ms, 0) / 1000
        self.batch_size = max(args.batch_size, 1)
        # partition -> [(line number, record)] and the bytes they hold.
        self.pending: dict[int, list[tuple[int, RecordTuple]]] = {}
        self.sizes: dict[int, int] = {}
        self.send_by: float | None = None
        self.sent = 0
        self.failed = 0

    def add(self, partition: int, line: int, key: bytes | None, value: bytes) -> None:
        size = len(value) + len(key or b"") + RECORD_OVERHEAD
        if self.sizes.get(partition, 0) and self.sizes[partition] + size > self.batch_size:
            self.send()
        self.pending.setdefault(partition, []).append((line, (key, value, [], None)))
        self.sizes[partition] = self.sizes.get(partition, 0) + size
        if self.send_by is None:
            self.send_by = time.monotonic() + self.linger_s
        if self.sizes[partition] >= self.batch_size:
            self.send()

    def wait_s(self) -> float | None:
        """Seconds until the lingering batches are due; None when nothing is waiting."""
        return None if self.send_by is None else max(self.send_by - time.monotonic(), 0)

    def send(self) -> None:
        """Produce every waiting batch in one request (acks=all)."""
        if not self.pending:
            return
        pending, self.pending, self.sizes, self.send_by = self.pending, {}, {}, None
        self._produce(pending)

    def _produce(self, pending: dict[int, list[tuple[int, RecordTuple]]]) -> None:
        """One Produce request of a batch per partition; a batch refused as too large is split.

        Like the Java producer, which splits a batch the broker finds too large (a topic's
        max.message.bytes below --batch-size) and resends the parts: here each record alone, so
        only a record that is itself too large is reported, by its line.
        """
        data = [
            {"index": p, "records": build_batch([r for _, r in records], compression=self.compression)}
            for p, records in sorted(pending.items())
        ]
        body = {"acks": -1, "timeout_ms": 30000, "topic_data": [{"name": self.topic, "partition_data": data}]}
        for part in self.client.request(ApiKey.PRODUCE, 9, body).responses[0].partition_responses:
            records = pending[part.index]
            if part.error_code == ErrorCode.NONE:
                self.sent += len(records)
            elif part.error_code not in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE):
                raise KafkaError(ErrorCode(part.error_code), part.error_message or f"{self.topic}-{part.index}")
            elif len(records) > 1:
                for record in records:
                    self._produce({part.index: [record]})
            else:
                self.failed += 1
                print(f"kafkapy: {self._too_large(records[0], part.index)}", file=sys.stderr)

    def _too_large(self, record: tuple[int, RecordTuple], partition: int) -> str:
        line, (key, value, _, _) = record
        size = len(value) + len(key or b"")
        where = f"to {self.topic}-{partition}, not sent: larger than the topic's max.message.bytes"
        return f"line {line} ({size} bytes) {where}"


def produce(client: WireClient, args: argparse.Namespace) -> None:
    """One record per stdin line, sent as lines arrive; ``KEY<sep>VALUE`` with --key-separator."""
    partitions = _partition_count(client, args.topic, create=True)
    _check_partition(args.topic, args.partition, partitions)
    lines: queue.Queue[bytes | None] = queue.Queue(maxsize=LINES_AHEAD)
    threading.Thread(target=_read_lines, args=(sys.stdin.fileno(), lines), daemon=True).start()
    batches = _Batches(client, args)
    records = _LineRecords(args, partitions)
    try:
        while (line := _next_line(lines, batches)) is not None:
            batches.add(*records.of(line))
    except KeyboardInterrupt:
        # What was read before Ctrl-C is sent, as kafka-console-producer flushes on its way out;
        # a line the reader has just taken from the pipe gets a moment to arrive.
        with contextlib.suppress(queue.Empty):
            while (line := lines.get(timeout=INTERRUPT_GRACE_S)) is not None:
                batches.add(*records.of(line))
        batches.send()
        raise
    batches.send()
    if batches.failed:
        raise ToolError(f"{batches.failed} of {records.number} records not sent")


def _next_line(lines: queue.Queue[bytes | None], batches: _Batches) -> bytes | None:
    """The next stdin line (None at EOF), sending the batches whose linger time passes meanwhile."""
    while True:
        try:
            return lines.get(timeout=batches.wait_s())
        except queue.Empty:
            batches.send()


class _LineRecords:
    """Stdin lines as (partition, line number, key, value), partitioned like Kafka's producer."""

    def __init__(self, args: argparse.Namespace, partitions: int) -> None:
        self.separator = args.key_separator.encode() if args.key_separator else None
        self.partition = args.partition
        self.partitions = partitions
        self.number = 0

    def of(self, line: bytes) -> tuple[int, int, bytes | None, bytes]:
        self.number += 1
        key = None
        value = line
        if self.separator and self.separator in line:
            key, value = line.split(self.separator, 1)
        if self.partition is not None:
            partition = self.partition
        elif key is not None:
            partition = murmur2_partition(key, self.partitions)
        else:
            partition = (self.number - 1) % self.partitions
        return partition, self.number, key, value


def _start_offsets(client: WireClient, topic: str, partitions: list[int], timestamp: int) -> dict[int, int]:
    parts = [{"partition_index": p, "timestamp": timestamp} for p in partitions]
    response = client.request(
        ApiKey.LIST_OFFSETS, 7, {"replica_id": -1, "topics": [{"name": topic, "partitions": parts}]}
    )
    return {p.partition_index: p.offset for p in response.topics[0].partitions}


def consume(client: WireClient, args: argparse.Namespace) -> None:
    """Print records (``key<sep>value`` with --print-key) as they arrive, like kafka-console-consumer.

    Runs until Ctrl-C, --max-messages or --timeout-ms without a record, then says how many it
    printed on stderr ("Processed a total of N messages").
    """
    count = _partition_count(client, args.topic, create=False)
    _check_partition(args.topic, args.partition, count)
    partitions = [args.partition] if args.partition is not None else list(range(count))
    positions = _start_offsets(client, args.topic, partitions, EARLIEST if args.from_beginning else LATEST)
    if not args.from_beginning:
        print(
            f"kafkapy: waiting for new records of {args.topic} (--from-beginning prints those already there)",
            file=sys.stderr,
        )
    elif positions == _start_offsets(client, args.topic, partitions, LATEST):
        # Otherwise an empty topic (or a producer writing elsewhere) looks like a hung consumer.
        print(f"kafkapy: {args.topic} holds no records yet; waiting for new ones", file=sys.stderr)
    count = _Count()
    try:
        _print_records(client, args, positions, count)
    finally:
        # Also on Ctrl-C, as kafka-console-consumer says it on its way out.
        print(f"Processed a total of {count.printed} messages", file=sys.stderr)


@dataclass
class _Count:
    """Records printed so far, kept where an interrupted ``_print_records`` leaves it."""

    printed: int = 0


def _print_records(client: WireClient, args: argparse.Namespace, positions: dict[int, int], count: _Count) -> None:
    """Fetch from ``positions`` and print until --max-messages or --timeout-ms, counting in ``count``."""
    quiet_s = None if args.timeout_ms is None else args.timeout_ms / 1000
    quiet_until = None if quiet_s is None else time.monotonic() + quiet_s
    out = sys.stdout.buffer
    separator = args.key_separator.encode()
    while quiet_until is None or time.monotonic() < quiet_until:
        parts = [{"partition": p, "fetch_offset": o, "partition_max_bytes": 1 << 20} for p, o in positions.items()]
        body = {"max_wait_ms": 500, "min_bytes": 1, "topics": [{"topic": args.topic, "partitions": parts}]}
        for part in client.request(ApiKey.FETCH, 12, body).responses[0].partitions:
            if part.error_code != ErrorCode.NONE:
                raise KafkaError(ErrorCode(part.error_code), f"{args.topic}-{part.partition_index}")
            for header, records in decode_records(part.records or b""):
                if header.is_control:
                    positions[part.partition_index] = header.next_offset
                    continue
                for record in records:
                    if record.offset < positions[part.partition_index]:
                        continue
                    if args.max_messages is not None and count.printed >= args.max_messages:
                        out.flush()
                        return
                    key = (record.key or b"null") + separator if args.print_key else b""
                    out.write(key + (record.value if record.value is not None else b"null") + b"\n")
                    count.printed += 1
                    positions[part.partition_index] = record.offset + 1
                    if quiet_s is not None:
                        quiet_until = time.monotonic() + quiet_s
        out.flush()
        if args.max_messages is not None and count.printed >= args.max_messages:
            break
