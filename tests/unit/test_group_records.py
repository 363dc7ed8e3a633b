"""__consumer_offsets records: Kafka's byte layouts, partitioning and replay."""

from __future__ import annotations

import struct
from pathlib import Path

from kafkapy.coordinator.group import ClassicGroup, Member, OffsetAndMetadata
from kafkapy.coordinator.group_records import (
    OFFSETS_TOPIC,
    OffsetsTopic,
    group_metadata_record,
    java_string_hash,
    offset_commit_record,
    partition_for,
)
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_manager import LogManager


def kafka_string(text: str) -> bytes:
    return struct.pack(">h", len(text)) + text.encode()


def test_java_string_hash_and_partition() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)  # Integer.MIN_VALUE: Utils.abs gives 0
    assert java_string_hash("é") == 0xE9
    assert java_string_hash("😀") == 0xD83D * 31 + 0xDE00  # a surrogate pair: two UTF-16 units
    assert partition_for("polygenelubricants", 50) == 0
    assert partition_for("hello", 50) == 99162322 % 50


def test_offset_commit_layout_matches_kafka() -> None:
    key, value = offset_commit_record("grp", "top", 3, OffsetAndMetadata(42, 7, "md", 1000))
    assert key == struct.pack(">h", 1) + kafka_string("grp") + kafka_string("top") + struct.pack(">i", 3)
    assert value == struct.pack(">hqi", 3, 42, 7) + kafka_string("md") + struct.pack(">q", 1000)
    _, expiring = offset_commit_record("grp", "top", 3, OffsetAndMetadata(42, -1, "", 1000, 2000))
    assert expiring == struct.pack(">hq", 1, 42) + kafka_string("") + struct.pack(">qq", 1000, 2000)
    assert offset_commit_record("grp", "top", 3, None) == (key, None)


def test_group_metadata_layout_matches_kafka() -> None:
    group = ClassicGroup("grp", 5)
    group.protocol_type, group.protocol_name, group.generation_id, group.leader_id = "consumer", "range", 4, "m"
    group.members["m"] = Member("m", None, "cid", "/h", 300, 10, "consumer", [("range", b"sub")])
    key, value = group_metadata_record(group, "grp", {"m": b"asg"})
    assert key == struct.pack(">h", 2) + kafka_string("grp")
    expected = struct.pack(">h", 3) + kafka_string("consumer") + struct.pack(">i", 4) + kafka_string("range")
    expected += kafka_string("m") + struct.pack(">q", 5) + struct.pack(">i", 1)
    expected += kafka_string("m") + struct.pack(">h", -1) + kafka_string("cid") + kafka_string("/h")
    expected += struct.pack(">ii", 300, 10) + struct.pack(">i", 3) + b"sub" + struct.pack(">i", 3) + b"asg"
    assert value == expected


def test_replay_last_value_wins_and_tombstones_delete(tmp_path: Path) -> None:
    logs = LogManager.open(tmp_path, LogConfig())
    topic = OffsetsTopic(logs, 3)
    offset = OffsetAndMetadata(1, -1, "", 0)
    topic.append("a", [offset_commit_record("a", "t", 0, offset)], 0)
    topic.append("a", [offset_commit_record("a", "t", 0, OffsetAndMetadata(2, -1, "", 0))], 0)
    topic.append("b", [offset_commit_record("b", "t", 0, offset), offset_commit_record("b", "t", 1, offset)], 0)
    topic.append("b", [offset_commit_record("b", "t", 0, None)], 0)
    topic.append("c", [offset_commit_record("c", "t", 0, offset)], 0)
    topic.append("c", [offset_commit_record("c", "t", 0, None)], 0)
    assert len(logs.topics[OFFSETS_TOPIC].partitions) == 3
    assert logs.topics[OFFSETS_TOPIC].configs["cleanup.policy"] == "compact"
    groups = topic.load().groups(0)
    assert set(groups) == {"a", "b"}
    assert groups["a"].offsets == {("t", 0): OffsetAndMetadata(2, -1, "", 0)}
    assert set(groups["b"].offsets) == {("t", 1)}


def test_kafka4_group_records_replay_undecoded_by_type(tmp_path: Path) -> None:
    """Records of types 3+ (KIP-848/932/1071 groups) are kept as the latest value per key, for their coordinators."""
    logs = LogManager.open(tmp_path, LogConfig())
    topic = OffsetsTopic(logs, 1)
    metadata_key = struct.pack(">h", 3) + kafka_string("cg")  # ConsumerGroupMetadataKey
    member_key = struct.pack(">h", 5) + kafka_string("cg") + kafka_string("m1")  # ConsumerGroupMemberMetadataKey
    share_key = struct.pack(">h", 11) + kafka_string("sg")  # ShareGroupMetadataKey
    topic.append("cg", [(metadata_key, b"v1"), (member_key, b"m")], 0)
    topic.append("sg", [(share_key, b"s")], 0)
    topic.append("cg", [(metadata_key, b"v2"), (member_key, None)], 0)
    loaded = topic.load()
    assert list(loaded.records_of([3, 5])) == [(3, metadata_key, b"v2")]
    assert list(loaded.records_of([11])) == [(11, share_key, b"s")]
    assert loaded.metadata == {} and loaded.offsets == {}
