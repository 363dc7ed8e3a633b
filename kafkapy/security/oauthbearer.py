"""SASL/OAUTHBEARER (RFC 7628) as Kafka's OAuthBearerSaslServer, with Kafka's two token validators.

The client's first message is a GS2 header and key/value pairs, ``n,[a=<authzid>],^Aauth=Bearer <jwt>^A^A``.
A valid token completes the exchange with the token's principal claim as the user; an invalid one is
answered with the RFC 7628 error challenge ``{"status":"invalid_token"}``, which the client acknowledges
with ``^A``, and only then does authentication fail, with that JSON as the message (Kafka does the same).

Validators, as Kafka picks its server callback handler:
- ``sasl.oauthbearer.jwks.endpoint.url=file:///...`` set: signed JWTs only (Kafka's
  OAuthBearerValidatorCallbackHandler), checked with PyJWT against that JWKS file: ``exp`` and ``iat``
  required, ``sasl.oauthbearer.expected.audience`` / ``expected.issuer`` when set, the principal from
  ``sasl.oauthbearer.sub.claim.name`` (``sub``), ``sasl.oauthbearer.clock.skew.seconds`` (Kafka's 30 s).
- otherwise Kafka's default unsecured validator (OAuthBearerUnsecuredValidatorCallbackHandler): ``alg``
  ``none`` and no signature, ``exp`` required, options from the listener's OAuthBearerLoginModule JAAS line
  (``unsecuredValidatorPrincipalClaimName``, ``...ScopeClaimName``, ``...RequiredScope``,
  ``...AllowableClockSkewMs``). It trusts whoever the token says: for tests, as in Kafka.
PyJWT is imported only when a JWKS file is configured.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from kafkapy.broker_config import BrokerConfig, ConfigError
from kafkapy.security.jaas import parse_jaas
from kafkapy.security.sasl_server import SaslAuthenticationError

if TYPE_CHECKING:
    from kafkapy.broker import Broker

MECHANISM = "OAUTHBEARER"
LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
# Kafka's server callback handlers: the unsecured default, and the JWKS-validating one.
UNSECURED_HANDLER = (
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler"
)
JWKS_HANDLER = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
INVALID_TOKEN = "invalid_token"
INSUFFICIENT_SCOPE = "insufficient_scope"
# Kafka's sasl.oauthbearer.clock.skew.seconds default.
DEFAULT_CLOCK_SKEW_S = 30
# Algorithms a JWKS key may verify: asymmetric only (no "none", no HMAC with a public key as secret).
SIGNED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

# Kafka's OAuthBearerClientInitialResponse grammar.
_SASLNAME = r"(?:[\x01-\x2b\x2d-\x3c\x3e-\x7f]|=2C|=3D)+"
_KVPAIRS = r"(?:[A-Za-z]+=[\x21-\x7e \t\r\n]+\x01)*"
_CLIENT_FIRST = re.compile(rf"n,(?:a=(?P<authzid>{_SASLNAME}))?,\x01(?P<kvpairs>{_KVPAIRS})\x01")
_AUTH = re.compile(r"(?P<scheme>\w+) +(?P<token>[-_.a-zA-Z0-9]+)", re.ASCII)


class InvalidToken(Exception):
    """A token the validator refuses; ``scope`` is set when what is missing is a scope."""

    def __init__(self, reason: str, scope: str | None = None) -> None:
        super().__init__(reason)
        self.scope = scope


@dataclass(frozen=True)
class ValidToken:
    principal: str
    # The token's exp, in epoch milliseconds.
    expires_at_ms: int


def parse_client_first_message(message: bytes) -> tuple[str, str]:
    """(authorization id, token) of the client's first message; SaslAuthenticationError if malformed.

    Kafka raises a SaslException for these, answered with its generic failure message (no detail).
    """
    match = _CLIENT_FIRST.fullmatch(message.decode("utf-8", errors="replace"))
    if match is None:
        raise SaslAuthenticationError()
    pairs = dict(pair.split("=", 1) for pair in match["kvpairs"].split("\x01") if pair)
    auth = _AUTH.fullmatch(pairs.get("auth", ""))
    if auth is None or auth["scheme"].lower() != "bearer":
        raise SaslAuthenticationError()
    return match["authzid"] or "", auth["token"]


def _b64_json(segment: str) -> dict[str, Any]:
    """A JWT segment's JSON object; InvalidToken for bad base64url or JSON, or a non-object."""
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidToken("token segment is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken("token segment is not a JSON object")
    return value


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"the {name} claim is not a number")
    return float(value)


def _scopes(value: Any) -> set[str]:
    """A scope claim's scopes: a space-separated string or a list of strings."""
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()


