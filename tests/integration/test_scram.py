"""SCRAM-SHA-256 and SCRAM-SHA-512 over a real SASL_PLAINTEXT listener, configured as Kafka's docs say:
confluent-kafka (librdkafka), kafka-python and raw exchanges log in, are refused with Kafka's errors,
and users created, deleted or kept across a restart through AlterUserScramCredentials behave as on Kafka.

The raw exchanges (WIRE_CASES) were run once against Apache Kafka 4.3.1 configured the same way (a
SASL_PLAINTEXT listener with both mechanisms, users added by AlterUserScramCredentials): the same codes,
messages and closed connections, but for the short proof, where Kafka closes without an answer (its
xor throws) and kafkapy answers SASL_AUTHENTICATION_FAILED before closing.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator

import pytest
import scramp
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from confluent_kafka.admin import UserScramCredentialDeletion as Deletion

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from kafkapy.testing import KafkaBroker

TIMEOUT = 30
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
# What Kafka's docs configure for a SCRAM listener (the ScramLoginModule line is the broker's own login,
# for inter-broker traffic; it declares no users). kafkapy.sasl.users declares alice for both mechanisms.
SCRAM_PROPERTIES = {
    "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
    "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
    **{
        f"listener.name.sasl_plaintext.{m.lower()}.sasl.jaas.config": (
            'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";'
        )
        for m in MECHANISMS
    },
    "kafkapy.sasl.users": "alice:alice-secret",
}
INVALID = "Authentication failed during authentication due to invalid credentials with SASL mechanism "


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaBroker]:
    with KafkaBroker(config=SCRAM_PROPERTIES) as broker:
        yield broker


@pytest.fixture
def sasl_bootstrap(kafka: KafkaBroker) -> str:
    return kafka.listener_bootstrap_servers("SASL_PLAINTEXT")


def rdkafka_conf(bootstrap: str, mechanism: str, user: str, password: str, **extra: object) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        "broker.address.family": "v4",
        **extra,
    }


def _wait_for(condition: Callable[[], bool], poll: Callable[[], object], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        poll()


def confluent_produces(bootstrap: str, mechanism: str, user: str, password: str, topic: str) -> None:
    producer = Producer(rdkafka_conf(bootstrap, mechanism, user, password))
    delivered: list[object] = []
    producer.produce(topic, b"over scram", on_delivery=lambda err, msg: delivered.append(err or msg))
    assert producer.flush(TIMEOUT) == 0
    assert [m.value() for m in delivered] == [b"over scram"]  # type: ignore[attr-defined]


def confluent_refused(bootstrap: str, mechanism: str, user: str, password: str) -> str:
    """The authentication error librdkafka reports (its error_cb), with the broker's message."""
    errors: list[KafkaError] = []
    admin = AdminClient(rdkafka_conf(bootstrap, mechanism, user, password, error_cb=errors.append))
    _wait_for(lambda: bool(errors), lambda: admin.poll(0.2))
    assert errors[0].code() == KafkaError._AUTHENTICATION, errors[0]
    return errors[0].str()


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_confluent_kafka_logs_in_and_produces(sasl_bootstrap: str, mechanism: str) -> None:
    confluent_produces(sasl_bootstrap, mechanism, "alice", "alice-secret", f"scram-{mechanism.lower()}")


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("mallory", "alice-secret")])
def test_confluent_kafka_bad_password_and_unknown_user_get_kafkas_error(
    sasl_bootstrap: str, mechanism: str, user: str, password: str
) -> None:
    """No user enumeration: an unknown user reads exactly like a wrong password."""
    assert INVALID + mechanism in confluent_refused(sasl_bootstrap, mechanism, user, password)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python_login_and_bad_password(
    sasl_bootstrap: str, mechanism: str, caplog: pytest.LogCaptureFixture
) -> None:
    """kafka-python 3 retries bootstrapping after an authentication failure until its bootstrap timeout;
    what it logs on the way is the broker's answer."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError

    conf = {
        "bootstrap_servers": sasl_bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "alice",
        "sasl_plain_password": "alice-secret",
        "request_timeout_ms": 20000,
    }
    producer = KafkaProducer(**conf)
    assert producer.send(f"scram-kp-{mechanism.lower()}", b"kp").get(timeout=TIMEOUT).offset == 0
    producer.close()
    with caplog.at_level(logging.WARNING, logger="kafka"), pytest.raises(KafkaTimeoutError):
        KafkaProducer(**{**conf, "sasl_plain_password": "wrong", "bootstrap_timeout_ms": 3000})
    assert f"SaslAuthenticationFailedError: {INVALID}{mechanism}" in caplog.text


def test_a_user_altered_in_logs_in_and_a_deleted_one_is_refused(kafka: KafkaBroker, sasl_bootstrap: str) -> None:
    """AlterUserScramCredentials over the PLAINTEXT listener (confluent-kafka's admin client salts the
    password), then a SCRAM login; after the deletion the same login fails as an unknown user."""
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers, "broker.address.family": "v4"})
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upsert = UserScramCredentialUpsertion("carol", info, b"carol-secret")
    assert admin.alter_user_scram_credentials([upsert])["carol"].result(TIMEOUT) is None
    confluent_produces(sasl_bootstrap, "SCRAM-SHA-512", "carol", "carol-secret", "scram-carol")
    # Only the mechanism it was given.
    assert INVALID + "SCRAM-SHA-256" in confluent_refused(sasl_bootstrap, "SCRAM-SHA-256", "carol", "carol-secret")
    deletion = Deletion("carol", ScramMechanism.SCRAM_SHA_512)
    assert admin.alter_user_scram_credentials([deletion])["carol"].result(TIMEOUT) is None
    assert INVALID + "SCRAM-SHA-512" in confluent_refused(sasl_bootstrap, "SCRAM-SHA-512", "carol", "carol-secret")


def test_credentials_survive_a_restart(tmp_path: object) -> None:
    with KafkaBroker(config=SCRAM_PROPERTIES) as kafka:
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers, "broker.address.family": "v4"})
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096)
        upsert = UserScramCredentialUpsertion("dave", info, b"dave-secret")
        assert admin.alter_user_scram_credentials([upsert])["dave"].result(TIMEOUT) is None
        kafka.restart()
        bootstrap = kafka.listener_bootstrap_servers("SASL_PLAINTEXT")
        confluent_produces(bootstrap, "SCRAM-SHA-256", "dave", "dave-secret", "scram-dave")


def test_kafka_broker_sasl_option_with_scram() -> None:
    """KafkaBroker(sasl=("SCRAM-SHA-512", users)): the test helper's users log in with SCRAM (memory storage)."""
    with KafkaBroker(sasl=("SCRAM-SHA-512", {"bob": "bob-secret"}), storage="memory") as kafka:
        bootstrap = kafka.listener_bootstrap_servers("SASL_PLAINTEXT")
        confluent_produces(bootstrap, "SCRAM-SHA-512", "bob", "bob-secret", "scram-helper")
        assert INVALID + "SCRAM-SHA-512" in confluent_refused(bootstrap, "SCRAM-SHA-512", "bob", "wrong")


