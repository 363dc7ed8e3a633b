"""The share group records of ``__consumer_offsets`` (types 10-15), in Kafka 4.3.1's layouts.

``protocol_specs/internal/share_group.kspec`` holds the layouts; this module turns a ShareGroup into
its records and rebuilds every share group from the records a load found (``groups_from``), so that
Kafka's tools read what kafkapy writes and a restart (or kill -9) finds the groups as they were.
"""

from __future__ import annotations

import logging
import struct
import uuid
from collections.abc import Iterable
from functools import cache
from typing import Any

import construct as c

from kafkapy.coordinator.group_records import Record
from kafkapy.coordinator.share_group import (
    MEMBER_STATE_STABLE,
    Assignment,
    ShareGroup,
    ShareGroupMember,
    TopicPartitions,
)
from kafkapy.protocol.schema import message_construct
from kafkapy.protocol.specs import internal_specs

log = logging.getLogger("kafkapy.coordinator")

# Kafka's record types (the coordinator-key apiKey, written as the key's version).
MEMBER_METADATA = 10
GROUP_METADATA = 11
TARGET_ASSIGNMENT_METADATA = 12
TARGET_ASSIGNMENT_MEMBER = 13
CURRENT_MEMBER_ASSIGNMENT = 14
STATE_PARTITION_METADATA = 15
RECORD_TYPES = (MEMBER_METADATA, GROUP_METADATA, TARGET_ASSIGNMENT_METADATA, TARGET_ASSIGNMENT_MEMBER,
                CURRENT_MEMBER_ASSIGNMENT, STATE_PARTITION_METADATA)  # fmt: skip
_NAMES = {
    MEMBER_METADATA: "ShareGroupMemberMetadata",
    GROUP_METADATA: "ShareGroupMetadata",
    TARGET_ASSIGNMENT_METADATA: "ShareGroupTargetAssignmentMetadata",
    TARGET_ASSIGNMENT_MEMBER: "ShareGroupTargetAssignmentMember",
    CURRENT_MEMBER_ASSIGNMENT: "ShareGroupCurrentMemberAssignment",
    STATE_PARTITION_METADATA: "ShareGroupStatePartitionMetadata",
}
VALUE_VERSION = 0

_VERSION = struct.Struct(">h")


@cache
def _schema(name: str, version: int) -> c.Construct:
    return message_construct(internal_specs("share_group")[name], version).compile()


def _key(record_type: int, group_id: str, member_id: str | None = None) -> bytes:
    fields: dict[str, Any] = {"group_id": group_id}
    if member_id is not None:
        fields["member_id"] = member_id
    return _VERSION.pack(record_type) + _schema(_NAMES[record_type] + "Key", record_type).build(fields)


def _record(record_type: int, group_id: str, value: dict[str, Any] | None, member_id: str | None = None) -> Record:
    """A key with its value (version 0), or a tombstone for None."""
    key = _key(record_type, group_id, member_id)
    if value is None:
        return key, None
    return key, _VERSION.pack(VALUE_VERSION) + _schema(_NAMES[record_type] + "Value", VALUE_VERSION).build(value)


def _topic_partitions(assignment: Assignment) -> list[dict[str, Any]]:
    return [{"topic_id": t, "partitions": ps} for t, ps in sorted(assignment.items(), key=lambda i: str(i[0]))]


def _assignment(entries: Iterable[c.Container]) -> Assignment:
    return {e.topic_id: sorted(e.partitions) for e in entries}


def _topics(entries: Iterable[c.Container]) -> dict[uuid.UUID, TopicPartitions]:
    return {e.topic_id: TopicPartitions(e.topic_name, set(e.partitions)) for e in entries}


def group_metadata(group: ShareGroup) -> Record:
    return _record(GROUP_METADATA, group.group_id, {"epoch": group.group_epoch, "metadata_hash": group.metadata_hash})


def member_metadata(group_id: str, member: ShareGroupMember, *, tombstone: bool = False) -> Record:
    value = None if tombstone else {
        "rack_id": member.rack_id,
        "client_id": member.client_id,
        "client_host": member.client_host,
        "subscribed_topic_names": member.subscribed_topic_names,
    }  # fmt: skip
    return _record(MEMBER_METADATA, group_id, value, member.member_id)


def target_assignment_metadata(group: ShareGroup, now_ms: int) -> Record:
    value = {"assignment_epoch": group.assignment_epoch, "assignment_timestamp": now_ms}
    return _record(TARGET_ASSIGNMENT_METADATA, group.group_id, value)


