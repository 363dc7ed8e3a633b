"""The connection-limit properties (Kafka's names and checks) and the counting behind them."""

from __future__ import annotations

import ipaddress

import pytest
import trio
import trio.testing

from kafkapy.broker_config import BrokerConfig, apply_properties, check_config, static_properties
from kafkapy.server.connection_quotas import ConnectionQuotas, client_address

LOCALHOST = ipaddress.ip_address("127.0.0.1")


def test_defaults_are_kafkas() -> None:
    config = BrokerConfig()
    props = static_properties(config)
    assert props["connections.max.idle.ms"] == ("600000", True)
    assert props["max.connections"] == (str(2**31 - 1), True)
    assert props["max.connections.per.ip"] == (str(2**31 - 1), True)
    assert props["max.connections.per.ip.overrides"] == ("", True)


def test_properties_set_the_limits() -> None:
    config = BrokerConfig()
    apply_properties(
        config,
        {
            "connections.max.idle.ms": "500",
            "max.connections": "7",
            "max.connections.per.ip": "3",
            "max.connections.per.ip.overrides": "localhost:5, 10.0.0.1:0",
        },
    )
    quotas = ConnectionQuotas.from_config(config)
    assert config.connections_max_idle_ms == 500 and quotas.max_connections == 7
    assert quotas.limit(LOCALHOST) == 5  # a host name is resolved, as Kafka does at start-up
    assert quotas.limit(ipaddress.ip_address("10.0.0.1")) == 0
    assert quotas.limit(ipaddress.ip_address("10.0.0.2")) == 3


@pytest.mark.parametrize(
    "props",
    [
        {"max.connections": "-1"},
        {"max.connections.per.ip": "-1"},
        {"max.connections.per.ip.overrides": "127.0.0.1"},
        {"max.connections.per.ip.overrides": "127.0.0.1:many"},
    ],
)
def test_bad_values_are_refused(props: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        apply_properties(BrokerConfig(), props)


def test_zero_per_ip_needs_overrides() -> None:
    """Kafka's rule: max.connections.per.ip=0 only with overrides, else no client could connect."""
    config = BrokerConfig()
    apply_properties(config, {"max.connections.per.ip": "0"})
    with pytest.raises(ValueError, match="max.connections.per.ip.overrides"):
        check_config(config)
    apply_properties(config, {"max.connections.per.ip.overrides": "127.0.0.1:1"})
    check_config(config)


def test_ipv4_clients_of_an_ipv6_socket_count_as_ipv4() -> None:
    assert client_address("::ffff:127.0.0.1") == LOCALHOST
    assert client_address("::1") == ipaddress.ip_address("::1")


def test_per_ip_limit_and_release() -> None:
    quotas = ConnectionQuotas(max_connections=10, max_per_ip=2, per_ip_overrides={})
    other = ipaddress.ip_address("127.0.0.2")
    assert quotas.admit(LOCALHOST) and quotas.admit(LOCALHOST)
    assert not quotas.admit(LOCALHOST)
    assert quotas.admit(other)
    quotas.release(LOCALHOST)
    assert quotas.admit(LOCALHOST)
    assert quotas.open == 3


def test_wait_for_slot_blocks_at_max_connections_until_one_closes() -> None:
    async def main() -> None:
        quotas = ConnectionQuotas(max_connections=1, max_per_ip=2**31 - 1, per_ip_overrides={})
        await quotas.wait_for_slot()
        assert quotas.admit(LOCALHOST)
        with trio.move_on_after(0.1) as blocked:
            await quotas.wait_for_slot()
        assert blocked.cancelled_caught
        async with trio.open_nursery() as nursery:
            nursery.start_soon(quotas.wait_for_slot)
            await trio.testing.wait_all_tasks_blocked()
            quotas.release(LOCALHOST)
        assert quotas.open == 0

    trio.run(main)
