"""TLS listeners (issue #14): real clients over SSL, client certificates as principals, and the
start-ups that must fail closed. Brokers are real processes; certificates come from make_test_certs."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from cryptography.hazmat.primitives import serialization
from kafka import KafkaConsumer, KafkaProducer

from kafkapy.client.wire import WireClient
from kafkapy.protocol.specs import ApiKey
from kafkapy.security.certs import TestCerts, make_test_certs
from kafkapy.testing import KafkaBroker
from kafkapy.testing.broker import tls_client_config
from tests.integration.test_cli_errors import assert_fails, serve

# An ApiVersions v0 request frame (correlation id 7, no client id): the smallest valid Kafka request.
API_VERSIONS_V0 = bytes.fromhex("0000000a" "0012" "0000" "00000007" "ffff")
# Records big enough that a fetch sends segment-file regions of several TLS records.
VALUE = bytes(range(256)) * 40


def _produce_and_consume_confluent(settings: dict[str, str], topic: str, count: int = 200) -> list[bytes]:
    producer = Producer({**settings, "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, VALUE + i.to_bytes(4, "big"))
    assert producer.flush(30) == 0
    consumer = Consumer(
        {**settings, "group.id": f"g-{uuid.uuid4().hex}", "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    for _ in range(300):
        if len(values) == count:
            break
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            values.append(message.value())
    consumer.close()
    return values


def _expected(count: int = 200) -> list[bytes]:
    return [VALUE + i.to_bytes(4, "big") for i in range(count)]


def test_confluent_kafka_over_ssl_with_a_pem_keystore() -> None:
    with KafkaBroker(tls=True) as kafka:
        assert kafka.certs is not None
        assert _produce_and_consume_confluent(kafka.client_config(), "pem") == _expected()
        # The plaintext listener still serves, and tells its clients its own port.
        with WireClient.connect(kafka.bootstrap_servers) as client:
            broker = client.request(ApiKey.METADATA, 12, {"topics": None}).brokers[0]
        assert f"{broker.host}:{broker.port}" == kafka.bootstrap_servers
        certs_dir = kafka.certs.directory
    assert not certs_dir.exists(), "stop() removes the test certificates"


def _pkcs12_properties(certs: TestCerts, client_auth: str = "required") -> dict[str, str]:
    return {
        "listeners": "SSL://127.0.0.1:0",
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(certs.broker_keystore),
        "ssl.keystore.password": certs.password,
        "ssl.key.password": certs.password,
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(certs.truststore),
        "ssl.truststore.password": certs.password,
        "ssl.client.auth": client_auth,
    }


def test_kafka_python_over_ssl_with_pkcs12_stores(tmp_path: Path) -> None:
    certs = make_test_certs(tmp_path / "certs")
    with KafkaBroker(config=_pkcs12_properties(certs)) as kafka:
        assert kafka.listeners == {"SSL": kafka.bootstrap_servers}
        settings = tls_client_config("kafka-python", kafka.bootstrap_servers, certs, client_certificate=True)
        producer = KafkaProducer(**settings, request_timeout_ms=20000)
        for value in _expected(50):
            producer.send("p12", value)
        producer.flush(30)
        producer.close()
        consumer = KafkaConsumer(
            "p12", **settings, auto_offset_reset="earliest", consumer_timeout_ms=10000, group_id="g"
        )
        values = []
        for record in consumer:
            values.append(record.value)
            if len(values) == 50:
                break
        assert values == _expected(50)
        consumer.close()


def _one_line(pem: str) -> str:
    """A PEM value as a server.properties line continued with backslashes arrives: spaces for line breaks."""
    return " ".join(pem.split())


def _encrypted_key(certs: TestCerts, password: bytes) -> str:
    key = serialization.load_pem_private_key(certs.broker_key.read_bytes(), None)
    encryption = serialization.BestAvailableEncryption(password)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def test_inline_pem_keystore_with_an_encrypted_key_and_inline_truststore(tmp_path: Path) -> None:
    certs = make_test_certs(tmp_path / "certs")
    properties = {
        "listeners": "SSL://127.0.0.1:0",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": _one_line(certs.broker_cert.read_text()),
        "ssl.keystore.key": _one_line(_encrypted_key(certs, b"key-secret")),
        "ssl.key.password": "key-secret",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.certificates": _one_line(certs.ca.read_text()),
        "ssl.client.auth": "required",
    }
    with KafkaBroker(config=properties) as kafka:
        with _tls_socket(kafka.bootstrap_servers, certs, client_certificate=True) as sock:
            assert _api_versions_answered(sock)
        with _tls_socket(kafka.bootstrap_servers, certs, client_certificate=False) as sock:
            assert not _api_versions_answered(sock)


def _tls_socket(address: str, certs: TestCerts, client_certificate: bool) -> ssl.SSLSocket:
    """A TLS connection to ``address`` trusting ``certs``' CA, presenting its client certificate if asked."""
    context = ssl.create_default_context(cafile=certs.ca)
    if client_certificate:
        context.load_cert_chain(certs.client_cert, certs.client_key)
    host, port = address.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=20)
    return context.wrap_socket(raw, server_hostname=host)


