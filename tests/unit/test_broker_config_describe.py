"""DescribeConfigs entries of the broker (kafkapy.broker_config_describe) in the cases the wire diffs cannot
reach yet: dynamic values (AlterConfigs on a BROKER is the dyncfg work), listener overrides, flags. Each
expectation is Kafka 4.3.1's answer, read from the reference after the same settings."""

from __future__ import annotations

from kafkapy.broker_config import BrokerConfig, apply_properties
from kafkapy.broker_config_describe import broker_synonyms, describe_broker, describe_cluster_default
from kafkapy.dynamic_broker_config import DynamicBrokerConfig
from kafkapy.topic_configs import ConfigSource, describe_topic_configs

DYN, DYN_DEFAULT, STATIC, DEFAULT = (
    ConfigSource.DYNAMIC_BROKER_CONFIG,
    ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
    ConfigSource.STATIC_BROKER_CONFIG,
    ConfigSource.DEFAULT_CONFIG,
)


def _dynamic() -> DynamicBrokerConfig:
    """The reference after IncrementalAlterConfigs: "" log.retention.ms=2000, message.max.bytes=3000000;
    "1" message.max.bytes=4000000, log.cleaner.threads=2, log.roll.ms=9000."""
    dynamic = DynamicBrokerConfig()
    dynamic.cluster_default.update({"log.retention.ms": "2000", "message.max.bytes": "3000000"})
    dynamic.per_broker.update({"message.max.bytes": "4000000", "log.cleaner.threads": "2", "log.roll.ms": "9000"})
    return dynamic


def _entries(entries: list[dict]) -> dict[str, tuple]:
    return {
        e["name"]: (e["value"], e["config_source"], [(s["name"], s["value"], s["source"]) for s in e["synonyms"]])
        for e in entries
    }


def test_dynamic_layers_in_kafkas_order() -> None:
    keys = ["log.retention.ms", "log.retention.minutes", "log.retention.hours", "message.max.bytes",
            "log.cleaner.threads", "log.roll.ms", "log.roll.hours"]
    entries = _entries(describe_broker(BrokerConfig(), _dynamic(), keys))
    assert entries == {
        "log.cleaner.threads": ("2", DYN, [("log.cleaner.threads", "2", DYN), ("log.cleaner.threads", "1", DEFAULT)]),
        "log.retention.hours": ("168", DEFAULT, [("log.retention.hours", "168", DEFAULT)]),
        "log.retention.minutes": (None, DEFAULT, []),
        "log.retention.ms": (
            "2000", DYN_DEFAULT, [("log.retention.ms", "2000", DYN_DEFAULT), ("log.retention.hours", "168", DEFAULT)]
        ),
        "log.roll.hours": ("168", DEFAULT, [("log.roll.hours", "168", DEFAULT)]),
        "log.roll.ms": ("9000", DYN, [("log.roll.ms", "9000", DYN), ("log.roll.hours", "168", DEFAULT)]),
        "message.max.bytes": (
            "4000000",
            DYN,
            [("message.max.bytes", "4000000", DYN), ("message.max.bytes", "3000000", DYN_DEFAULT),
             ("message.max.bytes", "1048588", DEFAULT)],
        ),
    }
    assert _entries(describe_cluster_default(BrokerConfig(), _dynamic(), None)) == {
        "log.retention.ms": ("2000", DYN_DEFAULT, [("log.retention.ms", "2000", DYN_DEFAULT)]),
        "message.max.bytes": ("3000000", DYN_DEFAULT, [("message.max.bytes", "3000000", DYN_DEFAULT)]),
    }


def test_topic_configs_read_the_dynamic_layers() -> None:
    entries = _entries(describe_topic_configs({}, {}, ["retention.ms", "max.message.bytes", "segment.ms"], _dynamic()))
    assert entries == {
        "retention.ms": (
            "2000", DYN_DEFAULT, [("log.retention.ms", "2000", DYN_DEFAULT), ("log.retention.hours", "168", DEFAULT)]
        ),
        "max.message.bytes": (
            "4000000",
            DYN,
            [("message.max.bytes", "4000000", DYN), ("message.max.bytes", "3000000", DYN_DEFAULT),
             ("message.max.bytes", "1048588", DEFAULT)],
        ),
        "segment.ms": ("9000", DYN, [("log.roll.ms", "9000", DYN), ("log.roll.hours", "168", DEFAULT)]),
    }