@dataclass(frozen=True)
class UnsecuredValidator:
    """Kafka's OAuthBearerUnsecuredValidatorCallbackHandler."""

    principal_claim: str = "sub"
    scope_claim: str = "scope"
    required_scope: tuple[str, ...] = ()
    clock_skew_ms: int = 0

    def validate(self, token: str, now_ms: float) -> ValidToken:
        if ".." in token:
            raise InvalidToken("Malformed compact serialization contains '..'")
        splits = token.split(".")
        if len(splits) != 3:
            raise InvalidToken("Unsecured JWS compact serializations must have 3 dot-separated values")
        header, claims = _b64_json(splits[0]), _b64_json(splits[1])
        if header.get("alg") != "none":
            raise InvalidToken("Unsecured JWS must have 'none' for an algorithm")
        if splits[2]:
            raise InvalidToken("Unsecured JWS must not contain a digital signature")
        principal = claims.get(self.principal_claim)
        if not isinstance(principal, str) or not principal:
            raise InvalidToken(f"the {self.principal_claim} claim is missing or not a string")
        issued_at, expires = _number(claims, "iat"), _number(claims, "exp")
        if issued_at is not None and issued_at * 1000 > now_ms + self.clock_skew_ms:
            raise InvalidToken("the token was issued in the future")
        if expires is None:
            raise InvalidToken("no expiration time in the token")
        if now_ms - self.clock_skew_ms >= expires * 1000:
            raise InvalidToken("the token has expired")
        if issued_at is not None and expires <= issued_at:
            raise InvalidToken("the token expires before it was issued")
        missing = [s for s in self.required_scope if s not in _scopes(claims.get(self.scope_claim))]
        if missing:
            raise InvalidToken("the token lacks a required scope", scope=" ".join(self.required_scope))
        return ValidToken(principal, int(expires * 1000))


@dataclass(frozen=True)
class JwksValidator:
    """Kafka's OAuthBearerValidatorCallbackHandler over a JWKS file, with PyJWT."""

    jwks_path: Path
    sub_claim: str = "sub"
    audience: tuple[str, ...] = ()
    issuer: str | None = None
    clock_skew_s: int = DEFAULT_CLOCK_SKEW_S

    def validate(self, token: str, now_ms: float) -> ValidToken:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            declared, key = self._key(header.get("kid"))
            if algorithm not in SIGNED_ALGORITHMS or declared not in (algorithm, None):
                raise InvalidToken(f"algorithm {algorithm!r} is not accepted")
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=list(self.audience) or None,
                issuer=self.issuer,
                leeway=self.clock_skew_s,
                options={"require": ["exp", "iat"], "verify_aud": bool(self.audience)},
            )
        except (jwt.PyJWTError, ValueError, TypeError, OSError) as exc:
            raise InvalidToken(str(exc)) from None
        principal = claims.get(self.sub_claim)
        if not isinstance(principal, str) or not principal:
            raise InvalidToken(f"the {self.sub_claim} claim is missing or not a string")
        return ValidToken(principal, int(float(claims["exp"]) * 1000))

    def _key(self, kid: str | None) -> tuple[str | None, Any]:
        """(the ``alg`` it declares, the key) of the JWKS key named by ``kid`` (the only key when the
        token names none)."""
        keys = _jwks(self.jwks_path, self.jwks_path.stat().st_mtime_ns)
        matching = [k for k in keys if k[1].key_id == kid] if kid is not None else keys
        if len(matching) != 1:
            raise InvalidToken(f"no single JWKS key for kid {kid!r}")
        return matching[0]


@functools.lru_cache(maxsize=4)
def _jwks(path: Path, mtime_ns: int) -> list[tuple[str | None, Any]]:
    """The JWKS file's signature keys, each with the ``alg`` it declares, read again when the file
    changes (Kafka refreshes its JWKS too); keys PyJWT cannot use are skipped, as PyJWKSet does."""
    import jwt

    document = json.loads(path.read_text())
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no keys list)")
    keys = []
    for data in document["keys"]:
        try:
            keys.append((data.get("alg"), jwt.PyJWK(data)))
        except (jwt.PyJWKError, jwt.InvalidKeyError, AttributeError):
            continue
    if not keys:
        raise ValueError("the JWKS document has no usable key")
    return keys


Validator = UnsecuredValidator | JwksValidator


def check_listener(config: BrokerConfig, listener_name: str) -> None:
    """Start-up check: OAUTHBEARER on ``listener_name`` has a validator, and its JWKS file is usable."""
    validator = listener_validator(config, listener_name)
    if isinstance(validator, JwksValidator):
        path = validator.jwks_path
        try:
            _jwks(path, path.stat().st_mtime_ns)
        except Exception as exc:  # whatever makes the file unusable stops the start, and is named
            raise ConfigError(f"sasl.oauthbearer.jwks.endpoint.url: cannot load {path}: {exc}") from None


