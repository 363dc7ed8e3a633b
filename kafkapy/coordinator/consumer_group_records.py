"""KIP-848 consumer groups in ``__consumer_offsets``: Kafka 4.3.1's record layouts
(``protocol_specs/internal/consumer_group.kspec``), the records of a group, and its rebuild at start-up.

A group's state is the set of its live records: ConsumerGroupMetadata (group epoch), one
MemberMetadata, TargetAssignmentMember and CurrentMemberAssignment per member,
TargetAssignmentMetadata (assignment epoch), a RegularExpression per subscribed regex. The
coordinator keeps the records it last wrote for each group and, after each change, writes the
ones that differ and tombstones for the ones that went (``changes``), so a member that leaves or a
group that is deleted leaves tombstones, and a failed write is retried by the next change.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import uuid
from collections.abc import Iterable
from functools import cache
from typing import Any

import construct as c

from kafkapy.coordinator.assignors import Assignment
from kafkapy.coordinator.consumer_group import MEMBER_STATE_CODES, ConsumerGroup, ConsumerGroupMember, MemberState
from kafkapy.coordinator.group_migration import ClassicMemberMetadata
from kafkapy.protocol.schema import message_construct
from kafkapy.protocol.specs import internal_specs

log = logging.getLogger("kafkapy.coordinator")

# Kafka's CoordinatorRecordType, the int16 that opens each key.
CONSUMER_GROUP_METADATA = 3
CONSUMER_GROUP_MEMBER_METADATA = 5
CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA = 6
CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER = 7
CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT = 8
CONSUMER_GROUP_REGULAR_EXPRESSION = 16
RECORD_TYPES = {
    CONSUMER_GROUP_METADATA: "ConsumerGroupMetadata",
    CONSUMER_GROUP_MEMBER_METADATA: "ConsumerGroupMemberMetadata",
    CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA: "ConsumerGroupTargetAssignmentMetadata",
    CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER: "ConsumerGroupTargetAssignmentMember",
    CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT: "ConsumerGroupCurrentMemberAssignment",
    CONSUMER_GROUP_REGULAR_EXPRESSION: "ConsumerGroupRegularExpression",
}
_STATES = {code: state for state, code in MEMBER_STATE_CODES.items()}
_INT16 = struct.Struct(">h")

Records = dict[bytes, bytes]


@cache
def _schema(name: str) -> c.Construct:
    return message_construct(internal_specs("consumer_group")[name], 0).compile()


def _key(record_type: int, fields: dict[str, Any]) -> bytes:
    return _INT16.pack(record_type) + _schema(f"{RECORD_TYPES[record_type]}Key").build(fields)


def _value(record_type: int, fields: dict[str, Any]) -> bytes:
    return _INT16.pack(0) + _schema(f"{RECORD_TYPES[record_type]}Value").build(fields)


def _partitions(assignment: Assignment, epochs: dict[tuple[uuid.UUID, int], int] | None = None) -> list[dict]:
    """TopicPartitions entries; with ``epochs``, each partition's assignment epoch beside it (AssignmentEpochs)."""
    out = []
    for t, parts in sorted(assignment.items()):
        entry: dict[str, Any] = {"topic_id": t, "partitions": sorted(parts)}
        if epochs is not None:
            entry["assignment_epochs"] = [epochs.get((t, p), -1) for p in entry["partitions"]]
        out.append(entry)
    return out


def _assignment(entries: Iterable[Any]) -> Assignment:
    return {e.topic_id: frozenset(e.partitions) for e in entries if e.partitions}


def _epochs(entries: Iterable[Any]) -> dict[tuple[uuid.UUID, int], int]:
    return {
        (e.topic_id, p): epoch
        for e in entries
        if e.get("assignment_epochs") is not None
        for p, epoch in zip(e.partitions, e.assignment_epochs, strict=False)
    }


