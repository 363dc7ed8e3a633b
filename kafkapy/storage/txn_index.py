"""A segment's aborted-transaction index, the ``.txnindex`` file (Kafka's TransactionIndex).

One 34-byte entry per transaction aborted by a marker in the segment, in marker order:

    version int16 (0) | producerId int64 | firstOffset int64 | lastOffset int64 | lastStableOffset int64

``lastOffset`` is the offset of the abort marker; ``lastStableOffset`` the partition's LSO right after
the marker. Fetch with read_committed hands the entries overlapping the fetched range to the client,
which drops those producers' records between firstOffset and the marker. The file is created with
its first entry, so segments without aborted transactions have none, as in Kafka.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import NamedTuple

from kafkapy.storage.fs import FileSystem

TXN_INDEX_FILE_SUFFIX = ".txnindex"
ABORTED_TXN_VERSION = 0

_ENTRY = struct.Struct(">hqqqq")
ENTRY_SIZE = _ENTRY.size


class AbortedTxn(NamedTuple):
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int

    def encode(self) -> bytes:
        return _ENTRY.pack(ABORTED_TXN_VERSION, *self)


class TransactionIndex:
    """The aborted transactions of one segment, kept in memory and appended to its file."""

    def __init__(self, path: Path, *, fs: FileSystem) -> None:
        self.path = path
        self._fs = fs
        self.entries: list[AbortedTxn] = []
        if fs.exists(path):
            data = fs.read_bytes(path)
            usable = len(data) - len(data) % ENTRY_SIZE
            for position in range(0, usable, ENTRY_SIZE):
                version, *fields = _ENTRY.unpack_from(data, position)
                if version != ABORTED_TXN_VERSION:
                    break
                self.entries.append(AbortedTxn(*fields))
            if len(self.entries) * ENTRY_SIZE != len(data):
                self._rewrite()

    def append(self, entry: AbortedTxn) -> None:
        """Add an entry; written before its abort marker, so a crash can only leave an extra one."""
        with self._fs.opened(self.path) as handle:
            self._fs.write_fully(handle, entry.encode())
        self.entries.append(entry)

    def truncate_to(self, offset: int) -> None:
        """Drop the entries whose marker is at or after ``offset`` (the log was cut there)."""
        kept = [entry for entry in self.entries if entry.last_offset < offset]
        if len(kept) != len(self.entries):
            self.entries = kept
            self._rewrite()

    def _rewrite(self) -> None:
        if not self.entries:
            self._fs.unlink(self.path, missing_ok=True)
            return
        self._fs.write_atomic(self.path, b"".join(entry.encode() for entry in self.entries), sync=False)

    def overlapping(self, start_offset: int, end_offset: int) -> list[AbortedTxn]:
        """Entries of transactions that may hold records in [start_offset, end_offset)."""
        return [e for e in self.entries if e.last_offset >= start_offset and e.first_offset < end_offset]

    def flush(self) -> None:
        if self.entries and self._fs.exists(self.path):
            with self._fs.opened(self.path, create=False) as handle:
                self._fs.fsync(handle)

    def delete(self) -> None:
        self.entries = []
        self._fs.unlink(self.path, missing_ok=True)
