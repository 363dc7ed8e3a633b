"""The broker's one clock (Kafka's org.apache.kafka.common.utils.Time), injectable in tests.

Every wall-clock reading of the broker (record timestamps it assigns, segment ages, retention,
offset and transactional id expiry, group state timestamps) comes from the ``Clock`` the Broker
was opened with, passed down to the log manager, the logs and the coordinators, as Kafka passes
its ``Time``. ``SystemClock`` is the default; tests use ``ManualClock`` (Kafka's MockTime), which
only moves when told to, so "a week later" needs no sleeping and no patching of ``time``.

Timeouts that a trio task waits on (group sessions and rebalances, the coordinators' timer loops,
request timeouts) stay on trio's own clock, ``trio.current_time()``: it is injectable already
through ``trio.testing.MockClock`` (with ``autojump_threshold`` to skip idle time), and a clock
here could not wake a sleeping task anyway. The clock has no ``sleep`` for that reason.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the broker reads the time from."""

    def wall_ms(self) -> int:
        """Milliseconds since the epoch (Kafka's Time.milliseconds)."""
        ...

    def monotonic_ns(self) -> int:
        """A monotonic reading in nanoseconds, for intervals (Kafka's Time.nanoseconds)."""
        ...

    def monotonic(self) -> float:
        """The monotonic reading in seconds."""
        ...


class SystemClock:
    """The operating system's clocks."""

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()


class ManualClock:
    """A clock that stands still until ``advance`` (Kafka's MockTime); wall and monotonic move together."""

    def __init__(self, wall_ms: int | None = None, monotonic_ns: int = 0) -> None:
        # MockTime starts at the system's time, so timestamps clients send stay plausible.
        self._wall_ms = SYSTEM_CLOCK.wall_ms() if wall_ms is None else wall_ms
        self._monotonic_ns = monotonic_ns

    def wall_ms(self) -> int:
        return self._wall_ms

    def monotonic_ns(self) -> int:
        return self._monotonic_ns

    def monotonic(self) -> float:
        return self._monotonic_ns / 1e9

    def advance(self, ms: int) -> None:
        """Move both clocks ``ms`` milliseconds forward (never back, as a monotonic clock must not)."""
        if ms < 0:
            raise ValueError("a clock does not go back")
        self._wall_ms += ms
        self._monotonic_ns += ms * 1_000_000
