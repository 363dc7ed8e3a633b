"""The SASL mechanism interface: what SaslAuthenticate asks of a mechanism (Kafka's javax SaslServer).

A mechanism module provides a factory ``(broker, listener_name) -> SaslServer``, named in
``MECHANISMS`` as "module:attribute" so a broker imports only the mechanisms it enables.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kafkapy.broker import Broker


class SaslAuthenticationError(Exception):
    """The client failed authentication; the message is what SaslAuthenticate's error_message says."""


class SaslServer(Protocol):
    """One authentication exchange on one connection."""

    mechanism: str

    def evaluate_response(self, token: bytes) -> bytes:
        """The client's next token in, the server's challenge (b"" when none) out; raises
        SaslAuthenticationError when the client fails."""
        ...

    @property
    def complete(self) -> bool:
        """True once the exchange has succeeded."""
        ...

    @property
    def authorization_id(self) -> str:
        """The authenticated user's name; the principal is ``User:<name>``."""
        ...

    def session_lifetime_ms(self) -> int | None:
        """How long the credentials stay valid (an OAUTHBEARER token's expiry), None when unbounded."""
        ...


SaslServerFactory = Callable[["Broker", str], SaslServer]

# Kafka's mechanism names -> "module:factory". GSSAPI (Kerberos) is not implemented: enabling it is refused.
MECHANISMS: dict[str, str] = {
    "PLAIN": "kafkapy.security.plain:PlainServer",
    "SCRAM-SHA-256": "kafkapy.security.scram:ScramSha256Server",
    "SCRAM-SHA-512": "kafkapy.security.scram:ScramSha512Server",
    "OAUTHBEARER": "kafkapy.security.oauthbearer:OAuthBearerServer",
}


def server_factory(mechanism: str) -> SaslServerFactory:
    """The factory of an implemented mechanism; KeyError for any other name."""
    module, _, attribute = MECHANISMS[mechanism].partition(":")
    return getattr(importlib.import_module(module), attribute)
