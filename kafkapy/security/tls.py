"""TLS for SSL and SASL_SSL listeners: Kafka's ``ssl.*`` properties as an ``ssl.SSLContext``.

Each property is looked up as Kafka does, ``listener.name.<listener>.ssl.X`` first, then ``ssl.X``.
Keystores and truststores are PEM (files, or inline ``ssl.keystore.certificate.chain`` /
``ssl.keystore.key`` / ``ssl.truststore.certificates``) or PKCS12, read with ``cryptography`` and
handed to the ``ssl`` module as PEM (the only form it loads). JKS is refused with the keytool line
that converts it. Anything that cannot be set up exactly as written is a ``TLSConfigError`` at
start-up, one line naming the property: a TLS listener never starts half-configured.

The principal of an SSL connection is its client certificate's subject DN (RFC 2253, as Java's
X500Principal.getName() writes it) mapped by ``ssl.principal.mapping.rules``, or User:ANONYMOUS
without a client certificate, as Kafka's DefaultKafkaPrincipalBuilder.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kafkapy.security.session import ANONYMOUS, SASL_SSL

if TYPE_CHECKING:
    from kafkapy.broker_config import BrokerConfig

# Kafka's defaults: ssl.client.auth none, ssl.enabled.protocols TLSv1.2,TLSv1.3, ssl.protocol TLSv1.3,
# ssl.principal.mapping.rules DEFAULT, ssl.keystore.type and ssl.truststore.type JKS (here: read from
# the file, since JKS itself cannot be loaded).
CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
DEFAULT_ENABLED_PROTOCOLS = "TLSv1.2,TLSv1.3"
PROTOCOL_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
# ssl.protocol names the context's protocol family in Java; any of these allows TLSv1.2 and TLSv1.3.
SSL_PROTOCOL_NAMES = ("TLS", "TLSv1.2", "TLSv1.3")
STORE_TYPES = ("PEM", "PKCS12", "JKS")
# Java's JKS magic number, at the start of a .jks file.
JKS_MAGIC = b"\xfe\xed\xfe\xed"
_CONVERT = (
    "convert it with keytool -importkeystore -srckeystore {path} -destkeystore {stem}.p12 -deststoretype PKCS12"
    " and set {prefix}.type=PKCS12"
)
# ssl.* properties that change nothing here: Java's algorithm and provider choices, and the client-side
# hostname check (the broker verifies client certificates against the truststore, not names).
_JAVA_ONLY = frozenset(
    {
        "ssl.keymanager.algorithm",
        "ssl.trustmanager.algorithm",
        "ssl.secure.random.implementation",
        "ssl.endpoint.identification.algorithm",
        "ssl.provider",
    }
)
IMPLEMENTED = frozenset(
    {
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.keystore.certificate.chain",
        "ssl.keystore.key",
        "ssl.key.password",
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.password",
        "ssl.truststore.certificates",
        "ssl.client.auth",
        "ssl.enabled.protocols",
        "ssl.protocol",
        "ssl.cipher.suites",
        "ssl.principal.mapping.rules",
        *_JAVA_ONLY,
    }
)


class TLSConfigError(ValueError):
    """An ssl.* setting a TLS listener cannot start with; one line naming it and the fix."""


@dataclass(frozen=True)
class TLSSettings:
    """What a TLS listener's connections need: the server context and the principal mapping."""

    context: ssl.SSLContext
    principal_mapper: PrincipalMapper
    security_protocol: str

    def principal(self, ssl_object: ssl.SSLObject) -> str:
        """The connection's principal: its client certificate's mapped DN, or User:ANONYMOUS without one.

        Raises NoMatchingRule when no mapping rule applies (Kafka fails the authentication).
        """
        der = ssl_object.getpeercert(binary_form=True)
        if not der:
            return ANONYMOUS
        return "User:" + self.principal_mapper.name(certificate_dn(der))


