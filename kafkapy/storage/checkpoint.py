"""Kafka's offset checkpoint files: ``log-start-offset-checkpoint`` and ``cleaner-offset-checkpoint``.

The format of Kafka's OffsetCheckpointFile, so a data directory stays familiar to Kafka tooling::

    0                      <- version
    2                      <- number of entries
    orders 0 1500          <- topic partition offset
    orders 1 20
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from kafkapy.protocol.common import TopicPartition
from kafkapy.storage.fs import FileSystem

logger = logging.getLogger("kafkapy.storage")

LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"
CHECKPOINT_VERSION = 0



def read_checkpoint(fs: FileSystem, path: Path) -> dict[TopicPartition, int]:
    """The entries of a checkpoint file; empty (with a warning) if it is missing or malformed."""
    try:
        data = fs.read_bytes(path)
    except FileNotFoundError:
        return {}
    try:
        lines = data.decode("utf-8").splitlines()
        if int(lines[0]) != CHECKPOINT_VERSION:
            raise ValueError(f"unknown version {lines[0]}")
        count = int(lines[1])
        entries: dict[TopicPartition, int] = {}
        for line in lines[2 : 2 + count]:
            topic, partition, offset = line.split()
            entries[(topic, int(partition))] = int(offset)
        if len(entries) != count:
            raise ValueError(f"expected {count} entries, found {len(entries)}")
        return entries
    except (IndexError, ValueError) as exc:
        logger.warning("unreadable checkpoint; ignoring it", extra={"path": path, "error": exc})
        return {}


def write_checkpoint(fs: FileSystem, path: Path, entries: Mapping[TopicPartition, int]) -> None:
    """Replace the checkpoint atomically (write, fsync, rename), as Kafka does."""
    lines = [str(CHECKPOINT_VERSION), str(len(entries))]
    lines += [f"{topic} {partition} {offset}" for (topic, partition), offset in sorted(entries.items())]
    fs.write_text(path, "\n".join(lines) + "\n")
