"""kafkapy.security.certs: the throwaway certificates verify as a TLS broker and client would use them."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from kafkapy.cli import main
from kafkapy.security.certs import TestCerts, make_test_certs


def _handshake(certs: TestCerts, server_hostname: str) -> ssl.SSLObject:
    """A complete in-memory TLS handshake: a broker requiring a client certificate, a client verifying
    the broker by ``server_hostname``; returns the broker's side."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certs.ca)
    server_ctx.load_cert_chain(certs.broker_cert, certs.broker_key)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=certs.ca)
    client_ctx.load_cert_chain(certs.client_cert, certs.client_key)
    bios = [ssl.MemoryBIO() for _ in range(4)]
    server = server_ctx.wrap_bio(bios[0], bios[1], server_side=True)
    client = client_ctx.wrap_bio(bios[2], bios[3], server_hostname=server_hostname)
    done = {id(server): False, id(client): False}
    for _ in range(10):
        for side, outgoing, incoming in ((client, bios[3], bios[0]), (server, bios[1], bios[2])):
            try:
                side.do_handshake()
                done[id(side)] = True
            except ssl.SSLWantReadError:
                pass
            incoming.write(outgoing.read())
        if all(done.values()):
            return server
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1", "::1", "broker.example"])
def test_broker_and_client_certificates_verify_both_ways(tmp_path: Path, hostname: str) -> None:
    certs = make_test_certs(tmp_path, client_cn="alice", hostnames=["broker.example"])
    server = _handshake(certs, hostname)
    peer = server.getpeercert()
    assert peer is not None and peer["subject"] == ((("commonName", "alice"),),)
    assert certs.client_principal == "User:CN=alice"


def test_broker_certificate_names_only_what_it_was_given(tmp_path: Path) -> None:
    certs = make_test_certs(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(certs, "broker.example")


def test_pkcs12_files_open_with_the_password(tmp_path: Path) -> None:
    certs = make_test_certs(tmp_path, password="s3cret")
    store = pkcs12.load_pkcs12(certs.broker_keystore.read_bytes(), b"s3cret")
    assert store.key is not None and store.cert is not None and len(store.additional_certs) == 1
    trust = pkcs12.load_pkcs12(certs.truststore.read_bytes(), b"s3cret")
    assert trust.key is None and [c.certificate.subject.rfc4514_string() for c in trust.additional_certs] == [
        "CN=kafkapy test CA"
    ]
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(certs.client_keystore.read_bytes(), b"wrong")
    assert certs.broker_key.stat().st_mode & 0o077 == 0


def test_certs_command_writes_the_files_and_prints_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "--dir", str(tmp_path / "c"), "--hostname", "kafka.test", "--client-cn", "bob"]) == 0
    out = capsys.readouterr().out
    assert "PKCS12 password: kafkapy-test" in out and "CN=bob" in out
    names = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert names == [
        "broker-keystore.pem", "broker.key", "broker.p12", "broker.pem", "ca.key", "ca.pem",
        "client.key", "client.p12", "client.pem", "truststore.p12",
    ]