def _api_versions_answered(sock: socket.socket) -> bool:
    """Send ApiVersions v0; True if a response comes back, False if the broker closes the connection."""
    try:
        sock.sendall(API_VERSIONS_V0)
        header = sock.recv(8)
    except (ssl.SSLError, OSError):
        return False
    return len(header) == 8 and header[4:8] == (7).to_bytes(4, "big")


def _principals(kafka: KafkaBroker, since: int) -> list[str]:
    """The principals of the requests the debug log shows since ``since``."""
    return [
        field.removeprefix("principal=")
        for line in kafka.log_text(since).splitlines()
        if "msg=request" in line
        for field in line.split()
        if field.startswith("principal=")
    ]


def test_client_certificate_dn_mapped_to_the_principal() -> None:
    rules = "RULE:^CN=(.*?),OU=.*$/$1/,RULE:^CN=(.*)$/$1-cert/U,DEFAULT"
    with KafkaBroker(tls=True, log_level="debug", config={"ssl.principal.mapping.rules": rules}) as kafka:
        assert kafka.certs is not None
        for with_cert, principal in ((True, "User:CLIENT-CERT"), (False, "User:ANONYMOUS")):
            since = kafka.log_size()
            with _tls_socket(kafka.ssl_bootstrap_servers, kafka.certs, with_cert) as sock:
                assert _api_versions_answered(sock)
            assert _wait_for(lambda since=since: _principals(kafka, since)) == [principal]
        since = kafka.log_size()
        with WireClient.connect(kafka.bootstrap_servers) as client:
            client.request(ApiKey.API_VERSIONS, 0, {})
        assert _wait_for(lambda: _principals(kafka, since)) == ["User:ANONYMOUS"]
        assert "listener=PLAINTEXT" in kafka.log_text(since)


def test_a_certificate_no_rule_maps_is_refused_as_kafka_refuses_it() -> None:
    config = {"ssl.principal.mapping.rules": "RULE:^CN=admin$/admin/"}
    with KafkaBroker(tls=True, log_level="info", config=config) as kafka:
        assert kafka.certs is not None
        with _tls_socket(kafka.ssl_bootstrap_servers, kafka.certs, client_certificate=True) as sock:
            assert not _api_versions_answered(sock)
        # Without a certificate the client is User:ANONYMOUS; no rule is asked.
        with _tls_socket(kafka.ssl_bootstrap_servers, kafka.certs, client_certificate=False) as sock:
            assert _api_versions_answered(sock)
        log = kafka.log_text()
    assert "SSL authentication failed" in log and "no ssl.principal.mapping.rules rule applies to CN=client" in log


def _wait_for(read: Callable[[], list[str]], attempts: int = 200) -> list[str]:
    """Poll ``read()`` until it returns something (the log is written by another process)."""
    for _ in range(attempts):
        found = read()
        if found:
            return found
        time.sleep(0.05)
    return []


def test_required_client_auth_refuses_clients_without_a_trusted_certificate(tmp_path: Path) -> None:
    certs = make_test_certs(tmp_path / "certs")
    stranger = make_test_certs(tmp_path / "other-ca", client_cn="mallory")
    with KafkaBroker(config=_pkcs12_properties(certs, "required"), log_level="info") as kafka:
        address = kafka.bootstrap_servers
        with _tls_socket(address, certs, client_certificate=False) as sock:
            assert not _api_versions_answered(sock)
        # A certificate from another CA: the broker does not trust it.
        context = ssl.create_default_context(cafile=certs.ca)
        context.load_cert_chain(stranger.client_cert, stranger.client_key)
        host, port = address.rsplit(":", 1)
        with context.wrap_socket(socket.create_connection((host, int(port)), timeout=20), server_hostname=host) as s:
            assert not _api_versions_answered(s)
        # A client that trusts another CA does not accept the broker.
        with pytest.raises(ssl.SSLCertVerificationError):
            _tls_socket(address, stranger, client_certificate=False)
        # The broker is unaffected: a client with the right certificate is served.
        with _tls_socket(address, certs, client_certificate=True) as sock:
            assert _api_versions_answered(sock)
        log = kafka.log_text()
    assert "TLS handshake failed" in log


