"""The pieces of classic <-> consumer group migration that need no coordinator: the policy, the
embedded consumer protocol as kafka-clients writes it, and Kafka's upgrade checks."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kafkapy.broker_config import BrokerConfig, ConfigError, apply_properties
from kafkapy.coordinator.group import ClassicGroup, Member
from kafkapy.coordinator.group_configs import GroupConfigs
from kafkapy.coordinator.group_migration import (
    ClassicMemberMetadata,
    MalformedProtocol,
    MigrationPolicy,
    decode_assignment,
    decode_subscription,
    downgrade_allowed,
    encode_assignment,
    migration_policy,
    supports_protocols,
    upgrade_error,
    upgrade_refusal,
)
from kafkapy.protocol.errors import ErrorCode


def _string(s: str) -> bytes:
    return struct.pack(">h", len(s)) + s.encode()


def _topic_partitions(topic: str, partitions: list[int]) -> bytes:
    return _string(topic) + struct.pack(">i", len(partitions)) + b"".join(struct.pack(">i", p) for p in partitions)


def java_subscription_v3(topics: list[str], owned: dict[str, list[int]], generation: int, rack: str | None) -> bytes:
    """ConsumerProtocolSubscription v3 byte by byte, as kafka-clients' ConsumerProtocol writes it."""
    out = struct.pack(">h", 3) + struct.pack(">i", len(topics)) + b"".join(map(_string, topics))
    out += struct.pack(">i", -1)  # user data: null
    out += struct.pack(">i", len(owned)) + b"".join(_topic_partitions(t, ps) for t, ps in owned.items())
    out += struct.pack(">i", generation)
    out += _string(rack) if rack is not None else struct.pack(">h", -1)
    return out


def java_assignment(version: int, assigned: dict[str, list[int]], user_data: bytes | None = None) -> bytes:
    out = struct.pack(">h", version) + struct.pack(">i", len(assigned))
    out += b"".join(_topic_partitions(t, ps) for t, ps in assigned.items())
    out += struct.pack(">i", -1) if user_data is None else struct.pack(">i", len(user_data)) + user_data
    return out


def test_policy_is_read_from_the_group_configs_at_each_use() -> None:
    assert migration_policy(GroupConfigs({})) is MigrationPolicy.BIDIRECTIONAL  # Kafka's default
    configs = GroupConfigs({"group.consumer.migration.policy": "Upgrade"})
    policy = migration_policy(configs)
    assert policy is MigrationPolicy.UPGRADE and policy.upgrade_enabled and not policy.downgrade_enabled
    dynamic: dict[str, str] = {"group.consumer.migration.policy": "downgrade"}
    configs = GroupConfigs({}, dynamic.get)
    assert migration_policy(configs) is MigrationPolicy.DOWNGRADE
    dynamic["group.consumer.migration.policy"] = "disabled"
    policy = migration_policy(configs)
    assert not policy.upgrade_enabled and not policy.downgrade_enabled


def test_a_java_subscription_is_read() -> None:
    data = java_subscription_v3(["orders", "audit"], {"orders": [0, 2]}, 7, "rack-a")
    sub = decode_subscription(data)
    assert (sub.version, sub.topics, sub.rack_id) == (3, ["orders", "audit"], "rack-a")
    assert sub.owned_partitions == {"orders": frozenset({0, 2})}
    # A newer version is read with the newest layout known, trailing fields ignored (Kafka's rule).
    newer = struct.pack(">h", 9) + data[2:] + b"\x01\x02"
    assert decode_subscription(newer).topics == ["orders", "audit"]
    v0 = struct.pack(">h", 0) + struct.pack(">i", 1) + _string("orders") + struct.pack(">i", -1)
    assert decode_subscription(v0).topics == ["orders"] and decode_subscription(v0).owned_partitions == {}


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x03\x00\x00\x00\x05", b"\xff\xff\x00\x00\x00\x00"])
def test_a_malformed_subscription_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedProtocol):
        decode_subscription(data)


def test_assignments_are_written_as_kafka_clients_write_them() -> None:
    assigned = {"orders": frozenset({2, 0}), "audit": frozenset({1})}
    for version in (0, 1, 3):
        expected = java_assignment(version, {"audit": [1], "orders": [0, 2]})
        assert encode_assignment(assigned, version) == expected
    # A subscription newer than Kafka's newest is answered in the newest version.
    assert encode_assignment(assigned, 7) == java_assignment(3, {"audit": [1], "orders": [0, 2]})
    assert decode_assignment(java_assignment(1, {"orders": [0, 2]})) == ({"orders": frozenset({0, 2})}, None)
    assert decode_assignment(java_assignment(0, {}, b"sticky")) == ({}, b"sticky")
    assert decode_assignment(b"") == ({}, None)  # a member that never synced


