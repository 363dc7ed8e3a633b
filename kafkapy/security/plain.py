"""SASL/PLAIN (RFC 4616) as Kafka's PlainSaslServer: ``[authzid] NUL authcid NUL passwd`` in one token.

The users of a listener are the ``user_<name>="<password>"`` options of its PlainLoginModule JAAS line
(``listener.name.<listener>.plain.sasl.jaas.config``, else ``sasl.jaas.config``), as Kafka's
PlainServerCallbackHandler reads them (``username``/``password`` are the broker's own client login and
make no user), plus ``kafkapy.sasl.users``. The messages are Kafka's.
"""

from __future__ import annotations

import functools
import hmac
from typing import TYPE_CHECKING

from kafkapy.broker_config import BrokerConfig, ConfigError
from kafkapy.security.jaas import parse_jaas
from kafkapy.security.sasl_server import SaslAuthenticationError

if TYPE_CHECKING:
    from kafkapy.broker import Broker

MECHANISM = "PLAIN"
LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
USER_PREFIX = "user_"


def plain_users(config: BrokerConfig, listener_name: str) -> dict[str, str]:
    """name -> password of the users PLAIN accepts on ``listener_name``; ConfigError for a malformed JAAS line."""
    users = dict(config.sasl_users)
    jaas = config.security_property("sasl.jaas.config", listener=listener_name, mechanism=MECHANISM)
    if jaas is not None:
        users.update(_jaas_users(jaas))
    return users


@functools.lru_cache(maxsize=16)
def _jaas_users(jaas: str) -> dict[str, str]:
    """The ``user_<name>`` options of a PlainLoginModule line (none from another module's)."""
    try:
        entry = parse_jaas(jaas)
    except ValueError as exc:
        raise ConfigError(f"invalid sasl.jaas.config for PLAIN: {exc}") from None
    if entry.login_module != LOGIN_MODULE:
        return {}
    return {k.removeprefix(USER_PREFIX): v for k, v in entry.options.items() if k.startswith(USER_PREFIX)}


def check_listener(config: BrokerConfig, listener_name: str) -> None:
    """Start-up check: PLAIN on ``listener_name`` has at least one user (else nobody could log in)."""
    if not plain_users(config, listener_name):
        raise ConfigError(
            f"SASL mechanism PLAIN on listener {listener_name} has no users: add user_<name>=\"<password>\" to"
            f" listener.name.{listener_name.lower()}.plain.sasl.jaas.config ({LOGIN_MODULE})"
            " or set kafkapy.sasl.users (--sasl-user)"
        )


def parse_plain_token(token: bytes) -> tuple[str, str, str]:
    """(authorization id, username, password) of a PLAIN message, as Kafka's extractTokens splits it."""
    # Java's new String(bytes, UTF_8) replaces malformed sequences; so does errors="replace".
    parts = token.decode("utf-8", errors="replace").split("\0", 3)
    if len(parts) != 3:
        raise SaslAuthenticationError(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(parts)}")
    authorization_id, username, password = parts
    if not username:
        raise SaslAuthenticationError("Authentication failed: username not specified")
    if not password:
        raise SaslAuthenticationError("Authentication failed: password not specified")
    return authorization_id, username, password


class PlainServer:
    """One PLAIN exchange: a single client token, checked against the listener's users."""

    mechanism = MECHANISM

    def __init__(self, broker: Broker, listener_name: str) -> None:
        self._users = plain_users(broker.config, listener_name)
        self._authorization_id: str | None = None

    def evaluate_response(self, token: bytes) -> bytes:
        if self._authorization_id is not None:
            raise SaslAuthenticationError("Authentication failed: PLAIN exchange already complete")
        authorization_id, username, password = parse_plain_token(token)
        expected = self._users.get(username)
        # Constant time, as Kafka's Utils.isEqualConstantTime; an unknown user compares against itself.
        given, wanted = password.encode(), (expected if expected is not None else password).encode()
        if not hmac.compare_digest(given, wanted) or expected is None:
            raise SaslAuthenticationError("Authentication failed: Invalid username or password")
        if authorization_id and authorization_id != username:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is different from username"
            )
        self._authorization_id = username
        return b""

    @property
    def complete(self) -> bool:
        return self._authorization_id is not None

    @property
    def authorization_id(self) -> str:
        if self._authorization_id is None:
            raise RuntimeError("PLAIN authentication has not completed")
        return self._authorization_id

    def session_lifetime_ms(self) -> int | None:
        return None
