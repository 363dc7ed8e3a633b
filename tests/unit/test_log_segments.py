"""LogSegments: a log's segments by base offset, with the floor lookup reads and flushes use."""

from __future__ import annotations

from pathlib import Path

from kafkapy.storage.fs import MemoryFS
from kafkapy.storage.log_segments import LogSegments
from kafkapy.storage.segment import LogSegment


def _segments(directory: Path, *bases: int) -> list[LogSegment]:
    fs = MemoryFS()
    fs.makedirs(directory)
    return [LogSegment(directory, base, fs=fs, index_interval_bytes=4096) for base in bases]


def _bases(segments: LogSegments | list[LogSegment]) -> list[int]:
    return [segment.base_offset for segment in segments]


def test_from_floor_starts_at_the_segment_holding_the_offset(tmp_path: Path) -> None:
    segments = LogSegments(_segments(tmp_path, 10, 20, 30))
    assert _bases(segments.from_floor(25)) == [20, 30]
    assert _bases(segments.from_floor(20)) == [20, 30]
    assert _bases(segments.from_floor(99)) == [30]
    # Below the first base offset (a log start offset inside it): the first segment.
    assert _bases(segments.from_floor(3)) == [10, 20, 30]


def test_changes_keep_the_floor_lookup_in_step(tmp_path: Path) -> None:
    first, second, third, fourth = _segments(tmp_path, 0, 10, 20, 30)
    segments = LogSegments([first, second, third])
    segments.add(fourth)
    assert segments.active is fourth and _bases(segments.closed()) == [0, 10, 20]
    segments.remove_first(1)
    assert segments.first is second and _bases(segments.from_floor(5)) == [10, 20, 30]
    assert _bases(segments.remove_from(20)) == [30, 20]
    assert _bases(segments) == [10] and _bases(segments.from_floor(25)) == [10]
    (restart,) = _segments(tmp_path / "new", 50)
    segments.reset(restart)
    assert segments.values() == (restart,) and _bases(segments.from_floor(60)) == [50]


def test_replace_swaps_only_a_closed_run_still_in_place(tmp_path: Path) -> None:
    old = _segments(tmp_path, 0, 10, 20, 30)
    segments = LogSegments(old)
    assert not segments.holds_closed_run(old[2:]), "the active segment is never cleaned"
    assert not segments.holds_closed_run([old[0], old[2]])
    assert segments.holds_closed_run(old[:2])
    (cleaned,) = _segments(tmp_path / "cleaned", 0)
    segments.replace(old[:2], cleaned)
    assert segments.values() == (cleaned, old[2], old[3])
    assert _bases(segments.from_floor(15)) == [0, 20, 30]
    assert not segments.holds_closed_run(old[:2]), "a run swapped out is gone"
