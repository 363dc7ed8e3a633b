"""RateLimitedLog: a client repeating bad frames cannot grow the broker's log without bound."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from kafkapy.logging_setup import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(clock: Clock, caplog: pytest.LogCaptureFixture) -> Iterator[RateLimitedLog]:
    """Five lines a second to a logger whose records caplog captures."""
    logger = logging.getLogger("kafkapy.test.ratelimit")
    with caplog.at_level(logging.INFO, logger=logger.name):
        yield RateLimitedLog(logger, per_second=5, clock=clock)


def test_lines_over_the_rate_are_dropped_and_counted(
    limited: RateLimitedLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(1000):
        limited.warning("bad frame", n=i)
    assert len(caplog.records) == 5  # the burst, then nothing within the same instant
    clock.now += 1.0
    for i in range(1000):
        limited.warning("bad frame", n=i)
    assert len(caplog.records) == 10
    assert caplog.records[5].suppressed == 995
    assert not hasattr(caplog.records[6], "suppressed")


def test_a_steady_slow_rate_is_never_dropped(
    limited: RateLimitedLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(50):
        limited.info("closing connection")
        clock.now += 0.2
    assert len(caplog.records) == 50 and limited.suppressed == 0


def test_exception_keeps_the_traceback(limited: RateLimitedLog, caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(8):
        try:
            raise KeyError("x")
        except KeyError:
            limited.exception("handler failed", api="Fetch")
    assert len(caplog.records) == 5 and all(r.exc_info is not None for r in caplog.records)
    assert limited.suppressed == 3
