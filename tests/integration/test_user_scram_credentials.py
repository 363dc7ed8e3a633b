"""DescribeUserScramCredentials (50) and AlterUserScramCredentials (51) from real clients over TCP.

The wire answers (test_*_as_kafka) were run once against Apache Kafka 4.3.1 too
(compat_tests/reference_kafka.py, calling the scripts with its bootstrap): the same codes and messages.
A credential set by a client is then checked by logging in with scramp's SCRAM client against the
running broker's store (the SASL door that takes logins over the wire is the `sasl` part of issue #14).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from confluent_kafka.admin import ScramMechanism as ConfluentScramMechanism
from kafka.admin import KafkaAdminClient
from kafka.admin import ScramMechanism as KafkaPythonScramMechanism
from kafka.admin import UserScramCredentialDeletion as KpDeletion
from kafka.admin import UserScramCredentialUpsertion as KpUpsertion

from kafkapy.acl import allow_everything
from kafkapy.broker import Broker
from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from kafkapy.security.sasl_server import SaslAuthenticationError
from kafkapy.security.scram_credentials import CREDENTIALS_FILE, SCRAM_SHA_256, SCRAM_SHA_512, ScramCredentialStore
from kafkapy.testing import KafkaBroker
from tests.broker_process import REPO_ROOT, BrokerProcess
from tests.integration.clientutil import base_conf
from tests.unit.test_scram_mechanism import login

TIMEOUT = 30
SHA_256, SHA_512 = SCRAM_SHA_256.type, SCRAM_SHA_512.type
DUPLICATE = (ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request")
NOT_FOUND = (ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist")
UNKNOWN_MECHANISM = (ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism")
EMPTY_USER = (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty")
OK = (ErrorCode.NONE, None)
DESCRIBE_NOT_FOUND = "Attempt to describe a user credential that does not exist: "
JAVA_LIB = REPO_ROOT / "compat_tests" / "apache-kafka" / "target" / "lib"


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaBroker]:
    with KafkaBroker(in_process=True, config={"kafkapy.sasl.users": "alice:alice-secret"}) as kafka:
        yield kafka


@pytest.fixture
def store(kafka: KafkaBroker) -> ScramCredentialStore:
    """The running broker's credentials (in-process: the same object the mechanisms read)."""
    broker: Broker = kafka._thread._broker  # type: ignore[union-attr]
    return broker.scram_credentials


def upsertion(name: str, mechanism: int = SHA_512, iterations: int = 4096, salted: bytes = b"p" * 64) -> dict:
    salt = b"s" * 20
    return {"name": name, "mechanism": mechanism, "iterations": iterations, "salt": salt, "salted_password": salted}


def deletion(name: str, mechanism: int = SHA_512) -> dict:
    return {"name": name, "mechanism": mechanism}


def alter(bootstrap: str, deletions: list[dict] = (), upsertions: list[dict] = ()) -> dict[str, tuple]:  # type: ignore[assignment]
    with WireClient.connect(bootstrap) as client:
        body = {"deletions": list(deletions), "upsertions": list(upsertions)}
        response = client.request(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, 0, body)
    return {r.user: (r.error_code, r.error_message) for r in response.results}


def describe(bootstrap: str, users: list[str] | None) -> dict[str, tuple]:
    with WireClient.connect(bootstrap) as client:
        body = {"users": None if users is None else [{"name": user} for user in users]}
        response = client.request(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, 0, body)
    assert (response.error_code, response.error_message) == (ErrorCode.NONE, "")
    return {
        r.user: (r.error_code, r.error_message, [(c.mechanism, c.iterations) for c in r.credential_infos])
        for r in response.results
    }