def certificate_dn(der: bytes) -> str:
    """A DER certificate's subject as an RFC 2253 string (``CN=alice,OU=eng,O=example``)."""
    from cryptography import x509

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def check_properties(config: BrokerConfig, tls_listeners: list[str]) -> None:
    """TLSConfigError for an ssl.* property kafkapy does not implement, or one set with no TLS listener.

    Settings meant to secure something are never ignored: ssl.* with only plaintext listeners
    would leave the broker serving in the clear what they meant to encrypt.
    """
    for name in config.security_properties:
        base = _ssl_property(name)
        if base is None:
            continue
        if base not in IMPLEMENTED:
            raise TLSConfigError(f"{name} is not supported by kafkapy's TLS; remove it")
        if not tls_listeners:
            raise TLSConfigError(
                f"{name} is set but no listener is SSL or SASL_SSL; add one (listeners=SSL://:9093) or remove it"
            )
        listener = name.split(".")[2] if name.startswith("listener.name.") else None
        if listener is not None and listener.upper() not in tls_listeners:
            # A misspelt listener name would leave its listener on the broker-wide settings (no mTLS, say).
            raise TLSConfigError(
                f"{name} names no SSL or SASL_SSL listener (those are {', '.join(tls_listeners)}); fix the name"
            )


def _ssl_property(name: str) -> str | None:
    """``ssl.X`` for ``ssl.X`` and ``listener.name.<listener>.ssl.X``; None for other properties."""
    if name.startswith("ssl."):
        return name
    match = re.fullmatch(r"listener\.name\.[^.]+\.(ssl\..+)", name)
    return match.group(1) if match else None


def tls_settings(config: BrokerConfig, listener_name: str, security_protocol: str) -> TLSSettings:
    """The TLS set-up of one listener from its ssl.* properties; TLSConfigError for anything unusable."""

    def prop(name: str) -> str | None:
        value = config.security_property(name, listener=listener_name)
        return None if value is None or not value.strip() else value.strip()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Client-initiated TLS 1.2 renegotiation costs the server a handshake per request: refused, as by JSSE.
    context.options |= ssl.OP_NO_RENEGOTIATION
    _set_protocols(context, prop)
    _load_keystore(context, prop)
    if security_protocol == SASL_SSL:
        # KIP-684: on SASL_SSL only the listener's own ssl.client.auth counts (SASL authenticates clients).
        client_auth = config.security_properties.get(f"listener.name.{listener_name.lower()}.ssl.client.auth")
    else:
        client_auth = prop("ssl.client.auth")
    _set_client_auth(context, prop, (client_auth or "none").strip().lower())
    ciphers = prop("ssl.cipher.suites")
    if ciphers is not None:
        try:
            context.set_ciphers(":".join(c.strip() for c in ciphers.split(",") if c.strip()))
        except ssl.SSLError:
            raise TLSConfigError(
                f"ssl.cipher.suites={ciphers}: OpenSSL selects none of them; name TLSv1.2 suites as OpenSSL does"
                " (ECDHE-RSA-AES128-GCM-SHA256) or remove it (TLSv1.3's suites are always OpenSSL's defaults)"
            ) from None
    rules = prop("ssl.principal.mapping.rules") or "DEFAULT"
    try:
        mapper = PrincipalMapper.from_rules(rules)
    except ValueError as exc:
        raise TLSConfigError(f"ssl.principal.mapping.rules={rules}: {exc}") from None
    return TLSSettings(context, mapper, security_protocol)


def _set_protocols(context: ssl.SSLContext, prop: Callable[[str], str | None]) -> None:
    protocol = prop("ssl.protocol")
    if protocol is not None and protocol not in SSL_PROTOCOL_NAMES:
        raise TLSConfigError(f"ssl.protocol={protocol} is not supported; use one of {', '.join(SSL_PROTOCOL_NAMES)}")
    enabled = prop("ssl.enabled.protocols") or DEFAULT_ENABLED_PROTOCOLS
    versions = []
    for name in filter(None, (part.strip() for part in enabled.split(","))):
        if name not in PROTOCOL_VERSIONS:
            raise TLSConfigError(
                f"ssl.enabled.protocols={enabled}: {name} is not supported; use {', '.join(PROTOCOL_VERSIONS)}"
            )
        versions.append(PROTOCOL_VERSIONS[name])
    if not versions:
        raise TLSConfigError(f"ssl.enabled.protocols={enabled} enables no protocol; use TLSv1.2,TLSv1.3")
    context.minimum_version, context.maximum_version = min(versions), max(versions)


