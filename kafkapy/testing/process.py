"""Run the real kafkapy broker as a subprocess: `python -m kafkapy serve` on a loopback port.

KafkaBroker's default mode, the integration suite, compat_tests and bench/ all start the broker
through this class, so the way it is started (CLI flags, ready line, shutdown) lives in one place.
A subprocess keeps a client bug in the test from wedging the broker, and kill9() models a crash.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from kafkapy import RESET_DONE_LINE
from kafkapy.security.session import PLAINTEXT

# The directory holding this kafkapy package, so the subprocess runs the same code.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
READY_RE = re.compile(r"^kafkapy listening on (?P<host>[^\s:]+):(?P<port>\d+)$")
# Printed before the ready line, one per listener: "kafkapy listener SSL://127.0.0.1:9093 (SSL)".
LISTENER_RE = re.compile(r"^kafkapy listener (?P<name>[^:\s]+)://(?P<address>\S+) \((?P<protocol>[A-Z_]+)\)$")
# Start-up takes ~0.2 s; the margin is for loaded CI machines, where a slow start is not a failure.
DEFAULT_READY_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 10.0


class BrokerStartError(RuntimeError):
    """The broker exited, or printed no ready line, before it was ready to serve.

    ``problem`` is the broker's one-line reason when it refused to start (exit code 2 and a
    ``kafkapy: ...`` line: port in use, data dir unusable, bad property), else None.
    """

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem


class BrokerProcess:
    """One kafkapy broker subprocess bound to a data directory.

    The data directory outlives the process, so `kill9()` + `start()` (or `restart()`) models a
    crash and recovery. stderr (the structured log) is appended to `log_path` across restarts so
    a failing test can show everything the broker said; stdout is drained by a thread so that
    a chatty broker can never block on a full pipe.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        num_partitions: int | None = None,
        log_level: str = "info",
        extra_args: tuple[str, ...] = (),
        log_path: Path | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        # Listener name -> "host:port" it listens on, from the broker's start-up lines.
        self.listeners: dict[str, str] = {}
        self.num_partitions = num_partitions
        self.log_level = log_level
        self.extra_args = extra_args
        default_log = self.data_dir.parent / f"{self.data_dir.name}.stderr.log"
        self.log_path = Path(log_path) if log_path else default_log
        self.ready_timeout = ready_timeout
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdout_lines: list[str] = []
        self._ready = threading.Event()
        # Counts the reset lines on stdout; reset() waits for the next one.
        self._resets = threading.Condition()
        self._resets_done = 0
        self._stdout_closed = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def bootstrap(self) -> str:
        """`host:port` for a client's bootstrap.servers; only valid while started."""
        if self.port is None:
            raise RuntimeError("broker is not running")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self, port: int) -> list[str]:
        """The CLI invocation, kept in one place so the contract is visible."""
        cmd = [
            sys.executable,
            "-m",
            "kafkapy",
            "serve",
            "--host",
            self.host,
            "--port",
            str(port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            self.log_level,
        ]
        if self.num_partitions is not None:
            cmd += ["--num-partitions", str(self.num_partitions)]
        return cmd + list(self.extra_args)

    def start(self, port: int | None = None) -> BrokerProcess:
        """Start the broker and block until it prints its ready line (or fail with its stderr)."""
        if self.is_running():
            raise RuntimeError("broker already running")
        # The broker creates its data dir itself (or never, with --storage memory).
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        use_port = self.requested_port if port is None else port
        self.starts += 1
        self._ready.clear()
        self._stdout_closed.clear()
        self._stdout_lines = []
        self.port = None
        self.listeners = {}
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
        cmd = self.command(use_port)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.data_dir.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self._reader = threading.Thread(target=self._read_stdout, args=(self._proc,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.is_set():
            if self._stdout_closed.is_set() or self._proc.poll() is not None:
                code = self._proc.wait(timeout=5)
                problem = self._startup_problem() if code == 2 else None
                raise BrokerStartError(self._failure(f"broker exited with code {code} before ready"), problem)
            if time.monotonic() > deadline:
                self.kill9()
                raise BrokerStartError(
                    self._failure(
                        f"no ready line within {self.ready_timeout:.0f}s "
                        "(expected 'kafkapy listening on HOST:PORT' on stdout, flushed)"
                    )
                )
            self._ready.wait(0.05)
        return self

    def _read_stdout(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._stdout_lines.append(line)
            listener = LISTENER_RE.match(line.strip())
            if listener and not self._ready.is_set():
                self.listeners[listener.group("name")] = listener.group("address")
            m = READY_RE.match(line.strip())
            if m and not self._ready.is_set():
                self.port = int(m.group("port"))
                # A broker with only the default PLAINTEXT listener prints no listener line.
                self.listeners = self.listeners or {PLAINTEXT: f"{m.group('host')}:{self.port}"}
                self._ready.set()
            elif line == RESET_DONE_LINE:
                with self._resets:
                    self._resets_done += 1
                    self._resets.notify_all()
        self._stdout_closed.set()
        with self._resets:
            self._resets.notify_all()

    def reset(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Empty the running broker (every topic, group, transaction) by SIGUSR1; wait until it is done."""
        if not self.is_running():
            raise RuntimeError("broker is not running")
        assert self._proc is not None
        with self._resets:
            target = self._resets_done + 1
            self._proc.send_signal(signal.SIGUSR1)
            done = self._resets.wait_for(
                lambda: self._resets_done >= target or self._stdout_closed.is_set(), timeout=timeout
            )
        if not done or self._resets_done < target:
            raise RuntimeError(self._failure(f"broker did not confirm a reset within {timeout:.0f}s"))

    def _failure(self, what: str) -> str:
        stdout = "\n".join(self._stdout_lines[-20:]) or "<empty>"
        return f"{what}\n--- stdout ---\n{stdout}\n--- stderr (tail) ---\n{self.stderr_tail()}"

    def _startup_problem(self) -> str | None:
        """The ``kafkapy: ...`` line ``kafkapy serve`` printed when it refused to start, without its prefix."""
        this_start = self.stderr_text().rpartition("\n===== start #")[2]
        lines = [line for line in this_start.splitlines() if line.startswith("kafkapy: ")]
        return lines[-1].removeprefix("kafkapy: ") if lines else None

    def stderr_text(self) -> str:
        """Everything the broker wrote to stderr, over all starts."""
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, lines: int = 200) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:]) or "<empty>"

    def kill9(self) -> None:
        """SIGKILL the broker (a crash: no flush, no shutdown hooks) and reap it."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        self._proc.wait(timeout=DEFAULT_STOP_TIMEOUT)
        self._join_reader()

    def terminate(self, timeout: float = DEFAULT_STOP_TIMEOUT, sig: int = signal.SIGTERM) -> int:
        """Ask the broker to shut down gracefully; return its exit code.

        If it does not exit within `timeout` it is SIGKILLed and RuntimeError is raised, since a
        graceful shutdown that hangs is a broker bug.
        """
        if self._proc is None:
            raise RuntimeError("broker was never started")
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise RuntimeError(
                    self._failure(f"broker ignored {signal.Signals(sig).name} for {timeout:.0f}s; killed")
                ) from None
        self._join_reader()
        return self._proc.returncode

    def restart(self, *, crash: bool = False) -> BrokerProcess:
        """Stop (SIGKILL if `crash`, else SIGTERM) and start again on the same data dir.

        Tries the same port first so bootstrap strings stay valid; if the broker cannot bind it
        again (or does not come up on it) a fresh port is used. Callers should re-read
        `bootstrap` and recreate clients either way.
        """
        old_port = self.port
        if crash:
            self.kill9()
        elif self.is_running():
            self.terminate()
        if old_port is not None:
            try:
                return self.start(port=old_port)
            except BrokerStartError:
                self.kill9()
        return self.start(port=0)

    def close(self) -> None:
        """Make sure the process is gone: SIGTERM, then SIGKILL. Safe to call repeatedly."""
        if self._proc is None or self._proc.poll() is not None:
            self._join_reader()
            return
        try:
            self.terminate(timeout=5)
        except RuntimeError:
            pass
        finally:
            if self._proc.poll() is None:
                self.kill9()

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    def __enter__(self) -> BrokerProcess:
        if not self.is_running():
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<BrokerProcess {state} port={self.port} pid={self.pid} data_dir={self.data_dir}>"
