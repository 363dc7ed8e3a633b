"""A plausible request of any (api, version), built from protocol_specs: one item in every array.

Names are those of ``Names`` (a topic, a group, a transactional id), so a test can create the
resources first, and numbers are ones a broker takes (acks 1, timeouts of seconds, partition 0).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from kafkapy.protocol.records import build_batch
from kafkapy.protocol.specs import FieldSpec, api_specs

_NUMBERS = {
    "acks": 1,
    "timeout_ms": 5000,
    "max_wait_ms": 0,
    "min_bytes": 1,
    "max_bytes": 1 << 20,
    "partition_max_bytes": 1 << 20,
    "session_timeout_ms": 10_000,
    "rebalance_timeout_ms": 10_000,
    "transaction_timeout_ms": 60_000,
    "resource_type": 2,  # TOPIC
    "replica_id": -1,
    "session_epoch": -1,
    "timestamp": -1,
    "producer_id": -1,
    "producer_epoch": -1,
    "generation_id": -1,
    "generation_id_or_member_epoch": -1,
    "retention_time_ms": -1,
    "count": 2,
    "num_partitions": 1,
    "replication_factor": 1,
    "current_leader_epoch": -1,
    "leader_epoch": -1,
    "last_fetched_epoch": -1,
    "log_start_offset": -1,
    "committed_leader_epoch": -1,
    "duration_filter": -1,
    "endpoint_type": 1,  # brokers
    # ACL filters and creations: Kafka closes the connection on an UNKNOWN (0) element.
    "resource_type_filter": 2,  # TOPIC
    "pattern_type_filter": 3,  # LITERAL
    "resource_pattern_type": 3,
    "operation": 3,  # READ
    "permission_type": 3,  # ALLOW
}


@dataclass
class Names:
    topic: str = "sample-topic"
    topic_id: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=0))
    group: str = "sample-group"
    transactional_id: str = "sample-txn"


def _string(name: str, names: Names) -> str:
    if name in ("name", "topic", "topic_name", "resource_name"):
        return names.topic
    if name == "group_id":
        return names.group
    if name == "transactional_id":
        return names.transactional_id
    if name == "protocol_type":
        return "consumer"
    if name == "entity_type":
        return "user"  # a client quota entity
    if name in ("member_id", "value", "transactional_id_pattern"):
        return ""
    return "x"


def _strings(name: str, names: Names) -> list[str]:
    if name == "topic_names":
        return [names.topic]
    if name in ("groups", "groups_names", "group_ids", "coordinator_keys"):
        return [names.group]
    if name == "transactional_ids":
        return [names.transactional_id]
    return []


def _value(f: FieldSpec, version: int, names: Names) -> Any:
    if f.type == "array":
        if f.item_type == "struct":
            return [_struct(f.fields, version, names)]
        if f.item_type == "string":
            return _strings(f.name, names)
        # Partition indexes name partition 0; other number lists are filters, empty to match everything.
        return [0] if "partition" in f.name else []
    if f.type == "struct":
        return _struct(f.fields, version, names)
    if f.type == "string":
        return _string(f.name, names)
    if f.type == "uuid":
        return names.topic_id
    if f.type == "bool":
        return False
    if f.type == "bytes":
        return b""
    if f.type == "records":
        return build_batch([(None, b"sample", [], 1_700_000_000_000)])
    if f.type == "float64":
        return 0.0
    return _NUMBERS.get(f.name, 0)


def _struct(fields: list[FieldSpec], version: int, names: Names) -> dict:
    return {f.name: _value(f, version, names) for f in fields if version in f.versions and f.tag is None}


def sample_request(api_key: int, version: int, names: Names | None = None) -> dict:
    """A request body of ``api_key`` v``version`` with one item per array."""
    return _struct(api_specs()[api_key].request.fields, version, names or Names())