def alter_as_kafka(bootstrap: str) -> None:
    """Kafka 4.3.1's ScramControlManager answers, case by case (users unique to this script)."""
    assert alter(bootstrap, upsertions=[upsertion("w-ann")]) == {"w-ann": OK}
    too_few, too_many = upsertion("w-bob", SHA_256, 4095), upsertion("w-bob", SHA_256, 16385)
    unacceptable = ErrorCode.UNACCEPTABLE_CREDENTIAL
    assert alter(bootstrap, upsertions=[too_few]) == {"w-bob": (unacceptable, "Too few iterations")}
    assert alter(bootstrap, upsertions=[too_many]) == {"w-bob": (unacceptable, "Too many iterations")}
    assert alter(bootstrap, upsertions=[upsertion("w-bob", 3)]) == {"w-bob": UNKNOWN_MECHANISM}
    assert alter(bootstrap, deletions=[deletion("w-bob", 0)]) == {"w-bob": UNKNOWN_MECHANISM}
    # The name is checked before the mechanism.
    assert alter(bootstrap, upsertions=[upsertion("", 0)]) == {"": EMPTY_USER}
    assert alter(bootstrap, deletions=[deletion("")]) == {"": EMPTY_USER}
    # One change per user and request, whatever the mechanisms: Kafka's own kafka-configs.sh hits this
    # with --add-config 'SCRAM-SHA-512=[...],SCRAM-SHA-256=[...]'.
    both = [upsertion("w-cat", SHA_256), upsertion("w-cat", SHA_512)]
    assert alter(bootstrap, upsertions=both) == {"w-cat": DUPLICATE}
    assert alter(bootstrap, upsertions=[upsertion("w-cat")] * 3) == {"w-cat": DUPLICATE}
    assert alter(bootstrap, deletions=[deletion("w-ann")], upsertions=[upsertion("w-ann", SHA_256)]) == {
        "w-ann": DUPLICATE
    }
    # Deleting what the user lacks: RESOURCE_NOT_FOUND, and the same user's upsertion is not applied.
    assert alter(bootstrap, deletions=[deletion("w-ann", SHA_256)], upsertions=[upsertion("w-ann", SHA_256)]) == {
        "w-ann": NOT_FOUND
    }
    # Other users' changes apply; an empty salted password is Kafka's UNKNOWN_SERVER_ERROR (its HMAC refuses it).
    mixed = alter(
        bootstrap,
        deletions=[deletion("w-nobody")],
        upsertions=[upsertion("w-dan", SHA_256, 16384), upsertion("w-eve", salted=b""), upsertion("w-fay", SHA_256)],
    )
    assert mixed == {"w-nobody": NOT_FOUND, "w-dan": OK, "w-eve": (ErrorCode.UNKNOWN_SERVER_ERROR, None), "w-fay": OK}
    assert alter(bootstrap, deletions=[deletion("w-fay", SHA_256)]) == {"w-fay": OK}
    assert describe(bootstrap, ["w-ann", "w-dan", "w-eve", "w-fay"]) == {
        "w-ann": (ErrorCode.NONE, "", [(SHA_512, 4096)]),
        "w-dan": (ErrorCode.NONE, "", [(SHA_256, 16384)]),
        "w-eve": (ErrorCode.RESOURCE_NOT_FOUND, DESCRIBE_NOT_FOUND + "w-eve", []),
        "w-fay": (ErrorCode.RESOURCE_NOT_FOUND, DESCRIBE_NOT_FOUND + "w-fay", []),
    }


def describe_as_kafka(bootstrap: str) -> None:
    assert alter(bootstrap, upsertions=[upsertion("d-ann")]) == {"d-ann": OK}
    assert alter(bootstrap, upsertions=[upsertion("d-ann", SHA_256, 8192)]) == {"d-ann": OK}
    assert describe(bootstrap, ["d-ann", "d-nobody", "d-ann", ""]) == {
        "d-ann": (
            ErrorCode.DUPLICATE_RESOURCE,
            "Cannot describe SCRAM credentials for the same user twice in a single request: d-ann",
            [],
        ),
        "d-nobody": (ErrorCode.RESOURCE_NOT_FOUND, DESCRIBE_NOT_FOUND + "d-nobody", []),
        "": (ErrorCode.RESOURCE_NOT_FOUND, DESCRIBE_NOT_FOUND, []),
    }
    assert describe(bootstrap, ["d-ann"]) == {"d-ann": (ErrorCode.NONE, "", [(SHA_256, 8192), (SHA_512, 4096)])}
    # Null and empty both describe every user.
    assert describe(bootstrap, None)["d-ann"] == describe(bootstrap, [])["d-ann"]


def test_alter_answers_as_kafka(kafka: KafkaBroker) -> None:
    alter_as_kafka(kafka.bootstrap_servers)


def test_describe_answers_as_kafka(kafka: KafkaBroker) -> None:
    describe_as_kafka(kafka.bootstrap_servers)


def test_configured_users_have_both_mechanisms(kafka: KafkaBroker) -> None:
    """kafkapy.sasl.users: credentials for both mechanisms at 4096 iterations (Kafka's minimum)."""
    assert describe(kafka.bootstrap_servers, ["alice"]) == {"alice": (0, "", [(SHA_256, 4096), (SHA_512, 4096)])}
    assert "alice" in describe(kafka.bootstrap_servers, None)


