"""SASL on a listener: its mechanisms and their start-up checks, and the authentication door.

Kafka's SaslServerAuthenticator runs before KafkaApis on a SASL_* connection; here the door is one
function dispatch asks before each request (``door``), and the exchange itself is the SaslHandshake and
SaslAuthenticate handlers (kafkapy/apis), which keep its state in the connection's ``Session``:

- before authentication only ApiVersions and SaslHandshake are served; anything else closes the
  connection, without an answer (Kafka: IllegalSaslStateException "... during SASL handshake");
- between a SaslHandshake and the SaslAuthenticate that completes it, anything but SaslAuthenticate is
  answered ILLEGAL_SASL_STATE and the connection closed (Kafka: "... during SASL authentication");
- once the session has expired (KIP-368, ``connections.max.reauth.ms`` or the token's expiry), anything
  but a SaslHandshake starting re-authentication closes the connection, as Kafka's SocketServer does.

After a SaslHandshake v0 the tokens are raw frames, not requests: they never reach the door or dispatch
(the server loop hands them to the exchange, kafkapy.apis.sasl_authenticate.evaluate_token).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from kafkapy.protocol.specs import ApiKey
from kafkapy.security.sasl_server import MECHANISMS
from kafkapy.security.session import Session

if TYPE_CHECKING:
    from kafkapy.broker_config import BrokerConfig

# Kafka's default is GSSAPI, which kafkapy does not implement; PLAIN is what a test listener with
# kafkapy.sasl.users (--sasl-user) needs, and a PLAIN listener without users is refused at start-up.
DEFAULT_MECHANISMS = ("PLAIN",)
GSSAPI = "GSSAPI"
# Kafka's sasl.server.max.receive.size default: 512 KB.
DEFAULT_MAX_RECEIVE_SIZE = 524288
# Kafka's connections.max.reauth.ms default: 0, sessions never expire.
DEFAULT_REAUTH_MS = 0
# Kafka's KafkaChannel.MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS: at most one re-authentication a second.
MIN_REAUTH_INTERVAL_S = 1.0
# sasl.server.callback.handler.class values kafkapy implements (OAUTHBEARER's validators).
_OAUTHBEARER_HANDLERS = (
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
)
# Kafka's KIP-1139 JWT validator, the only one kafkapy has.
_DEFAULT_JWT_VALIDATOR = "org.apache.kafka.common.security.oauthbearer.DefaultJwtValidator"
_PRE_AUTHENTICATION = frozenset({ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE})


def parse_mechanisms(value: str) -> list[str]:
    """``sasl.enabled.mechanisms`` as a list; ValueError for GSSAPI or a name kafkapy does not implement."""
    mechanisms = [m.strip().upper() for m in value.split(",") if m.strip()]
    for mechanism in mechanisms:
        if mechanism == GSSAPI:
            raise ValueError("GSSAPI (Kerberos) is not implemented; enable PLAIN, SCRAM-SHA-256/512 or OAUTHBEARER")
        if mechanism not in MECHANISMS:
            raise ValueError(f"unknown SASL mechanism {mechanism} (kafkapy implements {', '.join(MECHANISMS)})")
    return mechanisms


def enabled_mechanisms(config: BrokerConfig, listener_name: str) -> list[str]:
    """The mechanisms SaslHandshake offers on ``listener_name`` (listener-prefixed first, as in Kafka)."""
    value = config.security_property("sasl.enabled.mechanisms", listener=listener_name)
    return list(DEFAULT_MECHANISMS) if value is None else parse_mechanisms(value)


def reauth_ms(config: BrokerConfig, listener_name: str, mechanism: str) -> int:
    """``connections.max.reauth.ms`` for a mechanism on a listener (0: sessions do not expire)."""
    value = config.security_property("connections.max.reauth.ms", listener=listener_name, mechanism=mechanism)
    if value is None:
        return DEFAULT_REAUTH_MS
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"invalid connections.max.reauth.ms={value}: expected a whole number of ms") from None


def max_receive_size(config: BrokerConfig, listener_name: str) -> int:
    """``sasl.server.max.receive.size``: the largest request before authentication completes."""
    value = config.security_property("sasl.server.max.receive.size", listener=listener_name)
    if value is None:
        return DEFAULT_MAX_RECEIVE_SIZE
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(f"invalid sasl.server.max.receive.size={value}: expected a whole number of bytes, at least 1")
    return size


def check_listener(config: BrokerConfig, listener_name: str) -> None:
    """Start-up checks of a SASL listener: its mechanisms exist and each can authenticate someone.

    ConfigError (one line, naming the property) otherwise: never a listener nobody can log in to, nor
    one that lets anyone in.
    """
    from kafkapy.broker_config import ConfigError

    try:
        max_receive_size(config, listener_name)
        mechanisms = enabled_mechanisms(config, listener_name)
        for mechanism in mechanisms:
            reauth_ms(config, listener_name, mechanism)
    except ValueError as exc:
        raise ConfigError(f"SASL listener {listener_name}: {exc}") from None
    if not mechanisms:
        raise ConfigError(f"SASL listener {listener_name}: sasl.enabled.mechanisms is empty")
    for mechanism in mechanisms:
        try:
            module = importlib.import_module(MECHANISMS[mechanism].partition(":")[0])
        except ModuleNotFoundError:
            raise ConfigError(f"SASL listener {listener_name}: mechanism {mechanism} is not in this build") from None
        # A mechanism module may check its own settings (users, validator, credentials) at start-up.
        check = getattr(module, "check_listener", None)
        if check is not None:
            check(config, listener_name)


def base_property(name: str) -> str:
    """A security property's name without its ``listener.name.<listener>.[<mechanism>.]`` prefix."""
    if not name.startswith("listener.name."):
        return name
    rest = name.removeprefix("listener.name.").partition(".")[2]
    for mechanism in (*MECHANISMS, GSSAPI):
        prefix = f"{mechanism.lower()}."
        if rest.startswith(prefix):
            return rest.removeprefix(prefix)
    return rest


