"""SASL from bytes: the JAAS parser, PLAIN and OAUTHBEARER messages, and the SaslHandshake/SaslAuthenticate
exchange through dispatch (the authentication door), on a real in-memory Broker without a socket."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkapy.apis import CloseConnection, RequestContext, load_handlers
from kafkapy.apis.dispatch import Answer, dispatch
from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig, ConfigError, apply_properties
from kafkapy.protocol.connection import Connection, Request, Role
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from kafkapy.security import sasl
from kafkapy.security.jaas import JaasEntry, parse_jaas
from kafkapy.security.oauthbearer import (
    OAuthBearerServer,
    UnsecuredValidator,
    parse_client_first_message,
)
from kafkapy.security.plain import PlainServer, parse_plain_token
from kafkapy.security.sasl_server import SaslAuthenticationError
from kafkapy.security.session import SASL_PLAINTEXT, Session
from kafkapy.server.startup import open_broker

load_handlers()
PLAIN_JAAS = (
    'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret"'
    ' user_admin="admin-secret" user_alice="alice-secret";'
)
OAUTH_JAAS = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
LISTENER = "SASL_PLAINTEXT"


# --- JAAS ------------------------------------------------------------------------------------------


def test_jaas_line_as_kafka_writes_it() -> None:
    assert parse_jaas(PLAIN_JAAS) == JaasEntry(
        "org.apache.kafka.common.security.plain.PlainLoginModule",
        "required",
        {"username": "admin", "password": "admin-secret", "user_admin": "admin-secret", "user_alice": "alice-secret"},
    )


def test_jaas_quotes_escapes_comments_and_unquoted_words() -> None:
    text = (
        "/* a comment */ Module Optional // to the line end\n"
        " a=word-with.dots_$1 b='single \"q\"' c=\"esc\\\"aped\\\\ \\n\\101\" d=\"\"\n;"
    )
    entry = parse_jaas(text)
    assert entry.flag == "optional"
    assert entry.options == {"a": "word-with.dots_$1", "b": 'single "q"', "c": 'esc"aped\\ \nA', "d": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Login module not specified in JAAS config"),
        ("Module", "Login module control flag not specified in JAAS config"),
        ("Module mandatory;", "Invalid login module control flag 'mandatory' in JAAS config"),
        ("Module required a=;", "Value not specified for key 'a' in JAAS config"),
        ("Module required a=1;", "Value not specified for key 'a' in JAAS config"),  # a number, as StreamTokenizer
        ('Module required a="x"', "JAAS config entry not terminated by semi-colon"),
        ("A required; B required;", "JAAS config property contains 2 login modules, should be 1 module"),
    ],
)
def test_malformed_jaas_is_refused_with_kafkas_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_jaas(text)


# --- PLAIN -----------------------------------------------------------------------------------------


def _config(**props: str) -> BrokerConfig:
    config = BrokerConfig(storage="memory")
    apply_properties(config, props)
    return config


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    config = _config(**{
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": OAUTH_JAAS,
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN,OAUTHBEARER",
        "kafkapy.sasl.users": "bob:bob-secret",
    })  # fmt: skip
    config.data_dir = tmp_path
    yield open_broker(config)


def test_plain_accepts_jaas_users_and_kafkapy_users(broker: Broker) -> None:
    for user, password in [("alice", "alice-secret"), ("admin", "admin-secret"), ("bob", "bob-secret")]:
        server = PlainServer(broker, LISTENER)
        assert server.evaluate_response(f"\0{user}\0{password}".encode()) == b""
        assert server.complete and server.authorization_id == user
        assert server.session_lifetime_ms() is None


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (b"\0alice\0wrong", "Authentication failed: Invalid username or password"),
        (b"\0nobody\0alice-secret", "Authentication failed: Invalid username or password"),
        (b"alice", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
        (b"\0alice\0alice-secret\0x", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"),
        (b"\0\0alice-secret", "Authentication failed: username not specified"),
        (b"\0alice\0", "Authentication failed: password not specified"),
        (b"bob\0alice\0alice-secret", "Client requested an authorization id that is different from username"),
        (b"\0alice\0alice-secret\xff\xfe", "Invalid username or password"),  # malformed UTF-8
        (b"\0alice\0" + b"x" * 1_000_000, "Invalid username or password"),
        (b"\0\xff\0\x00", "expected 3 tokens, got 4"),
    ],
)
def test_plain_failures_are_authentication_failures(broker: Broker, token: bytes, message: str) -> None:
    server = PlainServer(broker, LISTENER)
    with pytest.raises(SaslAuthenticationError, match=message):
        server.evaluate_response(token)
    assert not server.complete


def test_plain_authorization_id_equal_to_the_user_is_accepted() -> None:
    assert parse_plain_token(b"alice\0alice\0pw") == ("alice", "alice", "pw")


# --- OAUTHBEARER -----------------------------------------------------------------------------------


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def unsecured_jwt(claims: dict, header: dict | None = None, signature: str = "") -> str:
    return f"{_b64(header or {'alg': 'none'})}.{_b64(claims)}.{signature}"


def client_first(token: str, authzid: str = "", extensions: str = "") -> bytes:
    gs2 = f"n,a={authzid}," if authzid else "n,,"
    return f"{gs2}\x01auth=Bearer {token}\x01{extensions}\x01".encode()


def test_oauthbearer_client_first_message_grammar() -> None:
    assert parse_client_first_message(client_first("a.b.", "alice", "traceId=123\x01")) == ("alice", "a.b.")
    for bad in (
        b"",
        b"y,,\x01auth=Bearer a.b.\x01\x01",
        b"n,,\x01auth=Basic a.b.\x01\x01",
        b"n,,\x01auth=Bearer a b\x01\x01",
        b"n,,\x01auth=Bearer \xff\x01\x01",
        b"n,,\x01\x01",
        b"n,,\x01auth=Bearer a.b.\x01",
        b"\x00" * 100,
    ):
        with pytest.raises(SaslAuthenticationError) as failed:
            parse_client_first_message(bad)
        assert str(failed.value) == ""  # the handler answers Kafka's generic message


def test_unsecured_validator_checks_alg_signature_exp_iat_and_scope() -> None:
    now = time.time()
    validator = UnsecuredValidator(required_scope=("write",))
    good = {"sub": "alice", "exp": now + 60, "iat": now, "scope": "read write"}
    token = validator.validate(unsecured_jwt(good), now * 1000)
    assert token.principal == "alice" and token.expires_at_ms == int((now + 60) * 1000)
    refused = [
        unsecured_jwt({**good, "exp": now - 1}),
        unsecured_jwt({k: v for k, v in good.items() if k != "exp"}),
        unsecured_jwt({k: v for k, v in good.items() if k != "sub"}),
        unsecured_jwt({**good, "iat": now + 3600}),
        unsecured_jwt({**good, "exp": "tomorrow"}),
        unsecured_jwt(good, header={"alg": "RS256"}),
        unsecured_jwt(good, signature="c2ln"),
        unsecured_jwt(good) + ".extra",
        "not-a-jwt",
        "e30.W10.",  # claims are a JSON array
        "e30..",
    ]
    for jwt in refused:
        with pytest.raises(Exception) as failed:
            validator.validate(jwt, now * 1000)
        assert type(failed.value).__name__ == "InvalidToken", jwt
    with pytest.raises(Exception, match="scope"):
        validator.validate(unsecured_jwt({**good, "scope": "read"}), now * 1000)


def test_oauthbearer_bad_token_gets_the_json_challenge_then_fails_with_it(broker: Broker) -> None:
    server = OAuthBearerServer(broker, LISTENER)
    expired = unsecured_jwt({"sub": "alice", "exp": time.time() - 10})
    assert server.evaluate_response(client_first(expired)) == b'{"status":"invalid_token"}'
    assert not server.complete
    with pytest.raises(SaslAuthenticationError, match='^{"status":"invalid_token"}$'):
        server.evaluate_response(b"\x01")


def test_oauthbearer_good_token_sets_the_principal_and_lifetime(broker: Broker) -> None:
    server = OAuthBearerServer(broker, LISTENER)
    token = unsecured_jwt({"sub": "alice", "exp": time.time() + 60})
    assert server.evaluate_response(client_first(token, authzid="alice")) == b""
    assert server.authorization_id == "alice"
    assert 55_000 < server.session_lifetime_ms() <= 60_000  # type: ignore[operator]


def test_oauthbearer_authorization_id_must_be_the_tokens_principal(broker: Broker) -> None:
    server = OAuthBearerServer(broker, LISTENER)
    token = unsecured_jwt({"sub": "alice", "exp": time.time() + 60})
    with pytest.raises(SaslAuthenticationError, match=r"authorization id \(bob\) that is different"):
        server.evaluate_response(client_first(token, authzid="bob"))


# --- start-up --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"sasl.enabled.mechanisms": "GSSAPI"}, "GSSAPI \\(Kerberos\\) is not implemented"),
        ({"listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN,FOO"}, "unknown SASL mechanism FOO"),
        ({"sasl.server.callback.handler.class": "com.example.Handler"}, "no custom server callback handler"),
        ({"listener.name.x.plain.sasl.server.callback.handler.class": "com.example.H"}, "custom server callback"),
    ],
)
def test_refused_sasl_properties(props: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(**props)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, "PLAIN on listener SASL_PLAINTEXT has no users"),
        ({"sasl.enabled.mechanisms": "OAUTHBEARER"}, "OAUTHBEARER on listener SASL_PLAINTEXT has no validator"),
        ({"listener.name.sasl_plaintext.plain.sasl.jaas.config": "Plain required user_a=;"}, "Value not specified"),
        ({"sasl.enabled.mechanisms": ""}, "sasl.enabled.mechanisms is empty"),
        ({"sasl.server.max.receive.size": "0"}, "invalid sasl.server.max.receive.size=0"),
        (
            {"sasl.enabled.mechanisms": "OAUTHBEARER", "sasl.oauthbearer.jwks.endpoint.url": "https://idp/jwks"},
            "kafkapy reads a JWKS file",
        ),
        (
            {"sasl.enabled.mechanisms": "OAUTHBEARER", "sasl.oauthbearer.jwks.endpoint.url": "file:///nonexistent"},
            "cannot load /nonexistent",
        ),
        (
            {"listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS, "connections.max.reauth.ms": "x"},
            "invalid connections.max.reauth.ms=x: expected a whole number of ms",
        ),
    ],
)
def test_sasl_listeners_nobody_could_use_are_refused(props: dict[str, str], message: str) -> None:
    config = _config(**props)
    with pytest.raises(ConfigError, match=message):
        sasl.check_listener(config, LISTENER)


def test_default_mechanism_is_plain_and_users_are_enough() -> None:
    config = _config(**{"kafkapy.sasl.users": "alice:alice-secret"})
    sasl.check_listener(config, LISTENER)
    assert sasl.enabled_mechanisms(config, LISTENER) == ["PLAIN"]


# --- the exchange through dispatch -------------------------------------------------------------------


def _request(api_key: int, version: int, body: dict) -> Request:
    data = Connection(our_role=Role.CLIENT).encode_request(api_key, version, 7, body, client_id="t")
    server = Connection()
    server.receive_data(data)
    request = server.next_request()
    assert request is not None
    return request


class Exchange:
    """A SASL_PLAINTEXT connection's requests run through dispatch, as the server runs them."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.session = Session.for_listener(LISTENER, SASL_PLAINTEXT)

    async def send(self, api_key: int, version: int, body: dict) -> Answer | None:
        ctx = RequestContext(self.broker, _request(api_key, version, body), session=self.session)
        return await dispatch(ctx, ctx.request)

    async def handshake(self, mechanism: str) -> Answer:
        answer = await self.send(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": mechanism})
        assert answer is not None
        return answer

    async def authenticate(self, token: bytes, version: int = 2) -> Answer:
        answer = await self.send(ApiKey.SASL_AUTHENTICATE, version, {"auth_bytes": token})
        assert answer is not None
        return answer


METADATA = (ApiKey.METADATA, 12, {"topics": [], "allow_auto_topic_creation": False})


async def test_plain_login_then_requests_are_served(broker: Broker) -> None:
    conn = Exchange(broker)
    assert (await conn.send(ApiKey.API_VERSIONS, 3, {})).body["error_code"] == ErrorCode.NONE  # type: ignore[union-attr]
    handshake = await conn.handshake("PLAIN")
    assert handshake.body == {"error_code": ErrorCode.NONE, "mechanisms": ["PLAIN", "OAUTHBEARER"]}
    answer = await conn.authenticate(b"\0alice\0alice-secret")
    assert answer.body["error_code"] == ErrorCode.NONE and not answer.close
    assert answer.body["session_lifetime_ms"] == 0
    assert conn.session.principal == "User:alice" and conn.session.authenticated
    assert (await conn.send(*METADATA)) is not None
    # Kafka's KafkaApis answers once authenticated, and the connection stays.
    again = await conn.authenticate(b"\0alice\0alice-secret")
    assert again.body["error_code"] == ErrorCode.ILLEGAL_SASL_STATE and not again.close
    assert again.body["error_message"] == "SaslAuthenticate request received after successful authentication"
    assert (await conn.handshake("PLAIN")).body == {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}


async def test_bad_password_is_answered_then_closed(broker: Broker) -> None:
    conn = Exchange(broker)
    await conn.handshake("PLAIN")
    answer = await conn.authenticate(b"\0alice\0wrong", version=0)
    assert answer.close
    assert answer.body == {
        "error_code": ErrorCode.SASL_AUTHENTICATION_FAILED,
        "error_message": "Authentication failed: Invalid username or password",
    }
    assert not conn.session.authenticated and conn.session.principal == "User:ANONYMOUS"


async def test_unknown_mechanism_lists_the_enabled_ones_then_closes(broker: Broker) -> None:
    answer = await Exchange(broker).handshake("SCRAM-SHA-512")
    assert answer.close
    assert answer.body == {"error_code": ErrorCode.UNSUPPORTED_SASL_MECHANISM, "mechanisms": ["PLAIN", "OAUTHBEARER"]}


async def test_requests_before_authentication_close_the_connection(broker: Broker) -> None:
    for api_key, version, body in (METADATA, (ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0a\0b"})):
        with pytest.raises(CloseConnection):
            await Exchange(broker).send(api_key, version, body)


async def test_a_request_during_the_exchange_is_refused_then_closed(broker: Broker) -> None:
    conn = Exchange(broker)
    await conn.handshake("PLAIN")
    answer = await conn.send(ApiKey.LIST_GROUPS, 4, {"states_filter": []})
    assert answer is not None and answer.close
    assert answer.body["error_code"] == ErrorCode.ILLEGAL_SASL_STATE


async def test_a_mechanism_bug_fails_the_exchange_with_kafkas_generic_message(broker: Broker) -> None:
    conn = Exchange(broker)
    await conn.handshake("OAUTHBEARER")
    answer = await conn.authenticate(b"n,,\x01auth=Bearer x\x01\x01garbage")
    assert answer.close and answer.body["error_code"] == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert answer.body["error_message"] == (
        "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER"
    )


async def test_oauthbearer_token_expiry_is_the_session_lifetime_and_reauthentication_keeps_it(
    broker: Broker,
) -> None:
    conn = Exchange(broker)
    await conn.handshake("OAUTHBEARER")
    token = unsecured_jwt({"sub": "alice", "exp": time.time() + 1.5})
    answer = await conn.authenticate(client_first(token), version=1)
    assert 0 < answer.body["session_lifetime_ms"] <= 1500
    assert conn.session.session_expires_at is not None
    await trio.sleep_until(conn.session.session_expires_at)
    with pytest.raises(CloseConnection):
        await conn.send(*METADATA)
    # A connection that re-authenticates instead (KIP-368) is served again.
    assert (await conn.handshake("OAUTHBEARER")).body["error_code"] == ErrorCode.NONE
    fresh = unsecured_jwt({"sub": "alice", "exp": time.time() + 60})
    assert (await conn.authenticate(client_first(fresh))).body["error_code"] == ErrorCode.NONE
    assert (await conn.send(*METADATA)) is not None


async def test_reauthentication_may_not_change_the_principal(broker: Broker) -> None:
    conn = Exchange(broker)
    conn.session.authenticated, conn.session.principal = True, "User:alice"
    conn.session.sasl_mechanism, conn.session.session_expires_at = "PLAIN", trio.current_time()
    assert (await conn.handshake("PLAIN")).body["error_code"] == ErrorCode.NONE
    answer = await conn.authenticate(b"\0bob\0bob-secret")
    assert answer.close
    assert answer.body["error_message"] == "Cannot change principals during re-authentication from User.alice: User.bob"


async def test_reauthentication_may_not_change_the_mechanism(broker: Broker) -> None:
    conn = Exchange(broker)
    conn.session.authenticated, conn.session.principal = True, "User:alice"
    conn.session.sasl_mechanism, conn.session.session_expires_at = "PLAIN", trio.current_time()
    answer = await conn.handshake("OAUTHBEARER")
    assert answer.close and answer.body["error_code"] == ErrorCode.NONE


async def test_handshake_on_a_plaintext_connection_is_illegal_sasl_state(broker: Broker) -> None:
    ctx = RequestContext(broker, _request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"}))
    answer = await dispatch(ctx, ctx.request)
    assert answer is not None and not answer.close
    assert answer.body == {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.binary(max_size=512))
def test_any_bytes_are_a_result_or_an_authentication_failure_never_a_crash(broker: Broker, token: bytes) -> None:
    for server in (PlainServer(broker, LISTENER), OAuthBearerServer(broker, LISTENER)):
        try:
            server.evaluate_response(token)
        except SaslAuthenticationError:
            assert not server.complete


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_any_jaas_text_parses_or_is_a_value_error(text: str) -> None:
    try:
        entry = parse_jaas(text)
    except ValueError:
        return
    assert entry.flag in ("required", "requisite", "sufficient", "optional")


SECRET = b"a symmetric key no JWKS validator may use"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_jwks_validator_key_choice_and_declared_algorithm(tmp_path: Path) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from kafkapy.security.oauthbearer import InvalidToken, JwksValidator

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "jwks.json"
    validator = JwksValidator(jwks)
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "exp": now + 60}
    rs384 = jwt.encode(claims, key, algorithm="RS384", headers={"kid": "a"})
    with pytest.raises(InvalidToken):
        validator.validate(rs384, now * 1000)  # no JWKS file (yet): refused, not a crash
    jwks.write_text(json.dumps({"keys": [{**public, "kid": "a"}, {"kty": "oct", "k": _b64url(SECRET), "kid": "b"}]}))
    assert validator.validate(rs384, now * 1000).principal == "alice"  # no declared alg: the token's
    jwks.write_text(json.dumps({"keys": [{**public, "kid": "a", "alg": "RS256"}]}))
    os.utime(jwks, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # a new mtime: read again
    with pytest.raises(InvalidToken, match="RS384"):
        validator.validate(rs384, now * 1000)
    hs256 = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "b"})
    with pytest.raises(InvalidToken):
        validator.validate(hs256, now * 1000)
