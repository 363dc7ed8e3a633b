"""The tests' name for kafkapy.testing.process (the broker subprocess helper) and the repo root."""

from __future__ import annotations

from pathlib import Path

from kafkapy.testing.process import READY_RE, BrokerProcess, BrokerStartError

REPO_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["READY_RE", "REPO_ROOT", "BrokerProcess", "BrokerStartError"]
