"""``kafkapy dump-log <segment.log>``: the batches (and records) of a segment file, like kafka-dump-log.sh."""

from __future__ import annotations

import argparse
from pathlib import Path

import crc32c

from kafkapy.protocol.compression import CompressionType
from kafkapy.protocol.records import (
    CRC_OFFSET,
    HEADER_SIZE,
    decode_records,
    parse_batch_header,
)
from kafkapy.storage.producer_state import last_sequence


def dump_log(args: argparse.Namespace) -> None:
    for path in args.files:
        print(f"Dumping {path}")
        data = Path(path).read_bytes()
        base = int(Path(path).stem) if Path(path).stem.isdigit() else 0
        print(f"Log starting offset: {base}")
        position = 0
        while position + HEADER_SIZE <= len(data):
            header = parse_batch_header(data, position)
            if position + header.size > len(data):
                print(f"Found {len(data) - position} bytes of a truncated batch at position {position}")
                break
            batch = memoryview(data)[position : position + header.size]
            valid = crc32c.crc32c(batch[CRC_OFFSET + 4 :]) == header.crc
            timestamp_type = "LogAppendTime" if header.log_append_time else "CreateTime"
            last_seq = last_sequence(header) if header.base_sequence >= 0 else -1
            print(
                f"baseOffset: {header.base_offset} lastOffset: {header.last_offset} count: {header.records_count}"
                f" baseSequence: {header.base_sequence} lastSequence: {last_seq}"
                f" producerId: {header.producer_id} producerEpoch: {header.producer_epoch}"
                f" partitionLeaderEpoch: {header.partition_leader_epoch}"
                f" isTransactional: {str(header.is_transactional).lower()}"
                f" isControl: {str(header.is_control).lower()} position: {position}"
                f" {timestamp_type}: {header.max_timestamp} size: {header.size} magic: {header.magic}"
                f" compresscodec: {CompressionType(header.compression).name.lower()}"
                f" crc: {header.crc} isvalid: {str(valid).lower()}"
            )
            if args.print_data_log and valid:
                for _, records in decode_records(batch):
                    for r in records:
                        keys = [k for k, _ in r.headers]
                        line = (
                            f"| offset: {r.offset} {timestamp_type}: {r.timestamp}"
                            f" keySize: {-1 if r.key is None else len(r.key)}"
                            f" valueSize: {-1 if r.value is None else len(r.value)} headerKeys: [{','.join(keys)}]"
                        )
                        if r.key is not None:
                            line += f" key: {r.key.decode(errors='replace')}"
                        if r.value is not None:
                            line += f" payload: {r.value.decode(errors='replace')}"
                        print(line)
            position += header.size