def test_requested_client_auth_serves_clients_without_a_certificate(tmp_path: Path) -> None:
    certs = make_test_certs(tmp_path / "certs")
    with KafkaBroker(config=_pkcs12_properties(certs, "requested")) as kafka:
        for with_cert in (False, True):
            with _tls_socket(kafka.bootstrap_servers, certs, with_cert) as sock:
                assert _api_versions_answered(sock)


def test_plaintext_client_on_a_tls_port_is_closed_and_the_broker_serves_on() -> None:
    with KafkaBroker(tls=True, log_level="info") as kafka:
        assert kafka.certs is not None
        with WireClient.connect(kafka.ssl_bootstrap_servers, timeout=20) as client:
            client.send_raw(API_VERSIONS_V0)
            assert client.is_closed_by_peer(timeout=20)
        with _tls_socket(kafka.ssl_bootstrap_servers, kafka.certs, client_certificate=True) as sock:
            assert _api_versions_answered(sock)
        lines = [line for line in kafka.log_text().splitlines() if "TLS handshake failed" in line]
    assert len(lines) == 1 and "wrong version number" in lines[0].lower()


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
def test_kcat_over_ssl() -> None:
    with KafkaBroker(tls=True) as kafka:
        assert kafka.certs is not None
        tls = [
            "-b", kafka.ssl_bootstrap_servers,
            "-X", "security.protocol=SSL",
            "-X", f"ssl.ca.location={kafka.certs.ca}",
            "-X", f"ssl.certificate.location={kafka.certs.client_cert}",
            "-X", f"ssl.key.location={kafka.certs.client_key}",
        ]  # fmt: skip
        produced = subprocess.run(
            ["kcat", *tls, "-t", "kc", "-P"], input=b"one\ntwo\n", capture_output=True, timeout=60
        )
        assert produced.returncode == 0, produced.stderr
        consumed = subprocess.run(
            ["kcat", *tls, "-t", "kc", "-C", "-e", "-o", "beginning", "-q"], capture_output=True, timeout=60
        )
        assert consumed.stdout.split() == [b"one", b"two"], consumed.stderr


# A broker with one SSL listener, and the setting that must stop it at start-up.
SSL_LISTENER = ("--storage", "memory", "--listener", "SSL://127.0.0.1:0")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TestCerts:
    return make_test_certs(tmp_path_factory.mktemp("certs"))


def _bad_startups(certs: TestCerts, tmp: Path) -> list[tuple[tuple[str, ...], str]]:
    jks = tmp / "broker.jks"
    jks.write_bytes(b"\xfe\xed\xfe\xed" + bytes(60))
    mismatched = tmp / "mismatched.pem"
    mismatched.write_bytes(certs.client_key.read_bytes() + certs.broker_cert.read_bytes())
    keystore = f"ssl.keystore.location={certs.broker_pem_keystore}"
    return [
        ((), "listener SSL: an SSL listener needs its certificate: set ssl.keystore.location (PEM or PKCS12) or"
         " ssl.keystore.certificate.chain and ssl.keystore.key (kafkapy certs --dir DIR makes test ones)"),
        (("ssl.keystore.location=/nonexistent.jks",),
         "listener SSL: cannot read ssl.keystore.location=/nonexistent.jks: No such file or directory"),
        ((f"ssl.keystore.location={certs.broker_keystore}", "ssl.keystore.password=wrong"),
         f"listener SSL: cannot open PKCS12 store {certs.broker_keystore}: wrong password (ssl.keystore.password /"
         " ssl.truststore.password) or not a PKCS12 file"),
        ((f"ssl.keystore.location={mismatched}",),
         "listener SSL: cannot use the certificate and key of ssl.keystore.location: key values mismatch"),
        ((f"ssl.keystore.location={jks}",),
         f"listener SSL: ssl.keystore.location={jks} is a JKS keystore, which kafkapy cannot read; convert it with"
         f" keytool -importkeystore -srckeystore {jks} -destkeystore {tmp / 'broker'}.p12 -deststoretype PKCS12"
         " and set ssl.keystore.type=PKCS12"),
        ((f"ssl.keystore.location={jks}", "ssl.keystore.type=PKCS12"),
         f"listener SSL: ssl.keystore.location={jks} is a JKS keystore, which kafkapy cannot read; convert it with"
         f" keytool -importkeystore -srckeystore {jks} -destkeystore {tmp / 'broker'}.p12 -deststoretype PKCS12"
         " and set ssl.keystore.type=PKCS12"),
        ((keystore, "ssl.enabled.protocols=TLSv1.1"),
         "listener SSL: ssl.enabled.protocols=TLSv1.1: TLSv1.1 is not supported; use TLSv1.2, TLSv1.3"),
        ((keystore, "ssl.client.auth=required"),
         "listener SSL: ssl.client.auth=required needs a truststore to verify client certificates: set"
         " ssl.truststore.location (PEM or PKCS12) or ssl.truststore.certificates"),
        ((keystore, "ssl.client.auth=maybe"), "listener SSL: ssl.client.auth=maybe is not one of none, requested,"
         " required"),
        ((keystore, "ssl.principal.mapping.rules=RULE:^CN=(.*)$/$1"),
         "listener SSL: ssl.principal.mapping.rules=RULE:^CN=(.*)$/$1: invalid rule 'RULE:^CN=(.*)$/$1'"),
        ((f"ssl.keystore.certificate.chain={_one_line(certs.broker_cert.read_text())}",
          f"ssl.keystore.key={_one_line(_encrypted_key(certs, b'key-secret'))}"),
         "listener SSL: cannot decrypt the key of ssl.keystore.key: wrong or missing ssl.key.password"),
        ((keystore, "ssl.engine.factory.class=com.example.Engine"),
         "ssl.engine.factory.class is not supported by kafkapy's TLS; remove it"),
    ]


