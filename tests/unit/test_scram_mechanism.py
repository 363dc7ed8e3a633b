"""The SCRAM-SHA-256/512 mechanisms and their credential store, driven by scramp's client (an independent
SCRAM implementation) and by hand-made hostile messages."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
import scramp

from kafkapy.security.sasl_server import SaslAuthenticationError, server_factory
from kafkapy.security.scram import AUTHZID_MISMATCH, ScramServer
from kafkapy.security.scram_credentials import (
    CREDENTIALS_FILE,
    SCRAM_MECHANISMS,
    SCRAM_SHA_256,
    SCRAM_SHA_512,
    ScramCredentialStore,
    ScramMechanism,
)
from kafkapy.storage.fs import DISK, FileSystem, MemoryFS

DATA = Path("/data")
MECHANISMS = list(SCRAM_MECHANISMS.values())
IDS = [m.name for m in MECHANISMS]
# scramp's client wants 12 bytes of salt at least; Kafka takes any.
SALT = b"0123456789abcdef"


# A wrong password, an unknown user or a malformed message: no message of the mechanism's own, so
# SaslAuthenticate answers Kafka's generic one (tests/integration/test_scram.py checks it on the wire).
INVALID = ""


def memory_fs() -> MemoryFS:
    """An in-memory file system holding the data dir (the broker's LogManager makes it)."""
    fs = MemoryFS()
    fs.makedirs(DATA)
    return fs


@pytest.fixture
def store() -> ScramCredentialStore:
    return ScramCredentialStore.open(DATA, memory_fs(), {"alice": "alice-secret", "a,b=c": "odd-secret"})


def login(store: ScramCredentialStore, mechanism: ScramMechanism, user: str, password: str) -> ScramServer:
    """A whole exchange with scramp's client; the server's final message is checked by the client."""
    client = scramp.ScramClient([mechanism.name], user, password)
    server = ScramServer(mechanism, store)
    client.set_server_first(server.evaluate_response(client.get_client_first().encode()).decode())
    assert not server.complete
    client.set_server_final(server.evaluate_response(client.get_client_final().encode()).decode())
    return server


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=IDS)
def test_the_right_password_logs_in(store: ScramCredentialStore, mechanism: ScramMechanism) -> None:
    server = login(store, mechanism, "alice", "alice-secret")
    assert server.complete and server.authorization_id == "alice" and server.session_lifetime_ms() is None


def test_escaped_usernames_are_unescaped(store: ScramCredentialStore) -> None:
    """"," and "=" travel as "=2C" and "=3D" (RFC 5802 saslname)."""
    assert login(store, SCRAM_SHA_512, "a,b=c", "odd-secret").authorization_id == "a,b=c"


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=IDS)
@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("mallory", "alice-secret")])
def test_a_bad_password_and_an_unknown_user_get_the_same_answer(
    store: ScramCredentialStore, mechanism: ScramMechanism, user: str, password: str
) -> None:
    """No user enumeration: an unknown user fails exactly as a wrong password."""
    with pytest.raises(SaslAuthenticationError) as failure:
        login(store, mechanism, user, password)
    assert str(failure.value) == INVALID


def test_the_mechanisms_do_not_share_credentials() -> None:
    """A user with only a SCRAM-SHA-256 credential cannot log in with SCRAM-SHA-512."""
    store = ScramCredentialStore.open(DATA, memory_fs(), {})
    store.alter({("bob", SCRAM_SHA_256.name): _credential(SCRAM_SHA_256, "bob-secret", SALT, 8192)}, set())
    assert login(store, SCRAM_SHA_256, "bob", "bob-secret").complete
    with pytest.raises(SaslAuthenticationError):
        login(store, SCRAM_SHA_512, "bob", "bob-secret")


def _credential(mechanism: ScramMechanism, password: str, salt: bytes, iterations: int):  # noqa: ANN202
    return mechanism.credential(salt, mechanism.salted_password(password, salt, iterations), iterations)


def first(server: ScramServer, message: str) -> str:
    return server.evaluate_response(message.encode()).decode()


