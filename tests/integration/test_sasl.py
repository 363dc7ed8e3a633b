"""SASL over a real SASL_PLAINTEXT listener: confluent-kafka (librdkafka), kafka-python and the wire client
log in with PLAIN and OAUTHBEARER, are refused with Kafka's errors, and re-authenticate (KIP-368)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import shutil
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from kafkapy.testing import KafkaBroker
from kafkapy.testing.process import BrokerStartError
from tests.broker_process import BrokerProcess

TIMEOUT = 30
PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required"
    ' username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";'
)
OAUTH_JAAS = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
SASL_PROPERTIES = {
    "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
    "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN,OAUTHBEARER",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
    "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": OAUTH_JAAS,
}
METADATA = {"topics": None, "allow_auto_topic_creation": False}


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaBroker]:
    with KafkaBroker(config=SASL_PROPERTIES, storage="memory") as broker:
        yield broker


@pytest.fixture
def sasl_bootstrap(kafka: KafkaBroker) -> str:
    return kafka.listener_bootstrap_servers("SASL_PLAINTEXT")


def rdkafka_conf(bootstrap: str, **extra: object) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": "alice-secret",
        **extra,
    }


def _errors() -> tuple[list[KafkaError], Callable[[KafkaError], None]]:
    errors: list[KafkaError] = []
    return errors, errors.append


def _wait_for(condition: Callable[[], bool], poll: Callable[[], object], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        poll()


# --- PLAIN -----------------------------------------------------------------------------------------


def test_confluent_plain_login_produces(sasl_bootstrap: str) -> None:
    producer = Producer(rdkafka_conf(sasl_bootstrap))
    delivered: list[object] = []
    producer.produce("sasl-plain", b"over sasl", on_delivery=lambda err, msg: delivered.append(err or msg))
    assert producer.flush(TIMEOUT) == 0
    assert [m.value() for m in delivered] == [b"over sasl"]  # type: ignore[attr-defined]


def test_confluent_bad_password_is_an_authentication_error(sasl_bootstrap: str) -> None:
    errors, on_error = _errors()
    admin = AdminClient(rdkafka_conf(sasl_bootstrap, **{"sasl.password": "wrong", "error_cb": on_error}))
    _wait_for(lambda: bool(errors), lambda: admin.poll(0.2))
    assert errors[0].code() == KafkaError._AUTHENTICATION
    assert "Authentication failed: Invalid username or password" in errors[0].str()


def test_kafka_python_plain_login_and_bad_password(sasl_bootstrap: str, caplog: pytest.LogCaptureFixture) -> None:
    """kafka-python 3 retries bootstrapping after an authentication failure until its bootstrap timeout;
    what it logs on the way is the broker's answer (read before the close: see server.CLOSE_AFTER_ANSWER_S)."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError

    conf = {
        "bootstrap_servers": sasl_bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "admin",
        "sasl_plain_password": "admin-secret",
        "request_timeout_ms": 20000,
    }
    producer = KafkaProducer(**conf)
    assert producer.send("sasl-kp", b"kp").get(timeout=TIMEOUT).offset == 0
    producer.close()
    with caplog.at_level(logging.WARNING, logger="kafka"), pytest.raises(KafkaTimeoutError):
        KafkaProducer(**{**conf, "sasl_plain_password": "wrong", "bootstrap_timeout_ms": 3000})
    assert "SaslAuthenticationFailedError: Authentication failed: Invalid username or password" in caplog.text


def test_wire_bad_password_is_answered_then_the_connection_closed(sasl_bootstrap: str) -> None:
    with WireClient.connect(sasl_bootstrap) as client:
        assert client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"}).error_code == ErrorCode.NONE
        answer = client.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0nope"})
        assert answer.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
        assert answer.error_message == "Authentication failed: Invalid username or password"
        assert client.is_closed_by_peer()


def test_unknown_mechanism_lists_the_enabled_ones(sasl_bootstrap: str) -> None:
    with WireClient.connect(sasl_bootstrap) as client:
        answer = client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "SCRAM-SHA-512"})
        assert answer.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM
        assert list(answer.mechanisms) == ["PLAIN", "OAUTHBEARER"]
        assert client.is_closed_by_peer()
    errors, on_error = _errors()
    admin = AdminClient(rdkafka_conf(sasl_bootstrap, **{"sasl.mechanism": "SCRAM-SHA-256", "error_cb": on_error}))
    _wait_for(lambda: bool(errors), lambda: admin.poll(0.2))
    assert "PLAIN,OAUTHBEARER" in errors[0].str()