def sasl_refusal(name: str, value: str) -> str | None:
    """Why kafkapy cannot honour a ``sasl.*`` property (listener-prefixed or not), or None if it can.

    Properties only a client or another broker reads (``sasl.login.*``, ``sasl.mechanism.inter.broker
    .protocol``...) are accepted: ignoring them opens nothing.
    """
    base = base_property(name)
    if base == "sasl.enabled.mechanisms":
        try:
            parse_mechanisms(value)
        except ValueError as exc:
            return str(exc)
    elif base == "sasl.server.callback.handler.class" and value.strip() not in _OAUTHBEARER_HANDLERS:
        return "kafkapy runs no custom server callback handler; it would be ignored and authentication weakened"
    elif base == "sasl.oauthbearer.jwt.validator.class" and value.strip() != _DEFAULT_JWT_VALIDATOR:
        return "kafkapy has only Kafka's default JWT validator"
    return None


def sasl_properties(mechanism: str, users: dict[str, str], *, tls: bool = False) -> dict[str, str]:
    """Kafka properties for a test broker with a SASL listener beside its PLAINTEXT one
    (``KafkaBroker(sasl=("PLAIN", {"alice": "alice-secret"}))``): SASL_PLAINTEXT, or SASL_SSL beside the
    SSL listener with ``tls``; ``users`` for PLAIN and SCRAM, Kafka's unsecured token validator for
    OAUTHBEARER (any unsigned JWT with ``sub`` and ``exp``)."""
    listener = "SASL_SSL" if tls else "SASL_PLAINTEXT"
    properties = {
        "listeners": f"PLAINTEXT://127.0.0.1:0,{'SSL://127.0.0.1:0,' if tls else ''}{listener}://127.0.0.1:0",
        "sasl.enabled.mechanisms": mechanism,
        "kafkapy.sasl.users": ",".join(f"{name}:{password}" for name, password in users.items()),
    }
    if "OAUTHBEARER" in parse_mechanisms(mechanism):
        properties[f"listener.name.{listener.lower()}.oauthbearer.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
        )
    return properties


class Door(enum.Enum):
    """What the authentication door does with a request."""

    SERVE = "serve"
    # Closed without an answer.
    CLOSE = "close"
    # Answered ILLEGAL_SASL_STATE in its own response, then closed.
    REFUSE_AND_CLOSE = "refuse and close"


def door(session: Session, api_key: int, clock: Callable[[], float]) -> Door:
    """Whether a request on this connection reaches its handler (see the module docstring).

    ``clock`` (trio.current_time) is read only for a session that expires: the common case, an
    authenticated session that does not, costs three attribute reads.
    """
    if session.sasl_server is not None:
        return Door.SERVE if api_key == ApiKey.SASL_AUTHENTICATE else Door.REFUSE_AND_CLOSE
    if not session.authenticated:
        return Door.SERVE if api_key in _PRE_AUTHENTICATION else Door.CLOSE
    if session.session_expires_at is not None and clock() >= session.session_expires_at:
        return Door.SERVE if api_key == ApiKey.SASL_HANDSHAKE else Door.CLOSE
    return Door.SERVE
