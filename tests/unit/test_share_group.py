"""KIP-932 share groups: the simple assignor, membership and epochs, records and reload (issue #16)."""

from __future__ import annotations

import struct
import uuid
from collections import Counter
from pathlib import Path

import pytest

from kafkapy.coordinator import share_group_records as records
from kafkapy.coordinator.group_configs import GroupConfigs
from kafkapy.coordinator.group_records import OffsetsTopic
from kafkapy.coordinator.group_types import GroupRegistry
from kafkapy.coordinator.share_group import simple_assign
from kafkapy.coordinator.share_group_coordinator import HeartbeatRequest, ShareGroupCoordinator
from kafkapy.coordinator.share_group_records import RECORD_TYPES, groups_from
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_manager import LogManager

T1, T2 = uuid.UUID(int=1), uuid.UUID(int=2)


def holders(assignment: dict[str, dict[uuid.UUID, list[int]]]) -> Counter[tuple[uuid.UUID, int]]:
    return Counter((t, p) for a in assignment.values() for t, ps in a.items() for p in ps)


def loads(assignment: dict[str, dict[uuid.UUID, list[int]]]) -> list[int]:
    return sorted(sum(len(ps) for ps in a.values()) for a in assignment.values())


def test_homogeneous_more_partitions_than_members_each_partition_once_balanced() -> None:
    members = {f"m{i}": [T1, T2] for i in range(3)}
    result = simple_assign(members, {T1: 4, T2: 3}, {})
    assert holders(result) == Counter({(t, p): 1 for t, n in ((T1, 4), (T2, 3)) for p in range(n)})
    assert loads(result) == [2, 2, 3]


def test_homogeneous_more_members_than_partitions_partitions_are_shared_and_nobody_idles() -> None:
    members = {f"m{i}": [T1] for i in range(6)}
    result = simple_assign(members, {T1: 3}, {})
    assert holders(result) == Counter({(T1, 0): 2, (T1, 1): 2, (T1, 2): 2})
    assert loads(result) == [1] * 6
    five = simple_assign({f"m{i}": [T1] for i in range(5)}, {T1: 3}, result)
    assert all(five.values()), "every member gets a partition"
    assert set(holders(five)) == {(T1, 0), (T1, 1), (T1, 2)}


def test_assignment_is_sticky_when_a_member_joins() -> None:
    before = simple_assign({"a": [T1], "b": [T1]}, {T1: 4}, {})
    after = simple_assign({"a": [T1], "b": [T1], "c": [T1]}, {T1: 4}, before)
    for member in ("a", "b"):
        kept = set(after[member][T1]) & set(before[member][T1])
        assert kept, f"{member} keeps part of what it had"
    assert holders(after) == Counter({(T1, p): 1 for p in range(4)})


def test_a_member_keeps_its_last_partitions_as_on_kafka() -> None:
    """Kafka 4.3.1 (observed on the reference): a member with 0-2 keeps 2 when a second one joins, and
    a member with 0-1 keeps 1 when a third joins."""
    two = simple_assign({"a": [T1], "b": [T1]}, {T1: 3}, {"a": {T1: [0, 1, 2]}})
    assert two["a"] == {T1: [2]} or two["a"] == {T1: [1, 2]}
    three = simple_assign({"a": [T1], "b": [T1], "c": [T1]}, {T1: 3}, {"a": {T1: [2]}, "b": {T1: [0, 1]}})
    assert three == {"a": {T1: [2]}, "b": {T1: [1]}, "c": {T1: [0]}}


def test_heterogeneous_each_topic_goes_to_its_own_subscribers() -> None:
    result = simple_assign({"a": [T1], "b": [T1, T2], "c": [T2]}, {T1: 2, T2: 2}, {})
    assert T2 not in result["a"] and T1 not in result["c"]
    assert holders(result) == Counter({(T1, 0): 1, (T1, 1): 1, (T2, 0): 1, (T2, 1): 1})


def test_no_partitions_or_unknown_topics_assign_nothing() -> None:
    assert simple_assign({"a": [T1]}, {}, {}) == {"a": {}}
    assert simple_assign({}, {T1: 3}, {}) == {}


