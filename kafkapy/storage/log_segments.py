"""A partition's segments sorted by base offset (Kafka's LogSegments).

Kafka keeps them in a skip-list map from base offset to segment; a partition has few segments and
reads look them up by offset far more often than the set changes, so here it is a list kept in
step with a list of base offsets for bisecting. Every change goes through this class, so the two
lists cannot drift apart. The log guards changes with its lock; readers on the event loop take
slices (copies), which a flush in a worker thread cannot disturb.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence

from kafkapy.storage.segment import LogSegment


class LogSegments:
    """The segments of one log, oldest first; never empty once the log is open."""

    def __init__(self, segments: Iterable[LogSegment]) -> None:
        self._segments = list(segments)
        self._base_offsets = [segment.base_offset for segment in self._segments]

    def __len__(self) -> int:
        return len(self._segments)

    def __iter__(self) -> Iterator[LogSegment]:
        return iter(self._segments)

    def values(self) -> tuple[LogSegment, ...]:
        return tuple(self._segments)

    @property
    def first(self) -> LogSegment:
        return self._segments[0]

    @property
    def active(self) -> LogSegment:
        """The last segment, the one appends go to (Kafka's activeSegment)."""
        return self._segments[-1]

    def closed(self) -> list[LogSegment]:
        """Every segment but the active one (Kafka's nonActiveLogSegmentsFrom(0))."""
        return self._segments[:-1]

    def from_floor(self, offset: int) -> list[LogSegment]:
        """The segment whose range holds ``offset`` (the floor by base offset; the first if below it) and all after."""
        return self._segments[max(bisect_right(self._base_offsets, offset) - 1, 0) :]

    def add(self, segment: LogSegment) -> None:
        """Append a new active segment (its base offset is past every other's)."""
        self._segments.append(segment)
        self._base_offsets.append(segment.base_offset)

    def remove_first(self, count: int) -> None:
        """Drop the ``count`` oldest segments (retention, DeleteRecords); the caller retires their files."""
        del self._segments[:count]
        del self._base_offsets[:count]

    def remove_from(self, offset: int) -> list[LogSegment]:
        """Drop the segments whose base offset is at or past ``offset`` (truncation), newest first."""
        removed = []
        while self._base_offsets and self._base_offsets[-1] >= offset:
            removed.append(self._segments.pop())
            self._base_offsets.pop()
        return removed

    def reset(self, segment: LogSegment) -> None:
        """Make ``segment`` the only one (a log emptied by truncation)."""
        self._segments = [segment]
        self._base_offsets = [segment.base_offset]

    def holds_closed_run(self, run: Sequence[LogSegment]) -> bool:
        """Whether ``run`` is still consecutive closed segments of this log, as the cleaner saw them."""
        first = self._index_of(run[0])
        if first is None or first + len(run) >= len(self._segments):
            return False
        return all(a is b for a, b in zip(self._segments[first : first + len(run)], run, strict=True))

    def replace(self, run: Sequence[LogSegment], new: LogSegment) -> None:
        """Swap ``new`` in for ``run`` (checked with ``holds_closed_run``), as Kafka's replaceSegments does."""
        first = self._index_of(run[0])
        assert first is not None
        self._segments[first : first + len(run)] = [new]
        self._base_offsets[first : first + len(run)] = [new.base_offset]

    def _index_of(self, segment: LogSegment) -> int | None:
        return next((i for i, candidate in enumerate(self._segments) if candidate is segment), None)