def test_bad_tls_settings_stop_the_broker_with_one_line(certs: TestCerts, tmp_path: Path) -> None:
    for settings, message in _bad_startups(certs, tmp_path):
        overrides = [arg for setting in settings for arg in ("--override", setting)]
        assert_fails(serve(*SSL_LISTENER, *overrides, cwd=tmp_path), message)


def test_ssl_settings_without_a_tls_listener_are_refused(certs: TestCerts, tmp_path: Path) -> None:
    keystore = f"ssl.keystore.location={certs.broker_pem_keystore}"
    result = serve("--storage", "memory", "--override", keystore, cwd=tmp_path)
    assert_fails(
        result,
        "ssl.keystore.location is set but no listener is SSL or SASL_SSL; add one (listeners=SSL://:9093) or remove it",
    )


def test_per_listener_settings_win(certs: TestCerts, tmp_path: Path) -> None:
    # The listener's own keystore is missing: the global one must not be used instead.
    result = serve(
        *SSL_LISTENER,
        "--override", f"ssl.keystore.location={certs.broker_pem_keystore}",
        "--override", "listener.name.ssl.ssl.keystore.location=/nonexistent.pem",
        cwd=tmp_path,
    )  # fmt: skip
    assert_fails(result, "listener SSL: cannot read ssl.keystore.location=/nonexistent.pem: No such file or directory")


def test_settings_of_a_listener_that_is_not_there_are_refused(certs: TestCerts, tmp_path: Path) -> None:
    # listener.name.external... while the listener is SSL: required client auth would silently not apply.
    result = serve(
        *SSL_LISTENER,
        "--override", f"ssl.keystore.location={certs.broker_pem_keystore}",
        "--override", "listener.name.external.ssl.client.auth=required",
        cwd=tmp_path,
    )  # fmt: skip
    assert_fails(
        result,
        "listener.name.external.ssl.client.auth names no SSL or SASL_SSL listener (those are SSL); fix the name",
    )


JAVA_LIB = Path(__file__).resolve().parents[2] / "compat_tests" / "apache-kafka" / "target" / "lib"


@pytest.mark.skipif(
    shutil.which("java") is None or not (JAVA_LIB / "kafka-clients-4.3.1.jar").exists(),
    reason="needs java and the Kafka client jars (compat_tests/apache-kafka/target/lib)",
)
def test_java_client_with_pkcs12_stores(tmp_path: Path) -> None:
    """KafkaBroker.client_config("java") as a properties file: JSSE reads the PKCS12 truststore and keystore."""
    with KafkaBroker(tls=True, config={"ssl.client.auth": "required"}) as kafka:
        properties = tmp_path / "client.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in kafka.client_config("java").items()))
        result = subprocess.run(
            [
                "java",
                "-cp",
                f"{JAVA_LIB}/*",
                str(Path(__file__).parent / "java" / "TlsRoundTrip.java"),
                str(properties),
                "java-tls",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "consumed: over TLS from Java" in result.stdout