def test_a_request_before_authentication_closes_the_connection(sasl_bootstrap: str) -> None:
    with WireClient.connect(sasl_bootstrap) as client:
        assert client.request(ApiKey.API_VERSIONS, 3, {}).error_code == ErrorCode.NONE
        with pytest.raises(ConnectionError):
            client.request(ApiKey.METADATA, 12, METADATA)
    with WireClient.connect(sasl_bootstrap) as client:
        client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        # During the exchange: Kafka answers ILLEGAL_SASL_STATE in the request's own response, then closes.
        answer = client.request(ApiKey.LIST_GROUPS, 4, {"states_filter": []})
        assert answer.error_code == ErrorCode.ILLEGAL_SASL_STATE
        assert client.is_closed_by_peer()


def test_wire_login_then_requests_are_served(sasl_bootstrap: str) -> None:
    with WireClient.connect(sasl_bootstrap) as client:
        client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        answer = client.request(ApiKey.SASL_AUTHENTICATE, 1, {"auth_bytes": b"\0alice\0alice-secret"})
        assert (answer.error_code, answer.session_lifetime_ms) == (ErrorCode.NONE, 0)
        assert client.request(ApiKey.METADATA, 12, METADATA).brokers


def test_sasl_apis_on_the_plaintext_listener_are_illegal_sasl_state(kafka: KafkaBroker) -> None:
    with WireClient.connect(kafka.bootstrap_servers) as client:
        handshake = client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        assert (handshake.error_code, list(handshake.mechanisms)) == (ErrorCode.ILLEGAL_SASL_STATE, [])
        authenticate = client.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b""})
        assert authenticate.error_code == ErrorCode.ILLEGAL_SASL_STATE
        assert client.request(ApiKey.METADATA, 12, METADATA).brokers


# --- OAUTHBEARER ---------------------------------------------------------------------------------


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def unsecured_jwt(claims: dict) -> str:
    return f"{_b64({'alg': 'none'})}.{_b64(claims)}."


def _oauth_login(bootstrap: str, token: str) -> tuple[int, bytes, str | None, int]:
    """(error code, auth bytes, message, lifetime) of the first SaslAuthenticate, and of the ^A if challenged."""
    with WireClient.connect(bootstrap) as client:
        client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "OAUTHBEARER"})
        message = f"n,,\x01auth=Bearer {token}\x01\x01".encode()
        first = client.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": message})
        if first.auth_bytes:
            second = client.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\x01"})
            assert client.is_closed_by_peer()
            return second.error_code, bytes(first.auth_bytes), second.error_message, 0
        return first.error_code, b"", first.error_message, first.session_lifetime_ms


def test_oauthbearer_unsecured_token_logs_in_with_its_lifetime(sasl_bootstrap: str) -> None:
    token = unsecured_jwt({"sub": "alice", "exp": time.time() + 60})
    code, challenge, _, lifetime = _oauth_login(sasl_bootstrap, token)
    assert (code, challenge) == (ErrorCode.NONE, b"")
    assert 50_000 < lifetime <= 60_000


def test_oauthbearer_expired_token_is_refused_with_the_rfc7628_challenge(sasl_bootstrap: str) -> None:
    code, challenge, message, _ = _oauth_login(sasl_bootstrap, unsecured_jwt({"sub": "alice", "exp": time.time() - 5}))
    assert challenge == b'{"status":"invalid_token"}'
    assert (code, message) == (ErrorCode.SASL_AUTHENTICATION_FAILED, '{"status":"invalid_token"}')


def test_confluent_oauthbearer_unsecured_jwt(sasl_bootstrap: str) -> None:
    conf = rdkafka_conf(
        sasl_bootstrap,
        **{
            "sasl.mechanism": "OAUTHBEARER",
            "enable.sasl.oauthbearer.unsecure.jwt": True,
            "sasl.oauthbearer.config": "principal=alice lifeSeconds=60",
        },
    )
    for key in ("sasl.username", "sasl.password"):
        conf.pop(key)
    producer = Producer(conf)
    producer.produce("sasl-oauth", b"token")
    assert producer.flush(TIMEOUT) == 0


