"""Kafka's connection limits: max.connections for the broker, max.connections.per.ip(.overrides) per address.

They behave as in Kafka's ConnectionQuotas (SocketServer): once max.connections are open, the
acceptor waits until one closes, so a new connection is accepted but not read from until then (and
later ones wait in the listen backlog); a connection from an address that already has its
max.connections.per.ip is closed at once, with one log line. All three are dynamic broker configs:
AlterConfigs on the BROKER resource changes them for new connections (open ones stay, as in Kafka).
"""

from __future__ import annotations

import ipaddress
import socket

import trio

from kafkapy.broker_config import BrokerConfig, parse_per_ip_overrides
from kafkapy.dynamic_broker_config import DynamicBrokerConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(host: str) -> IPAddress:
    """The client's address as counted: an IPv4 client on an IPv6 socket counts as its IPv4 address."""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def resolve_host(host: str) -> set[IPAddress]:
    """The addresses of an override's host (Kafka resolves its names once, at start-up too)."""
    try:
        return {client_address(host)}
    except ValueError:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        return {client_address(str(info[4][0])) for info in infos}


class ConnectionQuotas:
    """Counts open connections, in total and per client address, against the configured limits."""

    def __init__(self, max_connections: int, max_per_ip: int, per_ip_overrides: dict[IPAddress, int]) -> None:
        self.max_connections = max_connections
        self.max_per_ip = max_per_ip
        self.per_ip_overrides = per_ip_overrides
        self.open = 0
        self._per_ip: dict[IPAddress, int] = {}
        self._slot_freed = trio.Event()

    @classmethod
    def from_config(cls, config: BrokerConfig, dynamic: DynamicBrokerConfig | None = None) -> ConnectionQuotas:
        quotas = cls(config.max_connections, config.max_connections_per_ip, {})
        quotas.reconfigure(config, dynamic)
        return quotas

    def reconfigure(self, config: BrokerConfig, dynamic: DynamicBrokerConfig | None = None) -> None:
        """Take the limits from server.properties with the dynamic broker configs over it; an acceptor
        waiting for a slot looks again (max.connections may have grown)."""

        def value(name: str, static: object) -> str:
            return str(static) if dynamic is None else dynamic.value(name, str(static)) or str(static)

        self.max_connections = int(value("max.connections", config.max_connections))
        self.max_per_ip = int(value("max.connections.per.ip", config.max_connections_per_ip))
        self.per_ip_overrides = {
            address: count
            for host, count in parse_per_ip_overrides(
                value("max.connections.per.ip.overrides", config.max_connections_per_ip_overrides)
            ).items()
            for address in resolve_host(host)
        }
        self._slot_freed.set()

    def limit(self, address: IPAddress) -> int:
        return self.per_ip_overrides.get(address, self.max_per_ip)

    async def wait_for_slot(self) -> None:
        """Return once fewer than max.connections are open (Kafka's acceptor blocks the same way)."""
        while self.open >= self.max_connections:
            if self._slot_freed.is_set():
                self._slot_freed = trio.Event()
            await self._slot_freed.wait()

    def admit(self, address: IPAddress) -> bool:
        """Count a new connection from ``address``; False, and not counted, when it is at its limit."""
        count = self._per_ip.get(address, 0)
        if count >= self.limit(address):
            return False
        self._per_ip[address] = count + 1
        self.open += 1
        return True

    def release(self, address: IPAddress) -> None:
        """A connection ``admit`` counted has closed."""
        self.open -= 1
        count = self._per_ip[address] - 1
        if count:
            self._per_ip[address] = count
        else:
            del self._per_ip[address]
        self._slot_freed.set()
