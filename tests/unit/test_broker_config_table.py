"""The table of Kafka's broker configs (kafkapy.kafka_broker_configs) and the dynamic config sets, both
generated from Kafka 4.3.1 by compat_tests/gen_broker_configs.py (its --check compares them with Kafka)."""

from __future__ import annotations

import subprocess
import sys

from kafkapy.dynamic_broker_config import DYNAMIC_BROKER_CONFIGS, PER_BROKER_CONFIGS
from kafkapy.kafka_broker_configs import BROKER_CONFIGS, NO_DEFAULT

# Dynamic in Kafka (quota rates DynamicConfig.Broker defines) but not KafkaConfig properties.
QUOTA_RATES = {"leader.replication.throttled.rate", "follower.replication.throttled.rate",
               "replica.alter.log.dirs.io.max.bytes.per.second"}


def test_dynamic_sets_are_kafkas() -> None:
    assert len(DYNAMIC_BROKER_CONFIGS) == 102 and len(PER_BROKER_CONFIGS) == 37
    assert PER_BROKER_CONFIGS < DYNAMIC_BROKER_CONFIGS
    assert DYNAMIC_BROKER_CONFIGS - set(BROKER_CONFIGS) == QUOTA_RATES
    assert {"log.retention.ms", "message.max.bytes", "min.insync.replicas", "log.cleaner.threads",
            "num.io.threads"} <= DYNAMIC_BROKER_CONFIGS - PER_BROKER_CONFIGS
    assert {"listeners", "listener.security.protocol.map", "ssl.keystore.location", "sasl.jaas.config"} <= (
        PER_BROKER_CONFIGS
    )
    # A topic config's broker synonym is dynamic under its primary name only (Kafka's DynamicLogConfig).
    static = {"log.retention.hours", "log.retention.minutes", "log.roll.hours", "node.id", "process.roles",
              "log.dirs", "advertised.listeners", "offsets.topic.num.partitions", "group.initial.rebalance.delay.ms"}
    assert not static & DYNAMIC_BROKER_CONFIGS


def test_table_has_kafkas_types_and_defaults() -> None:
    assert len(BROKER_CONFIGS) == 360
    assert BROKER_CONFIGS["log.retention.hours"][:3] == ("INT", "168", False)
    assert BROKER_CONFIGS["log.retention.ms"][:2] == ("LONG", None)
    assert BROKER_CONFIGS["node.id"][1] == NO_DEFAULT
    assert BROKER_CONFIGS["group.initial.rebalance.delay.ms"][:2] == ("INT", "3000")
    assert BROKER_CONFIGS["ssl.keystore.password"][0] == "PASSWORD"
    assert BROKER_CONFIGS["unstable.api.versions.enable"][2] is True


def test_start_up_does_not_load_the_table() -> None:
    """The table is ~120 KB of Python: the broker's modules, a server.properties of implemented names and
    the DescribeConfigs handler import it only when a broker is described (issue #21)."""
    code = (
        "import sys, kafkapy.cli, kafkapy.server.server, kafkapy.apis.describe_configs\n"
        "from kafkapy.broker_config import BrokerConfig, apply_properties, check_config\n"
        "config = BrokerConfig()\n"
        "apply_properties(config, {'log.retention.hours': '1', 'listeners': 'PLAINTEXT://127.0.0.1:0'})\n"
        "check_config(config)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('kafkapy.kafka_broker', 'kafkapy.broker_config_'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_topic_defaults_agree_with_their_broker_synonyms() -> None:
    """topic_configs' hand-kept defaults (Kafka's LogConfig) equal the generated broker defaults of their
    synonyms, so the two tables cannot drift apart."""
    from kafkapy.kafka_broker_configs import TOPIC_CONFIG_DOCS
    from kafkapy.topic_configs import TOPIC_CONFIGS

    assert set(TOPIC_CONFIG_DOCS) == set(TOPIC_CONFIGS)
    for definition in TOPIC_CONFIGS.values():
        default = definition.default_synonym
        if default is None:
            continue
        kind, broker_default, _, _ = BROKER_CONFIGS[default.name]
        if default.unit == 1:
            assert (definition.type.name, definition.default) == (kind, broker_default), definition.name
        else:
            assert int(definition.default) == int(broker_default) * default.unit, definition.name
