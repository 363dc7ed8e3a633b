"""The SCRAM-SHA-256 and SCRAM-SHA-512 SASL mechanisms (RFC 5802, RFC 7677), as Kafka's ScramSaslServer.

Two messages from the client: client-first (``n,,n=<user>,r=<client nonce>[,<ext>=<value>...]``),
answered with server-first (``r=<nonce>,s=<salt>,i=<iterations>``); client-final
(``c=biws,r=<nonce>,p=<proof>``), answered with server-final (``v=<server signature>``). Users and
their credentials come from ``broker.scram_credentials`` (kafkapy/security/scram_credentials.py).

Written on hashlib/hmac rather than scramp: Kafka's messages differ from what scramp parses in ways
clients see. Kafka takes usernames as sent (scramp SASLprep-maps them, so "ａlice" would be looked
up as "alice"), reads the ``tokenauth=true`` extension (scramp refuses multi-letter attributes before
its caller could), accepts an authzid equal to the username, and logs in users whatever the length
of the salt their admin client chose (scramp wants 12 bytes at least).

As Kafka: a wrong password, an unknown user, a delegation token (kafkapy has none) and any malformed
message all fail with the same message, so a client cannot tell which users exist; only GS2 channel
binding flag "n" is accepted (no channel binding: "y" and "p=" fail). Beyond Kafka, as RFC 5802
requires, the client-final's channel binding must be the client-first's GS2 header.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from enum import Enum
from typing import TYPE_CHECKING

from kafkapy.security.sasl_server import SaslAuthenticationError
from kafkapy.security.scram_credentials import SCRAM_SHA_256, SCRAM_SHA_512, ScramCredential, ScramMechanism

if TYPE_CHECKING:
    from kafkapy.broker import Broker
    from kafkapy.security.scram_credentials import ScramCredentialStore

# Kafka's ScramMessages patterns (Java's [a&&[^b]] classes spelled out as ranges).
_VALUE = r"[\x01-\x2b\x2d-\x7f]+"  # any 7-bit character but NUL and ","
_PRINTABLE = r"[\x21-\x2b\x2d-\x7e]+"  # printable ASCII but ","
_SASLNAME = r"(?:[\x01-\x2b\x2d-\x3c\x3e-\x7f]|=2C|=3D)+"  # "," and "=" only escaped
_BASE64 = r"(?:[a-zA-Z0-9/+]{4})*(?:[a-zA-Z0-9/+]{3}=|[a-zA-Z0-9/+]{2}==)?"
_EXTENSIONS = rf"(?P<extensions>(?:,[A-Za-z]+={_VALUE})*)"
_CLIENT_FIRST = re.compile(
    rf"(?P<gs2_header>n,(?:a=(?P<authzid>{_SASLNAME}))?,)"
    rf"(?P<bare>n=(?P<saslname>{_SASLNAME}),r=(?P<nonce>{_PRINTABLE}){_EXTENSIONS})"
)
_CLIENT_FINAL = re.compile(
    rf"(?P<without_proof>c=(?P<channel>{_BASE64}),r=(?P<nonce>{_PRINTABLE}){_EXTENSIONS}),p=(?P<proof>{_BASE64})"
)

# Kafka's ScramLoginModule.TOKEN_AUTH_CONFIG: the client authenticates with a delegation token.
TOKEN_AUTH_EXTENSION = "tokenauth"
AUTHZID_MISMATCH = "Authentication failed: Client requested an authorization id that is different from username"
# Kafka's ScramFormatter.secureRandomString is ~26 characters of base 36: as many random bits.
SERVER_NONCE_BYTES = 18


class _State(Enum):
    """Kafka's ScramSaslServer.State."""

    RECEIVE_CLIENT_FIRST_MESSAGE = "RECEIVE_CLIENT_FIRST_MESSAGE"
    RECEIVE_CLIENT_FINAL_MESSAGE = "RECEIVE_CLIENT_FINAL_MESSAGE"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


class _InvalidCredentials(Exception):
    """Kafka's SaslException: answered with Kafka's generic invalid-credentials message, whatever the cause."""


