"""Listeners: Kafka's ``listeners``, ``advertised.listeners`` and ``listener.security.protocol.map``.

A broker listens on each of its listeners (``PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9093``);
the name before ``://`` picks the listener's security protocol through the map, whose default is
Kafka's (each protocol's own name maps to itself). A client is told, in Metadata and
FindCoordinator, the advertised address of the listener it came in on, so a client of the SSL
listener never gets sent to the plaintext port. Listeners named in ``controller.listener.names``
belong to a KRaft controller, which kafkapy has not: they are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from kafkapy.security.session import SASL_SSL, SECURITY_PROTOCOLS, SSL

T = TypeVar("T")
# Kafka's listener.security.protocol.map default: each security protocol's name maps to itself.
DEFAULT_PROTOCOL_MAP = {protocol: protocol for protocol in SECURITY_PROTOCOLS}
# The protocols whose connections are TLS.
SSL_PROTOCOLS = (SSL, SASL_SSL)
_FORMAT = "expected NAME://HOST:PORT, like PLAINTEXT://localhost:9092"
# Kafka's listeners default: PLAINTEXT on port 9092 (where --host says: 127.0.0.1 unless told).
DEFAULT_LISTENERS = "PLAINTEXT://:9092"


class ListenerError(ValueError):
    """A listener setting that cannot be used: which setting, its value, and why."""

    def __init__(self, setting: str, value: str, reason: str) -> None:
        super().__init__(f"invalid {setting}={value}: {reason}")
        self.setting, self.value, self.reason = setting, value, reason


@dataclass(frozen=True)
class Listener:
    """One address the broker listens on, and what clients that come in through it are told."""

    name: str  # upper case, as Kafka's ListenerName
    security_protocol: str  # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    host: str  # "" listens where the broker's --host says
    port: int  # 0 picks a free port
    advertised_host: str | None = None
    advertised_port: int | None = None

    @property
    def advertised(self) -> tuple[str, int]:
        """Where clients are told to connect: advertised.listeners' entry, else where it listens."""
        return self.advertised_host or self.host, self.advertised_port or self.port

    @property
    def address(self) -> str:
        """``host:port`` where it listens (an IPv6 host in brackets), for a bootstrap.servers list."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.name}://{self.address}"


def parse_endpoints(value: str) -> list[tuple[str, str, int]]:
    """``NAME://HOST:PORT,...`` as (NAME, host, port); ValueError saying what is wrong.

    The host may be empty (``SASL_SSL://:9093``) or a bracketed IPv6 address.
    """
    endpoints = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, address = item.partition("://")
        host, colon, port = address.rpartition(":")
        if not sep or not name.strip() or not colon:
            raise ValueError(_FORMAT)
        try:
            number = int(port)
        except ValueError:
            raise ValueError(f"port {port!r} of {item} is not a whole number") from None
        if not 0 <= number <= 65535:
            raise ValueError(f"expected a whole number from 0 to 65535 as the port of {item}")
        endpoints.append((name.strip().upper(), host.strip().strip("[]"), number))
    if not endpoints:
        raise ValueError(_FORMAT)
    return endpoints


def parse_protocol_map(value: str) -> dict[str, str]:
    """listener.security.protocol.map ``NAME:PROTOCOL,...``; ValueError for an unknown protocol."""
    mapping = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, protocol = item.partition(":")
        protocol = protocol.strip().upper()
        if not sep or not name.strip():
            raise ValueError("expected NAME:PROTOCOL[,NAME:PROTOCOL...]")
        if protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"{protocol or '(empty)'} is not a security protocol ({', '.join(SECURITY_PROTOCOLS)})")
        mapping[name.strip().upper()] = protocol
    return mapping


def parse_listeners(
    listeners: str = DEFAULT_LISTENERS, advertised: str = "", protocol_map: str = "", controller_names: str = ""
) -> list[Listener]:
    """The client listeners, in the order written, each with its protocol and advertised address.

    ListenerError naming the setting that is wrong: a malformed entry, a name without a protocol, a
    name or port twice, an advertised listener that is not a listener, a SASL listener without SASL.
    """
    mapping = DEFAULT_PROTOCOL_MAP
    if protocol_map.strip():
        mapping = _parsing("listener.security.protocol.map", protocol_map, parse_protocol_map)
    controllers = {name.strip().upper() for name in controller_names.split(",") if name.strip()}
    endpoints = [e for e in _parsing("listeners", listeners, parse_endpoints) if e[0] not in controllers]
    names = [name for name, _, _ in endpoints]
    advertised_at = _parsing("advertised.listeners", advertised, lambda v: _advertised(v, controllers, names))
    return _parsing("listeners", listeners, lambda _: _resolve(endpoints, mapping, advertised_at))


def _parsing(setting: str, value: str, parse: Callable[[str], T]) -> T:
    """``parse(value)``, its ValueError a ListenerError naming ``setting``."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ListenerError(setting, value, str(exc)) from None


def _resolve(
    endpoints: list[tuple[str, str, int]],
    mapping: dict[str, str],
    advertised_at: dict[str, tuple[str | None, int]],
) -> list[Listener]:
    """Each endpoint as a Listener with its protocol and advertised address."""
    if not endpoints:
        raise ValueError("every listener is a controller.listener.names one; add one for clients")
    _check_unique([name for name, _, _ in endpoints], [port for _, _, port in endpoints])
    out = []
    for name, host, port in endpoints:
        protocol = mapping.get(name)
        if protocol is None:
            raise ValueError(
                f"listener {name} has no security protocol; add {name}:<PROTOCOL> to listener.security.protocol.map"
            )
        ad_host, ad_port = advertised_at.get(name, (None, None))
        out.append(Listener(name, protocol, host, port, ad_host, ad_port))
    return out


def _check_unique(names: list[str], ports: list[int]) -> None:
    """Kafka refuses a listener name, or a port (other than 0, a fresh one each), used twice."""
    for label, values in (("name", names), ("port", [p for p in ports if p])):
        twice = sorted({v for v in values if values.count(v) > 1}, key=str)
        if twice:
            raise ValueError(f"each listener needs its own {label}; {twice[0]} is used more than once")


def _advertised(value: str, controllers: set[str], names: list[str]) -> dict[str, tuple[str | None, int]]:
    """advertised.listeners by listener name; ValueError for a name that is not a listener's."""
    out: dict[str, tuple[str | None, int]] = {}
    if not value.strip():
        return out
    for name, host, port in parse_endpoints(value):
        if name in controllers:
            continue
        if name not in names:
            raise ValueError(f"advertised listener {name} is not one of the listeners ({', '.join(names)})")
        out[name] = (host or None, port)
    return out
