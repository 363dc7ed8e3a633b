"""server.properties parsing and how flags and the file combine."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from kafkapy.broker_config import BrokerConfig, ConfigError, apply_properties, check_config
from kafkapy.cli import _serve_parser, build_config
from kafkapy.kafka_properties import parse_properties
from kafkapy.topic_configs import broker_topic_defaults


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _serve_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_properties_syntax() -> None:
    props = parse_properties("# comment\n! also\n a.b = 1 \nc.d: x=y\nflag\n\n")
    assert props == {"a.b": "1", "c.d": "x=y", "flag": ""}


def test_properties_read_as_javas_properties_load() -> None:
    # Kafka's documentation writes JAAS lines continued with backslashes; Java joins them, dropping
    # each continuation's leading whitespace, and reads escapes in keys and values.
    text = (
        "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule"
        " required \\\n"
        '    username="admin" \\\n'
        '    user_alice="alice-secret";\n'
        "sep.space value one\n"
        "sep.spaced   =  =v\n"
        "esc\\:key=tab\\tend\\u0041\n"
        "path=C:\\\\data\n"
        "# not a comment when continued: \\\n"
        "after.comment=1\n"
        "continued=a\\\n"
        "# part of the value\n"
        "even=b\\\\\n"
    )
    assert parse_properties(text) == {
        "listener.name.sasl_ssl.plain.sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule"
        ' required username="admin" user_alice="alice-secret";',
        "sep.space": "value one",
        "sep.spaced": "=v",
        "esc:key": "tab\tendA",
        "path": "C:\\data",
        "after.comment": "1",
        "continued": "a# part of the value",
        "even": "b\\",
    }


def test_kafka_names_map_to_config() -> None:
    config = BrokerConfig()
    apply_properties(
        config,
        {
            "node.id": "3",
            "log.dirs": "/tmp/a,/tmp/b",
            "num.partitions": "6",
            "auto.create.topics.enable": "false",
            "log.roll.hours": "2",
            "listeners": "PLAINTEXT://0.0.0.0:19092",
            "advertised.listeners": "PLAINTEXT://kafka.local:29092",
            "num.network.threads": "3",
        },
    )
    assert (config.node_id, config.data_dir, config.num_partitions) == (3, Path("/tmp/a"), 6)
    assert config.auto_create_topics_enable is False
    assert broker_topic_defaults(config.log_properties)["segment.ms"] == str(2 * 3600 * 1000)
    assert (config.host, config.port) == ("0.0.0.0", 19092)
    assert config.advertised == ("kafka.local", 29092)


def test_producer_id_expiration_takes_kafkas_names_and_defaults() -> None:
    config = BrokerConfig()
    assert (config.producer_id_expiration_ms, config.producer_id_expiration_check_interval_ms) == (86400000, 600000)
    apply_properties(config, {"producer.id.expiration.ms": "5000", "producer.id.expiration.check.interval.ms": "100"})
    assert (config.producer_id_expiration_ms, config.producer_id_expiration_check_interval_ms) == (5000, 100)


def test_bad_values_are_errors() -> None:
    with pytest.raises(ValueError):
        apply_properties(BrokerConfig(), {"auto.create.topics.enable": "maybe"})
    with pytest.raises(ValueError):
        apply_properties(BrokerConfig(), {"num.partitions": "many"})


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    props.write_text("num.partitions=4\nlog.dirs=/tmp/from-file\nnode.id=9\n")
    config = build_config(serve_args("--config", str(props), "--num-partitions", "2", "--no-auto-create-topics"))
    assert (config.num_partitions, config.data_dir, config.node_id) == (2, Path("/tmp/from-file"), 9)
    assert config.auto_create_topics_enable is False
    defaults = build_config(serve_args())
    assert (defaults.host, defaults.port, defaults.data_dir) == ("127.0.0.1", 9092, Path("kafkapy-data"))


def test_storage_mode() -> None:
    assert build_config(serve_args()).storage == "disk"
    assert build_config(serve_args("--storage", "memory")).storage == "memory"
    assert build_config(serve_args("--override", "kafkapy.storage=memory")).storage == "memory"
    assert build_config(serve_args("--override", "kafkapy.storage=memory", "--storage", "disk")).storage == "disk"
    with pytest.raises(ValueError):
        apply_properties(BrokerConfig(), {"kafkapy.storage": "tape"})
    with pytest.raises(SystemExit):
        serve_args("--storage", "tape")


# The broker part of Apache Kafka 4's config/server.properties (KRaft, combined mode).
KAFKA_SERVER_PROPERTIES = """
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
listeners=CONTROLLER://:9093,PLAINTEXT://:19092
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:19092,CONTROLLER://localhost:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
"""


def test_kafkas_own_server_properties_start_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    config = BrokerConfig()
    with caplog.at_level(logging.WARNING, logger="kafkapy.config"):
        apply_properties(config, parse_properties(KAFKA_SERVER_PROPERTIES))
    # The listener clients use, not the KRaft controller's listed first.
    assert (config.host, config.port) == ("127.0.0.1", 19092)
    assert config.advertised == ("localhost", 19092)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    ignored = warnings[0].properties.split(",")  # type: ignore[attr-defined]
    assert "num.io.threads" in ignored and "process.roles" in ignored
    assert "listener.security.protocol.map" not in ignored and "node.id" not in ignored


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"num.partitions": "abc"}, "invalid num.partitions=abc: expected a whole number"),
        ({"num.partitions": "0"}, "invalid num.partitions=0: expected a whole number of at least 1"),
        ({"auto.create.topics.enable": "yes"}, "invalid auto.create.topics.enable=yes: expected true or false"),
        ({"log.retention.hours": "week"}, "invalid log.retention.hours=week: expected a whole number"),
        ({"listeners": "PLAINTEXT://:99999"}, "invalid listeners=PLAINTEXT://:99999: expected a whole number from 0"),
        ({"listeners": "localhost:9092"}, "invalid listeners=localhost:9092: expected NAME://HOST:PORT"),
        (
            {"auto.create.topic.enable": "false"},
            "unknown property auto.create.topic.enable (did you mean auto.create.topics.enable?)",
        ),
        ({"num.partition": "3"}, "unknown property num.partition (did you mean num.partitions?)"),
        # Kafka's ConfigDef: both INT, at least 1.
        (
            {"producer.id.expiration.ms": "0"},
            "invalid producer.id.expiration.ms=0: expected a whole number of at least 1",
        ),
        (
            {"producer.id.expiration.check.interval.ms": "2147483648"},
            "invalid producer.id.expiration.check.interval.ms=2147483648",
        ),
        ({"colour": "blue"}, "unknown property colour (not a Kafka broker property)"),
    ],
)
def test_bad_properties_name_the_property(props: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as failure:
        apply_properties(BrokerConfig(), props)
    assert str(failure.value).startswith(message)


@pytest.mark.parametrize(
    "props",
    [
        {"security.inter.broker.protocol": "SSL"},
        {"delegation.token.secret.key": "secret"},
    ],
)
def test_security_properties_are_refused_not_ignored(props: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="kafkapy has no SSL, SASL or authorizer yet"):
        apply_properties(BrokerConfig(), props)


@pytest.mark.parametrize("name", ["ssl.keystore.location", "listener.name.external.ssl.client.auth"])
def test_ssl_properties_without_a_tls_listener_are_refused(name: str) -> None:
    config = BrokerConfig()
    apply_properties(config, {name: "x"})
    with pytest.raises(ConfigError, match=f"^{name} is set but no listener is SSL or SASL_SSL"):
        check_config(config)


def test_the_standard_authorizer_and_its_settings_are_kept_for_kafkapy_security() -> None:
    props = {
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin;User:ops",
        "allow.everyone.if.no.acl.found": "true",
    }
    config = BrokerConfig()
    apply_properties(config, props)
    assert config.security_properties == props


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "kafka.security.authorizer.AclAuthorizer",
            "authorizer.class.name=kafka.security.authorizer.AclAuthorizer was removed with ZooKeeper in Kafka 4.0:"
            " use org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
        (
            "com.example.MyAuthorizer",
            "authorizer.class.name=com.example.MyAuthorizer is not supported: kafkapy implements"
            " org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
    ],
)
def test_an_authorizer_kafkapy_does_not_implement_stops_the_start(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as failure:
        apply_properties(BrokerConfig(), {"authorizer.class.name": value})
    assert str(failure.value) == message


def test_unimplemented_properties_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="kafkapy.config"):
        apply_properties(
            BrokerConfig(),
            {
                "num.io.threads": "8",
                "heap.opts": "-Xmx1G",
                "authorizer.class.name": "",
                "confluent.license.topic.replication.factor": "1",
            },
        )
    # An empty authorizer.class.name is Kafka's default (no authorizer): implemented, not warned about.
    names = "num.io.threads,heap.opts,confluent.license.topic.replication.factor"
    assert [(r.levelno, r.properties) for r in caplog.records] == [(logging.WARNING, names)]  # type: ignore[attr-defined]
    # Python's last-resort handler (logging not configured) prints only the message.
    assert caplog.records[0].getMessage() == f"ignoring Kafka properties kafkapy does not implement: {names}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--port", "70000"), "invalid --port 70000: expected a whole number from 0 to 65535"),
        (("--port", "-5"), "invalid --port -5: expected a whole number from 0 to 65535"),
        (("--num-partitions", "0"), "invalid --num-partitions 0: expected a whole number of at least 1"),
        (("--node-id", "one"), "invalid --node-id one: expected a whole number"),
        (("--override", "retention.ms"), "invalid --override retention.ms: expected NAME=VALUE"),
    ],
)
def test_bad_flags_name_the_flag(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as failure:
        build_config(serve_args(*argv))
    assert str(failure.value) == message


def test_long_properties_take_kafkas_long_range() -> None:
    config = BrokerConfig()
    apply_properties(config, {"log.cleaner.backoff.ms": "3000000000", "log.retention.check.interval.ms": "4000000000"})
    assert (config.log_cleaner_backoff_ms, config.log_retention_check_interval_ms) == (3000000000, 4000000000)
    with pytest.raises(ConfigError, match="invalid group.max.size=3000000000: expected a whole number from 1 to"):
        apply_properties(config, {"group.max.size": "3000000000"})


def test_overrides_are_taken_as_written() -> None:
    # --override is not a properties file: a backslash (a principal-mapping regex's "\.") stays.
    config = build_config(serve_args("--override", r"kafkapy.sasl.users=al\.ice:pass\word"))
    assert config.sasl_users == {r"al\.ice": r"pass\word"}
