"""One connection's security state: the listener it came in on, its principal, its SASL progress.

The server makes a Session per accepted connection; every request on the connection reads it
through ``RequestContext.session``. A PLAINTEXT or SSL connection is authenticated from the start
(as ``User:ANONYMOUS``, or the principal its client certificate maps to); a SASL_* connection
becomes authenticated when its SaslAuthenticate exchange completes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kafkapy.security.sasl_server import SaslServer

# Kafka's KafkaPrincipal.ANONYMOUS: the principal of a PLAINTEXT connection.
ANONYMOUS = "User:ANONYMOUS"
PLAINTEXT = "PLAINTEXT"
SSL = "SSL"
SASL_PLAINTEXT = "SASL_PLAINTEXT"
SASL_SSL = "SASL_SSL"
SECURITY_PROTOCOLS = (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)
SASL_PROTOCOLS = (SASL_PLAINTEXT, SASL_SSL)


@dataclass
class Session:
    """Who is on a connection, and through which listener (Kafka's RequestContext principal/listenerName)."""

    listener_name: str = PLAINTEXT
    security_protocol: str = PLAINTEXT
    principal: str = ANONYMOUS
    # False on a SASL_* listener until SaslAuthenticate completes.
    authenticated: bool = True
    # The mechanism SaslHandshake chose (None before it, and on non-SASL listeners).
    sasl_mechanism: str | None = None
    # trio.current_time() past which the SASL session has expired (KIP-368 connections.max.reauth.ms);
    # None: it never expires.
    session_expires_at: float | None = None
    # The exchange between a SaslHandshake and the SaslAuthenticate that completes it (None otherwise).
    sasl_server: SaslServer | None = None
    # trio.current_time() of the last KIP-368 re-authentication's start (Kafka allows one a second).
    reauthentication_started_at: float | None = None

    @classmethod
    def for_listener(cls, listener_name: str, security_protocol: str) -> Session:
        """A new connection's session: SASL listeners start unauthenticated."""
        return cls(
            listener_name=listener_name,
            security_protocol=security_protocol,
            authenticated=security_protocol not in SASL_PROTOCOLS,
        )