def fails_with(server: ScramServer, message: bytes, expected: str) -> None:
    with pytest.raises(SaslAuthenticationError) as failure:
        server.evaluate_response(message)
    assert str(failure.value) == expected
    # A failed exchange stays failed: nothing more is evaluated.
    with pytest.raises(SaslAuthenticationError, match="Unexpected challenge in Sasl server state FAILED"):
        server.evaluate_response(b"n,,n=alice,r=abc")


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"n,,n=alice",  # no nonce
        b"y,,n=alice,r=abc",  # client supports channel binding: only "n" (none) is accepted, as Kafka
        b"p=tls-unique,,n=alice,r=abc",
        b"n,,m=ext,n=alice,r=abc",  # the reserved "m" attribute
        b"n,,n=al=ice,r=abc",  # "=" not escaped
        b"n,,n=,r=abc",  # empty name
        b"n,,n=alice,r=a,b",  # "," in the nonce
        b"n,,n=alice,r=abc,tokenauth=true",  # a delegation token: kafkapy has none, every token id is unknown
        b"n,,n=alice,r=abc,x=1,tokenauth=True",  # the key is case-sensitive, the value not (Kafka)
        "n,,n=álice,r=abc".encode(),  # Kafka's saslname is 7-bit
        b"n,,n=alice,r=\xff\xfe",
        b"n,,n=alice,r=" + b"x" * 1_000_000 + b",bad",  # huge and malformed
        b"\x00" * 100_000,
    ],
)
def test_a_malformed_first_message_fails_like_a_bad_password(store: ScramCredentialStore, message: bytes) -> None:
    fails_with(ScramServer(SCRAM_SHA_512, store), message, INVALID)


def test_unknown_extensions_are_ignored(store: ScramCredentialStore) -> None:
    """As Kafka ("Unsupported extensions will be ignored"), and tokenauth=false is no token."""
    server = ScramServer(SCRAM_SHA_256, store)
    assert first(server, "n,,n=alice,r=abc,tokenauth=false,TOKENAUTH=true").startswith("r=abc")


def test_an_authzid_must_be_the_username(store: ScramCredentialStore) -> None:
    """Kafka accepts an authorization id equal to the username and refuses another, with its own message."""
    assert first(ScramServer(SCRAM_SHA_256, store), "n,a=alice,n=alice,r=abc").startswith("r=abc")
    fails_with(ScramServer(SCRAM_SHA_256, store), b"n,a=bob,n=alice,r=abc", AUTHZID_MISMATCH)


def test_the_server_first_message(store: ScramCredentialStore) -> None:
    """The client's nonce extended by the server's, the user's salt and iterations (4096 for kafkapy.sasl.users)."""
    reply = first(ScramServer(SCRAM_SHA_512, store), "n,,n=alice,r=clientnonce")
    nonce, salt, iterations = (part.split("=", 1)[1] for part in reply.split(","))
    assert nonce.startswith("clientnonce") and len(nonce) > len("clientnonce") + 16
    assert base64.b64decode(salt) == store.get("alice", SCRAM_SHA_512.name).salt
    assert iterations == "4096"
    # Each exchange gets its own server nonce.
    assert first(ScramServer(SCRAM_SHA_512, store), "n,,n=alice,r=clientnonce") != reply


def _final(store: ScramCredentialStore, edit) -> tuple[ScramServer, bytes]:  # noqa: ANN001
    """A server past a genuine first message, and the genuine client-final message rewritten by ``edit``."""
    client = scramp.ScramClient([SCRAM_SHA_512.name], "alice", "alice-secret")
    server = ScramServer(SCRAM_SHA_512, store)
    client.set_server_first(server.evaluate_response(client.get_client_first().encode()).decode())
    return server, edit(client.get_client_final()).encode()


def _proof(message: str, proof: bytes) -> str:
    return message[: message.index(",p=")] + ",p=" + base64.b64encode(proof).decode()


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.replace("r=", "r=x", 1),  # nonce not the server's
        lambda m: m.replace("c=biws", "c=eSws"),  # channel binding "y,," instead of the "n,," sent
        lambda m: m.replace("c=biws", "c=!!!!"),  # bad base64
        lambda m: m[: m.index(",p=")] + ",p=@@@@",
        lambda m: _proof(m, b"\x00" * 64),  # wrong proof
        lambda m: _proof(m, b"\x00" * 63),  # proof of the wrong length
        lambda m: _proof(m, b"\x00" * 1_000_000),
        lambda m: m[: m.index(",p=")],  # no proof
        lambda m: "",
        lambda m: m + "x" * 100_000,
    ],
    ids=["nonce", "channel-binding", "bad-base64-channel", "bad-base64-proof", "wrong-proof", "short-proof",
         "huge-proof", "no-proof", "empty", "trailing-junk"],
)  # fmt: skip
def test_a_bad_final_message_fails(store: ScramCredentialStore, edit) -> None:  # noqa: ANN001
    server, message = _final(store, edit)
    fails_with(server, message, INVALID)
    assert not server.complete