# --- re-authentication (KIP-368) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def reauth_kafka() -> Iterator[KafkaBroker]:
    with KafkaBroker(
        sasl=("PLAIN", {"alice": "alice-secret"}),
        config={"connections.max.reauth.ms": "2000"},
        storage="memory",
        # The door's "closing connection" lines are info lines.
        log_level="info",
    ) as broker:
        yield broker


def test_an_expired_session_that_does_not_reauthenticate_is_closed(reauth_kafka: KafkaBroker) -> None:
    with WireClient.connect(reauth_kafka.listener_bootstrap_servers("SASL_PLAINTEXT")) as client:
        client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        answer = client.request(ApiKey.SASL_AUTHENTICATE, 1, {"auth_bytes": b"\0alice\0alice-secret"})
        assert answer.session_lifetime_ms == 2000
        assert client.request(ApiKey.METADATA, 12, METADATA).brokers
        time.sleep(2.5)
        with pytest.raises(ConnectionError):
            client.request(ApiKey.METADATA, 12, METADATA)


def test_the_wire_client_reauthenticates_on_the_same_connection(reauth_kafka: KafkaBroker) -> None:
    with WireClient.connect(reauth_kafka.listener_bootstrap_servers("SASL_PLAINTEXT")) as client:
        for expired in (False, True):
            if expired:
                time.sleep(2.5)
            client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
            answer = client.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0alice-secret"})
            assert answer.error_code == ErrorCode.NONE
            assert client.request(ApiKey.METADATA, 12, METADATA).brokers


