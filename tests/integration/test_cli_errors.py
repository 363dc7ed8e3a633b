"""`kafkapy serve` start-up failures: one line on stderr naming the problem and its fix, exit code 2.

Each runs the real `python -m kafkapy serve` as a subprocess, as a person at a terminal would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kafkapy.broker_config import ConfigError
from kafkapy.testing import KafkaBroker, StartupError
from kafkapy.testing.process import PACKAGE_ROOT
from tests.broker_process import BrokerProcess


def serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `kafkapy serve ARGS` that is expected to fail before it listens."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "kafkapy", "serve", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_fails(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit code 2 and exactly ``kafkapy: MESSAGE`` on stderr, nothing else anywhere."""
    assert (result.returncode, result.stderr, result.stdout) == (2, f"kafkapy: {message}\n", "")


@pytest.fixture
def port_in_use() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_in_use(tmp_path: Path, port_in_use: int) -> None:
    result = serve("--port", str(port_in_use), "--data-dir", "data", cwd=tmp_path)
    assert_fails(result, f"port {port_in_use} on 127.0.0.1 is in use (another broker?); pick one with --port")
    assert not (tmp_path / "data").exists(), "the port is checked before the data dir is touched"


def test_port_in_use_via_listeners_property(tmp_path: Path, port_in_use: int) -> None:
    result = serve("--override", f"listeners=PLAINTEXT://127.0.0.1:{port_in_use}", "--storage", "memory", cwd=tmp_path)
    assert_fails(result, f"port {port_in_use} on 127.0.0.1 is in use (another broker?); pick one with --port")