def test_classic_member_metadata_answers_in_its_subscription_version() -> None:
    v1 = struct.pack(">h", 1) + struct.pack(">i", 1) + _string("orders") + struct.pack(">i", -1) + struct.pack(">i", 0)
    classic = ClassicMemberMetadata(6000, (("range", v1), ("cooperative-sticky", v1)))
    assert classic.protocol_name == "range"
    assert classic.assignment_bytes({"orders": frozenset({1})}) == java_assignment(1, {"orders": [1]})
    record = classic.to_record()
    assert record["supported_protocols"][1] == {"name": "cooperative-sticky", "metadata": v1}


def test_classic_protocols_a_consumer_group_accepts() -> None:
    metadata = java_subscription_v3(["t"], {}, -1, None)
    ranged = ClassicMemberMetadata(6000, (("range", metadata), ("cooperative-sticky", metadata)))
    sticky = ClassicMemberMetadata(6000, (("cooperative-sticky", metadata),))
    assert supports_protocols([], "consumer", {"range"})
    assert not supports_protocols([], "consumer", set())
    assert not supports_protocols([], "connect", {"range"})
    assert supports_protocols([ranged, sticky], "consumer", {"cooperative-sticky", "roundrobin"})
    assert not supports_protocols([ranged, sticky], "consumer", {"range"})


def _classic_group(protocol_type: str, members: int) -> ClassicGroup:
    group = ClassicGroup("g", 0)
    for i in range(members):
        group.add(Member(f"m{i}", None, "c", "/127.0.0.1", 30000, 6000, protocol_type, [("range", b"")]))
    return group


def test_upgrade_refusals_follow_kafka_order() -> None:
    group = _classic_group("consumer", 3)
    assert upgrade_refusal(group, MigrationPolicy.BIDIRECTIONAL, 3) is None
    assert upgrade_refusal(group, MigrationPolicy.UPGRADE, 3) is None
    assert upgrade_refusal(group, MigrationPolicy.DOWNGRADE, 3) == "online upgrade is disabled"
    assert upgrade_refusal(group, MigrationPolicy.DISABLED, 3) == "online upgrade is disabled"
    too_big = upgrade_refusal(group, MigrationPolicy.BIDIRECTIONAL, 2)
    assert too_big == "the group size exceeds the consumer group maximum size"
    connect = upgrade_refusal(_classic_group("connect", 1), MigrationPolicy.BIDIRECTIONAL, 5)
    assert connect == "the group does not use the consumer embedded protocol"
    # Kafka 4.3.1's answer, as the reference sends it (policy disabled, a non-empty classic group).
    error = upgrade_error("g", upgrade_refusal(group, MigrationPolicy.DISABLED, 3) or "")
    assert error.code == ErrorCode.GROUP_ID_NOT_FOUND
    assert error.message == "Cannot upgrade classic group g to consumer group because online upgrade is disabled."


def test_downgrade_only_when_the_last_consumer_protocol_member_leaves() -> None:
    bidirectional = MigrationPolicy.BIDIRECTIONAL
    assert downgrade_allowed(2, 3, True, bidirectional, 10)
    assert not downgrade_allowed(1, 3, True, bidirectional, 10)  # another consumer-protocol member stays
    assert not downgrade_allowed(2, 3, False, bidirectional, 10)  # a classic member leaves
    assert not downgrade_allowed(0, 1, True, bidirectional, 10)  # the group becomes empty: it stays
    assert not downgrade_allowed(2, 3, True, MigrationPolicy.UPGRADE, 10)
    assert not downgrade_allowed(2, 3, True, bidirectional, 1)  # over group.max.size


def test_server_properties_refuse_an_unknown_policy_as_kafka_does(tmp_path: Path) -> None:
    config = BrokerConfig(data_dir=tmp_path)
    apply_properties(config, {"group.consumer.migration.policy": " Upgrade "})
    assert migration_policy(GroupConfigs(config.group_properties)) is MigrationPolicy.UPGRADE
    with pytest.raises(ConfigError) as refused:
        apply_properties(BrokerConfig(data_dir=tmp_path), {"group.consumer.migration.policy": "sideways"})
    # Kafka 4.3.1's validator (run on its jars) says: "Invalid value sideways for configuration
    # group.consumer.migration.policy: String must
    # be one of (case insensitive): DISABLED, DOWNGRADE, UPGRADE, BIDIRECTIONAL".
    assert "String must be one of (case insensitive): DISABLED, DOWNGRADE, UPGRADE, BIDIRECTIONAL" in str(refused.value)
