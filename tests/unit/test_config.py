"""server.properties parsing and how flags and the file combine."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kafkapy.cli import _serve_parser, build_config
from kafkapy.config import BrokerConfig, apply_properties, parse_properties
from kafkapy.configs import broker_topic_defaults


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _serve_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_properties_syntax() -> None:
    props = parse_properties("# comment\n! also\n a.b = 1 \nc.d: x=y\nflag\n\n")
    assert props == {"a.b": "1", "c.d": "x=y", "flag": ""}


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
            "some.unknown.property": "ignored",
        },
    )
    assert (config.node_id, config.data_dir, config.num_partitions) == (3, Path("/tmp/a"), 6)
    assert config.auto_create_topics_enable is False
    assert broker_topic_defaults(config.log_properties)["segment.ms"] == str(2 * 3600 * 1000)
    assert (config.host, config.port) == ("0.0.0.0", 19092)
    assert config.advertised == ("kafka.local", 29092)


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
