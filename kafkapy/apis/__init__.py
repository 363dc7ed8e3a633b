"""Request handlers, one module per API (like franz-go's kfake).

Each handler declares the versions it serves with ``@handler(key, min, max)`` beside its code;
ApiVersions answers from this registry, so what is advertised is exactly what is implemented.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafkapy.protocol.specs import api_specs

if TYPE_CHECKING:
    from kafkapy.broker import Broker
    from kafkapy.protocol.connection import Request


@dataclass
class RequestContext:
    """What a handler knows besides the request body."""

    broker: Broker
    request: Request
    client_host: str = ""

    @property
    def version(self) -> int:
        return self.request.api_version


class CloseConnection(Exception):
    """Raised by a handler when Kafka would answer by closing the connection."""


HandlerFunc = Callable[[RequestContext, Any], Awaitable[dict | None]]


@dataclass(frozen=True)
class Handler:
    api_key: int
    name: str
    min_version: int
    max_version: int
    func: HandlerFunc

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


HANDLERS: dict[int, Handler] = {}

# The modules that register handlers, in API key order.
_MODULES = (
    "produce",
    "fetch",
    "list_offsets",
    "metadata",
    "offset_commit",
    "offset_fetch",
    "find_coordinator",
    "join_group",
    "heartbeat",
    "leave_group",
    "sync_group",
    "describe_groups",
    "list_groups",
    "api_versions",
    "create_topics",
    "delete_topics",
    "delete_records",
    "init_producer_id",
    "offset_for_leader_epoch",
    "add_partitions_to_txn",
    "add_offsets_to_txn",
    "end_txn",
    "txn_offset_commit",
    "describe_configs",
    "alter_configs",
    "describe_log_dirs",
    "create_partitions",
    "delete_groups",
    "elect_leaders",
    "incremental_alter_configs",
    "offset_delete",
    "describe_cluster",
    "describe_producers",
    "describe_transactions",
    "list_transactions",
    "describe_topic_partitions",
)


def handler(api_key: int, min_version: int, max_version: int) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register ``func`` as the handler of ``api_key`` for versions min..max.

    A handler returns the response body as a dict (fields it leaves out take their spec default),
    or None when no response is sent (Produce with acks=0).
    """
    spec = api_specs()[api_key]
    if min_version not in spec.versions or max_version not in spec.versions:
        raise ValueError(f"{spec.name} {min_version}-{max_version} is outside its spec {spec.versions}")

    def register(func: HandlerFunc) -> HandlerFunc:
        HANDLERS[api_key] = Handler(api_key, spec.name, min_version, max_version, func)
        return func

    return register


def load_handlers() -> dict[int, Handler]:
    """Import every handler module (each registers itself) and return the registry."""
    for name in _MODULES:
        importlib.import_module(f"kafkapy.apis.{name}")
    return HANDLERS