class Recorder:
    """The share partition side, as far as the group side calls it."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def initialize(self, group_id: str, topic_id: uuid.UUID, topic: str, partitions: list[int]) -> None:
        self.calls.append(("initialize", group_id, topic, partitions))

    def member_removed(self, group_id: str, member_id: str) -> None:
        self.calls.append(("member_removed", group_id, member_id))

    def delete(self, group_id: str) -> None:
        self.calls.append(("delete", group_id))


@pytest.fixture
def logs(tmp_path: Path) -> LogManager:
    return LogManager.open(tmp_path, LogConfig())


def coordinator(logs: LogManager, properties: dict[str, str] | None = None) -> ShareGroupCoordinator:
    store = OffsetsTopic(logs, 1)
    registry = GroupRegistry()
    coord = ShareGroupCoordinator(store, lambda: logs.topics, GroupConfigs(properties or {}), registry, lambda: 1000)
    registry.register(coord)
    coord.share_states = Recorder()
    return coord


def beat(
    coord: ShareGroupCoordinator, member: str, epoch: int, topics: list[str] | None = None, group: str = "g"
) -> tuple[int, dict | None]:
    result = coord.heartbeat(HeartbeatRequest(group, member, epoch, None, topics, "client", "/127.0.0.1"), 0.0)
    return result.member_epoch, result.assignment


def test_join_heartbeat_leave_epochs_and_assignments(logs: LogManager) -> None:
    topic = logs.create_topic("t", 2)
    coord = coordinator(logs)
    epoch_a, assigned = beat(coord, "a", 0, ["t"])
    assert (epoch_a, assigned) == (2, {topic.topic_id: [0, 1]}), "a new group is at epoch 1, as on Kafka"
    assert coord.share_states.calls == [("initialize", "g", "t", [0, 1])]
    assert beat(coord, "a", epoch_a) == (2, None), "a plain heartbeat answers no assignment"
    epoch_b, assigned_b = beat(coord, "b", 0, ["t"])
    assert epoch_b == 3 and assigned_b is not None and len(assigned_b[topic.topic_id]) == 1
    epoch_a, assigned = beat(coord, "a", epoch_a)
    assert epoch_a == 3 and assigned is not None and len(assigned[topic.topic_id]) == 1
    assert coord.assignment("g", "a") == assigned
    assert coord.member_ids("g") == {"a", "b"}
    assert beat(coord, "a", -1) == (-1, None)
    assert coord.share_states.calls[-1] == ("member_removed", "g", "a")
    assert coord.groups["g"].group_epoch == 4
    assert coord.assignment("g", "a") == ErrorCode.UNKNOWN_MEMBER_ID
    assert coord.assignment("other", "a") == ErrorCode.GROUP_ID_NOT_FOUND
    assert len([c for c in coord.share_states.calls if c[0] == "initialize"]) == 1, "initialized once"


def test_epoch_fencing_and_unknown_members(logs: LogManager) -> None:
    logs.create_topic("t", 1)
    coord = coordinator(logs)
    beat(coord, "a", 0, ["t"])
    beat(coord, "b", 0, ["t"])
    epoch_a, _ = beat(coord, "a", 2)  # a moves from epoch 2 to 3
    assert epoch_a == 3
    assert beat(coord, "a", 2) == (3, None), "the previous epoch is still accepted"
    with pytest.raises(KafkaError) as greater:
        beat(coord, "a", 7)
    assert greater.value.code == ErrorCode.FENCED_MEMBER_EPOCH
    assert "greater member epoch (7)" in str(greater.value.message)
    beat(coord, "c", 0, ["t"])
    beat(coord, "a", 3)  # a moves to epoch 4, previous 3
    with pytest.raises(KafkaError) as smaller:
        beat(coord, "a", 2)
    assert smaller.value.code == ErrorCode.FENCED_MEMBER_EPOCH
    with pytest.raises(KafkaError) as unknown:
        beat(coord, "zzz", 3)
    assert (unknown.value.code, unknown.value.message) == (
        ErrorCode.UNKNOWN_MEMBER_ID,
        "Member zzz is not a member of group g.",
    )
    with pytest.raises(KafkaError) as missing:
        beat(coord, "a", 1, group="nope")
    assert (missing.value.code, missing.value.message) == (ErrorCode.GROUP_ID_NOT_FOUND, "Share group nope not found.")


def test_group_max_size(logs: LogManager) -> None:
    coord = coordinator(logs, {"group.share.max.size": "2"})
    beat(coord, "a", 0, ["t"])
    beat(coord, "b", 0, ["t"])
    with pytest.raises(KafkaError) as full:
        beat(coord, "c", 0, ["t"])
    assert full.value.code == ErrorCode.GROUP_MAX_SIZE_REACHED
    assert full.value.message == "The share group has reached its maximum capacity of 2 members."


def test_topic_creation_and_partition_growth_bump_the_group_epoch(logs: LogManager) -> None:
    coord = coordinator(logs)
    epoch, assigned = beat(coord, "a", 0, ["later"])
    assert (epoch, assigned) == (2, {})
    topic = logs.create_topic("later", 1)
    epoch, assigned = beat(coord, "a", epoch)
    assert (epoch, assigned) == (3, {topic.topic_id: [0]})
    logs.add_partitions("later", 3)
    epoch, assigned = beat(coord, "a", epoch)
    assert (epoch, assigned) == (4, {topic.topic_id: [0, 1, 2]})
    assert coord.share_states.calls[-1] == ("initialize", "g", "later", [1, 2])


def test_a_deleted_topic_is_unassigned_and_a_recreated_one_initialized_afresh(logs: LogManager) -> None:
    coord = coordinator(logs)
    old = logs.create_topic("t", 1)
    epoch, _ = beat(coord, "a", 0, ["t"])
    logs.delete_topic("t")
    epoch, assigned = beat(coord, "a", epoch)
    assert (epoch, assigned) == (3, {})
    assert old.topic_id not in coord.groups["g"].initialized
    new = logs.create_topic("t", 1)
    epoch, assigned = beat(coord, "a", epoch)
    assert (epoch, assigned) == (4, {new.topic_id: [0]})
    assert [c for c in coord.share_states.calls if c[0] == "initialize"] == [("initialize", "g", "t", [0])] * 2


def test_a_share_group_takes_no_offset_commits(logs: LogManager) -> None:
    coord = coordinator(logs)
    beat(coord, "a", 0, ["t"])
    assert coord.offset_commit_error("g", "a", 1, None, api_version=9) == ErrorCode.GROUP_ID_NOT_FOUND
    assert coord.offset_fetch_error("g", "a", 1) == ErrorCode.NONE


def test_altered_offsets_create_the_group_and_are_not_initialized_again(logs: LogManager) -> None:
    """AlterShareGroupOffsets on an absent group creates it Empty (as Kafka 4.3.1) with the altered share
    partitions initialized, across a reload; DeleteShareGroupOffsets makes them initialized afresh."""
    topic = logs.create_topic("t", 2)
    coord = coordinator(logs)
    coord.offsets_altered("g", topic.topic_id, "t", [0])
    assert coord.groups["g"].state.value == "Empty" and coord.member_ids("g") == set()
    again = coordinator(logs)
    again.load(OffsetsTopic(logs, 1).load().records_of(RECORD_TYPES))
    assert again.groups["g"].initialized[topic.topic_id].partitions == {0}
    epoch, _ = beat(again, "a", 0, ["t"])
    assert again.share_states.calls == [("initialize", "g", "t", [1])], "partition 0 keeps its altered state"
    beat(again, "a", -1)
    again.offsets_deleted("g", [topic.topic_id])
    beat(again, "a", 0, ["t"])
    assert again.share_states.calls[-1] == ("initialize", "g", "t", [0, 1])


def test_group_config_overrides_take_effect_on_the_next_heartbeat(logs: LogManager) -> None:
    coord = coordinator(logs, {"group.share.heartbeat.interval.ms": "3000"})
    request = HeartbeatRequest("g", "a", 0, None, ["t"], "client", "/127.0.0.1")
    assert coord.heartbeat(request, 0.0).heartbeat_interval_ms == 3000
    coord.configs.overrides["g"] = {"share.heartbeat.interval.ms": "1234", "share.session.timeout.ms": "2000"}
    request.member_epoch = 2
    assert coord.heartbeat(request, 10.0).heartbeat_interval_ms == 1234
    assert coord.groups["g"].members["a"].session_deadline == 12.0


def test_session_expiry_removes_the_member(logs: LogManager) -> None:
    logs.create_topic("t", 1)
    coord = coordinator(logs, {"group.share.session.timeout.ms": "1000"})
    beat(coord, "a", 0, ["t"])
    coord.expire_sessions(0.5)
    assert coord.member_ids("g") == {"a"}
    coord.expire_sessions(1.0)
    assert coord.member_ids("g") == set()
    assert coord.groups["g"].state.value == "Empty"


def test_a_failed_initialization_is_retried_and_the_member_still_has_a_session(logs: LogManager) -> None:
    logs.create_topic("t", 1)
    coord = coordinator(logs, {"group.share.session.timeout.ms": "1000"})
    failing = Recorder()

    def refuse(*args: object) -> None:
        raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE)

    failing.initialize = refuse  # type: ignore[method-assign]
    coord.share_states = failing
    with pytest.raises(KafkaError):
        beat(coord, "a", 0, ["t"])
    assert coord.groups["g"].initializing and not coord.groups["g"].initialized
    assert coord.groups["g"].members["a"].session_deadline == 1.0, "the member's session started anyway"
    coord.share_states = Recorder()
    epoch, _ = beat(coord, "a", 2)
    assert coord.share_states.calls == [("initialize", "g", "t", [0])]
    assert coord.groups["g"].initialized and not coord.groups["g"].initializing


def test_records_rebuild_the_groups_and_delete_tombstones_them(logs: LogManager) -> None:
    topic = logs.create_topic("t", 3)
    coord = coordinator(logs)
    beat(coord, "a", 0, ["t"])
    beat(coord, "b", 0, ["t"])
    epoch_a, _ = beat(coord, "a", 2)
    before = coord.groups["g"]
    key = struct.pack(">h", 11) + struct.pack(">h", 1) + b"g"
    loaded = OffsetsTopic(logs, 1).load()
    assert key in loaded.records, "ShareGroupMetadataKey in Kafka's layout"
    again = coordinator(logs)
    again.load(loaded.records_of(RECORD_TYPES))
    after = again.groups["g"]
    assert (after.group_epoch, after.assignment_epoch, after.metadata_hash) == (
        before.group_epoch,
        before.assignment_epoch,
        before.metadata_hash,
    )
    assert after.target == before.target
    assert after.initialized[topic.topic_id].partitions == {0, 1, 2}
    assert {m: (v.member_epoch, v.assigned, v.subscribed_topic_names) for m, v in after.members.items()} == {
        m: (v.member_epoch, v.assigned, v.subscribed_topic_names) for m, v in before.members.items()
    }
    assert again.delete_group("g") == ErrorCode.NON_EMPTY_GROUP
    beat(again, "a", -1)
    beat(again, "b", -1)
    assert again.delete_group("g") == ErrorCode.NONE
    assert again.share_states.calls[-1] == ("delete", "g")
    assert again.delete_group("g") == ErrorCode.GROUP_ID_NOT_FOUND
    assert list(OffsetsTopic(logs, 1).load().records_of(RECORD_TYPES)) == []


# ShareGroup* records as Apache Kafka 4.3.1 wrote them to its __consumer_offsets (group "g2", member "a" * 22,
# topic "g2t" with 3 partitions, being initialized), read back from the reference broker's log:
# (type, key hex, value hex).
KAFKA_RECORDS = [
    (10, "000a00026732001661616161616161616161616161616161616161616161",
     "0000000d6b61666b6170792d776972650b2f3132372e302e302e31020467327400"),
    (11, "000b00026732", "000000000002000000000000000000"),
    (12, "000c00026732", "000000000002010008000001a25294a8fa"),
    (13, "000d00026732001661616161616161616161616161616161616161616161", "00000100"),
    (14, "000e00026732001661616161616161616161616161616161616161616161",
     "00000000000300000002000257943d4f129847dbb916f3f20a06cd1e040000000000000001000000020000"),
    (15, "000f00026732", "00000257943d4f129847dbb916f3f20a06cd1e046732740400000000000000010000000200010100"),
]  # fmt: skip


def test_kafkas_own_records_load_and_encode_back_byte_for_byte() -> None:
    raw = [(t, bytes.fromhex(k), bytes.fromhex(v)) for t, k, v in KAFKA_RECORDS]
    group = groups_from(raw)["g2"]
    member = group.members["a" * 22]
    topic_id = uuid.UUID("57943d4f-1298-47db-b916-f3f20a06cd1e")
    epochs = (group.group_epoch, group.assignment_epoch, member.member_epoch, member.previous_member_epoch)
    assert epochs == (2, 2, 3, 2)
    assert member.assigned == {topic_id: [0, 1, 2]} and member.client_host == "/127.0.0.1"
    assert group.initializing[topic_id].name == "g2t" and group.initializing[topic_id].partitions == {0, 1, 2}
    ours = {
        10: records.member_metadata("g2", member),
        11: records.group_metadata(group),
        12: records.target_assignment_metadata(group, 0x1A25294A8FA),
        13: records.target_assignment_member("g2", member.member_id, group.target[member.member_id]),
        14: records.current_member_assignment("g2", member),
        15: records.state_partition_metadata(group),
    }
    assert {t: (k.hex(), v.hex() if v is not None else None) for t, (k, v) in ours.items()} == {
        t: (k, v) for t, k, v in KAFKA_RECORDS
    }


def test_an_undecodable_record_is_skipped_and_the_rest_load(caplog: pytest.LogCaptureFixture) -> None:
    raw = [(t, bytes.fromhex(k), bytes.fromhex(v)) for t, k, v in KAFKA_RECORDS]
    raw[1] = (11, raw[1][1], b"\x00\x00\x01")  # a truncated ShareGroupMetadataValue
    raw.append((10, b"\x00\x0a\x00\x09trunc", b"\x00\x00"))  # a key cut short
    with caplog.at_level("WARNING", "kafkapy.coordinator"):
        groups = groups_from(raw)
    assert list(groups) == ["g2"] and groups["g2"].group_epoch == 1, "a new group's epoch, its record lost"
    assert groups["g2"].members["a" * 22].member_epoch == 3
    assert sum("undecodable share group record" in r.message for r in caplog.records) == 2
