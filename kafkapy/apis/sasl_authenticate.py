"""SaslAuthenticate (key 36), versions 0-2: one SASL token of the exchange SaslHandshake started (KIP-152).

v0: auth bytes both ways, error code and message.
v1: session_lifetime_ms (KIP-368): when the session expires, from connections.max.reauth.ms and the
    credential's own expiry (an OAUTHBEARER token's exp), whichever comes first; 0 when it does not.
v2: flexible.

Success makes the connection's principal ``User:<authorization id>``. Failure answers
SASL_AUTHENTICATION_FAILED with the mechanism's message (Kafka's generic "Authentication failed during
authentication due to invalid credentials with SASL mechanism X" when it gives none) and closes the
connection after the answer, as Kafka's SaslServerAuthenticator does. Outside an exchange the answer is
KafkaApis': ILLEGAL_SASL_STATE.

After a SaslHandshake v0 the tokens come raw instead (pre-KIP-152): the server loop runs each through
``evaluate_token`` as this handler does, sends the challenge back raw, and on a failure just closes the
connection, as Kafka does for such clients (they could not read an answer).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NoReturn

import trio

from kafkapy.apis import CloseConnection, RequestContext, handler
from kafkapy.logging_setup import RateLimitedLog
from kafkapy.protocol.errors import ErrorCode
from kafkapy.security.sasl import reauth_ms
from kafkapy.security.sasl_server import SaslAuthenticationError, SaslServer
from kafkapy.security.session import Session

if TYPE_CHECKING:
    from kafkapy.broker import Broker

log = logging.getLogger("kafkapy.security")
# A client can cause these as often as it connects.
failed_log = RateLimitedLog(log)
# Kafka's KafkaApis answer to a SaslAuthenticate outside an exchange.
AFTER_AUTHENTICATION = "SaslAuthenticate request received after successful authentication"


@handler(36, 0, 2, acl=())
async def handle_sasl_authenticate(ctx: RequestContext, request: dict) -> dict:
    session = ctx.session
    if session.sasl_server is None:
        return {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "error_message": AFTER_AUTHENTICATION}
    challenge, lifetime_ms = evaluate_token(ctx.broker, session, request["auth_bytes"], ctx.peer)
    if lifetime_ms is None:
        return {"error_code": ErrorCode.NONE, "auth_bytes": challenge}
    return {"error_code": ErrorCode.NONE, "auth_bytes": challenge, "session_lifetime_ms": lifetime_ms}


def evaluate_token(broker: Broker, session: Session, token: bytes, peer: str) -> tuple[bytes, int | None]:
    """The client's next token through the session's exchange: (the challenge, and once the exchange
    completes the session's lifetime in ms, else None).

    Shared by SaslAuthenticate and the raw tokens that follow a SaslHandshake v0 (the server loop).
    Raises CloseConnection, with SaslAuthenticate's failure answer, when the client fails.
    """
    server = session.sasl_server
    assert server is not None, "no SASL exchange in progress"
    try:
        challenge = server.evaluate_response(token)
    except SaslAuthenticationError as exc:
        _fail(session, peer, str(exc) or None)
    except Exception:
        # A mechanism's bug met by hostile bytes fails the exchange; it never leaves it half done.
        failed_log.exception("SASL mechanism failed", mechanism=session.sasl_mechanism, peer=peer)
        _fail(session, peer, None)
    if not server.complete:
        return challenge, None
    return challenge, _authenticated(broker, session, server, peer)


def _authenticated(broker: Broker, session: Session, server: SaslServer, peer: str) -> int:
    """Complete the exchange: the principal, and the session's lifetime in ms (0: it does not expire)."""
    principal = f"User:{server.authorization_id}"
    if session.authenticated and principal != session.principal:
        # Kafka's ReauthInfo.ensurePrincipalUnchanged.
        before, after = (p.replace(":", ".", 1) for p in (session.principal, principal))
        _fail(session, peer, f"Cannot change principals during re-authentication from {before}: {after}")
    session.sasl_server = None
    session.principal, session.authenticated = principal, True
    # As Kafka's SaslServerAuthenticator: the shorter of connections.max.reauth.ms (when > 0) and the
    # credential's remaining lifetime (when it has one); neither: the session does not expire.
    max_reauth_ms = reauth_ms(broker.config, session.listener_name, server.mechanism)
    credential_ms = server.session_lifetime_ms()
    lifetimes = [ms for ms in (max_reauth_ms if max_reauth_ms > 0 else None, credential_ms) if ms is not None]
    if not lifetimes:
        session.session_expires_at = None
        return 0
    lifetime_ms = max(0, min(lifetimes))
    session.session_expires_at = trio.current_time() + lifetime_ms / 1000
    return lifetime_ms


def _fail(session: Session, peer: str, message: str | None) -> NoReturn:
    """Answer SASL_AUTHENTICATION_FAILED with ``message`` (Kafka's generic one if None) and close."""
    stage = "re-authentication" if session.authenticated else "authentication"
    if message is None:
        message = (
            f"Authentication failed during {stage} due to invalid credentials with SASL mechanism"
            f" {session.sasl_mechanism}"
        )
    session.sasl_server = None
    failed_log.info("SASL authentication failed", mechanism=session.sasl_mechanism, peer=peer, reason=message)
    answer = {"error_code": ErrorCode.SASL_AUTHENTICATION_FAILED, "error_message": message}
    raise CloseConnection("SASL authentication failed", response=answer)