# --- raw exchanges -----------------------------------------------------------------------------------


def exchange(
    bootstrap: str,
    mechanism: str,
    first: Callable[[scramp.ScramClient], str],
    final: Callable[[str], str] | None,
    password: str = "alice-secret",
) -> tuple[int, str | None, bool]:
    """(error code, message, connection closed afterwards) of a SCRAM exchange driven by scramp's client,
    its messages rewritten by ``first`` and ``final`` (None: stop after the first message)."""
    client = scramp.ScramClient([mechanism], "alice", password)
    with WireClient.connect(bootstrap) as wire:
        assert wire.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": mechanism}).error_code == ErrorCode.NONE
        answer = wire.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": first(client).encode()})
        if answer.error_code == ErrorCode.NONE and final is not None:
            client.set_server_first(bytes(answer.auth_bytes).decode())
            body = {"auth_bytes": final(client.get_client_final()).encode()}
            answer = wire.request(ApiKey.SASL_AUTHENTICATE, 2, body)
            if answer.error_code == ErrorCode.NONE:
                client.set_server_final(bytes(answer.auth_bytes).decode())  # checks the server's signature
                assert answer.session_lifetime_ms == 0
                assert wire.request(ApiKey.METADATA, 12, {"topics": [], "allow_auto_topic_creation": False}).brokers
        return answer.error_code, answer.error_message, answer.error_code != ErrorCode.NONE and wire.is_closed_by_peer()


def _proof(message: str, proof: str) -> str:
    return message[: message.index(",p=")] + ",p=" + proof


def _flipped_proof(message: str) -> str:
    """The genuine proof with one bit changed: right length, wrong value."""
    proof = bytearray(base64.b64decode(message[message.index(",p=") + 3 :]))
    proof[0] ^= 1
    return _proof(message, base64.b64encode(proof).decode())


