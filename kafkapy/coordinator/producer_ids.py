"""Producer id allocation that never hands out an id twice, across restarts.

Like Kafka's controller, ids are reserved in blocks of 1000: the end of the current block is written
(and fsynced) to ``producer-ids`` in the data dir before any id of it is used, so after a crash the
next block starts past every id that could have been handed out. The file lives in the broker's
storage FileSystem, so ``--storage memory`` writes nothing.
"""

from __future__ import annotations

from pathlib import Path

from kafkapy.storage.fs import DISK, FileSystem

# Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE.
BLOCK_SIZE = 1000
FILE_NAME = "producer-ids"


class ProducerIdManager:
    def __init__(self, data_dir: Path, fs: FileSystem = DISK) -> None:
        self._fs = fs
        self._path = data_dir / FILE_NAME
        self._next = self._read_reserved_end()
        self._block_end = self._next

    def _read_reserved_end(self) -> int:
        try:
            return int(self._fs.read_text(self._path).strip() or 0)
        except FileNotFoundError:
            return 0

    def _reserve_block(self) -> None:
        end = self._block_end + BLOCK_SIZE
        self._fs.write_text(self._path, f"{end}\n")
        self._block_end = end

    def next_producer_id(self) -> int:
        if self._next >= self._block_end:
            self._reserve_block()
        producer_id = self._next
        self._next += 1
        return producer_id
