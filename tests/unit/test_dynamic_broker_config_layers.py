"""DynamicBrokerConfig: the layers, their file in the data dir, Kafka's checks, and the broker applying them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig
from kafkapy.dynamic_broker_config import (
    DYNAMIC_BROKER_CONFIGS,
    DYNAMIC_CONFIG_CHECKS,
    FILE_NAME,
    DynamicBrokerConfig,
    incremental_changes,
)
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.fs import MemoryFS
from kafkapy.topic_configs import OP_APPEND, OP_DELETE, OP_SET, OP_SUBTRACT, ConfigSource


def test_every_dynamic_config_has_kafkas_type_check() -> None:
    assert set(DYNAMIC_CONFIG_CHECKS) == DYNAMIC_BROKER_CONFIGS


def test_a_new_data_dir_gets_the_cluster_min_insync_replicas_and_keeps_changes(tmp_path: Path) -> None:
    dynamic = DynamicBrokerConfig(tmp_path, min_insync_replicas="2")
    assert dynamic.lookup("min.insync.replicas") == ("2", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    dynamic.replace("1", {"log.retention.ms": "1000"})
    dynamic.replace("", {"min.insync.replicas": "2", "log.retention.ms": "5000"})
    again = DynamicBrokerConfig(tmp_path, min_insync_replicas="3")
    assert again.per_broker == {"log.retention.ms": "1000"}
    assert again.lookup("log.retention.ms") == ("1000", ConfigSource.DYNAMIC_BROKER_CONFIG)
    assert again.lookup("min.insync.replicas") == ("2", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    assert again.lookup("message.max.bytes") is None


@pytest.mark.parametrize(
    "text", ["", "{", "[]", '{"per_broker": {}}', '{"per_broker": {"a": 1}, "cluster_default": {}}', "\xff"]
)
def test_a_damaged_file_is_logged_and_ignored(tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / FILE_NAME).write_text(text, errors="surrogateescape")
    dynamic = DynamicBrokerConfig(tmp_path)
    assert (dynamic.per_broker, dynamic.cluster_default) == ({}, {})
    assert "dynamic broker configs file damaged" in caplog.text


def test_memory_storage_writes_nothing_on_disk(tmp_path: Path) -> None:
    fs = MemoryFS()
    fs.makedirs(tmp_path / "data")
    dynamic = DynamicBrokerConfig(tmp_path / "data", fs)
    dynamic.replace("1", {"message.max.bytes": "2000"})
    assert not (tmp_path / "data").exists()
    assert DynamicBrokerConfig(tmp_path / "data", fs).per_broker == {"message.max.bytes": "2000"}


def error(dynamic: DynamicBrokerConfig, resource: str, configs: dict[str, str]) -> tuple[int, str] | None:
    try:
        dynamic.validate(resource, configs, configs)
    except KafkaError as exc:
        return exc.code, exc.message
    return None


def test_kafkas_checks_in_kafkas_order() -> None:
    dynamic = DynamicBrokerConfig(min_insync_replicas="1")
    dynamic.cluster_default["min.insync.replicas"] = "1"
    request = ErrorCode.INVALID_REQUEST
    assert error(dynamic, "1", {"log.retention.ms": "1000", "my.own.setting": "x"}) is None
    assert error(dynamic, "1", {"node.id": "2", "log.retention.ms": "x"}) == (
        request, "Cannot update these configs dynamically: [node.id]"
    )  # fmt: skip
    assert error(dynamic, "", {"log.retention.ms": "x", "listeners": "x"}) == (
        request, "Invalid value x for configuration log.retention.ms: Not a number of type LONG"
    )  # fmt: skip
    assert error(dynamic, "1", {"log.cleaner.min.cleanable.ratio": "2"}) == (
        request, "Invalid value 2.0 for configuration log.cleaner.min.cleanable.ratio: Value must be no more than 1"
    )  # fmt: skip
    assert error(dynamic, "", {"listeners": "x"})[1].startswith(  # type: ignore[index]
        "Cannot update these configs at default cluster level, broker id must be specified"
    )
    # Kafka could apply a listener change; kafkapy cannot, so it refuses it rather than store it.
    assert error(dynamic, "1", {"listeners": "PLAINTEXT://127.0.0.1:1"})[1].startswith(  # type: ignore[index]
        "kafkapy cannot change its listeners"
    )
    assert error(dynamic, "1", {"num.io.threads": "17"}) == (
        request,
        "Invalid value org.apache.kafka.common.config.ConfigException: Dynamic thread count update validation "
        "failed for num.io.threads=17, value should not be greater than double the current value 8 for "
        "configuration Invalid dynamic configuration",
    )
    assert error(dynamic, "1", {"min.insync.replicas": "2"}) == (
        ErrorCode.INVALID_CONFIG, "Broker-level min.insync.replicas cannot be altered while ELR is enabled."
    )  # fmt: skip
    assert error(dynamic, "", {}) == (
        ErrorCode.INVALID_CONFIG, "Cluster-level min.insync.replicas cannot be removed while ELR is enabled."
    )  # fmt: skip


def test_incremental_changes_start_lists_from_the_effective_value() -> None:
    effective = {"log.cleanup.policy": "delete"}.get
    changed = incremental_changes({}, [("log.cleanup.policy", OP_APPEND, "compact")], effective)
    assert changed == {"log.cleanup.policy": "delete,compact"}
    changed = incremental_changes(changed, [("log.cleanup.policy", OP_SUBTRACT, "delete")], effective)
    assert changed == {"log.cleanup.policy": "compact"}
    assert incremental_changes(changed, [("log.cleanup.policy", OP_DELETE, None)], effective) == {}
    with pytest.raises(KafkaError, match="Config value append is not allowed for config key: log.retention.ms"):
        incremental_changes({}, [("log.retention.ms", OP_APPEND, "1")], effective)
    with pytest.raises(KafkaError, match="Error due to duplicate config keys$"):
        incremental_changes({}, [("a", OP_SET, "1"), ("a", OP_SET, "2")], effective)
    with pytest.raises(KafkaError, match="Null value not supported for : a"):
        incremental_changes({}, [("a", OP_SET, None)], effective)


def test_the_broker_applies_the_dynamic_layer_to_topics_without_overrides(tmp_path: Path) -> None:
    config = BrokerConfig(data_dir=tmp_path, log_properties={"log.retention.hours": "1"})
    broker = Broker.open(config)
    try:
        plain = broker.logs.create_topic("plain", 1)
        own = broker.logs.create_topic("own", 1, {"retention.ms": "777"})
        assert plain.log_config.retention_ms == 3600000
        broker.dynamic_config.replace("", {"min.insync.replicas": "1", "log.retention.ms": "5000"})
        assert plain.partitions[0].config.retention_ms == 5000
        broker.dynamic_config.replace("1", {"log.retention.ms": "-7", "log.cleaner.backoff.ms": "123"})
        assert plain.log_config.retention_ms == -1 and broker.cleaner.backoff_ms == 123
        assert own.log_config.retention_ms == 777
        broker.dynamic_config.replace("1", {})
        assert plain.log_config.retention_ms == 5000 and broker.cleaner.backoff_ms == 15000
    finally:
        broker.close()
    reopened = Broker.open(config)
    try:
        assert reopened.logs.topics["plain"].log_config.retention_ms == 5000
        assert json.loads((tmp_path / FILE_NAME).read_text())["cluster_default"]["log.retention.ms"] == "5000"
    finally:
        reopened.close()


def test_a_reset_broker_has_a_new_data_dirs_dynamic_configs(tmp_path: Path) -> None:
    broker = Broker.open(BrokerConfig(data_dir=tmp_path, log_properties={"min.insync.replicas": "2"}))
    try:
        broker.dynamic_config.replace("1", {"message.max.bytes": "2000"})
        broker.dynamic_config.replace("", {"min.insync.replicas": "3", "log.retention.ms": "5"})
        assert broker.logs.default_config.max_message_bytes == 2000
        broker.reset()
        assert (broker.dynamic_config.per_broker, broker.dynamic_config.cluster_default) == (
            {}, {"min.insync.replicas": "2"}
        )  # fmt: skip
        assert broker.logs.default_config.max_message_bytes == 1048588
    finally:
        broker.close()