def test_librdkafka_reauthenticates_and_keeps_its_connection(reauth_kafka: KafkaBroker) -> None:
    """librdkafka re-authenticates before session_lifetime_ms runs out (its "Auth in state REAUTH" debug
    line) and its connection outlives several lifetimes: the broker closes none (an expired session
    would be closed, with the door's info line)."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    rdkafka_log = logging.getLogger("test_sasl.rdkafka")
    rdkafka_log.addHandler(handler)
    rdkafka_log.setLevel(logging.DEBUG)
    errors, on_error = _errors()
    bootstrap = reauth_kafka.listener_bootstrap_servers("SASL_PLAINTEXT")
    conf = rdkafka_conf(bootstrap, error_cb=on_error, debug="security", logger=rdkafka_log)
    producer = Producer(conf)
    before = reauth_kafka.log_size()
    for i in range(4):
        producer.produce("reauth", str(i).encode())
        assert producer.flush(TIMEOUT) == 0
        time.sleep(1.5)
    producer.flush(TIMEOUT)
    rdkafka_log.removeHandler(handler)
    assert not errors
    assert sum("Auth in state REAUTH" in line for line in lines) >= 2
    assert "closing connection" not in reauth_kafka.log_text(before)


# --- fail-closed start-ups ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"listeners": "SASL_PLAINTEXT://127.0.0.1:0"}, "PLAIN on listener SASL_PLAINTEXT has no users"),
        (
            {"listeners": "SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms": "GSSAPI"},
            "GSSAPI (Kerberos) is not implemented",
        ),
        (
            {
                "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config": 'PlainLoginModule required user_a="x"',
            },
            "JAAS config entry not terminated by semi-colon",
        ),
        (
            {"listeners": "SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms": "OAUTHBEARER"},
            "OAUTHBEARER on listener SASL_PLAINTEXT has no validator",
        ),
    ],
)
def test_a_sasl_listener_that_cannot_be_set_up_stops_the_start(
    broker_factory: Callable[..., BrokerProcess], properties: dict[str, str], message: str
) -> None:
    args = tuple(arg for k, v in properties.items() for arg in ("--override", f"{k}={v}"))
    with pytest.raises(BrokerStartError) as failed:
        broker_factory(extra_args=args)
    assert message in str(failed.value)


def test_kafka_broker_refuses_too(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="has no users"):
        KafkaBroker(sasl=("PLAIN", {}), data_dir=tmp_path).start()


def test_sasl_user_flag_declares_a_plain_user(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(
        extra_args=("--listener", "PLAINTEXT://127.0.0.1:0", "--listener", "SASL_PLAINTEXT://127.0.0.1:0",
                    "--sasl-user", "carol:carol-secret", "--sasl-mechanism", "PLAIN")
    )  # fmt: skip
    with WireClient.connect(broker.listeners["SASL_PLAINTEXT"]) as client:
        assert list(client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"}).mechanisms) == ["PLAIN"]
        answer = client.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0carol\0carol-secret"})
        assert answer.error_code == ErrorCode.NONE
        assert client.request(ApiKey.METADATA, 12, METADATA).brokers


# --- SASL_SSL -------------------------------------------------------------------------------------


def test_sasl_ssl_plain_with_confluent_and_kafka_python() -> None:
    from kafka import KafkaProducer

    with KafkaBroker(tls=True, sasl=("PLAIN", {"alice": "alice-secret"}), storage="memory") as kafka:
        assert kafka.certs is not None
        bootstrap = kafka.listener_bootstrap_servers("SASL_SSL")
        conf = rdkafka_conf(bootstrap, **{"security.protocol": "SASL_SSL", "ssl.ca.location": str(kafka.certs.ca)})
        producer = Producer(conf)
        producer.produce("sasl-ssl", b"over tls")
        assert producer.flush(TIMEOUT) == 0
        errors, on_error = _errors()
        admin = AdminClient({**conf, "sasl.password": "wrong", "error_cb": on_error})
        _wait_for(lambda: bool(errors), lambda: admin.poll(0.2))
        assert "Authentication failed: Invalid username or password" in errors[0].str()
        kp = KafkaProducer(
            bootstrap_servers=bootstrap,
            security_protocol="SASL_SSL",
            ssl_cafile=str(kafka.certs.ca),
            sasl_mechanism="PLAIN",
            sasl_plain_username="alice",
            sasl_plain_password="alice-secret",
            request_timeout_ms=20000,
        )
        assert kp.send("sasl-ssl", b"kp over tls").get(timeout=TIMEOUT).offset == 1
        kp.close()


# --- OAUTHBEARER with a JWKS file (signed JWTs) -----------------------------------------------------


ISSUER, AUDIENCE = "https://idp.example", "kafka"


def _rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> RSAPrivateKey:
    return _rsa_key()


@pytest.fixture(scope="module")
def jwks_kafka(signing_key: RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    from jwt.algorithms import RSAAlgorithm

    jwk = {**json.loads(RSAAlgorithm.to_jwk(signing_key.public_key())), "kid": "k1", "alg": "RS256", "use": "sig"}
    jwks = tmp_path_factory.mktemp("jwks") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    prefix = "listener.name.sasl_plaintext.oauthbearer."
    properties = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        prefix + "sasl.jaas.config": OAUTH_JAAS,
        prefix + "sasl.server.callback.handler.class":
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
        "sasl.oauthbearer.jwks.endpoint.url": jwks.as_uri(),
        "sasl.oauthbearer.expected.audience": AUDIENCE,
        "sasl.oauthbearer.expected.issuer": ISSUER,
    }  # fmt: skip
    with KafkaBroker(config=properties, storage="memory") as broker:
        yield broker


def signed_jwt(key: RSAPrivateKey, **claims: object) -> str:
    import jwt

    now = int(time.time())
    payload = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


def test_a_signed_jwt_logs_in(jwks_kafka: KafkaBroker, signing_key: RSAPrivateKey) -> None:
    bootstrap = jwks_kafka.listener_bootstrap_servers("SASL_PLAINTEXT")
    code, challenge, _, lifetime = _oauth_login(bootstrap, signed_jwt(signing_key))
    assert (code, challenge) == (ErrorCode.NONE, b"")
    assert 50_000 < lifetime <= 60_000
    token = signed_jwt(signing_key, exp=int(time.time()) + 600)
    conf = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "oauth_cb": lambda _config: (token, time.time() + 600, "alice"),
    }
    producer = Producer(conf)
    producer.produce("jwks", b"signed")
    assert producer.flush(TIMEOUT) == 0


@pytest.mark.parametrize(
    "case", ["unsigned", "expired", "other key", "wrong audience", "wrong issuer", "no iat", "hs256 with public key"]
)
def test_jwts_the_jwks_validator_refuses(jwks_kafka: KafkaBroker, signing_key: RSAPrivateKey, case: str) -> None:
    import jwt

    now = int(time.time())
    tokens = {
        "unsigned": lambda: unsecured_jwt({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}),
        "expired": lambda: signed_jwt(signing_key, iat=now - 600, exp=now - 300),
        "other key": lambda: signed_jwt(_rsa_key()),
        "wrong audience": lambda: signed_jwt(signing_key, aud="other"),
        "wrong issuer": lambda: signed_jwt(signing_key, iss="https://evil.example"),
        "no iat": lambda: jwt.encode(
            {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}, signing_key, "RS256", {"kid": "k1"}
        ),
        "hs256 with public key": lambda: _hs256_forgery(signing_key),
    }
    code, challenge, message, _ = _oauth_login(jwks_kafka.listener_bootstrap_servers("SASL_PLAINTEXT"), tokens[case]())
    assert challenge == b'{"status":"invalid_token"}'
    assert (code, message) == (ErrorCode.SASL_AUTHENTICATION_FAILED, '{"status":"invalid_token"}')


def _hs256_forgery(key: RSAPrivateKey) -> str:
    """The classic confusion attack: HMAC-signed with the public key's bytes as the secret."""
    secret = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    header = _b64({"alg": "HS256", "kid": "k1", "typ": "JWT"})
    claims = _b64({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60})
    signature = hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_before_authentication_requests_are_held_to_sasl_server_max_receive_size(
    sasl_bootstrap: str, kafka: KafkaBroker
) -> None:
    """Kafka's sasl.server.max.receive.size (512 KB): a bigger frame before authentication closes the
    connection; the same promise on PLAINTEXT, or after authentication, waits for its bytes."""
    promise = struct.pack(">i", 600_000) + b"\0" * 64
    with WireClient.connect(sasl_bootstrap) as client:
        client.send_raw(promise)
        assert client.is_closed_by_peer()
    with WireClient.connect(kafka.bootstrap_servers) as client:
        client.send_raw(promise)
        assert not client.is_closed_by_peer(timeout=1)
    with WireClient.connect(sasl_bootstrap) as client:
        client.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        client.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0alice-secret"})
        client.send_raw(promise)
        assert not client.is_closed_by_peer(timeout=1)