def test_unknown_host(tmp_path: Path) -> None:
    result = serve("--host", "no-such-host.invalid", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("kafkapy: cannot listen on no-such-host.invalid: unknown host (")
    assert result.stderr.endswith("); pick an address with --host\n")


def test_data_dir_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    result = serve("--port", "0", "--data-dir", "data", cwd=tmp_path)
    assert_fails(result, "data dir data is not a directory (data is a file); point --data-dir at a directory")


def test_data_dir_unreachable(tmp_path: Path) -> None:
    result = serve("--port", "0", "--data-dir", "/proc/kafkapy/data", cwd=tmp_path)
    assert_fails(
        result,
        "cannot use data dir /proc/kafkapy/data: No such file or directory (/proc/kafkapy);"
        " pick another with --data-dir",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root enters any directory, whatever its mode")
def test_data_dir_behind_a_directory_we_may_not_enter(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        result = serve("--port", "0", "--data-dir", str(locked / "data"), cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert_fails(result, not_writable(locked / "data", locked))


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make a directory this process cannot write to, like a docker volume owned by root.

    chmod does not stop root, so as root the directory is made immutable (chattr +i) instead.
    """
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield
        path.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
        pytest.skip("running as root without chattr +i: no way to make a directory unwritable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "volume"
    path.mkdir()
    with unwritable(path):
        yield path


def not_writable(data_dir: Path, owned: Path) -> str:
    return (
        f"data dir {data_dir} is not writable by uid {os.geteuid()} ({owned} is owned by uid {owned.stat().st_uid});"
        " chown it (a docker volume is root's until chowned) or pick another with --data-dir"
    )


def test_data_dir_not_writable(tmp_path: Path, unwritable_dir: Path) -> None:
    for data_dir in (unwritable_dir, unwritable_dir / "data"):
        result = serve("--port", "0", "--data-dir", str(data_dir), cwd=tmp_path)
        assert_fails(result, not_writable(data_dir, unwritable_dir))


def test_data_dir_holding_a_broker_not_writable(tmp_path: Path) -> None:
    """Opening a data dir that holds a broker writes nothing, yet the broker could not create a
    topic or write a checkpoint there: refused at start-up, not with a traceback later."""
    data_dir = tmp_path / "volume"
    with KafkaBroker(data_dir=data_dir) as kafka:
        kafka.create_topic("orders")
    with unwritable(data_dir):
        result = serve("--port", "0", "--data-dir", str(data_dir), cwd=tmp_path)
    assert_fails(result, not_writable(data_dir, data_dir))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--port", "70000"), "invalid --port 70000: expected a whole number from 0 to 65535"),
        (("--port", "-5"), "invalid --port -5: expected a whole number from 0 to 65535"),
        (("--advertised-port", "x"), "invalid --advertised-port x: expected a whole number"),
        (("--num-partitions", "0"), "invalid --num-partitions 0: expected a whole number of at least 1"),
        (
            ("--host", "0.0.0.0"),
            "advertised host 0.0.0.0 of listener PLAINTEXT is not an address clients can connect to: with --host"
            " 0.0.0.0, set --advertised-host (advertised.listeners) to a name or address clients reach this machine by",
        ),
        (
            ("--override", "listeners=PLAINTEXT://[::]:9092"),
            "advertised host :: of listener PLAINTEXT is not an address clients can connect to: with --host ::, set"
            " --advertised-host (advertised.listeners) to a name or address clients reach this machine by",
        ),
        (("--override", "num.partitions=abc"), "invalid num.partitions=abc: expected a whole number"),
        (("--override", "num.partitions"), "invalid --override num.partitions: expected NAME=VALUE"),
        (
            ("--override", "auto.create.topic.enable=false"),
            "unknown property auto.create.topic.enable (did you mean auto.create.topics.enable?)",
        ),
        (
            ("--override", "ssl.keystore.location=/etc/kafka/broker.jks"),
            "ssl.keystore.location is set but no listener is SSL or SASL_SSL; add one (listeners=SSL://:9093) or"
            " remove it",
        ),
        (
            ("--override", "listeners=SASL_PLAINTEXT://:9094"),
            "SASL mechanism PLAIN on listener SASL_PLAINTEXT has no users: add user_<name>=\"<password>\" to"
            " listener.name.sasl_plaintext.plain.sasl.jaas.config"
            " (org.apache.kafka.common.security.plain.PlainLoginModule) or set kafkapy.sasl.users (--sasl-user)",
        ),
        (("--config", "missing.properties"), "cannot read --config missing.properties: No such file or directory"),
    ],
)
def test_bad_flags_and_properties(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    assert_fails(serve(*args, "--storage", "memory", cwd=tmp_path), message)


def test_bad_property_in_a_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "server.properties").write_text("log.dirs=data\nnum.partitions=abc\n")
    result = serve("--config", "server.properties", cwd=tmp_path)
    assert_fails(result, "invalid num.partitions=abc: expected a whole number")


def test_start_up_line_says_which_storage(tmp_path: Path) -> None:
    for storage in ("memory", "disk"):
        broker = BrokerProcess(tmp_path / storage, extra_args=("--storage", storage), log_path=tmp_path / "log")
        broker.start()
        broker.close()
    listening = [line for line in broker.stderr_text().splitlines() if "msg=listening" in line]
    assert "storage=memory" in listening[0] and "data_dir" not in listening[0]
    assert f"storage=disk data_dir={tmp_path / 'disk'}" in listening[1]


@pytest.mark.parametrize("in_process", [True, False])
def test_testing_broker_refuses_a_misspelt_property(in_process: bool) -> None:
    broker = KafkaBroker(in_process=in_process, storage="memory", config={"auto.create.topic.enable": "false"})
    with pytest.raises(ConfigError) as failure:
        broker.start()
    broker.stop()
    assert str(failure.value) == "unknown property auto.create.topic.enable (did you mean auto.create.topics.enable?)"


@pytest.mark.parametrize("in_process", [True, False])
def test_testing_broker_on_a_port_in_use(port_in_use: int, in_process: bool) -> None:
    """The same one-line StartupError as `kafkapy serve` prints, not an exception group or an exit code."""
    broker = KafkaBroker(in_process=in_process, storage="memory", port=port_in_use)
    with pytest.raises(StartupError) as failure:
        broker.start()
    broker.stop()
    assert str(failure.value) == f"port {port_in_use} on 127.0.0.1 is in use (another broker?); pick one with --port"


@pytest.mark.parametrize("in_process", [False, True])
def test_data_dir_in_use_by_another_broker(tmp_path: Path, in_process: bool) -> None:
    """Kafka's .lock: a second broker on a data dir in use is refused (it would write the same
    segment files); the lock goes with the broker that held it, so a restart gets it back."""
    with KafkaBroker(data_dir=tmp_path / "data", in_process=in_process) as kafka:
        result = serve("--port", "0", "--data-dir", "data", cwd=tmp_path)
        assert_fails(
            result,
            "data dir data is in use by another broker (its .lock is locked); stop that broker or pick another"
            " with --data-dir",
        )
        kafka.restart()
        kafka.create_topic("orders")
    with KafkaBroker(data_dir=tmp_path / "data") as again:
        again.kill()  # a crash: the kernel drops the lock with the process
        again.start()
        again.create_topic("payments")


def test_data_dir_of_another_node(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.properties").write_text("cluster.id=ZkHN4VIOQpiljRzI9qE4CA\nnode.id=1\nversion=1\n")
    result = serve("--port", "0", "--data-dir", "data", "--node-id", "2", cwd=tmp_path)
    assert_fails(
        result,
        "cannot use data dir data: data/meta.properties: stored node.id 1 does not match configured node id 2;"
        " pick another with --data-dir",
    )
