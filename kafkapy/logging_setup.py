"""Structured, quiet-by-default logging: one logfmt line per event on stderr."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

# LogRecord attributes that are not user-supplied ``extra`` fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    """``ts=... level=... logger=... msg=... key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        parts = [f"ts={ts}", f"level={record.levelname.lower()}", f"logger={record.name}"]
        parts.append(f"msg={_quote(record.getMessage())}")
        parts.extend(f"{key}={_quote(value)}" for key, value in record.__dict__.items() if key not in _STANDARD)
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger("kafkapy")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class RateLimitedLog:
    """One call site's log lines, at most ``per_second`` a second (a burst of as many, then that rate).

    A client that repeats a bad frame, or a fuzzer, must not grow the broker's log without bound: the
    lines over the rate are dropped and counted, and the next line that gets through says how many
    (``suppressed=N``). One instance is shared by every connection, so the bound holds for the broker.
    """

    def __init__(self, logger: logging.Logger, per_second: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.per_second = per_second
        self._clock = clock
        self._tokens = per_second
        self._last = clock()
        self.suppressed = 0

    def _admit(self) -> bool:
        """Whether a line may be written now: a token bucket refilled at ``per_second``."""
        now = self._clock()
        self._tokens = min(self.per_second, self._tokens + (now - self._last) * self.per_second)
        self._last = now
        if self._tokens < 1:
            self.suppressed += 1
            return False
        self._tokens -= 1
        return True

    def log(self, level: int, msg: str, extra: dict[str, object], *, exc_info: bool = False) -> None:
        if not self.logger.isEnabledFor(level) or not self._admit():
            return
        if self.suppressed:
            extra = {**extra, "suppressed": self.suppressed}
            self.suppressed = 0
        self.logger.log(level, msg, extra=extra, exc_info=exc_info)

    def info(self, msg: str, **extra: object) -> None:
        self.log(logging.INFO, msg, extra)

    def warning(self, msg: str, **extra: object) -> None:
        self.log(logging.WARNING, msg, extra)

    def exception(self, msg: str, **extra: object) -> None:
        """An error line with the traceback of the exception being handled."""
        self.log(logging.ERROR, msg, extra, exc_info=True)
