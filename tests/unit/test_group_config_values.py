"""Group configs: a group's override, else the broker's dynamic then static value, else Kafka's default."""

from __future__ import annotations

import pytest

from kafkapy.broker_config import BrokerConfig, ConfigError, apply_properties
from kafkapy.coordinator.group_configs import GroupConfigs


def test_group_value_falls_back_to_broker_configs() -> None:
    config = BrokerConfig()
    apply_properties(config, {"group.consumer.session.timeout.ms": "50000", "group.consumer.assignors": "range"})
    dynamic = {"group.share.record.lock.duration.ms": "20000"}
    configs = GroupConfigs(config.group_properties, dynamic.get)
    assert configs.value("g", "consumer.session.timeout.ms") == 50000
    assert configs.value("g", "consumer.heartbeat.interval.ms") == 5000  # Kafka's default
    assert configs.value("g", "share.record.lock.duration.ms") == 20000
    assert configs.value("g", "share.auto.offset.reset") == "latest"  # no broker config behind it
    assert configs.broker_value("group.consumer.assignors") == ["range"]
    configs.overrides["g"] = {"consumer.session.timeout.ms": "46000", "share.auto.offset.reset": "earliest"}
    assert configs.value("g", "consumer.session.timeout.ms") == 46000
    assert configs.value("g", "share.auto.offset.reset") == "earliest"
    assert configs.value("other", "consumer.session.timeout.ms") == 50000


def test_bad_group_property_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="group.consumer.session.timeout.ms"):
        apply_properties(BrokerConfig(), {"group.consumer.session.timeout.ms": "soon"})
