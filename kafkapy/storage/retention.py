"""Retention: the background task deleting old segments (Kafka's kafka-log-retention scheduler task).

Every log.retention.check.interval.ms each log deletes the segments wholly below its log start
offset and, with cleanup.policy delete, those past retention.ms or over retention.bytes
(``Log.delete_old_segments``). Deleted segments are renamed ``.deleted`` and their files removed
once file.delete.delay.ms has passed, checked every second, so fetches already sending from them
(sendfile on their fds) complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from kafkapy.storage.log_manager import LogManager

logger = logging.getLogger("kafkapy.storage")

# How often files of deleted segments and topics are checked for removal.
PURGE_INTERVAL_MS = 1000


def delete_old_segments(logs: LogManager, now_ms: int) -> int:
    """One retention pass over every log; the log start offset checkpoint is rewritten if any moved."""
    deleted = sum(log.delete_old_segments(now_ms) for _, _, log in list(logs.logs()))
    if deleted:
        logs.checkpoint_log_start_offsets()
    return deleted


async def run_retention(logs: LogManager, *, check_interval_ms: int, now_ms: Callable[[], int]) -> None:
    """Apply retention every ``check_interval_ms`` and purge deleted files every second, until cancelled."""
    tick_ms = min(PURGE_INTERVAL_MS, check_interval_ms)
    next_check = now_ms() + check_interval_ms
    while True:
        await trio.sleep(tick_ms / 1000)
        now = now_ms()
        if now >= next_check:
            next_check = now + check_interval_ms
            try:
                delete_old_segments(logs, now)
            except OSError:
                logger.exception("retention pass failed")
        logs.purge_deleted(now)