def listener_validator(config: BrokerConfig, listener_name: str) -> Validator:
    """The validator OAUTHBEARER uses on ``listener_name``; ConfigError when none can be set up."""
    def prop(name: str) -> str | None:
        return config.security_property(name, listener=listener_name, mechanism=MECHANISM)

    handler = prop("sasl.server.callback.handler.class")
    if handler not in (None, UNSECURED_HANDLER, JWKS_HANDLER):
        raise ConfigError(f"sasl.server.callback.handler.class={handler} is not supported for OAUTHBEARER")
    url = prop("sasl.oauthbearer.jwks.endpoint.url")
    if url is not None:
        audience = prop("sasl.oauthbearer.expected.audience") or ""
        return JwksValidator(
            _file_url(url),
            sub_claim=prop("sasl.oauthbearer.sub.claim.name") or "sub",
            audience=tuple(filter(None, (a.strip() for a in audience.split(",")))),
            issuer=prop("sasl.oauthbearer.expected.issuer") or None,
            clock_skew_s=_int_property("sasl.oauthbearer.clock.skew.seconds", prop, DEFAULT_CLOCK_SKEW_S),
        )
    if handler == JWKS_HANDLER:
        raise ConfigError(f"{JWKS_HANDLER} needs sasl.oauthbearer.jwks.endpoint.url (a file:// URL in kafkapy)")
    jaas = prop("sasl.jaas.config")
    if jaas is None:
        raise ConfigError(
            f"SASL mechanism OAUTHBEARER on listener {listener_name} has no validator: set"
            f" listener.name.{listener_name.lower()}.oauthbearer.sasl.jaas.config ({LOGIN_MODULE}, Kafka's unsecured"
            " validator) or sasl.oauthbearer.jwks.endpoint.url"
        )
    try:
        entry = parse_jaas(jaas)
    except ValueError as exc:
        raise ConfigError(f"invalid sasl.jaas.config for OAUTHBEARER: {exc}") from None
    if entry.login_module != LOGIN_MODULE:
        raise ConfigError(f"sasl.jaas.config for OAUTHBEARER names {entry.login_module}, not {LOGIN_MODULE}")
    options = entry.options
    return UnsecuredValidator(
        principal_claim=options.get("unsecuredValidatorPrincipalClaimName", "sub"),
        scope_claim=options.get("unsecuredValidatorScopeClaimName", "scope"),
        required_scope=tuple(options.get("unsecuredValidatorRequiredScope", "").split()),
        clock_skew_ms=_int_property("unsecuredValidatorAllowableClockSkewMs", options.get, 0),
    )


def _int_property(name: str, get: Any, default: int) -> int:
    value = get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"invalid {name}={value}: not an integer") from None
    if number < 0:
        raise ConfigError(f"invalid {name}={value}: must not be negative")
    return number


def _file_url(url: str) -> Path:
    """The path of a ``file://`` JWKS URL; ConfigError for any other scheme (kafkapy fetches no URLs)."""
    parsed = urlparse(url)
    if parsed.scheme != "file":
        raise ConfigError(
            f"sasl.oauthbearer.jwks.endpoint.url={url} is not supported: kafkapy reads a JWKS file (file:///path)"
        )
    return Path(url2pathname(parsed.path))


class OAuthBearerServer:
    """One OAUTHBEARER exchange: the client's token, and on failure the error challenge and its ^A."""

    mechanism = MECHANISM

    def __init__(self, broker: Broker, listener_name: str) -> None:
        self._validator = listener_validator(broker.config, listener_name)
        self._token: ValidToken | None = None
        self._error: str | None = None

    def evaluate_response(self, token: bytes) -> bytes:
        if self._error is not None:
            # The client has read our error challenge; a ^A (or anything else) ends the exchange.
            raise SaslAuthenticationError(self._error)
        if self._token is not None:
            raise SaslAuthenticationError("Authentication failed: OAUTHBEARER exchange already complete")
        authorization_id, value = parse_client_first_message(token)
        try:
            valid = self._validator.validate(value, time.time() * 1000)
        except InvalidToken as exc:
            self._error = _error_challenge(exc)
            return self._error.encode()
        if authorization_id and authorization_id != valid.principal:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id"
                f" ({authorization_id}) that is different from the token's principal name ({valid.principal})"
            )
        self._token = valid
        return b""

    @property
    def complete(self) -> bool:
        return self._token is not None

    @property
    def authorization_id(self) -> str:
        if self._token is None:
            raise RuntimeError("OAUTHBEARER authentication has not completed")
        return self._token.principal

    def session_lifetime_ms(self) -> int | None:
        if self._token is None:
            return None
        return max(0, self._token.expires_at_ms - int(time.time() * 1000))


def _error_challenge(exc: InvalidToken) -> str:
    """Kafka's jsonErrorResponse: the RFC 7628 status, and the scope a token lacked."""
    if exc.scope is None:
        return json.dumps({"status": INVALID_TOKEN}, separators=(",", ":"))
    return f'{{"status":"{INSUFFICIENT_SCOPE}", "scope":"{exc.scope}"}}'

