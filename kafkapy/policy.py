"""Kafka's pluggable create-topic and alter-config policies, as Python classes instead of Java ones.

``create.topic.policy.class.name`` and ``alter.config.policy.class.name`` name a class as
``package.module.Class`` that the broker can import. As with Kafka's CreateTopicPolicy and
AlterConfigPolicy, an instance's ``validate`` receives the request's metadata and raises
``PolicyViolation`` to refuse it; the client then gets POLICY_VIOLATION with the message, for
validate_only requests as for real ones.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from kafkapy.protocol.errors import ErrorCode, KafkaError


class PolicyViolation(Exception):  # noqa: N818 (Kafka's PolicyViolationException)
    """Raised by a policy to refuse a request."""


@dataclass(frozen=True)
class CreateTopicRequest:
    """Kafka's CreateTopicPolicy.RequestMetadata (also checked for CreatePartitions, as in KRaft)."""

    topic: str
    num_partitions: int
    replication_factor: int
    replica_assignments: dict[int, list[int]] | None
    configs: dict[str, str]


@dataclass(frozen=True)
class AlterConfigRequest:
    """Kafka's AlterConfigPolicy.RequestMetadata: the resource and its configs after the change."""

    resource_type: int
    resource_name: str
    configs: dict[str, str]


@cache
def _load(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)()


def check(class_path: str | None, request: CreateTopicRequest | AlterConfigRequest) -> None:
    """Run the configured policy on ``request``; KafkaError(POLICY_VIOLATION) if it refuses."""
    if not class_path:
        return
    try:
        _load(class_path).validate(request)
    except PolicyViolation as exc:
        raise KafkaError(ErrorCode.POLICY_VIOLATION, str(exc)) from None
