"""SCRAM credentials (RFC 5802): what SCRAM-SHA-256/512 logins are checked against, never a password.

A credential is Kafka's ScramCredential: salt, iteration count, stored key H(HMAC(salted password,
"Client Key")) and server key HMAC(salted password, "Server Key"). AlterUserScramCredentials (51)
upserts and deletes them and DescribeUserScramCredentials (50) lists them, as Kafka's controller
does; the SCRAM mechanisms (kafkapy/security/scram.py) read them.

Credentials altered through the API are kept in ``scram-credentials.json`` in the data dir (written
whole, fsynced and renamed, like topic-configs.json; a damaged file is logged and the broker starts
without them); with ``--storage memory`` that file lives in the in-memory file system. The users of
``kafkapy.sasl.users`` get credentials for both mechanisms at start-up, made from their passwords
and never written anywhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkapy.storage.fs import FileSystem
from kafkapy.storage.log_manager import read_json_object

log = logging.getLogger("kafkapy.security")

CREDENTIALS_FILE = "scram-credentials.json"


@dataclass(frozen=True)
class ScramMechanism:
    """Kafka's org.apache.kafka.common.security.scram.internals.ScramMechanism (and the admin ScramMechanism code)."""

    name: str
    # The int8 the SCRAM APIs carry (Kafka's ScramMechanism.type()).
    type: int
    hash_name: str
    # Kafka's ScramMechanism.minIterations / maxIterations.
    min_iterations: int = 4096
    max_iterations: int = 16384

    def salted_password(self, password: str, salt: bytes, iterations: int) -> bytes:
        """Hi(password, salt, i) of RFC 5802; the password as UTF-8 without SASLprep, as Kafka's ScramFormatter."""
        return hashlib.pbkdf2_hmac(self.hash_name, password.encode("utf-8"), salt, iterations)

    def hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.hash_name).digest()

    def hash(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_name, data).digest()

    def credential(self, salt: bytes, salted_password: bytes, iterations: int) -> ScramCredential:
        """The stored form of a salted password (Kafka's ScramFormatter.generateCredential)."""
        stored_key = self.hash(self.hmac(salted_password, b"Client Key"))
        server_key = self.hmac(salted_password, b"Server Key")
        return ScramCredential(salt, stored_key, server_key, iterations)


SCRAM_SHA_256 = ScramMechanism("SCRAM-SHA-256", 1, "sha256")
SCRAM_SHA_512 = ScramMechanism("SCRAM-SHA-512", 2, "sha512")
SCRAM_MECHANISMS = {m.name: m for m in (SCRAM_SHA_256, SCRAM_SHA_512)}
MECHANISM_BY_TYPE = {m.type: m for m in (SCRAM_SHA_256, SCRAM_SHA_512)}

# Salt length of the credentials made for kafkapy.sasl.users (Kafka's ScramFormatter uses a random
# string of ~26 characters; 32 random bytes are at least as good).
SALT_BYTES = 32


@dataclass(frozen=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def to_json(self) -> dict[str, Any]:
        encode = base64.b64encode
        return {
            "salt": encode(self.salt).decode(),
            "stored_key": encode(self.stored_key).decode(),
            "server_key": encode(self.server_key).decode(),
            "iterations": self.iterations,
        }

    @classmethod
    def from_json(cls, value: Any) -> ScramCredential:
        """ValueError (or KeyError, TypeError) if ``value`` is not what ``to_json`` writes."""
        iterations = value["iterations"]
        if type(iterations) is not int:
            raise ValueError("iterations is not an integer")
        decode = _b64decode
        return cls(decode(value["salt"]), decode(value["stored_key"]), decode(value["server_key"]), iterations)


def _b64decode(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


class ScramCredentialStore:
    """Every user's SCRAM credential per mechanism: the configured users', then the stored ones over them."""

    def __init__(self, path: Path, fs: FileSystem) -> None:
        self._path = path
        self._fs = fs
        self._credentials: dict[tuple[str, str], ScramCredential] = {}
        # The credentials AlterUserScramCredentials set: the ones written to the file.
        self._stored: dict[tuple[str, str], ScramCredential] = {}

    @classmethod
    def open(cls, data_dir: Path, fs: FileSystem, users: dict[str, str]) -> ScramCredentialStore:
        """The store of a broker: ``users`` (name -> password) for both mechanisms, then the file's."""
        store = cls(data_dir / CREDENTIALS_FILE, fs)
        for user, password in users.items():
            for mechanism in SCRAM_MECHANISMS.values():
                salt = secrets.token_bytes(SALT_BYTES)
                iterations = mechanism.min_iterations
                salted = mechanism.salted_password(password, salt, iterations)
                store._credentials[user, mechanism.name] = mechanism.credential(salt, salted, iterations)
        store._stored = store._read()
        store._credentials.update(store._stored)
        return store

    def _read(self) -> dict[tuple[str, str], ScramCredential]:
        """The file's credentials; a damaged file (or entry) is logged and skipped, never fatal."""
        if not self._fs.exists(self._path):
            return {}
        stored = read_json_object(self._fs, self._path, "SCRAM credentials set by AlterUserScramCredentials are lost")
        out = {}
        for user, mechanisms in stored.items():
            if not isinstance(mechanisms, dict):
                log.warning("SCRAM credentials not an object; user skipped", extra={"path": self._path, "user": user})
                continue
            for name, value in mechanisms.items():
                try:
                    if name not in SCRAM_MECHANISMS:
                        raise ValueError(f"unknown mechanism {name!r}")
                    out[user, name] = ScramCredential.from_json(value)
                except (ValueError, KeyError, TypeError) as exc:
                    extra = {"path": self._path, "user": user, "mechanism": name, "error": exc}
                    log.warning("unreadable SCRAM credential; skipped", extra=extra)
        return out

    def _write(self, stored: dict[tuple[str, str], ScramCredential]) -> None:
        users: dict[str, dict[str, Any]] = {}
        for (user, mechanism), credential in sorted(stored.items()):
            users.setdefault(user, {})[mechanism] = credential.to_json()
        self._fs.write_text(self._path, json.dumps(users, indent=2, sort_keys=True) + "\n")

    def get(self, user: str, mechanism: str) -> ScramCredential | None:
        return self._credentials.get((user, mechanism))

    def users(self) -> list[str]:
        """Every user with a credential, each once, in name order."""
        return sorted({user for user, _ in self._credentials})

    def mechanisms(self, user: str) -> list[tuple[ScramMechanism, ScramCredential]]:
        """The user's credentials, SCRAM-SHA-256 first."""
        found = ((m, self._credentials.get((user, m.name))) for m in SCRAM_MECHANISMS.values())
        return [(m, credential) for m, credential in found if credential is not None]

    def alter(
        self, upsertions: dict[tuple[str, str], ScramCredential], deletions: set[tuple[str, str]]
    ) -> None:
        """Apply one AlterUserScramCredentials' checked changes: the file is written (once) before
        memory changes, so an answer never reports a change a restart would lose."""
        stored = {key: value for key, value in self._stored.items() if key not in deletions}
        stored.update(upsertions)
        self._write(stored)
        self._stored = stored
        for key in deletions:
            self._credentials.pop(key, None)
        self._credentials.update(upsertions)
