"""Transactional offset commits (TxnOffsetCommit) waiting in ``__consumer_offsets`` for their marker.

As in Kafka, TxnOffsetCommit appends ordinary OffsetCommit records, but in a transactional batch
carrying the producer id and epoch; they take effect only when the transaction coordinator writes
a COMMIT marker to the offsets partition, and are dropped on ABORT (Kafka's
pendingTransactionalOffsetCommits). Loading the offsets topic replays the batches through
``replay`` so committed transactions apply at their marker and ongoing ones stay pending.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafkapy.protocol.records import CONTROL_COMMIT, BatchHeader, Record, parse_control_key

# (key, value) of an __consumer_offsets record, as group_records writes them.
OffsetRecord = tuple[bytes, bytes | None]
# Decodes offset records into {group id: {(topic, partition): offset}} (group_records.decode_offsets).
OffsetDecoder = Callable[[list[OffsetRecord]], dict[str, dict[tuple[str, int], Any]]]


class PendingTxnOffsets:
    """Offset records of ongoing transactions, by producer id."""

    def __init__(self, decode: OffsetDecoder) -> None:
        self.by_producer: dict[int, list[OffsetRecord]] = {}
        self._decode = decode

    def is_pending(self, group_id: str, topic: str, partition: int) -> bool:
        """Whether an ongoing transaction holds an offset of the partition (OffsetFetch's require_stable)."""
        return any((topic, partition) in self._decode(r).get(group_id, {}) for r in self.by_producer.values())

    def add(self, producer_id: int, records: list[OffsetRecord]) -> None:
        self.by_producer.setdefault(producer_id, []).extend(records)

    def complete(self, producer_id: int, commit: bool) -> list[OffsetRecord]:
        """The records that take effect now that the producer's transaction ended."""
        records = self.by_producer.pop(producer_id, [])
        return records if commit else []

    def replay(self, header: BatchHeader, records: list[Record]) -> list[OffsetRecord]:
        """For the loader: the records of a batch read from the log that apply at this point."""
        if header.is_control:
            commit = any(parse_control_key(r.key)[1] == CONTROL_COMMIT for r in records)
            return self.complete(header.producer_id, commit)
        pairs = [(r.key, r.value) for r in records if r.key is not None]
        if header.is_transactional:
            self.add(header.producer_id, pairs)
            return []
        return pairs