GENUINE = scramp.ScramClient.get_client_first
FAILED = ErrorCode.SASL_AUTHENTICATION_FAILED
# A success's message: Kafka 4.3.1 sends "" (its generated default), kafkapy's SaslAuthenticate null.
OK = ("", None)
AUTHZID = "Authentication failed: Client requested an authorization id that is different from username"
# (name, first message, final message rewrite, expected (code, message or None for Kafka's generic one)).
WIRE_CASES = [
    ("genuine", GENUINE, lambda m: m, (ErrorCode.NONE, OK)),
    ("authzid-same", lambda c: "n,a=alice," + GENUINE(c)[3:], None, (ErrorCode.NONE, OK)),
    ("extension-ignored", lambda c: GENUINE(c) + ",foo=bar", None, (ErrorCode.NONE, OK)),
    ("authzid-other", lambda c: "n,a=bob," + GENUINE(c)[3:], None, (FAILED, AUTHZID)),
    ("channel-binding-y", lambda c: "y" + GENUINE(c)[1:], None, (FAILED, None)),
    ("tokenauth", lambda c: GENUINE(c) + ",tokenauth=true", None, (FAILED, None)),
    ("garbage", lambda c: "\x7fgarbage", None, (FAILED, None)),
    ("nonce", GENUINE, lambda m: m.replace("r=", "r=x", 1), (FAILED, None)),
    ("channel-binding-final", GENUINE, lambda m: m.replace("c=biws", "c=eSws"), (FAILED, None)),
    ("wrong-proof", GENUINE, _flipped_proof, (FAILED, None)),
]


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize(("first", "final", "expected"), [c[1:] for c in WIRE_CASES], ids=[c[0] for c in WIRE_CASES])
def test_raw_exchanges_answer_as_kafka(
    sasl_bootstrap: str, mechanism: str, first: Callable, final: Callable | None, expected: tuple
) -> None:
    code, message, closed = exchange(sasl_bootstrap, mechanism, first, final)
    if expected[1] is OK:
        assert code == ErrorCode.NONE and message in OK
    else:
        assert (code, message) == (expected[0], expected[1] if expected[1] is not None else INVALID + mechanism)
    assert closed == (code != ErrorCode.NONE)


def test_a_bad_password_on_the_wire(sasl_bootstrap: str) -> None:
    code, message, closed = exchange(sasl_bootstrap, "SCRAM-SHA-512", GENUINE, lambda m: m, password="wrong")
    assert (code, message, closed) == (FAILED, INVALID + "SCRAM-SHA-512", True)


def test_a_short_proof_is_an_authentication_failure(sasl_bootstrap: str) -> None:
    """Kafka 4.3.1 closes without an answer here (an IllegalArgumentException escapes its xor)."""
    code, message, closed = exchange(sasl_bootstrap, "SCRAM-SHA-512", GENUINE, lambda m: _proof(m, "AAAA"))
    assert (code, message, closed) == (FAILED, INVALID + "SCRAM-SHA-512", True)


def test_reauthentication_with_scram() -> None:
    """KIP-368 with SCRAM: librdkafka re-authenticates before each 2 s session runs out and keeps its
    connection; a re-authentication as another user is refused as Kafka does (principal change)."""
    users = {"alice": "alice-secret", "bob": "bob-secret"}
    config = {"connections.max.reauth.ms": "2000"}
    with KafkaBroker(sasl=("SCRAM-SHA-512", users), config=config, storage="memory", log_level="info") as kafka:
        bootstrap = kafka.listener_bootstrap_servers("SASL_PLAINTEXT")
        errors: list[KafkaError] = []
        producer = Producer(rdkafka_conf(bootstrap, "SCRAM-SHA-512", "alice", "alice-secret", error_cb=errors.append))
        before = kafka.log_size()
        for i in range(4):
            producer.produce("scram-reauth", str(i).encode())
            assert producer.flush(TIMEOUT) == 0
            time.sleep(1.5)
        assert not errors
        assert "request outside SASL authentication" not in kafka.log_text(before)
        with WireClient.connect(bootstrap) as wire:
            for user in ("alice", "bob"):
                client = scramp.ScramClient(["SCRAM-SHA-512"], user, users[user])
                wire.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "SCRAM-SHA-512"})
                first = wire.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": client.get_client_first().encode()})
                client.set_server_first(bytes(first.auth_bytes).decode())
                final = {"auth_bytes": client.get_client_final().encode()}
                answer = wire.request(ApiKey.SASL_AUTHENTICATE, 2, final)
                if user == "alice":
                    assert (answer.error_code, answer.session_lifetime_ms) == (ErrorCode.NONE, 2000)
                    time.sleep(1.1)  # Kafka allows one re-authentication a second
            assert answer.error_code == FAILED
            assert answer.error_message == "Cannot change principals during re-authentication from User.alice: User.bob"
            assert wire.is_closed_by_peer()