def _load_keystore(context: ssl.SSLContext, prop: Callable[[str], str | None]) -> None:
    """The broker's certificate chain and key: PEM file, inline PEM or PKCS12 file."""
    location = prop("ssl.keystore.location")
    chain, key = prop("ssl.keystore.certificate.chain"), prop("ssl.keystore.key")
    key_password = prop("ssl.key.password")
    if location is None and chain is None and key is None:
        raise TLSConfigError(
            "an SSL listener needs its certificate: set ssl.keystore.location (PEM or PKCS12) or"
            " ssl.keystore.certificate.chain and ssl.keystore.key (kafkapy certs --dir DIR makes test ones)"
        )
    if location is not None and (chain is not None or key is not None):
        raise TLSConfigError("set ssl.keystore.location or ssl.keystore.certificate.chain/key, not both")
    if location is None:
        if chain is None or key is None:
            raise TLSConfigError("ssl.keystore.certificate.chain and ssl.keystore.key go together; set both")
        if (prop("ssl.keystore.type") or "PEM").upper() != "PEM":
            raise TLSConfigError("inline ssl.keystore.certificate.chain/key need ssl.keystore.type=PEM")
        chain_pem = pem_blocks(chain, "ssl.keystore.certificate.chain")
        _load_pem_chain(context, chain_pem, pem_blocks(key, "ssl.keystore.key"), key_password, "ssl.keystore.key")
        return
    data = _read("ssl.keystore.location", location)
    store_type = _store_type("ssl.keystore", location, data, prop("ssl.keystore.type"))
    if store_type == "PEM":
        # One file holding the key and the chain, as Kafka's PEM keystore; the password is the key's.
        _load_pem_chain(context, data, data, key_password or prop("ssl.keystore.password"), "ssl.keystore.location")
    else:
        chain_pem, key_pem = _pkcs12_chain(location, data, prop("ssl.keystore.password"))
        _load_pem_chain(context, chain_pem, key_pem, None, "ssl.keystore.location")


def _set_client_auth(context: ssl.SSLContext, prop: Callable[[str], str | None], client_auth: str) -> None:
    """ssl.client.auth and the truststore that client certificates are verified against."""
    if client_auth not in CLIENT_AUTH:
        raise TLSConfigError(f"ssl.client.auth={client_auth} is not one of none, requested, required")
    cafile = _truststore_pem(prop)
    if cafile is None and client_auth != "none":
        raise TLSConfigError(
            f"ssl.client.auth={client_auth} needs a truststore to verify client certificates: set"
            " ssl.truststore.location (PEM or PKCS12) or ssl.truststore.certificates"
        )
    if cafile is not None:
        try:
            context.load_verify_locations(cadata=cafile.decode())
        except (ssl.SSLError, ValueError) as exc:
            raise TLSConfigError(f"the truststore holds no usable certificate: {ssl_reason(exc)}") from None
    context.verify_mode = CLIENT_AUTH[client_auth]


def _truststore_pem(prop: Callable[[str], str | None]) -> bytes | None:
    """The trusted certificates as PEM, from whichever truststore setting is given; None without one."""
    location, inline = prop("ssl.truststore.location"), prop("ssl.truststore.certificates")
    if location is not None and inline is not None:
        raise TLSConfigError("set ssl.truststore.location or ssl.truststore.certificates, not both")
    if inline is not None:
        return pem_blocks(inline, "ssl.truststore.certificates")
    if location is None:
        return None
    data = _read("ssl.truststore.location", location)
    if _store_type("ssl.truststore", location, data, prop("ssl.truststore.type")) == "PEM":
        return data
    return _pkcs12_certificates(location, data, prop("ssl.truststore.password"))


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