def metadata_hash(topics: Iterable[tuple[str, uuid.UUID, int]]) -> int:
    """A stable int64 of the subscribed topics' names, ids and partition counts (Kafka's MetadataHash
    plays this part; the value is only compared by the coordinator that wrote it)."""
    ordered = sorted(topics)
    if not ordered:
        return 0  # a new group's: subscribing to nothing that exists changes nothing
    digest = hashlib.blake2b(digest_size=8)
    for name, topic_id, partitions in ordered:
        digest.update(f"{name}\0{topic_id}\0{partitions}\0".encode())
    return int.from_bytes(digest.digest(), "big", signed=True)


# A member's records by member id, with the member object, target and state they were encoded from
# (``group_records``' cache). Members and targets are replaced, never changed in place, when they change
# (only their deadlines are set in place), so the same objects mean the same records.
MemberRecordsCache = dict[str, tuple[ConsumerGroupMember, Assignment, Any, Records]]


def group_records(
    group: ConsumerGroup, regexes: dict[str, list[str]], cache: MemberRecordsCache | None = None
) -> Records:
    """Every live record of ``group`` (``regexes``: each subscribed regex with the topics it matches).
    With ``cache``, a member whose state did not change since its records were encoded is not encoded
    again: a steady heartbeat of a large group costs comparisons, not encodings."""
    gid = group.group_id
    out: Records = {
        _key(CONSUMER_GROUP_METADATA, {"group_id": gid}): _value(
            CONSUMER_GROUP_METADATA, {"epoch": group.group_epoch, "metadata_hash": group.metadata_hash}
        ),
        _key(CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA, {"group_id": gid}): _value(
            CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA, {"assignment_epoch": group.assignment_epoch}
        ),
    }
    for member in group.members.values():
        target = group.target.get(member.member_id, {})
        cached = None if cache is None else cache.get(member.member_id)
        if cached is not None and cached[0] is member and cached[1] is target:
            out.update(cached[3])
            continue
        state = ({k: v for k, v in member.__dict__.items() if not k.endswith("_deadline")}, target)
        records = cached[3] if cached is not None and cached[2] == state else _member_records(gid, member, target)
        if cache is not None:
            cache[member.member_id] = (member, target, state, records)
        out.update(records)
    if cache is not None:
        for gone in cache.keys() - group.members.keys():
            del cache[gone]
    for regex, topics in sorted(regexes.items()):
        key = _key(CONSUMER_GROUP_REGULAR_EXPRESSION, {"group_id": gid, "regular_expression": regex})
        out[key] = _value(CONSUMER_GROUP_REGULAR_EXPRESSION, {"topics": sorted(topics), "version": 0, "timestamp": 0})
    return out


def _member_records(group_id: str, member: ConsumerGroupMember, target: Assignment) -> Records:
    ids = {"group_id": group_id, "member_id": member.member_id}
    metadata = {
        "instance_id": member.instance_id,
        "rack_id": member.rack_id,
        "client_id": member.client_id,
        "client_host": member.client_host,
        "subscribed_topic_names": member.subscribed_topic_names,
        "subscribed_topic_regex": member.subscribed_topic_regex,
        "rebalance_timeout_ms": member.rebalance_timeout_ms,
        "server_assignor": member.server_assignor,
        # A member speaking the classic protocol (group_migration.py); null for the consumer protocol.
        "classic_member_metadata": member.classic.to_record() if member.classic is not None else None,
    }
    current = {
        "member_epoch": member.member_epoch,
        "previous_member_epoch": member.previous_member_epoch,
        "state": MEMBER_STATE_CODES[member.state],
        "assigned_partitions": _partitions(member.assigned, member.assignment_epochs),
        "partitions_pending_revocation": _partitions(member.pending_revocation, member.assignment_epochs),
    }
    return {
        _key(CONSUMER_GROUP_MEMBER_METADATA, ids): _value(CONSUMER_GROUP_MEMBER_METADATA, metadata),
        _key(CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER, ids): _value(
            CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER, {"topic_partitions": _partitions(target)}
        ),
        _key(CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT, ids): _value(CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT, current),
    }


