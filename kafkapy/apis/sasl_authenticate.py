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
"""

from __future__ import annotations

import logging
from typing import NoReturn

import trio

from kafkapy.apis import CloseConnection, RequestContext, handler
from kafkapy.logging_setup import RateLimitedLog
from kafkapy.protocol.errors import ErrorCode
from kafkapy.security.sasl import reauth_ms
from kafkapy.security.sasl_server import SaslAuthenticationError, SaslServer
from kafkapy.security.session import Session

log = logging.getLogger("kafkapy.security")
# A client can cause these as often as it connects.
failed_log = RateLimitedLog(log)
# Kafka's KafkaApis answer to a SaslAuthenticate outside an exchange.
AFTER_AUTHENTICATION = "SaslAuthenticate request received after successful authentication"


@handler(36, 0, 2, acl=())
async def handle_sasl_authenticate(ctx: RequestContext, request: dict) -> dict:
    session = ctx.session
    server = session.sasl_server
    if server is None:
        return {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "error_message": AFTER_AUTHENTICATION}
    try:
        challenge = server.evaluate_response(request["auth_bytes"])
    except SaslAuthenticationError as exc:
        _fail(ctx, session, str(exc) or None)
    except Exception:
        # A mechanism's bug met by hostile bytes fails the exchange; it never leaves it half done.
        failed_log.exception("SASL mechanism failed", mechanism=session.sasl_mechanism, peer=ctx.peer)
        _fail(ctx, session, None)
    if not server.complete:
        return {"error_code": ErrorCode.NONE, "auth_bytes": challenge}
    lifetime_ms = _authenticated(ctx, session, server)
    return {"error_code": ErrorCode.NONE, "auth_bytes": challenge, "session_lifetime_ms": lifetime_ms}


def _authenticated(ctx: RequestContext, session: Session, server: SaslServer) -> int:
    """Complete the exchange: the principal, and the session's lifetime in ms (0: it does not expire)."""
    principal = f"User:{server.authorization_id}"
    if session.authenticated and principal != session.principal:
        # Kafka's ReauthInfo.ensurePrincipalUnchanged.
        before, after = (p.replace(":", ".", 1) for p in (session.principal, principal))
        _fail(ctx, session, f"Cannot change principals during re-authentication from {before}: {after}")
    session.sasl_server = None
    session.principal, session.authenticated = principal, True
    # As Kafka's SaslServerAuthenticator: the shorter of connections.max.reauth.ms (when > 0) and the
    # credential's remaining lifetime (when it has one); neither: the session does not expire.
    max_reauth_ms = reauth_ms(ctx.broker.config, session.listener_name, server.mechanism)
    credential_ms = server.session_lifetime_ms()
    lifetimes = [ms for ms in (max_reauth_ms if max_reauth_ms > 0 else None, credential_ms) if ms is not None]
    if not lifetimes:
        session.session_expires_at = None
        return 0
    lifetime_ms = max(0, min(lifetimes))
    session.session_expires_at = trio.current_time() + lifetime_ms / 1000
    return lifetime_ms


def _fail(ctx: RequestContext, session: Session, message: str | None) -> NoReturn:
    """Answer SASL_AUTHENTICATION_FAILED with ``message`` (Kafka's generic one if None) and close."""
    stage = "re-authentication" if session.authenticated else "authentication"
    if message is None:
        message = (
            f"Authentication failed during {stage} due to invalid credentials with SASL mechanism"
            f" {session.sasl_mechanism}"
        )
    session.sasl_server = None
    failed_log.info("SASL authentication failed", mechanism=session.sasl_mechanism, peer=ctx.peer, reason=message)
    answer = {"error_code": ErrorCode.SASL_AUTHENTICATION_FAILED, "error_message": message}
    raise CloseConnection("SASL authentication failed", response=answer)