def target_assignment_member(group_id: str, member_id: str, assignment: Assignment | None) -> Record:
    value = None if assignment is None else {"topic_partitions": _topic_partitions(assignment)}
    return _record(TARGET_ASSIGNMENT_MEMBER, group_id, value, member_id)


def current_member_assignment(group_id: str, member: ShareGroupMember, *, tombstone: bool = False) -> Record:
    value = None if tombstone else {
        "member_epoch": member.member_epoch,
        "previous_member_epoch": member.previous_member_epoch,
        "state": MEMBER_STATE_STABLE,
        "assigned_partitions": _topic_partitions(member.assigned),
    }  # fmt: skip
    return _record(CURRENT_MEMBER_ASSIGNMENT, group_id, value, member.member_id)


def state_partition_metadata(group: ShareGroup) -> Record:
    def partitions(topics: dict[uuid.UUID, TopicPartitions]) -> list[dict[str, Any]]:
        return [
            {"topic_id": t, "topic_name": tp.name, "partitions": sorted(tp.partitions)}
            for t, tp in sorted(topics.items(), key=lambda i: str(i[0]))
        ]

    value = {
        "initializing_topics": partitions(group.initializing),
        "initialized_topics": partitions(group.initialized),
        "deleting_topics": [{"topic_id": t, "topic_name": n} for t, n in sorted(group.deleting.items(), key=str)],
    }
    return _record(STATE_PARTITION_METADATA, group.group_id, value)


def tombstones(group: ShareGroup) -> list[Record]:
    """Every record of a deleted group, members' first and the group metadata last, as Kafka writes them."""
    records: list[Record] = []
    for member in group.members.values():
        records.append(current_member_assignment(group.group_id, member, tombstone=True))
    for member_id in group.target:
        records.append(target_assignment_member(group.group_id, member_id, None))
    for member in group.members.values():
        records.append(member_metadata(group.group_id, member, tombstone=True))
    for record_type in (TARGET_ASSIGNMENT_METADATA, STATE_PARTITION_METADATA, GROUP_METADATA):
        records.append((_key(record_type, group.group_id), None))
    return records


def _decode_key(record_type: int, key: bytes) -> c.Container:
    return _schema(_NAMES[record_type] + "Key", record_type).parse(key[_VERSION.size :])


def _decode_value(record_type: int, value: bytes) -> c.Container:
    (version,) = _VERSION.unpack_from(value)
    return _schema(_NAMES[record_type] + "Value", version).parse(value[_VERSION.size :])


def groups_from(records: Iterable[tuple[int, bytes, bytes]]) -> dict[str, ShareGroup]:
    """Rebuild the share groups from their live records (LoadedState.records_of(RECORD_TYPES)); a record
    that cannot be decoded is logged and skipped. Any live record makes a group, as in Kafka's replay
    (AlterShareGroupOffsets creates a group with only its ShareGroupStatePartitionMetadata); a deleted
    group has none left."""
    groups: dict[str, ShareGroup] = {}
    for record_type, key, value in records:
        try:
            k = _decode_key(record_type, key)
            v = _decode_value(record_type, value)
        except (c.ConstructError, ValueError, struct.error) as exc:
            log.warning("skipped an undecodable share group record", extra={"type": record_type, "error": str(exc)})
            continue
        _apply(groups.setdefault(k.group_id, ShareGroup(k.group_id)), record_type, k, v)
    return groups


def _apply(group: ShareGroup, record_type: int, k: c.Container, v: c.Container) -> None:
    if record_type == GROUP_METADATA:
        group.group_epoch, group.metadata_hash = v.epoch, v.metadata_hash
    elif record_type == TARGET_ASSIGNMENT_METADATA:
        group.assignment_epoch = v.assignment_epoch
    elif record_type == TARGET_ASSIGNMENT_MEMBER:
        group.target[k.member_id] = _assignment(v.topic_partitions)
    elif record_type == STATE_PARTITION_METADATA:
        group.initializing = _topics(v.initializing_topics)
        group.initialized = _topics(v.initialized_topics)
        group.deleting = {t.topic_id: t.topic_name for t in v.deleting_topics}
    else:
        member = group.members.setdefault(k.member_id, ShareGroupMember(k.member_id))
        if record_type == MEMBER_METADATA:
            member.rack_id, member.client_id, member.client_host = v.rack_id, v.client_id, v.client_host
            member.subscribed_topic_names = list(v.subscribed_topic_names)
        else:
            member.member_epoch, member.previous_member_epoch = v.member_epoch, v.previous_member_epoch
            member.assigned = _assignment(v.assigned_partitions)