def changes(written: Records, now: Records) -> list[tuple[bytes, bytes | None]]:
    """The records to append to go from ``written`` to ``now``: changed values, then tombstones."""
    out: list[tuple[bytes, bytes | None]] = [(k, v) for k, v in now.items() if written.get(k) != v]
    out += [(k, None) for k in written if k not in now]
    return out


def _decode(record_type: int, key: bytes, value: bytes) -> tuple[c.Container, c.Container]:
    name = RECORD_TYPES[record_type]
    return _schema(f"{name}Key").parse(key[_INT16.size :]), _schema(f"{name}Value").parse(value[_INT16.size :])


def load_groups(records: Iterable[tuple[int, bytes, bytes]]) -> dict[str, tuple[ConsumerGroup, Records]]:
    """Rebuild the consumer groups from their live records (LoadedState.records_of), each with the
    records it was rebuilt from. A member without its MemberMetadata record is dropped."""
    groups: dict[str, ConsumerGroup] = {}
    written: dict[str, Records] = {}
    members: dict[tuple[str, str], ConsumerGroupMember] = {}
    targets: dict[tuple[str, str], Assignment] = {}
    currents: dict[tuple[str, str], c.Container] = {}
    for record_type, key, value in records:
        if record_type not in RECORD_TYPES:
            continue
        try:
            k, v = _decode(record_type, key, value)
        except (c.ConstructError, ValueError, struct.error) as exc:
            # Start-up goes on without it, as with any record the offsets topic cannot use.
            log.warning("skipped an undecodable consumer group record", extra={"type": record_type, "error": str(exc)})
            continue
        group = groups.setdefault(k.group_id, ConsumerGroup(k.group_id))
        written.setdefault(k.group_id, {})[key] = value
        if record_type == CONSUMER_GROUP_METADATA:
            # MetadataHash is a tagged field: absent when it was written at its default (0).
            group.group_epoch, group.metadata_hash = v.epoch, v.get("metadata_hash", 0)
        elif record_type == CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA:
            group.assignment_epoch = v.assignment_epoch
        elif record_type == CONSUMER_GROUP_MEMBER_METADATA:
            members[(k.group_id, k.member_id)] = ConsumerGroupMember(
                k.member_id,
                instance_id=v.instance_id,
                rack_id=v.rack_id,
                client_id=v.client_id,
                client_host=v.client_host,
                rebalance_timeout_ms=v.rebalance_timeout_ms,
                subscribed_topic_names=list(v.subscribed_topic_names),
                subscribed_topic_regex=v.subscribed_topic_regex,
                server_assignor=v.server_assignor,
                classic=ClassicMemberMetadata.from_record(v.get("classic_member_metadata")),
            )
        elif record_type == CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER:
            targets[(k.group_id, k.member_id)] = _assignment(v.topic_partitions)
        elif record_type == CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT:
            currents[(k.group_id, k.member_id)] = v
    for (group_id, member_id), member in members.items():
        current = currents.get((group_id, member_id))
        if current is not None:
            member.member_epoch = current.member_epoch
            member.previous_member_epoch = current.previous_member_epoch
            member.state = _STATES.get(current.state, MemberState.UNKNOWN)
            member.assigned = _assignment(current.assigned_partitions)
            member.pending_revocation = _assignment(current.partitions_pending_revocation)
            member.assignment_epochs = {
                **_epochs(current.assigned_partitions),
                **_epochs(current.partitions_pending_revocation),
            }
        groups[group_id].update_member(None, member)
    for (group_id, member_id), target in targets.items():
        if member_id in groups[group_id].members:
            groups[group_id].target[member_id] = target
    return {gid: (group, written[gid]) for gid, group in groups.items()}
