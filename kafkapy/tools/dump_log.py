"""``kafkapy dump-log FILE...``: segment, offset index and time index files, printed like kafka-dump-log.sh.

Lines are Apache Kafka 4's (org.apache.kafka.tools.DumpLogSegments): a batch line, then with
--print-data-log a ``|`` line per record; control records print their marker (``endTxnMarker:
COMMIT coordinatorEpoch: 0``); records of ``__consumer_offsets`` and ``__transaction_state``
print as Kafka's --offsets-decoder and --transaction-log-decoder print them (JSON of the record
key and value, implied for files in those topics' directories).
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crc32c

from kafkapy.coordinator import group_records, transaction_log
from kafkapy.protocol.compression import CompressionType
from kafkapy.protocol.errors import KafkaError
from kafkapy.protocol.records import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    CRC_OFFSET,
    DELETE_HORIZON_FLAG,
    END_TXN_MARKER_VALUE,
    HEADER_SIZE,
    BatchHeader,
    Record,
    decode_records,
    parse_batch_header,
    parse_control_key,
)
from kafkapy.storage.producer_state import last_sequence
from kafkapy.tools import ToolError

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_CONTROL_TYPES = {CONTROL_ABORT: "ABORT", CONTROL_COMMIT: "COMMIT"}
# Record key and value of an internal topic -> the (key, payload) text Kafka's decoder prints.
Decoder = Callable[[bytes | None, bytes | None], tuple[str, str]]


def dump_log(args: argparse.Namespace) -> None:
    for name in args.files:
        print(f"Dumping {name}")
        _dump_file(Path(name), args)


def _dump_file(path: Path, args: argparse.Namespace) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ToolError(f"cannot read {path}: {exc.strerror or exc}") from None
    base = int(path.stem) if path.stem.isdigit() else 0
    if path.suffix == ".index":
        _dump_entries(path, data, _OFFSET_ENTRY, lambda rel, pos: f"offset: {base + rel} position: {pos}")
    elif path.suffix == ".timeindex":
        _dump_entries(path, data, _TIME_ENTRY, lambda ts, rel: f"timestamp: {ts} offset: {base + rel}")
    else:
        _dump_segment(data, base, _decoder(path, args), args.print_data_log)


def _dump_entries(name: Path, data: bytes, entry: struct.Struct, line: Callable[[int, int], str]) -> None:
    """The entries of an index file, up to a partial or all-zero (never written) entry at its end."""
    entries = [entry.unpack_from(data, pos) for pos in range(0, len(data) - entry.size + 1, entry.size)]
    while entries and not any(entries[-1]):
        entries.pop()
    if not entries:
        print(f"{name} is empty.")
    for first, second in entries:
        print(line(first, second))


def _decoder(path: Path, args: argparse.Namespace) -> Decoder | None:
    topic = path.parent.name.rpartition("-")[0]
    if args.offsets_decoder or topic == group_records.OFFSETS_TOPIC:
        return _offsets_record
    if args.transaction_log_decoder or topic == transaction_log.TRANSACTION_STATE_TOPIC:
        return _transaction_record
    return None


def _dump_segment(data: bytes, base: int, decoder: Decoder | None, print_records: bool) -> None:
    print(f"Log starting offset: {base}")
    position = 0
    while position + HEADER_SIZE <= len(data):
        header = parse_batch_header(data, position)
        if position + header.size > len(data):
            print(f"Found {len(data) - position} bytes of a truncated batch at position {position}")
            break
        batch = memoryview(data)[position : position + header.size]
        valid = crc32c.crc32c(batch[CRC_OFFSET + 4 :]) == header.crc
        print(_batch_line(header, position, valid))
        if (print_records or decoder is not None) and valid:
            for _, records in decode_records(batch):
                for record in records:
                    print(_record_line(header, record, decoder))
        position += header.size


def _batch_line(header: BatchHeader, position: int, valid: bool) -> str:
    timestamp_type = "LogAppendTime" if header.log_append_time else "CreateTime"
    last_seq = last_sequence(header) if header.base_sequence >= 0 else -1
    # The delete horizon is the base timestamp of a batch a compaction marked (Kafka's OptionalLong).
    horizon = "OptionalLong.empty"
    if header.attributes & DELETE_HORIZON_FLAG:
        horizon = f"OptionalLong[{header.base_timestamp}]"
    return (
        f"baseOffset: {header.base_offset} lastOffset: {header.last_offset} count: {header.records_count}"
        f" baseSequence: {header.base_sequence} lastSequence: {last_seq}"
        f" producerId: {header.producer_id} producerEpoch: {header.producer_epoch}"
        f" partitionLeaderEpoch: {header.partition_leader_epoch}"
        f" isTransactional: {str(header.is_transactional).lower()}"
        f" isControl: {str(header.is_control).lower()} deleteHorizonMs: {horizon} position: {position}"
        f" {timestamp_type}: {header.max_timestamp} size: {header.size} magic: {header.magic}"
        f" compresscodec: {CompressionType(header.compression).name.lower()}"
        f" crc: {header.crc} isvalid: {str(valid).lower()}"
    )


def _record_line(header: BatchHeader, r: Record, decoder: Decoder | None) -> str:
    timestamp_type = "LogAppendTime" if header.log_append_time else "CreateTime"
    sequence = header.base_sequence + r.offset - header.base_offset if header.base_sequence >= 0 else -1
    line = (
        f"| offset: {r.offset} {timestamp_type}: {r.timestamp}"
        f" keySize: {-1 if r.key is None else len(r.key)} valueSize: {-1 if r.value is None else len(r.value)}"
        f" sequence: {sequence} headerKeys: [{','.join(k for k, _ in r.headers)}]"
    )
    if header.is_control:
        return line + _control_text(r)
    if decoder is not None:
        key, payload = decoder(r.key, r.value)
        return f"{line} key: {key} payload: {payload}"
    if r.key is not None:
        line += f" key: {r.key.decode(errors='replace')}"
    if r.value is not None:
        line += f" payload: {r.value.decode(errors='replace')}"
    return line


def _control_text(r: Record) -> str:
    """`` endTxnMarker: COMMIT coordinatorEpoch: N`` for a transaction marker, else the control type."""
    try:
        _, control_type = parse_control_key(r.key)
    except KafkaError:  # a key too short to hold a control type
        return " controlType: UNKNOWN(-1)"
    name = _CONTROL_TYPES.get(control_type)
    if name is None or r.value is None or len(r.value) < END_TXN_MARKER_VALUE.size:
        return f" controlType: UNKNOWN({control_type})"
    _, coordinator_epoch = END_TXN_MARKER_VALUE.unpack_from(r.value)
    return f" endTxnMarker: {name} coordinatorEpoch: {coordinator_epoch}"


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _json_value(value: Any) -> Any:
    """A decoded record field as Kafka's JsonConverter writes it: camelCase names, bytes in base64."""
    if isinstance(value, dict):
        return {_camel(k): _json_value(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _typed(
    key: bytes, value: bytes | None, key_name: str, value_name: str, decode: Callable[[str, bytes], Any]
) -> tuple[str, str]:
    """The key as ``{"type":"V","data":{...}}``, the value as ``{"version":"V","data":{...}}`` or ``<DELETE>``."""
    (key_version,) = struct.unpack_from(">h", key)
    key_text = _json({"type": str(key_version), "data": _json_value(decode(key_name, key))})
    if value is None:
        return key_text, "<DELETE>"
    (value_version,) = struct.unpack_from(">h", value)
    data = _json_value(decode(value_name, value))
    return key_text, _json({"version": str(value_version), "data": data})


class _Reader:
    """Big-endian reads of the consumer protocol's classic (non-flexible) encoding."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str | None:
        size = self.int(">h")
        if size < 0:
            return None
        self.pos += size
        return self.data[self.pos - size : self.pos].decode()

    def bytes(self) -> str | None:
        size = self.int(">i")
        if size < 0:
            return None
        self.pos += size
        return base64.b64encode(self.data[self.pos - size : self.pos]).decode()

    def array(self, read: Callable[[], Any]) -> list[Any]:
        return [read() for _ in range(max(self.int(">i"), 0))]

    def partitions(self) -> dict[str, Any]:
        return {"topic": self.string(), "partitions": self.array(lambda: self.int(">i"))}


def _subscription(data: bytes) -> dict[str, Any]:
    """ConsumerProtocolSubscription v0-v3 as Kafka's JsonConverter writes it."""
    r = _Reader(data)
    version = r.int(">h")
    out: dict[str, Any] = {"topics": r.array(r.string), "userData": r.bytes()}
    if version >= 1:
        out["ownedPartitions"] = r.array(r.partitions)
    if version >= 2:
        out["generationId"] = r.int(">i")
    if version >= 3:
        out["rackId"] = r.string()
    return out


def _assignment(data: bytes) -> dict[str, Any]:
    """ConsumerProtocolAssignment as Kafka's JsonConverter writes it."""
    r = _Reader(data)
    r.int(">h")
    return {"assignedPartitions": r.array(r.partitions), "userData": r.bytes()}


def _group_metadata(value: Any) -> Any:
    """GroupMetadataValue with a consumer group's member subscriptions and assignments decoded, as Kafka does."""
    if value.get("protocol_type") != "consumer":
        return value
    members = []
    for member in value["members"]:
        decoded = dict(member)
        try:
            decoded["subscription"] = _subscription(member["subscription"])
            decoded["assignment"] = _assignment(member["assignment"])
        except (struct.error, UnicodeDecodeError):
            decoded = dict(member)
        members.append(decoded)
    return {**value, "members": members}


def _offsets_record(key: bytes | None, value: bytes | None) -> tuple[str, str]:
    """A __consumer_offsets record as kafka-dump-log --offsets-decoder prints it."""

    def decode(name: str, data: bytes) -> Any:
        found = group_records._decode(name, data)[1]
        return _group_metadata(found) if name == "GroupMetadataValue" else found

    if key is None or len(key) < 2:
        return "NULL", "NULL"
    (version,) = struct.unpack_from(">h", key)
    if version in (0, 1):
        return _typed(key, value, "OffsetCommitKey", "OffsetCommitValue", decode)
    if version == group_records.GROUP_METADATA_KEY_VERSION:
        return _typed(key, value, "GroupMetadataKey", "GroupMetadataValue", decode)
    return f"unknown::version={version}", "<unknown>"


def _transaction_record(key: bytes | None, value: bytes | None) -> tuple[str, str]:
    """A __transaction_state record as kafka-dump-log --transaction-log-decoder prints it."""
    if key is None or len(key) < 2:
        return "NULL", "NULL"
    return _typed(key, value, "TransactionLogKey", "TransactionLogValue", transaction_log._decode)
