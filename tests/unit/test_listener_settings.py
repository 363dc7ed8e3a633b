"""Listener settings: listeners, advertised.listeners, listener.security.protocol.map, --listener."""

from __future__ import annotations

import pytest

from kafkapy.broker_config import BrokerConfig, ConfigError, apply_properties, check_config
from kafkapy.cli import build_config
from kafkapy.security.listeners import Listener, ListenerError, parse_listeners
from tests.unit.test_broker_config import serve_args


def test_several_listeners_each_with_its_protocol_and_advertised_address() -> None:
    listeners = parse_listeners(
        "CONTROLLER://:9091,PLAINTEXT://127.0.0.1:9092,INTERNAL://[::1]:9094,EXTERNAL://0.0.0.0:9095",
        advertised="EXTERNAL://kafka.example:19095,PLAINTEXT://localhost:9092,CONTROLLER://localhost:9091",
        protocol_map="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,internal:plaintext,EXTERNAL:PLAINTEXT",
        controller_names="CONTROLLER",
    )
    assert listeners == [
        Listener("PLAINTEXT", "PLAINTEXT", "127.0.0.1", 9092, "localhost", 9092),
        Listener("INTERNAL", "PLAINTEXT", "::1", 9094),
        Listener("EXTERNAL", "PLAINTEXT", "0.0.0.0", 9095, "kafka.example", 19095),
    ]
    assert [str(listener) for listener in listeners] == [
        "PLAINTEXT://127.0.0.1:9092",
        "INTERNAL://[::1]:9094",
        "EXTERNAL://0.0.0.0:9095",
    ]
    assert listeners[1].advertised == ("::1", 9094)


def test_kafkas_default_map_names_each_protocol_by_itself() -> None:
    # The security protocols of SSL and SASL listeners come from the same map (refused at start-up
    # until each is supported, see test_broker_config).
    assert [(lsn.name, lsn.security_protocol) for lsn in parse_listeners("PLAINTEXT://:1,SSL://:2")] == [
        ("PLAINTEXT", "PLAINTEXT"),
        ("SSL", "SSL"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"listeners": "localhost:9092"}, "invalid listeners=localhost:9092: expected NAME://HOST:PORT"),
        ({"listeners": "PLAINTEXT://:x"}, "invalid listeners=PLAINTEXT://:x: port 'x' of PLAINTEXT://:x is not"),
        ({"listeners": "CLIENTS://:9092"}, "invalid listeners=CLIENTS://:9092: listener CLIENTS has no security"),
        ({"listeners": "A://:1,A://:2", "protocol_map": "A:SSL"}, "invalid listeners=A://:1,A://:2: each listener"
         " needs its own name; A is used more than once"),
        ({"listeners": "PLAINTEXT://:9092,SSL://:9092"}, "invalid listeners=PLAINTEXT://:9092,SSL://:9092: each"
         " listener needs its own port; 9092"),
        ({"listeners": "PLAINTEXT://:9092", "advertised": "SSL://h:1"}, "invalid advertised.listeners=SSL://h:1:"
         " advertised listener SSL is not one of the listeners (PLAINTEXT)"),
        ({"listeners": "A://:1", "protocol_map": "A:TLS"}, "invalid listener.security.protocol.map=A:TLS: TLS is"
         " not a security protocol"),
        ({"listeners": "C://:1", "controller_names": "C"}, "invalid listeners=C://:1: every listener is a"
         " controller.listener.names one"),
    ],
)
def test_bad_listener_settings_name_the_setting(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ListenerError) as failure:
        parse_listeners(**kwargs)
    assert str(failure.value).startswith(message)


def test_port_zero_may_be_used_by_several_listeners() -> None:
    assert [lsn.port for lsn in parse_listeners("PLAINTEXT://:0,SSL://:0")] == [0, 0]


def test_config_keeps_the_first_listener_in_host_and_port() -> None:
    config = BrokerConfig()
    apply_properties(
        config,
        {
            "listeners": "PLAINTEXT://127.0.0.2:19092,OTHER://:19093",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT",
            "advertised.listeners": "OTHER://other.example:29093",
        },
    )
    assert (config.host, config.port, config.advertised) == ("127.0.0.2", 19092, ("127.0.0.2", 19092))
    # A listener without a host listens where the broker's host says.
    assert [str(lsn) for lsn in config.client_listeners()] == ["PLAINTEXT://127.0.0.2:19092", "OTHER://127.0.0.2:19093"]
    assert config.advertised_for("OTHER") == ("other.example", 29093)
    assert config.advertised_for("PLAINTEXT") == ("127.0.0.2", 19092)


def test_properties_in_two_batches_combine() -> None:
    # server.properties with the map, then --override listeners=...: the map still applies.
    config = BrokerConfig()
    apply_properties(config, {"listener.security.protocol.map": "CLIENTS:PLAINTEXT"})
    apply_properties(config, {"listeners": "CLIENTS://:19092"})
    assert [(lsn.name, lsn.port) for lsn in config.client_listeners()] == [("CLIENTS", 19092)]


def test_a_map_alone_keeps_the_port_set_so_far() -> None:
    config = BrokerConfig(port=0)
    apply_properties(config, {"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT"})
    assert config.port == 0


def test_listener_flag_replaces_the_listeners_and_port_flags_set_the_first() -> None:
    config = build_config(
        serve_args(
            "--override", "listener.security.protocol.map=A:PLAINTEXT,B:PLAINTEXT",
            "--listener", "A://:0", "--listener", "B://127.0.0.3:19093", "--host", "127.0.0.4",
        )
    )
    assert [str(lsn) for lsn in config.client_listeners()] == ["A://127.0.0.4:0", "B://127.0.0.3:19093"]


def test_flag_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="invalid listeners=BAD: expected NAME://HOST:PORT"):
        build_config(serve_args("--listener", "BAD"))


def test_every_advertised_host_must_be_reachable() -> None:
    config = BrokerConfig()
    apply_properties(
        config,
        {
            "listeners": "PLAINTEXT://:19092,OTHER://0.0.0.0:19093",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT",
        },
    )
    with pytest.raises(ConfigError, match="advertised host 0.0.0.0 of listener OTHER"):
        check_config(config)


def test_a_map_alone_secures_the_default_listener_once_every_setting_is_in() -> None:
    config = BrokerConfig()
    apply_properties(config, {"listener.security.protocol.map": "PLAINTEXT:SASL_PLAINTEXT"})
    with pytest.raises(ConfigError, match="PLAIN on listener PLAINTEXT has no users"):
        check_config(config)
