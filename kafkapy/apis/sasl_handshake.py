"""SaslHandshake (key 17), versions 0-1: the client picks a SASL mechanism (KIP-43, KIP-152).

v0: the SASL tokens that follow are sent raw, without Kafka headers (pre-KIP-152): the connection
    (kafkapy.protocol.connection) reads the frames after a v0 answered NONE as raw tokens, and the server
    loop runs them through the exchange this handler starts. Clients older than Kafka 1.0 use it
    (kafka-python told api_version=(0, 11)); librdkafka (kcat 1.7.1's 2.0.2) logs in only to a broker
    that advertises v0, even though it then uses v1.
v1: the tokens follow in SaslAuthenticate requests.

On a SASL listener before authentication: NONE and the enabled mechanisms, or UNSUPPORTED_SASL_MECHANISM
with them and the connection closed after the answer. On an authenticated connection whose session
expires, a handshake starts KIP-368 re-authentication (at most one a second, with the same mechanism,
else the connection is closed after the answer). Anywhere else it is Kafka's KafkaApis answer:
ILLEGAL_SASL_STATE.
"""

from __future__ import annotations

import trio

from kafkapy.apis import CloseConnection, RequestContext, handler
from kafkapy.protocol.errors import ErrorCode
from kafkapy.security.sasl import MIN_REAUTH_INTERVAL_S, enabled_mechanisms
from kafkapy.security.sasl_server import server_factory
from kafkapy.security.session import SASL_PROTOCOLS, Session


@handler(17, 0, 1, acl=())
async def handle_sasl_handshake(ctx: RequestContext, request: dict) -> dict:
    session = ctx.session
    if session.security_protocol not in SASL_PROTOCOLS or (session.authenticated and not _may_reauthenticate(session)):
        return {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}
    mechanism = request["mechanism"]
    mechanisms = enabled_mechanisms(ctx.broker.config, session.listener_name)
    if mechanism not in mechanisms:
        answer = {"error_code": ErrorCode.UNSUPPORTED_SASL_MECHANISM, "mechanisms": mechanisms}
        raise CloseConnection(f"unsupported SASL mechanism {mechanism!r}", response=answer)
    answer = {"error_code": ErrorCode.NONE, "mechanisms": mechanisms}
    if session.authenticated:
        session.reauthentication_started_at = trio.current_time()
        if mechanism != session.sasl_mechanism:
            # Kafka's "Can't change SASL mechanism from X to Y during re-authentication".
            raise CloseConnection(f"SASL mechanism changed from {session.sasl_mechanism} to {mechanism}", answer)
    session.sasl_mechanism = mechanism
    session.sasl_server = server_factory(mechanism)(ctx.broker, session.listener_name)
    return answer


def _may_reauthenticate(session: Session) -> bool:
    """KIP-368: only a session that expires is re-authenticated, and at most once a second."""
    if session.session_expires_at is None:
        return False
    last = session.reauthentication_started_at
    return last is None or trio.current_time() - last >= MIN_REAUTH_INTERVAL_S