def test_a_credential_altered_by_the_wire_logs_in(kafka: KafkaBroker, store: ScramCredentialStore) -> None:
    """The broker keeps what the client salted: the password it was salted from logs in, another does not."""
    salt = b"wire-salt-0123456"
    salted = SCRAM_SHA_256.salted_password("wire-secret", salt, 5000)
    body = {**upsertion("w-login", SHA_256, 5000), "salt": salt, "salted_password": salted}
    assert alter(kafka.bootstrap_servers, upsertions=[body]) == {"w-login": OK}
    assert login(store, SCRAM_SHA_256, "w-login", "wire-secret").complete
    with pytest.raises(SaslAuthenticationError):
        login(store, SCRAM_SHA_256, "w-login", "other-secret")


def test_confluent_kafka_admin_client(kafka: KafkaBroker, store: ScramCredentialStore) -> None:
    admin = AdminClient(base_conf(kafka.bootstrap_servers))
    info = ScramCredentialInfo(ConfluentScramMechanism.SCRAM_SHA_512, 8192)
    futures = admin.alter_user_scram_credentials([UserScramCredentialUpsertion("ck-user", info, b"ck-secret")])
    assert futures["ck-user"].result(TIMEOUT) is None
    assert login(store, SCRAM_SHA_512, "ck-user", "ck-secret").complete
    description = admin.describe_user_scram_credentials(["ck-user"])["ck-user"].result(TIMEOUT)
    assert [(c.mechanism, c.iterations) for c in description.scram_credential_infos] == [
        (ConfluentScramMechanism.SCRAM_SHA_512, 8192)
    ]
    assert "ck-user" in admin.describe_user_scram_credentials().result(TIMEOUT)
    deletion_ = UserScramCredentialDeletion("ck-user", ConfluentScramMechanism.SCRAM_SHA_512)
    assert admin.alter_user_scram_credentials([deletion_])["ck-user"].result(TIMEOUT) is None
    with pytest.raises(KafkaException) as missing:
        admin.describe_user_scram_credentials(["ck-user"])["ck-user"].result(TIMEOUT)
    assert missing.value.args[0].code() == ErrorCode.RESOURCE_NOT_FOUND
    with pytest.raises(SaslAuthenticationError):
        login(store, SCRAM_SHA_512, "ck-user", "ck-secret")


def test_kafka_python_admin_client(kafka: KafkaBroker, store: ScramCredentialStore) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers, request_timeout_ms=TIMEOUT * 1000)
    try:
        upsert = KpUpsertion("kp-user", KafkaPythonScramMechanism.SCRAM_SHA_256, "kp-secret", iterations=4096)
        assert admin.alter_user_scram_credentials([upsert]) == {"kp-user": None}
        assert login(store, SCRAM_SHA_256, "kp-user", "kp-secret").complete
        described = admin.describe_user_scram_credentials(["kp-user", "kp-nobody"])
        assert described["kp-user"]["credential_infos"] == [
            {"mechanism": KafkaPythonScramMechanism.SCRAM_SHA_256, "iterations": 4096}
        ]
        assert described["kp-nobody"]["error"] == DESCRIBE_NOT_FOUND + "kp-nobody"
        delete = KpDeletion("kp-user", KafkaPythonScramMechanism.SCRAM_SHA_512)
        assert admin.alter_user_scram_credentials([delete]) == {"kp-user": NOT_FOUND[1]}
    finally:
        admin.close()