def pem_blocks(text: str, name: str) -> bytes:
    """The PEM blocks of an inline value, as OpenSSL reads them.

    Kafka's PEM parser takes a block whatever the whitespace inside it: a server.properties value
    continued over lines with ``\\`` arrives as one line with spaces where the line breaks were.
    """
    blocks = []
    for label, body in _PEM_BLOCK.findall(text):
        data = re.sub(r"\s+", "", body)
        lines = [data[i : i + 64] for i in range(0, len(data), 64)]
        blocks.append("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""]))
    if not blocks:
        raise TLSConfigError(f"{name} holds no PEM block (-----BEGIN ...-----)")
    return "".join(blocks).encode()


def _read(name: str, location: str) -> bytes:
    try:
        return Path(location).read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"cannot read {name}={location}: {exc.strerror or exc}") from None


def _store_type(prefix: str, location: str, data: bytes, written: str | None) -> str:
    """PEM or PKCS12: as written, else from the file's first bytes; TLSConfigError for JKS."""
    store_type = written.upper() if written else None
    if data.startswith(JKS_MAGIC):
        # A JKS file is named as one whatever the type says (a .jks left with ssl.keystore.type=PKCS12).
        store_type = "JKS"
    elif store_type in (None, "JKS"):
        # Kafka's default type is JKS, and Java's JKS loader reads PKCS12 files too (keystore.type.compat).
        store_type = _sniff(data)
    if store_type not in STORE_TYPES:
        raise TLSConfigError(f"{prefix}.type={written} is not one of PEM, PKCS12")
    if store_type == "JKS":
        stem = os.path.splitext(location)[0]
        raise TLSConfigError(
            f"{prefix}.location={location} is a JKS keystore, which kafkapy cannot read; "
            + _CONVERT.format(path=location, stem=stem, prefix=prefix)
        )
    return store_type


def _sniff(data: bytes) -> str:
    return "PEM" if b"-----BEGIN" in data[:4096] else "PKCS12"


def _load_pkcs12(location: str, data: bytes, password: str | None) -> object:
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        return pkcs12.load_pkcs12(data, password.encode() if password else None)
    except ValueError:
        raise TLSConfigError(
            f"cannot open PKCS12 store {location}: wrong password (ssl.keystore.password /"
            " ssl.truststore.password) or not a PKCS12 file"
        ) from None


def _pkcs12_chain(location: str, data: bytes, password: str | None) -> tuple[bytes, bytes]:
    """A PKCS12 keystore's certificate chain and key, as PEM."""
    from cryptography.hazmat.primitives import serialization

    store = _load_pkcs12(location, data, password)
    if store.key is None or store.cert is None:  # type: ignore[attr-defined]
        raise TLSConfigError(f"ssl.keystore.location={location} holds no private key with its certificate")
    pem = serialization.Encoding.PEM
    chain = b"".join(c.certificate.public_bytes(pem) for c in (store.cert, *store.additional_certs))  # type: ignore[attr-defined]
    key = store.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())  # type: ignore[attr-defined]
    return chain, key


