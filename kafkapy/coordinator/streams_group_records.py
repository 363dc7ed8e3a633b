"""The records a streams group writes to ``__consumer_offsets``, in Kafka 4.3.1's layouts
(protocol_specs/internal/streams_group.kspec), so Kafka's own tools could read them.

A key is its record type (int16) then the key fields; a value is its version (int16, always 0) then
the value fields. The group id starts every key (group_records.record_group_id reads it).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import cache
from typing import Any

import construct as c

from kafkapy.coordinator.streams_group import TaskMap, Tasks
from kafkapy.protocol.schema import message_construct
from kafkapy.protocol.specs import internal_specs

# Kafka's CoordinatorRecordType numbers of the streams group records.
METADATA = 17
MEMBER_METADATA = 19
TARGET_ASSIGNMENT_METADATA = 20
TARGET_ASSIGNMENT_MEMBER = 21
CURRENT_MEMBER_ASSIGNMENT = 22
TOPOLOGY = 23
RECORD_TYPES = (METADATA, MEMBER_METADATA, TARGET_ASSIGNMENT_METADATA, TARGET_ASSIGNMENT_MEMBER,
                CURRENT_MEMBER_ASSIGNMENT, TOPOLOGY)  # fmt: skip

# The value layout of each record type; the keys are group id, or group id and member id.
VALUES = {
    METADATA: "StreamsGroupMetadataValue",
    MEMBER_METADATA: "StreamsGroupMemberMetadataValue",
    TARGET_ASSIGNMENT_METADATA: "StreamsGroupTargetAssignmentMetadataValue",
    TARGET_ASSIGNMENT_MEMBER: "StreamsGroupTargetAssignmentMemberValue",
    CURRENT_MEMBER_ASSIGNMENT: "StreamsGroupCurrentMemberAssignmentValue",
    TOPOLOGY: "StreamsGroupTopologyValue",
}
_MEMBER_KEYED = frozenset({MEMBER_METADATA, TARGET_ASSIGNMENT_MEMBER, CURRENT_MEMBER_ASSIGNMENT})

_INT16 = struct.Struct(">h")


@cache
def _schema(name: str) -> c.Construct:
    return message_construct(internal_specs("streams_group")[name], 0).compile()


def key(record_type: int, group_id: str, member_id: str | None = None) -> bytes:
    """The key of one record: the group's (metadata, topology, target metadata) or a member's."""
    if record_type in _MEMBER_KEYED:
        body = _schema("StreamsGroupMemberKey").build({"group_id": group_id, "member_id": member_id or ""})
    else:
        body = _schema("StreamsGroupMetadataKey").build({"group_id": group_id})
    return _INT16.pack(record_type) + body


def value(record_type: int, fields: dict[str, Any]) -> bytes:
    return _INT16.pack(0) + _schema(VALUES[record_type]).build(fields)


def record(
    record_type: int, group_id: str, member_id: str | None = None, fields: dict[str, Any] | None = None
) -> tuple[bytes, bytes | None]:
    """One (key, value) record; a tombstone without ``fields``."""
    return key(record_type, group_id, member_id), None if fields is None else value(record_type, fields)


def decode_key(data: bytes) -> tuple[int, str, str | None]:
    """(record type, group id, member id or None) of a key."""
    (record_type,) = _INT16.unpack_from(data)
    if record_type in _MEMBER_KEYED:
        parsed = _schema("StreamsGroupMemberKey").parse(data[_INT16.size :])
        return record_type, parsed.group_id, parsed.member_id
    return record_type, _schema("StreamsGroupMetadataKey").parse(data[_INT16.size :]).group_id, None


def decode_value(record_type: int, data: bytes) -> dict[str, Any]:
    """A value as plain dicts and lists (the version prefix is 0 in every layout Kafka 4.3.1 writes)."""
    return plain(_schema(VALUES[record_type]).parse(data[_INT16.size :]))


def plain(obj: Any) -> Any:
    """A parsed message as plain dicts and lists (private construct keys dropped)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def task_ids(tasks: TaskMap, epochs: Mapping[tuple[str, int], int] | None = None) -> list[dict[str, Any]]:
    """Kafka's []TaskIds, sorted by subtopology then partition (with each task's assignment epoch)."""
    out = []
    for s in sorted(tasks):
        if tasks[s]:
            entry: dict[str, Any] = {"subtopology_id": s, "partitions": sorted(tasks[s])}
            if epochs is not None:
                entry["assignment_epochs"] = [epochs[(s, p)] for p in entry["partitions"]]
            out.append(entry)
    return out


def task_epochs(ids: list[dict] | None) -> dict[tuple[str, int], int]:
    """The assignment epochs of []TaskIds that carry them."""
    return {
        (t["subtopology_id"], p): e
        for t in ids or ()
        if t.get("assignment_epochs") is not None
        for p, e in zip(t["partitions"], t["assignment_epochs"], strict=False)
    }


def tasks_from(active: list[dict] | None, standby: list[dict] | None, warmup: list[dict] | None) -> Tasks:
    """Tasks from three []TaskIds (None counts as empty)."""

    def one(ids: list[dict] | None) -> dict[str, frozenset[int]]:
        return {t["subtopology_id"]: frozenset(t["partitions"]) for t in ids or () if t["partitions"]}

    return Tasks(one(active), one(standby), one(warmup))


def tasks_fields(tasks: Tasks, suffix: str = "") -> dict[str, list[dict[str, Any]]]:
    """Tasks as the active_tasks/standby_tasks/warmup_tasks fields (with a name suffix)."""
    return {
        f"active_tasks{suffix}": task_ids(tasks.active),
        f"standby_tasks{suffix}": task_ids(tasks.standby),
        f"warmup_tasks{suffix}": task_ids(tasks.warmup),
    }