# --- KafkaBroker.sasl_client_config --------------------------------------------------------------------


def test_sasl_client_config_for_confluent_and_kafka_python() -> None:
    from kafka import KafkaProducer

    with KafkaBroker(sasl=("PLAIN", {"alice": 'pa"ss\\word'}), storage="memory") as kafka:
        producer = Producer(kafka.sasl_client_config())
        producer.produce("client-config", b"confluent")
        assert producer.flush(TIMEOUT) == 0
        kp = KafkaProducer(**kafka.sasl_client_config("kafka-python"), request_timeout_ms=20000)
        assert kp.send("client-config", b"kafka-python").get(timeout=TIMEOUT).offset == 1
        kp.close()
    with KafkaBroker(sasl=("OAUTHBEARER", {}), storage="memory") as kafka:
        producer = Producer(kafka.sasl_client_config(user="bob"))
        producer.produce("client-config", b"token")
        assert producer.flush(TIMEOUT) == 0


JAVA_LIB = Path(__file__).resolve().parents[2] / "compat_tests" / "apache-kafka" / "target" / "lib"


@pytest.mark.skipif(
    shutil.which("java") is None or not (JAVA_LIB / "kafka-clients-4.3.1.jar").exists(),
    reason="needs java and the Kafka client jars (compat_tests/apache-kafka/target/lib)",
)
def test_java_client_over_sasl_ssl(tmp_path: Path) -> None:
    """Kafka's own client logs in with PLAIN over SASL_SSL with KafkaBroker.sasl_client_config("java")."""
    with KafkaBroker(tls=True, sasl=("PLAIN", {"alice": "alice-secret"}), storage="memory") as kafka:
        properties = tmp_path / "client.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in kafka.sasl_client_config("java").items()))
        result = subprocess.run(
            ["java", "-cp", f"{JAVA_LIB}/*", str(Path(__file__).parent / "java" / "TlsRoundTrip.java"),
             str(properties), "java-sasl-ssl"],
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "consumed: over TLS from Java" in result.stdout