def kafka_configs(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Kafka's kafka-configs.sh (kafka.admin.ConfigCommand) from the reference Kafka's jars."""
    command = [shutil.which("java") or "java", "-Xmx256m", "-cp", f"{JAVA_LIB}/*", "kafka.admin.ConfigCommand"]
    return subprocess.run(
        [*command, "--bootstrap-server", bootstrap, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.skipif(
    shutil.which("java") is None or not (JAVA_LIB / "kafka_2.13-4.3.1.jar").exists(),
    reason="needs java and the reference Kafka's jars (compat_tests/reference_kafka.py assembles them)",
)
def test_kafka_configs_sh(kafka: KafkaBroker, store: ScramCredentialStore) -> None:
    """kafka-configs --alter --add-config 'SCRAM-SHA-512=[password=...]' --entity-type users (Java AdminClient)."""
    bootstrap = kafka.bootstrap_servers
    user = ("--entity-type", "users", "--entity-name", "java-user")
    done = kafka_configs(bootstrap, "--alter", "--add-config", "SCRAM-SHA-512=[password=java-secret]", *user)
    assert done.returncode == 0 and "Completed updating config for user java-user." in done.stdout, done.stderr
    assert login(store, SCRAM_SHA_512, "java-user", "java-secret").complete
    done = kafka_configs(bootstrap, "--alter", "--add-config", "SCRAM-SHA-256=[iterations=8192,password=j2]", *user)
    assert done.returncode == 0, done.stderr
    assert describe(bootstrap, ["java-user"]) == {"java-user": (0, "", [(SHA_256, 8192), (SHA_512, 4096)])}
    done = kafka_configs(bootstrap, "--alter", "--delete-config", "SCRAM-SHA-256", *user)
    assert done.returncode == 0, done.stderr
    done = kafka_configs(bootstrap, "--alter", "--delete-config", "SCRAM-SHA-256", *user)
    assert done.returncode != 0 and "Attempt to delete a user credential that does not exist" in done.stderr


def test_kafkapy_users_cli(kafka: KafkaBroker, store: ScramCredentialStore) -> None:
    """kafkapy users add/list/delete: the password salted by the tool logs in; errors are Kafka's."""

    def users(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "kafkapy", "users", *args, "-b", kafka.bootstrap_servers]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    added = users("add", "cli-user", "--password", "cli-secret", "--iterations", "5000")
    assert (added.returncode, added.stdout) == (0, "Completed updating config for user cli-user.\n"), added.stderr
    assert login(store, SCRAM_SHA_256, "cli-user", "cli-secret").complete
    assert login(store, SCRAM_SHA_512, "cli-user", "cli-secret").complete
    listed = users("list").stdout.splitlines()
    line = "SCRAM credential configs for user-principal 'cli-user' are"
    line += " SCRAM-SHA-256=iterations=5000, SCRAM-SHA-512=iterations=5000"
    assert line in listed
    assert users("delete", "cli-user", "--mechanism", "SCRAM-SHA-256").returncode == 0
    assert describe(kafka.bootstrap_servers, ["cli-user"]) == {"cli-user": (0, "", [(SHA_512, 5000)])}
    assert users("delete", "cli-user").returncode == 0
    missing = users("delete", "cli-user")
    assert missing.returncode == 1
    assert missing.stderr == f"Error: RESOURCE_NOT_FOUND: {DESCRIBE_NOT_FOUND}cli-user\n"
    refused = users("add", "cli-user", "--password", "p", "--iterations", "10")
    assert (refused.returncode, refused.stderr) == (1, "Error: UNACCEPTABLE_CREDENTIAL: Too few iterations\n")


def test_credentials_survive_a_restart_and_a_damaged_file_does_not_stop_the_broker(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    broker = broker_factory()
    salted = SCRAM_SHA_512.salted_password("kept-secret", b"s" * 20, 4096)
    assert alter(broker.bootstrap, upsertions=[upsertion("kept", salted=salted)]) == {"kept": OK}
    path = broker.data_dir / CREDENTIALS_FILE
    stored = json.loads(path.read_text())
    assert set(stored) == {"kept"} and "kept-secret" not in path.read_text()
    broker.restart(crash=True)
    assert describe(broker.bootstrap, ["kept"]) == {"kept": (0, "", [(SHA_512, 4096)])}
    broker.terminate()
    path.write_text('{"kept": ')
    broker.start()
    assert describe(broker.bootstrap, ["kept"])["kept"][0] == ErrorCode.RESOURCE_NOT_FOUND
    assert "scram-credentials.json" in broker.stderr_text()


def test_an_authorizer_that_denies_the_cluster(kafka: KafkaBroker) -> None:
    """CLUSTER_AUTHORIZATION_FAILED as Kafka's getErrorResponse: AlterUserScramCredentials names every user
    once, in name order; DescribeUserScramCredentials sets its top-level error too."""
    broker: Broker = kafka._thread._broker  # type: ignore[union-attr]
    broker.authorizer = lambda *args: False
    try:
        denied = alter(kafka.bootstrap_servers, [deletion("z"), deletion("a")], [upsertion("z"), upsertion("m")])
        assert list(denied.items()) == [(u, (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)) for u in ("a", "m", "z")]
        with WireClient.connect(kafka.bootstrap_servers) as client:
            body = {"users": [{"name": "alice"}]}
            response = client.request(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, 0, body)
        assert response.error_code == ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        assert [(r.error_code, r.credential_infos) for r in response.results] == [
            (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, [])
        ]
    finally:
        broker.authorizer = allow_everything
    assert "alice" in describe(kafka.bootstrap_servers, None)

