"""Shared fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkapy.storage.fs import DISK, FileSystem, MemoryFS


@pytest.fixture(params=["disk", "memory"])
def fs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileSystem]:
    """Each storage test runs on both file systems: the same storage code must behave the same.

    Paths stay under ``tmp_path`` either way; with MemoryFS nothing may appear there.
    """
    if request.param == "disk":
        yield DISK
        return
    yield MemoryFS()
    assert not list(tmp_path.iterdir()), "MemoryFS wrote to the real file system"