def test_static_settings_flags_and_unknown_properties() -> None:
    config = BrokerConfig(port=19092, data_dir=BrokerConfig().data_dir / "x")
    apply_properties(config, {
        "num.io.threads": "4",  # a Kafka property kafkapy ignores: still STATIC, as Kafka lists its originals
        "kafkapy.sasl.users": "alice:secret",  # not Kafka's: of unknown type, so sensitive
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": "x required;",
        "log.retention.hours": "1",
    })
    entries = {e["name"]: e for e in describe_broker(config, DynamicBrokerConfig(), None)}
    assert _entries([entries["num.io.threads"]])["num.io.threads"] == (
        "4", STATIC, [("num.io.threads", "4", STATIC), ("num.io.threads", "8", DEFAULT)]
    )
    users = entries["kafkapy.sasl.users"]
    assert (users["value"], users["is_sensitive"], users["config_type"], users["read_only"]) == (None, True, 0, True)
    jaas = entries["listener.name.sasl_plaintext.plain.sasl.jaas.config"]
    assert (jaas["value"], jaas["is_sensitive"], jaas["config_type"]) == (None, True, 9)
    assert [(s["name"], s["value"]) for s in jaas["synonyms"]] == [(jaas["name"], None)]
    assert entries["listeners"]["value"] == "PLAINTEXT://127.0.0.1:19092"
    assert entries["listeners"]["config_source"] == STATIC  # --port
    assert entries["log.dirs"]["config_source"] == STATIC and entries["log.dirs"]["value"].endswith("x")
    assert _entries([entries["log.retention.hours"]])["log.retention.hours"] == (
        "1", STATIC, [("log.retention.hours", "1", STATIC), ("log.retention.hours", "168", DEFAULT)]
    )
    assert entries["node.id"]["config_source"] == STATIC and entries["process.roles"]["value"] == "broker,controller"
    assert len(entries) == 340 + 2


def test_broker_synonyms() -> None:
    assert broker_synonyms("log.retention.minutes") == ("log.retention.ms", "log.retention.minutes",
                                                        "log.retention.hours")
    assert broker_synonyms("listener.name.ssl.ssl.keystore.location") == (
        "listener.name.ssl.ssl.keystore.location", "ssl.keystore.location"
    )
    assert broker_synonyms("listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config")[1] == "sasl.jaas.config"
    assert broker_synonyms("num.io.threads") == ("num.io.threads",)


def test_dynamic_names_outside_kafkaconfig_are_listed_untyped() -> None:
    """A dynamic quota rate (DynamicConfig.Broker, not a KafkaConfig) is listed as Kafka lists it: no type
    to tell, so sensitive, its value hidden."""
    dynamic = DynamicBrokerConfig()
    dynamic.per_broker["leader.replication.throttled.rate"] = "1000"
    dynamic.cluster_default["follower.replication.throttled.rate"] = "2000"
    entries = {e["name"]: e for e in describe_broker(BrokerConfig(), dynamic, None)}
    leader, follower = entries["leader.replication.throttled.rate"], entries["follower.replication.throttled.rate"]
    assert (leader["value"], leader["is_sensitive"], leader["config_source"], leader["read_only"]) == (
        None, True, DYN, False
    )
    assert follower["config_source"] == DYN_DEFAULT and follower["synonyms"] == [
        {"name": "follower.replication.throttled.rate", "value": None, "source": DYN_DEFAULT}
    ]


def test_advertised_flags_are_static_advertised_listeners() -> None:
    config = BrokerConfig(advertised_host="broker.example", advertised_port=29092)
    entries = {e["name"]: e for e in describe_broker(config, DynamicBrokerConfig(), ["advertised.listeners"])}
    advertised = entries["advertised.listeners"]
    assert (advertised["value"], advertised["config_source"]) == ("PLAINTEXT://broker.example:29092", STATIC)
    assert describe_broker(BrokerConfig(), DynamicBrokerConfig(), ["advertised.listeners"])[0]["value"] is None
