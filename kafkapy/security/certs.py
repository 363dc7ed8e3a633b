"""Throwaway certificates for tests: a CA, a broker certificate and a client certificate.

Kafka makes its users run keytool and openssl for an hour before a TLS listener works; here
``make_test_certs(directory)`` (or ``kafkapy certs --dir DIR``) writes everything a broker and its
clients need, as PEM for kafkapy, librdkafka, kcat and Python clients and as PKCS12 keystores and a
truststore for Java clients. The keys are unencrypted in the PEM files (tests only: never use these
for anything that matters); the PKCS12 files are protected by ``password``, as Java requires.

Keys are EC P-256: generated in a millisecond (RSA takes tens), and every client in the matrix
(OpenSSL, Java's JSSE, Go's crypto/tls, Node) accepts them.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The password of the PKCS12 files unless told otherwise (Java clients need one).
DEFAULT_PASSWORD = "kafkapy-test"
# The broker certificate's names: every way a test reaches a loopback broker.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# Long enough for any test run, short enough that nobody mistakes them for real certificates.
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class TestCerts:
    """The files ``make_test_certs`` wrote (all in one directory)."""

    __test__ = False  # not a pytest test class, despite its name

    directory: Path
    ca: Path  # ca.pem: the CA certificate; the truststore of brokers and clients
    ca_key: Path  # ca.key: to sign more certificates with
    broker_cert: Path  # broker.pem: the broker's certificate followed by the CA's
    broker_key: Path  # broker.key
    broker_pem_keystore: Path  # broker-keystore.pem: key and chain in one file (ssl.keystore.type=PEM)
    client_cert: Path  # client.pem: the client's certificate followed by the CA's
    client_key: Path  # client.key
    broker_keystore: Path  # broker.p12: PKCS12 key + chain (ssl.keystore.type=PKCS12)
    client_keystore: Path  # client.p12: PKCS12 key + chain, for Java clients
    truststore: Path  # truststore.p12: PKCS12 trusted CA (ssl.truststore.type=PKCS12)
    password: str  # of the three .p12 files
    client_cn: str

    @property
    def client_principal(self) -> str:
        """The principal the broker's DEFAULT mapping rule gives the client certificate."""
        return f"User:CN={self.client_cn}"


def make_test_certs(
    directory: str | Path,
    client_cn: str = "client",
    hostnames: Iterable[str] = (),
    password: str = DEFAULT_PASSWORD,
) -> TestCerts:
    """Write a fresh CA, broker and client certificate (PEM and PKCS12) into ``directory``.

    The broker certificate names localhost, 127.0.0.1 and ::1 plus ``hostnames``; the client
    certificate's subject is ``CN=<client_cn>``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca_key = _new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kafkapy test CA")])
    ca_cert = _sign(_builder(ca_name, ca_name, ca_key).add_extension(_ca_usage(), critical=True), ca_key, ca=True)
    broker_key, client_key = _new_key(), _new_key()
    broker_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kafkapy broker")])
    broker_cert = _sign(
        _builder(broker_name, ca_name, broker_key)
        .add_extension(_subject_alt_names([*LOOPBACK_NAMES, *hostnames]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False),
        ca_key,
    )
    client_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client_cn)])
    client_cert = _sign(
        _builder(client_name, ca_name, client_key).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        ),
        ca_key,
    )
    certs = TestCerts(
        directory=out,
        ca=out / "ca.pem",
        ca_key=out / "ca.key",
        broker_cert=out / "broker.pem",
        broker_key=out / "broker.key",
        broker_pem_keystore=out / "broker-keystore.pem",
        client_cert=out / "client.pem",
        client_key=out / "client.key",
        broker_keystore=out / "broker.p12",
        client_keystore=out / "client.p12",
        truststore=out / "truststore.p12",
        password=password,
        client_cn=client_cn,
    )
    encryption = serialization.BestAvailableEncryption(password.encode())
    certs.ca.write_bytes(_pem(ca_cert))
    _write_private(certs.ca_key, _key_pem(ca_key))
    for cert_path, key_path, store, name, key, cert in (
        (certs.broker_cert, certs.broker_key, certs.broker_keystore, "broker", broker_key, broker_cert),
        (certs.client_cert, certs.client_key, certs.client_keystore, "client", client_key, client_cert),
    ):
        cert_path.write_bytes(_pem(cert) + _pem(ca_cert))
        _write_private(key_path, _key_pem(key))
        store.write_bytes(pkcs12.serialize_key_and_certificates(name.encode(), key, cert, [ca_cert], encryption))
    _write_private(certs.broker_pem_keystore, _key_pem(broker_key) + certs.broker_cert.read_bytes())
    # Java reads a PKCS12 certificate without a key as trusted only with Oracle's trusted-key-usage
    # attribute, which serialize_java_truststore adds.
    certs.truststore.write_bytes(
        pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(ca_cert, b"ca")], encryption)
    )
    return certs


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    """A certificate valid from a minute ago (clocks differ a little) for ``VALIDITY``."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + VALIDITY)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(
    builder: x509.CertificateBuilder, issuer_key: ec.EllipticCurvePrivateKey, ca: bool = False
) -> x509.Certificate:
    """Sign with the issuer's key; ``ca`` marks a certificate that may sign others (basicConstraints)."""
    constraints = x509.BasicConstraints(ca=ca, path_length=0 if ca else None)
    return builder.add_extension(constraints, critical=True).sign(issuer_key, hashes.SHA256())


def _subject_alt_names(names: Iterable[str]) -> x509.SubjectAlternativeName:
    """DNS names and IP addresses, each once, in the order given."""
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The key as unencrypted PKCS8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a file holding a private key, readable by its owner only."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_bytes(data)
