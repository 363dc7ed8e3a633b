"""kafkapy.security.tls: ssl.principal.mapping.rules as Kafka's SslPrincipalMapper, and certificate DNs."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kafkapy.broker_config import BrokerConfig
from kafkapy.security.certs import make_test_certs
from kafkapy.security.tls import NoMatchingRule, PrincipalMapper, TLSConfigError, certificate_dn, tls_settings

# Kafka's SslPrincipalMapperTest cases.
DN = "CN=kafka1,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"


@pytest.mark.parametrize(
    ("rules", "dn", "name"),
    [
        ("DEFAULT", DN, DN),
        ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/", DN, "kafka1"),
        ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L", "CN=Kafka1,OU=ServiceUsers,O=Unknown", "kafka1"),
        ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/U", DN, "KAFKA1"),
        ("RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L", DN, "kafka1@serviceusers"),
        ("RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L, DEFAULT", "cn=Kafka1,OU=x", "kafka1"),
        ("RULE:^CN=(.*?),OU=Other.*$/$1/,\n  DEFAULT", DN, DN),
        ("RULE:^CN=([^,]*)$/$1 user/", "CN=alice", "alice user"),
        ("RULE:^CN=(.*)$/\\/$1\\//", "CN=alice", "/alice/"),
        ("RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U", "cn=a,ou=b,dc=c,dc=d", "A@B"),
    ],
)
def test_rules_map_as_kafka_does(rules: str, dn: str, name: str) -> None:
    assert PrincipalMapper.from_rules(rules).name(dn) == name


@pytest.mark.parametrize(
    "rules",
    [
        "default",
        "DEFAUL",
        "DEFAULT/L",
        "DEFAULT/U",
        "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
        "rule:CN=(.*?),OU=ServiceUsers.*/$1/",
        "RULE:CN=(.*?),OU=ServiceUsers.*/$1/L/U",
        "RULE:CN=(.*?),OU=ServiceUsers.*/L",
        "RULE:CN=(.*?),OU=ServiceUsers.*/U",
        "RULE:CN=(.*?),OU=ServiceUsers.*/LU",
        "RULE:CN=((/x/",
    ],
)
def test_invalid_rules_are_refused(rules: str) -> None:
    with pytest.raises(ValueError):
        PrincipalMapper.from_rules(rules)


def test_no_matching_rule() -> None:
    with pytest.raises(NoMatchingRule, match="no ssl.principal.mapping.rules rule applies to CN=bob"):
        PrincipalMapper.from_rules("RULE:^CN=alice$/alice/").name("CN=bob")


def test_certificate_dn_is_rfc2253_most_specific_first() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "eng"),
            x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder(name, name, key.public_key(), x509.random_serial_number(), now, now)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    # As Java's X500Principal.getName(): what Kafka's rules are written against.
    assert certificate_dn(cert) == "CN=alice,OU=eng,O=Example\\, Inc,C=NL"


@pytest.mark.parametrize(
    ("protocol", "properties", "verify_mode"),
    [
        ("SSL", {"ssl.client.auth": "required"}, ssl.CERT_REQUIRED),
        ("SSL", {"listener.name.ext.ssl.client.auth": "requested", "ssl.client.auth": "required"}, ssl.CERT_OPTIONAL),
        # KIP-684: SASL_SSL ignores the broker-wide ssl.client.auth, honours the listener's own.
        ("SASL_SSL", {"ssl.client.auth": "required"}, ssl.CERT_NONE),
        ("SASL_SSL", {"listener.name.ext.ssl.client.auth": "required"}, ssl.CERT_REQUIRED),
    ],
)
def test_client_auth_per_listener_and_protocol(
    tmp_path: Path, protocol: str, properties: dict[str, str], verify_mode: ssl.VerifyMode
) -> None:
    certs = make_test_certs(tmp_path)
    config = BrokerConfig()
    config.security_properties = {
        "ssl.keystore.location": str(certs.broker_pem_keystore),
        "ssl.truststore.location": str(certs.ca),
        **properties,
    }
    assert tls_settings(config, "EXT", protocol).context.verify_mode == verify_mode


def test_store_type_jks_reads_a_pkcs12_file_as_java_does(tmp_path: Path) -> None:
    certs = make_test_certs(tmp_path)
    config = BrokerConfig()
    config.security_properties = {
        "ssl.keystore.type": "JKS",
        "ssl.keystore.location": str(certs.broker_keystore),
        "ssl.keystore.password": certs.password,
    }
    tls_settings(config, "SSL", "SSL")
    config.security_properties["ssl.keystore.type"] = "BKS"
    with pytest.raises(TLSConfigError, match="ssl.keystore.type=BKS is not one of PEM, PKCS12"):
        tls_settings(config, "SSL", "SSL")
