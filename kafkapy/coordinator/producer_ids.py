"""Producer id allocation that never hands out an id twice, across restarts.

Like Kafka's controller, ids are reserved in blocks of 1000: the end of the current block is written
(and fsynced) to ``producer-ids`` in the data dir before any id of it is used, so after a crash the
next block starts past every id that could have been handed out. The file lives in the broker's
storage FileSystem, so ``--storage memory`` writes nothing. A damaged file does not stop the broker:
the next block then starts past every producer id the partitions and transactions still know.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from kafkapy.storage.fs import DISK, FileSystem
from kafkapy.storage.log_manager import LogManager

log = logging.getLogger("kafkapy.coordinator")

# Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE.
BLOCK_SIZE = 1000
FILE_NAME = "producer-ids"


class ProducerIdManager:
    def __init__(self, data_dir: Path, fs: FileSystem = DISK, ids_in_use: Callable[[], Iterable[int]] = tuple) -> None:
        """``ids_in_use`` yields the producer ids the broker still knows; asked only if the file is damaged."""
        self._fs = fs
        self._path = data_dir / FILE_NAME
        self._ids_in_use = ids_in_use
        # None until the first id is asked for, when the file could not be read.
        self._next: int | None = self._read_reserved_end()
        self._block_end = self._next or 0

    def _read_reserved_end(self) -> int | None:
        """The stored end of the last block (0 without a file); None if the file is damaged."""
        try:
            end = int(self._fs.read_text(self._path).strip())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):  # ValueError: not a number, or not even UTF-8
            end = -1
        if end < 0:
            extra = {"path": str(self._path)}
            log.warning("producer-ids file unreadable; new ids start past those in use", extra=extra)
            return None
        return end

    def _reserve_block(self) -> None:
        end = self._block_end + BLOCK_SIZE
        self._fs.write_text(self._path, f"{end}\n")
        self._block_end = end

    def next_producer_id(self) -> int:
        if self._next is None:
            self._next = self._block_end = max(self._ids_in_use(), default=-1) + 1
        if self._next >= self._block_end:
            self._reserve_block()
        producer_id = self._next
        self._next += 1
        return producer_id


def producer_ids_in_use(logs: LogManager, transactional: Iterable[int]) -> Iterator[int]:
    """Every producer id a partition's producer state or a transactional id still holds."""
    for _, _, partition in logs.logs():
        yield from partition.producer_state.producers
    yield from transactional
