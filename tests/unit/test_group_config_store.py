"""GROUP config resources: Kafka 4.3.1's GroupConfig checks of a group's new overrides (the broker's
bounds from server.properties), share.auto.offset.reset's ISO-8601 durations, the describe entries and
their sources, and the overrides kept in group-configs.json across a reopen (a damaged file is logged)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kafkapy.broker_config import BrokerConfig, apply_properties
from kafkapy.coordinator.group_config_store import (
    DESCRIBE_ORDER,
    FILE_NAME,
    GroupConfigStore,
    auto_offset_reset_error,
    group_incremental_changes,
)
from kafkapy.coordinator.group_configs import GROUP_CONFIGS, GroupConfigs
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.fs import DISK


def store(data_dir: Path | None = None, **props: str) -> GroupConfigStore:
    config = BrokerConfig()
    apply_properties(config, {name.replace("_", "."): value for name, value in props.items()})
    return GroupConfigStore(data_dir, DISK, GroupConfigs(config.group_properties))


def refusal(s: GroupConfigStore, overrides: dict[str, str]) -> str | None:
    try:
        s.validate(overrides)
    except KafkaError as exc:
        assert exc.code == ErrorCode.INVALID_CONFIG
        return exc.message
    return None


def test_every_group_config_is_described_once() -> None:
    assert sorted(DESCRIBE_ORDER) == sorted(GROUP_CONFIGS)


def test_bounds_come_from_the_broker_configs() -> None:
    s = store()
    assert refusal(s, {"consumer.session.timeout.ms": "50000"}) is None
    assert refusal(s, {"consumer.session.timeout.ms": "44999"}) == (
        "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"
    )
    lowered = store(group_consumer_min_session_timeout_ms="1000", group_consumer_min_heartbeat_interval_ms="100")
    assert refusal(lowered, {"consumer.session.timeout.ms": "2000", "consumer.heartbeat.interval.ms": "500"}) is None
    # The session timeout must stay above the heartbeat interval, overridden or not.
    assert refusal(lowered, {"consumer.session.timeout.ms": "2000", "consumer.heartbeat.interval.ms": "2000"}) == (
        "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"
    )
    assert refusal(lowered, {"consumer.session.timeout.ms": "5000"}) == (
        "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"
    )


def test_names_then_types_then_bounds() -> None:
    s = store()
    both = {"consumer.session.timeout.ms": "1000", "share.partition.max.record.locks": "50", "nope": "1"}
    assert refusal(s, both) == "Unknown group config name: nope"
    del both["nope"]
    assert refusal(s, both) == (
        "Invalid value 50 for configuration share.partition.max.record.locks: Value must be at least 100"
    )


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("earliest", True), (" latest ", True), ("EARLIEST", False), ("", False), ("by_duration:PT1H", True),
        ("by_duration:pt1h", True), ("by_duration:P1DT2H3M4.5S", True), ("by_duration:PT0S", True),
        ("by_duration:-PT1H", False), ("by_duration:PT-1S", False), ("by_duration:", False),
        ("by_duration:P", False), ("by_duration:PT", False), ("BY_DURATION:PT1H", False),
        ("by_duration:P1D-", False),
    ],
)  # fmt: skip
def test_share_auto_offset_reset(value: str, valid: bool) -> None:
    assert (auto_offset_reset_error(value) is None) == valid


def test_incremental_changes_of_a_group() -> None:
    assert group_incremental_changes({"a": "1"}, [("b", 0, "2"), ("a", 1, None)]) == {"b": "2"}
    with pytest.raises(KafkaError, match="Can't SUBTRACT to key a because its type is not LIST."):
        group_incremental_changes({}, [("a", 3, "1")])
    with pytest.raises(KafkaError) as raised:
        group_incremental_changes({}, [("a", 7, "1")])
    assert raised.value.code == ErrorCode.UNKNOWN_SERVER_ERROR and raised.value.message is None


def test_describe_sources_and_values() -> None:
    s = store(group_consumer_session_timeout_ms="50000")
    s.replace("g", {"consumer.heartbeat.interval.ms": " 6000 ", "share.renew.acknowledge.enable": "TRUE"})
    entries = {e["name"]: e for e in s.describe("g", None, {"group.consumer.session.timeout.ms": "50000"})}
    assert list(entries) == list(DESCRIBE_ORDER)
    session = entries["consumer.session.timeout.ms"]
    assert (session["value"], session["config_source"]) == ("50000", 4)  # STATIC_BROKER_CONFIG
    heartbeat = entries["consumer.heartbeat.interval.ms"]
    assert (heartbeat["value"], heartbeat["config_source"]) == ("6000", 8)
    assert heartbeat["synonyms"] == [
        {"name": "consumer.heartbeat.interval.ms", "value": "6000", "source": 8},
        {"name": "group.consumer.heartbeat.interval.ms", "value": "5000", "source": 5},
    ]
    assert entries["share.renew.acknowledge.enable"]["value"] == "true"
    assert entries["share.isolation.level"]["synonyms"] == [
        {"name": "share.isolation.level", "value": "read_uncommitted", "source": 5}
    ]
    assert [e["name"] for e in s.describe("g", ["nope", "share.isolation.level"], {})] == ["share.isolation.level"]


def test_overrides_persist_and_reload(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.replace("g1", {"consumer.session.timeout.ms": "50000"})
    s.replace("g2", {"share.delivery.count.limit": "3"})
    s.replace("g2", {})
    again = store(tmp_path)
    assert again.configs.overrides == {"g1": {"consumer.session.timeout.ms": "50000"}}
    assert again.configs.value("g1", "consumer.session.timeout.ms") == 50000
    again.reset()
    assert json.loads((tmp_path / FILE_NAME).read_text())["groups"] == {}
    assert store(tmp_path).configs.overrides == {}


@pytest.mark.parametrize("text", ['{"groups": {"g": ', '{"groups": {"g": {"a": 1}}}', "[]", '{"groups": []}'])
def test_a_damaged_file_is_logged_and_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str) -> None:
    (tmp_path / FILE_NAME).write_text(text)
    with caplog.at_level(logging.WARNING):
        assert store(tmp_path).configs.overrides == {}
    assert "group configs file damaged" in caplog.text