def _pkcs12_certificates(location: str, data: bytes, password: str | None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    store = _load_pkcs12(location, data, password)
    certs = [c.certificate for c in store.additional_certs]  # type: ignore[attr-defined]
    if store.cert is not None:  # type: ignore[attr-defined]
        certs.append(store.cert.certificate)  # type: ignore[attr-defined]
    if not certs:
        raise TLSConfigError(f"ssl.truststore.location={location} holds no certificate")
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _load_pem_chain(
    context: ssl.SSLContext, chain: bytes, key: bytes, password: str | None, name: str
) -> None:
    """Load a PEM chain and key: through a private temporary file, as the ssl module reads only files."""
    with tempfile.TemporaryDirectory(prefix="kafkapy-tls-") as directory:
        chain_path, key_path = Path(directory, "chain.pem"), Path(directory, "key.pem")
        chain_path.write_bytes(chain)
        key_path.write_bytes(key)
        try:
            # Always a password (empty if none is set): without one OpenSSL would prompt on the terminal.
            context.load_cert_chain(chain_path, key_path, password=(password or "").encode())
        except ssl.SSLError as exc:
            if b"ENCRYPTED" in key and "PEM" in str(exc):
                raise TLSConfigError(f"cannot decrypt the key of {name}: wrong or missing ssl.key.password") from None
            raise TLSConfigError(f"cannot use the certificate and key of {name}: {ssl_reason(exc)}") from None


def ssl_reason(exc: BaseException) -> str:
    """An ssl error's reason, readable: KEY_VALUES_MISMATCH -> key values mismatch (else its message)."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason.replace("_", " ").lower()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class NoMatchingRule(ValueError):
    """No ssl.principal.mapping.rules rule applies to a certificate's DN (Kafka's NoMatchingRule)."""


# Kafka's SslPrincipalMapper grammar: DEFAULT, or RULE:pattern/replacement/[LU], comma-separated.
_RULE = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)"
_RULE_SPLITTER = re.compile(r"\s*(" + _RULE + r")\s*(,\s*|$)")
_RULE_PARSER = re.compile(_RULE)


@dataclass(frozen=True)
class MappingRule:
    """One rule: None pattern is DEFAULT (the DN as it is)."""

    pattern: re.Pattern[str] | None = None
    replacement: str = ""
    case: str = ""  # "L", "U" or ""

    def apply(self, dn: str) -> str | None:
        if self.pattern is None:
            return dn
        if not self.pattern.fullmatch(dn):
            return None
        result = self.pattern.sub(self.replacement, dn)
        return result.lower() if self.case == "L" else result.upper() if self.case == "U" else result


@dataclass(frozen=True)
class PrincipalMapper:
    """ssl.principal.mapping.rules: the first rule that matches a DN names the principal."""

    rules: tuple[MappingRule, ...]

    @classmethod
    def from_rules(cls, text: str) -> PrincipalMapper:
        """Parse Kafka's rule list; ValueError for a rule that is not one."""
        rules = []
        for match in _RULE_SPLITTER.finditer(text.strip()):
            rule = match.group(1)
            parsed = _RULE_PARSER.match(rule)
            if parsed is None or parsed.end() != len(rule):
                raise ValueError(f"invalid rule {rule!r}")
            if parsed.group(1) is not None:
                rules.append(MappingRule())
            elif parsed.group(2) is not None:
                try:
                    pattern = re.compile(parsed.group(2))
                except re.error as exc:
                    raise ValueError(f"invalid pattern {parsed.group(2)!r} in {rule!r}: {exc}") from None
                rules.append(MappingRule(pattern, _java_replacement(parsed.group(4)), parsed.group(6)))
            elif parsed.group(7):
                raise ValueError(f"invalid rule {rule!r}: expected DEFAULT or RULE:pattern/replacement/[LU]")
        return cls(tuple(rules))

    def name(self, dn: str) -> str:
        for rule in self.rules:
            result = rule.apply(dn)
            if result is not None:
                return result
        raise NoMatchingRule(f"no ssl.principal.mapping.rules rule applies to {dn}")


def _java_replacement(text: str) -> str:
    """A Java replaceAll replacement (``$1``, ``\\/``) as a Python re.sub one (``\\g<1>``)."""
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1].replace("\\", "\\\\"))
            i += 2
            continue
        if char == "$":
            digits = re.match(r"\d+", text[i + 1 :])
            if digits:
                out.append(f"\\g<{digits.group()}>")
                i += 1 + len(digits.group())
                continue
        out.append("\\\\" if char == "\\" else char)
        i += 1
    return "".join(out)