class ScramServer:
    """One SCRAM exchange on one connection (a SaslServer)."""

    def __init__(self, mechanism: ScramMechanism, credentials: ScramCredentialStore) -> None:
        self.mechanism = mechanism.name
        self._scram = mechanism
        self._credentials = credentials
        self._state = _State.RECEIVE_CLIENT_FIRST_MESSAGE
        self._username = ""
        # Set by the client-first message, for the client-final one.
        self._credential: ScramCredential | None = None
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""

    def evaluate_response(self, token: bytes) -> bytes:
        """The client's next message in, the server's next one out; SaslAuthenticationError when it fails."""
        try:
            if self._state is _State.RECEIVE_CLIENT_FIRST_MESSAGE:
                challenge = self._client_first(_text(token))
                self._state = _State.RECEIVE_CLIENT_FINAL_MESSAGE
            elif self._state is _State.RECEIVE_CLIENT_FINAL_MESSAGE:
                challenge = self._client_final(_text(token))
                self._state = _State.COMPLETE
            else:
                raise SaslAuthenticationError(f"Unexpected challenge in Sasl server state {self._state.value}")
        except _InvalidCredentials:
            self._fail()
            # No message: SaslAuthenticate answers Kafka's generic "Authentication failed during
            # [re-]authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512".
            raise SaslAuthenticationError() from None
        except SaslAuthenticationError:
            self._fail()
            raise
        return challenge

    def _fail(self) -> None:
        self._credential = None
        self._state = _State.FAILED

    def _client_first(self, message: str) -> bytes:
        first = _CLIENT_FIRST.fullmatch(message)
        if first is None:
            raise _InvalidCredentials("invalid SCRAM client first message format")
        self._username = _unescape(first["saslname"])
        if _extensions(first["extensions"]).get(TOKEN_AUTH_EXTENSION, "").lower() == "true":
            # Every token id is unknown to a broker without delegation tokens (Kafka: "Token
            # Authentication failed: Invalid tokenId"), a SaslException like a wrong password.
            raise _InvalidCredentials("delegation tokens are not supported")
        credential = self._credentials.get(self._username, self.mechanism)
        if credential is None:
            raise _InvalidCredentials("unknown user")
        authzid = first["authzid"]
        if authzid is not None and _unescape(authzid) != self._username:
            raise SaslAuthenticationError(AUTHZID_MISMATCH)
        if credential.iterations < self._scram.min_iterations:
            raise _InvalidCredentials("too few iterations")
        self._credential = credential
        self._gs2_header = first["gs2_header"]
        self._client_first_bare = first["bare"]
        self._nonce = first["nonce"] + secrets.token_urlsafe(SERVER_NONCE_BYTES)
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        return self._server_first.encode()

    def _client_final(self, message: str) -> bytes:
        final = _CLIENT_FINAL.fullmatch(message)
        credential = self._credential
        if final is None or credential is None:
            raise _InvalidCredentials("invalid SCRAM client final message format")
        if final["nonce"] != self._nonce:
            raise _InvalidCredentials("invalid client nonce in the final client message")
        if _b64decode(final["channel"]) != self._gs2_header.encode():
            raise _InvalidCredentials("channel binding differs from the GS2 header")
        auth_message = f"{self._client_first_bare},{self._server_first},{final['without_proof']}".encode()
        client_signature = self._scram.hmac(credential.stored_key, auth_message)
        proof = _b64decode(final["proof"])
        if len(proof) != len(client_signature):
            raise _InvalidCredentials("client proof of the wrong length")
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        if not hmac.compare_digest(self._scram.hash(client_key), credential.stored_key):
            raise _InvalidCredentials("invalid client credentials")
        server_signature = self._scram.hmac(credential.server_key, auth_message)
        self._credential = None
        return b"v=" + base64.b64encode(server_signature)

    @property
    def complete(self) -> bool:
        return self._state is _State.COMPLETE

    @property
    def authorization_id(self) -> str:
        return self._username

    def session_lifetime_ms(self) -> int | None:
        """SCRAM credentials do not expire (only a delegation token's would)."""
        return None


class ScramSha256Server(ScramServer):
    def __init__(self, broker: Broker, listener_name: str) -> None:
        super().__init__(SCRAM_SHA_256, broker.scram_credentials)


class ScramSha512Server(ScramServer):
    def __init__(self, broker: Broker, listener_name: str) -> None:
        super().__init__(SCRAM_SHA_512, broker.scram_credentials)


def _text(token: bytes) -> str:
    """A SCRAM message: 7-bit text (Kafka's patterns match nothing else)."""
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:
        raise _InvalidCredentials("not ASCII") from None


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise _InvalidCredentials("bad base64") from None


def _unescape(saslname: str) -> str:
    """Kafka's ScramFormatter.username: the saslname's "=2C" and "=3D" escapes undone."""
    return saslname.replace("=2C", ",").replace("=3D", "=")


def _extensions(text: str) -> dict[str, str]:
    """``,key=value,...`` as matched by _EXTENSIONS."""
    pairs = (item.partition("=") for item in text.split(",")[1:])
    return {key: value for key, _, value in pairs}
