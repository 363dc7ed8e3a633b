"""The wheel, installed in a fresh venv outside the checkout, runs: the CLI, `kafkapy serve` with a produce
and a consume, KafkaBroker().start() and the pytest plugin, all from a cwd outside the checkout and with
no PYTHONPATH (issue #19: a non-editable install lacked protocol_specs/ and failed with KeyError: 18).

The wheel is built the way a release is (`python -m build`: an sdist, then the wheel from the sdist), so
a file the sdist leaves out fails here too. The venv's dependencies come from the package index; without
it (no network) the tests skip, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kafkapy.testing.process import READY_RE

ROOT = Path(__file__).resolve().parents[2]
# Building and installing takes 15-30 s with a warm pip cache; a cold one downloads ~10 MB.
INSTALL_TIMEOUT_S = 300
RUN_TIMEOUT_S = 60
# The first test also builds and installs (the module fixture): more than the suite's 120 s per test.
pytestmark = pytest.mark.timeout(3 * INSTALL_TIMEOUT_S)


@dataclass(frozen=True)
class Venv:
    """A venv with the wheel installed, and where to run its commands from (outside the checkout)."""

    bin: Path
    cwd: Path
    env: dict[str, str]

    def run(self, *cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run one of the venv's executables; fail with its output when it exits non-zero."""
        done = subprocess.run(
            [str(self.bin / cmd[0]), *cmd[1:]],
            input=stdin,
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done


def _test_requirements(*names: str) -> list[str]:
    """The pins of the test extras in pyproject.toml, so the venv gets the versions the suite uses."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    return [req for req in extras if req.split("=")[0].split(">")[0].strip() in names]


def _pip(*args: str, cwd: Path, env: dict[str, str], python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """Build the wheel, make a venv in a temporary directory and install the wheel into it."""
    pytest.importorskip("build", reason="the `build` package builds the wheel (pip install build, or .[test])")
    pytest.importorskip("ensurepip", reason="python3 -m venv needs ensurepip (Debian: apt-get install python3-venv)")
    base = tmp_path_factory.mktemp("wheel")
    assert ROOT not in base.parents, "the venv must live outside the checkout"
    # Nothing of the checkout may leak in: the editable install's PYTHONPATH, an active venv.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    probe = _pip("download", "--no-deps", "--dest", str(base / "probe"), "setuptools>=68", cwd=base, env=env)
    if probe.returncode != 0:
        pytest.skip(f"pip cannot reach the package index: {probe.stderr.strip().splitlines()[-1:]}")

    dist = base / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("kafkapy-*.whl")

    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=INSTALL_TIMEOUT_S)
    python = str(base / "venv" / "bin" / "python")
    requirements = _test_requirements("kafka-python", "pytest")
    installed = _pip("install", str(wheel), *requirements, cwd=base, env=env, python=python)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    cwd = base / "elsewhere"
    cwd.mkdir()
    return Venv(base / "venv" / "bin", cwd, env)


def test_cli_and_specs_come_from_the_wheel(venv: Venv) -> None:
    assert "serve" in venv.run("kafkapy", "--help").stdout
    where = "import kafkapy.protocol.specs as s; print(s.__file__); print(s.SPEC_DIR)"
    module, spec_dir = venv.run("python", "-c", where).stdout.split()
    site_packages = venv.bin.parent / "lib"
    assert site_packages in Path(module).parents
    assert Path(spec_dir) == Path(module).parents[1] / "protocol_specs"


@pytest.fixture
def served(venv: Venv, tmp_path: Path) -> Iterator[str]:
    """`kafkapy serve --port 0` of the venv, run from outside the checkout; yields its bootstrap."""
    proc = subprocess.Popen(
        [str(venv.bin / "kafkapy"), "serve", "--port", "0", "--data-dir", str(tmp_path / "data")],
        cwd=venv.cwd,
        env=venv.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        ready = READY_RE.match(proc.stdout.readline().strip())
        assert ready, proc.stderr.read() if proc.poll() is not None else "no ready line"
        yield f"{ready.group('host')}:{ready.group('port')}"
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_serve_then_produce_and_consume(venv: Venv, served: str) -> None:
    venv.run("kafkapy", "health", "--bootstrap-server", served, "--timeout", "30")
    lines = [f"line-{i}" for i in range(5)]
    venv.run("kafkapy", "produce", "wheel-cli", "--bootstrap-server", served, stdin="\n".join(lines) + "\n")
    consumer = f"""
from kafka import KafkaConsumer
consumer = KafkaConsumer("wheel-cli", bootstrap_servers={served!r}, auto_offset_reset="earliest",
                         consumer_timeout_ms=20000)
values = []
for record in consumer:
    values.append(record.value.decode())
    if len(values) == {len(lines)}:
        break
print("\\n".join(values))
"""
    assert venv.run("python", "-c", consumer).stdout.split() == lines


def test_kafka_broker_starts_from_the_wheel(venv: Venv) -> None:
    script = """
from kafka import KafkaProducer
from kafkapy.testing import KafkaBroker
broker = KafkaBroker().start()
try:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    metadata = producer.send("wheel-api", b"hello").get(timeout=30)
    producer.close()
    print(metadata.offset)
finally:
    broker.stop()
"""
    assert venv.run("python", "-c", script).stdout.split() == ["0"]


def test_pytest_plugin_from_the_wheel(venv: Venv) -> None:
    (venv.cwd / "test_uses_plugin.py").write_text(
        """
from kafka import KafkaConsumer, KafkaProducer


def test_round_trip(kafka_bootstrap, kafka_topic):
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(kafka_topic, b"via the plugin").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(kafka_topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=20000)
    assert next(iter(consumer)).value == b"via the plugin"
    consumer.close()
"""
    )
    done = venv.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_uses_plugin.py")
    assert "1 passed" in done.stdout
