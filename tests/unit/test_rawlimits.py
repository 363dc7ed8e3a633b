"""bench/rawlimits.py on small totals: each transfer delivers every byte, reports a rate, and fails fast."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

TOTAL = 8 << 20
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "rawlimits.py"


@pytest.fixture(scope="module")
def rawlimits() -> ModuleType:
    """bench/ is not a package: load the script as a module by its path."""
    spec = importlib.util.spec_from_file_location("rawlimits", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rawlimits"] = module
    spec.loader.exec_module(module)
    return module


def test_tcp_to_file_writes_exactly_total_bytes(rawlimits: ModuleType, tmp_path: Path) -> None:
    target = tmp_path / "received.bin"
    # An odd total, so the last chunk is a partial one.
    transfer = rawlimits.tcp_to_file(TOTAL + 12345, chunk=1 << 20, path=target, timeout=10)
    assert transfer.nbytes == TOTAL + 12345
    assert target.stat().st_size == TOTAL + 12345
    assert transfer.mb_s > 0
    assert transfer.fsync_seconds is not None and transfer.fsync_seconds >= 0


def test_tcp_to_file_mb_s_cleans_up_its_temp_file(rawlimits: ModuleType, tmp_path: Path) -> None:
    before = set(Path(rawlimits.tempfile.gettempdir()).glob("kafkapy-rawlimits-*"))
    assert rawlimits.tcp_to_file_mb_s(TOTAL, timeout=10) > 0
    assert set(Path(rawlimits.tempfile.gettempdir()).glob("kafkapy-rawlimits-*")) <= before


def test_sendfile_sends_the_whole_file(rawlimits: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    assert rawlimits.sendfile_mb_s(TOTAL, path=source, chunk=3 << 20, timeout=10) > 0
    assert source.stat().st_size == TOTAL
    assert rawlimits.send_file(source, timeout=10).nbytes == TOTAL


def test_tcp_loopback(rawlimits: ModuleType) -> None:
    assert rawlimits.tcp_loopback_mb_s(TOTAL, timeout=10) > 0


def test_a_sender_that_fails_is_reported_not_waited_for(rawlimits: ModuleType, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="before connecting"):
        rawlimits._timed_transfer(
            ["file", "1048576", str(tmp_path / "missing")], rawlimits._receive_and_discard(1024), 1, timeout=10
        )
    assert time.monotonic() - started < 3


def test_parse_size(rawlimits: ModuleType) -> None:
    assert rawlimits.parse_size("1G") == 1 << 30
    assert rawlimits.parse_size("256M") == 256 << 20
    assert rawlimits.parse_size("1GiB") == 1 << 30
    assert rawlimits.parse_size("4096") == 4096
