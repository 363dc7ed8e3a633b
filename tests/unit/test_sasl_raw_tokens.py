"""SaslHandshake v0 from bytes: after a v0 handshake answered NONE the frames both ways are raw SASL tokens
(pre-KIP-152, Kafka's SaslServerAuthenticator without SaslAuthenticate headers), until the exchange ends."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_codec import frame

from kafkapy.apis import CloseConnection, RequestContext, load_handlers
from kafkapy.apis.dispatch import dispatch
from kafkapy.apis.sasl_authenticate import evaluate_token
from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig, apply_properties
from kafkapy.protocol.connection import Connection, ProtocolError, Request, Role
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from kafkapy.security.session import SASL_PLAINTEXT, Session
from kafkapy.server.startup import open_broker

load_handlers()
HANDSHAKE_OK = {"error_code": ErrorCode.NONE, "mechanisms": ["PLAIN"]}
METADATA_BODY = {"topics": [], "allow_auto_topic_creation": False}


def token_frame(token: bytes) -> bytes:
    return struct.pack(">i", len(token)) + token


def handshake(version: int, correlation_id: int = 1) -> bytes:
    return frame(ApiKey.SASL_HANDSHAKE, version, correlation_id, {"mechanism": "PLAIN"})


def _take_request(conn: Connection) -> Request:
    request = conn.next_request()
    assert request is not None
    return request


def test_the_frames_after_a_v0_handshake_answered_none_are_raw_tokens() -> None:
    conn = Connection()
    # A client may pipeline nothing past its handshake, but whatever is buffered is framed by the mode.
    metadata = frame(ApiKey.METADATA, 12, 2, METADATA_BODY)
    conn.receive_data(handshake(0) + token_frame(b"\0alice\0alice-secret") + metadata)
    request = _take_request(conn)
    assert (request.api_key, request.api_version) == (ApiKey.SASL_HANDSHAKE, 0)
    assert not conn.sasl_tokens
    response = b"".join(conn.encode_response(request, HANDSHAKE_OK))  # type: ignore[arg-type]
    assert conn.sasl_tokens
    assert response[:8] == struct.pack(">ii", len(response) - 4, 1)
    # No header: the frame is the token, as the client wrote it.
    assert conn.next_sasl_token() == b"\0alice\0alice-secret"
    assert conn.encode_sasl_token(b"") == b"\0\0\0\0"
    conn.end_sasl_tokens()
    assert _take_request(conn).api_key == ApiKey.METADATA


@pytest.mark.parametrize(
    ("version", "body"),
    [
        (1, HANDSHAKE_OK),  # v1: the tokens come in SaslAuthenticate requests
        (0, {"error_code": ErrorCode.UNSUPPORTED_SASL_MECHANISM, "mechanisms": ["PLAIN"]}),
        (0, {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}),
    ],
)
def test_no_raw_tokens_after_a_v1_handshake_or_a_refused_v0(version: int, body: dict) -> None:
    conn = Connection()
    conn.receive_data(handshake(version))
    conn.encode_response(_take_request(conn), body)
    assert not conn.sasl_tokens


def test_the_client_side_switches_on_the_same_frame() -> None:
    client, server = Connection(our_role=Role.CLIENT), Connection()
    server.receive_data(client.encode_request(ApiKey.SASL_HANDSHAKE, 0, 5, {"mechanism": "PLAIN"}, client_id="t"))
    client.receive_data(b"".join(server.encode_response(_take_request(server), HANDSHAKE_OK)))  # type: ignore[arg-type]
    client.receive_data(server.encode_sasl_token(b"challenge"))  # the broker's answer to the client's token
    response = client.next_response(ApiKey.SASL_HANDSHAKE, 0, 5)
    assert response is not None and response.error_code == ErrorCode.NONE
    assert client.sasl_tokens
    assert client.next_sasl_token() == b"challenge"
    server.receive_data(client.encode_sasl_token(b"\0a\0b"))
    assert server.next_sasl_token() == b"\0a\0b"


def test_an_empty_token_is_a_frame_a_request_that_small_is_not() -> None:
    conn = Connection()
    conn.receive_data(handshake(0))
    conn.encode_response(_take_request(conn), HANDSHAKE_OK)
    conn.receive_data(token_frame(b"") + token_frame(b"x" * 3))
    assert conn.next_sasl_token() == b""
    conn.end_sasl_tokens()
    # 3 bytes cannot hold a request header: once the tokens end, Kafka's framing rules are back.
    with pytest.raises(ProtocolError):
        conn.next_request()


def test_a_token_above_the_size_limit_is_a_protocol_error() -> None:
    """sasl.server.max.receive.size bounds the tokens (the server sets it while authenticating)."""
    conn = Connection(max_request_size=1024)
    conn.receive_data(handshake(0))
    conn.encode_response(_take_request(conn), HANDSHAKE_OK)
    conn.receive_data(struct.pack(">i", 1025))
    with pytest.raises(ProtocolError, match="1025"):
        conn.next_sasl_token()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64), chunk=st.integers(min_value=1, max_value=16))
def test_any_bytes_after_a_v0_handshake_are_tokens_or_a_protocol_error(data: bytes, chunk: int) -> None:
    conn = Connection(max_request_size=32)
    conn.receive_data(handshake(0))
    conn.encode_response(_take_request(conn), HANDSHAKE_OK)
    received = 0
    try:
        for start in range(0, len(data), chunk):
            conn.receive_data(data[start : start + chunk])
            while (token := conn.next_sasl_token()) is not None:
                assert len(token) <= 32
                received += 4 + len(token)
    except ProtocolError as exc:
        assert "SASL token size" in str(exc)
    else:
        assert received + conn.buffered == len(data)


# --- the exchange the raw tokens go through ------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Broker:
    config = BrokerConfig(storage="memory")
    apply_properties(config, {"kafkapy.sasl.users": "alice:alice-secret"})
    config.data_dir = tmp_path
    return open_broker(config)


async def _v0_handshake(broker: Broker, session: Session) -> None:
    conn = Connection()
    conn.receive_data(handshake(0))
    request = _take_request(conn)
    answer = await dispatch(RequestContext(broker, request, session=session), request)
    assert answer is not None and answer.body == HANDSHAKE_OK
    assert session.sasl_server is not None


async def test_a_raw_plain_token_logs_in(broker: Broker) -> None:
    session = Session.for_listener(SASL_PLAINTEXT, SASL_PLAINTEXT)
    await _v0_handshake(broker, session)
    assert evaluate_token(broker, session, b"\0alice\0alice-secret", "peer") == (b"", 0)
    assert session.authenticated and session.principal == "User:alice" and session.sasl_server is None


async def test_a_bad_raw_token_fails_the_exchange(broker: Broker) -> None:
    session = Session.for_listener(SASL_PLAINTEXT, SASL_PLAINTEXT)
    await _v0_handshake(broker, session)
    with pytest.raises(CloseConnection):
        evaluate_token(broker, session, b"\0alice\0wrong", "peer")
    assert not session.authenticated and session.sasl_server is None
