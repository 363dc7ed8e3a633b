"""Kafka's internal topics: only the broker's coordinators write them (Kafka's Topic.isInternal).

Clients may read them, and as in Apache Kafka 4.3.1 may create, delete, grow and reconfigure them
through the admin APIs; Produce and DeleteRecords get INVALID_TOPIC_EXCEPTION, so no client can put
a record there that the coordinators would have to load at start-up.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Hashable, Iterator

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import HEADER_SIZE, BatchHeader, Record, decode_records, parse_batch_header
from kafkapy.storage.log import Log

log = logging.getLogger("kafkapy.coordinator")

OFFSETS_TOPIC = "__consumer_offsets"
TRANSACTION_STATE_TOPIC = "__transaction_state"
# KIP-932's share-group state topic: internal in Kafka 4 although kafkapy has no share groups.
SHARE_GROUP_STATE_TOPIC = "__share_group_state"

INTERNAL_TOPICS = frozenset({OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC, SHARE_GROUP_STATE_TOPIC})

# Loading reads an internal topic's log this many bytes at a time (at least one whole batch).
LOAD_CHUNK_BYTES = 4 * 1024 * 1024


def is_internal(topic: str) -> bool:
    """Kafka's Topic.isInternal: exactly these names, not every name starting with '__'."""
    return topic in INTERNAL_TOPICS


class SkippedRecords:
    """Records a loader could not use: each of the first few logged on one line, then only counted.

    Loading must never refuse to start the broker over one record (damaged on disk, or written by
    an older kafkapy that let clients produce here), and must not log a line per record of a
    hostile log either.
    """

    LOGGED = 10

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.count = 0

    def skip(self, partition: Log, offset: int, exc: BaseException) -> None:
        self.count += 1
        if self.count <= self.LOGGED:
            log.warning(
                "skipping a record the coordinator cannot load",
                extra={"topic": self.topic, "partition": partition.dir.name, "offset": offset, "error": repr(exc)},
            )

    def report(self) -> None:
        """One summary line when more were skipped than logged."""
        if self.count > self.LOGGED:
            extra = {"topic": self.topic, "records": self.count}
            log.warning("skipped records the coordinator cannot load", extra=extra)


class HomePartitions:
    """Which partition's record of a key counts, once CreatePartitions (which Kafka accepts) grew the topic.

    A group's or transactional id's records go to its home partition, abs(hash(id)) % partitions, so
    after the topic grew an id has records in an old partition and in its new home, and the home
    holds the newest whenever it has any. Partitions are replayed in index order: a record from
    elsewhere no longer applies once the home partition has set its key.
    """

    def __init__(self, partitions: int, home: Callable[[str], int]) -> None:
        # One partition (kafkapy's default) is every id's home: nothing to decide.
        self._single = partitions == 1
        self._home = home
        # Home partitions by id: hashing every record's id again would slow loading down by half.
        self._homes: dict[str, int] = {}
        # The partition being replayed.
        self.index = 0
        self._settled: set[Hashable] = set()

    def admits(self, owner: str, key: Hashable) -> bool:
        """Whether a record of ``key`` (of the group or transactional id ``owner``) read now may apply."""
        if self._single:
            return True
        home = self._homes.get(owner)
        if home is None:
            home = self._homes[owner] = self._home(owner)
        if home == self.index:
            self._settled.add(key)
            return True
        return key not in self._settled


def read_batches(partition: Log, skipped: SkippedRecords) -> Iterator[tuple[BatchHeader, list[Record]]]:
    """Every batch of ``partition`` from its log start offset, decoded, for a coordinator's loading.

    A batch whose records cannot be decoded is skipped (and counted in ``skipped``); a read that
    fails ends this partition's replay, logged, instead of the broker's start-up.
    """
    offset = partition.log_start_offset
    try:
        while offset < partition.log_end_offset:
            region = partition.read(offset, LOAD_CHUNK_BYTES)
            if region is None:
                return
            data = memoryview(region.read_bytes())
            start, pos = offset, 0
            while len(data) - pos >= HEADER_SIZE:
                header = parse_batch_header(data, pos)
                if header.size < HEADER_SIZE or pos + header.size > len(data):
                    break
                try:
                    batches = list(decode_records(data[pos : pos + header.size]))
                except (KafkaError, ValueError, IndexError, struct.error) as exc:
                    skipped.skip(partition, header.base_offset, exc)
                    batches = []
                yield from batches
                pos += header.size
                offset = max(offset, header.next_offset)
            if offset == start:
                raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"no progress reading at offset {offset}")
    except (KafkaError, OSError) as exc:
        skipped.skip(partition, offset, exc)
        log.error("stopped loading a partition", extra={"topic": skipped.topic, "partition": partition.dir.name})