def test_a_completed_exchange_takes_no_more_messages(store: ScramCredentialStore) -> None:
    server = login(store, SCRAM_SHA_256, "alice", "alice-secret")
    with pytest.raises(SaslAuthenticationError, match="Unexpected challenge in Sasl server state COMPLETE"):
        server.evaluate_response(b"n,,n=alice,r=abc")


def test_the_factories_are_the_mechanism_table_entries(store: ScramCredentialStore) -> None:
    """sasl_server.MECHANISMS names them; a factory takes (broker, listener name) and reads the broker's store."""

    class FakeBroker:
        scram_credentials = store

    for mechanism in MECHANISMS:
        server = server_factory(mechanism.name)(FakeBroker(), "SASL_PLAINTEXT")  # type: ignore[arg-type]
        assert server.mechanism == mechanism.name
        assert first(server, "n,,n=alice,r=abc").startswith("r=abc")  # type: ignore[arg-type]


# The credential store.


def test_configured_users_get_both_mechanisms_and_are_never_written(tmp_path: Path) -> None:
    store = ScramCredentialStore.open(tmp_path, DISK, {"alice": "alice-secret"})
    assert [(m.name, c.iterations) for m, c in store.mechanisms("alice")] == [
        ("SCRAM-SHA-256", 4096),
        ("SCRAM-SHA-512", 4096),
    ]
    assert not (tmp_path / CREDENTIALS_FILE).exists()


@pytest.mark.parametrize("fs", [DISK, MemoryFS()], ids=["disk", "memory"])
def test_altered_credentials_survive_a_reopen(tmp_path: Path, fs: FileSystem) -> None:
    fs.makedirs(tmp_path)
    store = ScramCredentialStore.open(tmp_path, fs, {"alice": "alice-secret"})
    store.alter({("bob", SCRAM_SHA_512.name): _credential(SCRAM_SHA_512, "bob-secret", SALT, 10_000)}, set())
    store.alter({}, {("alice", SCRAM_SHA_256.name)})
    store.alter({("alice", SCRAM_SHA_512.name): _credential(SCRAM_SHA_512, "new-secret", SALT, 4096)}, set())
    reopened = ScramCredentialStore.open(tmp_path, fs, {"alice": "alice-secret"})
    assert login(reopened, SCRAM_SHA_512, "bob", "bob-secret").complete
    assert login(reopened, SCRAM_SHA_512, "alice", "new-secret").complete
    # kafkapy.sasl.users declares alice again at start-up: her deleted SCRAM-SHA-256 credential is back.
    assert login(reopened, SCRAM_SHA_256, "alice", "alice-secret").complete
    text = fs.read_text(tmp_path / CREDENTIALS_FILE)
    assert "secret" not in text and set(json.loads(text)) == {"alice", "bob"}
    assert reopened.users() == ["alice", "bob"]


KEYS = {"stored_key": "", "server_key": ""}


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b"[" * 100_000,
        json.dumps({"bob": "nope"}).encode(),
        json.dumps({"bob": {"SCRAM-SHA-1": {}}}).encode(),
        json.dumps({"bob": {"SCRAM-SHA-512": {**KEYS, "salt": "!!", "iterations": 4096}}}).encode(),
        json.dumps({"bob": {"SCRAM-SHA-512": {**KEYS, "salt": "", "iterations": "4096"}}}).encode(),
        json.dumps({"bob": {"SCRAM-SHA-512": {"salt": "", "iterations": 4096}}}).encode(),
    ],
)  # fmt: skip
def test_a_damaged_file_is_logged_and_the_store_still_opens(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / CREDENTIALS_FILE).write_bytes(content)
    with caplog.at_level(logging.WARNING):
        store = ScramCredentialStore.open(tmp_path, DISK, {"alice": "alice-secret"})
    assert store.users() == ["alice"] and store.get("bob", SCRAM_SHA_512.name) is None
    assert caplog.records


def test_a_damaged_entry_does_not_lose_the_others(tmp_path: Path) -> None:
    good = ScramCredentialStore.open(tmp_path, DISK, {})
    good.alter({("bob", SCRAM_SHA_512.name): _credential(SCRAM_SHA_512, "bob-secret", SALT, 4096)}, set())
    stored = json.loads((tmp_path / CREDENTIALS_FILE).read_text())
    stored["carol"] = {"SCRAM-SHA-256": {"salt": 1}}
    (tmp_path / CREDENTIALS_FILE).write_text(json.dumps(stored))
    assert ScramCredentialStore.open(tmp_path, DISK, {}).users() == ["bob"]
