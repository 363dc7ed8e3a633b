"""Raw limits of this machine: loopback TCP into a file, sendfile from the page cache, TCP memory to memory.

    python3 bench/rawlimits.py [--bytes 1G] [--runs 3] [--dir DIR] [--timeout 60]

A broker's throughput (bench/throughput.py) is easier to read as a fraction of what the hardware does
with no broker in the way. Each measurement moves a number of bytes between two processes over a
127.0.0.1 TCP connection, so the two sides can run on separate cores like a client and a broker:

- tcp -> file: a sender writes chunk-sized (1 MiB) sends; the receiver fills a preallocated buffer
  with recv_into and appends each full chunk to a file with os.write (no fsync per chunk, like a
  broker with default flush settings). The ceiling for "produce with 1 MiB batches". One fsync at the
  end is timed separately and is not part of the rate.
- sendfile: a page-cached file (written and fsynced first, untimed) is sent with os.sendfile in
  8 MiB pieces; the receiver reads it into a buffer and discards it. The ceiling for "consume with
  sendfile".
- tcp loopback: memory to memory, chunk-sized sends, recv_into and discard. The reference for both.

Timing is on the receiving side: the receiver accepts the connection, starts the clock and sends one
"go" byte; the sender sends nothing before that byte, so every byte crosses inside the window, which
ends when the last byte has been received (and, for tcp -> file, written). MB is 10^6 bytes.
Results (median of --runs) are printed and written to bench/results/rawlimits-<UTC time>.json
(gitignored). Every run is bounded by --timeout: the receiver gives up and kills the sender, and the
sender (which also stops on any socket error) is stopped by SIGALRM if it outlives the deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

THIS_FILE = Path(__file__).resolve()
RESULTS = THIS_FILE.parent / "results"
HOST = "127.0.0.1"
MB = 1_000_000
CHUNK = 1 << 20
SENDFILE_CHUNK = 8 << 20
RECV_BUFFER = 1 << 20
DEFAULT_TIMEOUT_S = 60.0
STALL_S = 10.0
GO = b"g"
PEER_FLAG = "--peer"


@dataclass(frozen=True)
class Transfer:
    """One timed transfer: `nbytes` received (and, for tcp -> file, written) in `seconds`.

    `fsync_seconds` is the untimed fsync after a tcp -> file transfer (None for the others)."""

    nbytes: int
    seconds: float
    fsync_seconds: float | None = None

    @property
    def mb_s(self) -> float:
        """Throughput in MB/s (10^6 bytes)."""
        return self.nbytes / MB / self.seconds if self.seconds > 0 else 0.0


# --- the receiving side (this process): listen, start the peer, time what arrives ---------------------


@contextmanager
def _listener() -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1 and a free port; accept() polls so a dead peer is noticed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        listener.settimeout(0.1)
        yield listener


def _accept(listener: socket.socket, peer: subprocess.Popen[bytes], deadline: float) -> socket.socket:
    """The peer's connection, as a blocking socket; fails early if the peer exits before connecting."""
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if peer.poll() is not None:
                raise RuntimeError(f"sender exited with {peer.returncode} before connecting") from None
            if time.monotonic() > deadline:
                raise TimeoutError("sender did not connect in time") from None
            continue
        conn.setblocking(True)
        return conn


def _set_kernel_timeouts(sock: socket.socket, seconds: float) -> None:
    """Bound every blocking send/recv in the kernel (SO_SNDTIMEO/SO_RCVTIMEO) without making the socket
    non-blocking: a Python-level settimeout() would add a poll() before each call and skew the number."""
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def _check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError("transfer did not finish before the deadline")


def _fill(conn: socket.socket, view: memoryview, deadline: float) -> int:
    """recv_into `view` until it is full or the sender closed; returns the bytes filled."""
    filled = 0
    while filled < len(view):
        _check_deadline(deadline)
        n = conn.recv_into(view[filled:])
        if n == 0:
            break
        filled += n
    return filled


def _write_all(fd: int, view: memoryview) -> None:
    """os.write until all of `view` is in the file (a regular file rarely writes short, but may)."""
    while view:
        view = view[os.write(fd, view) :]


def _receive_to_file(fd: int, chunk: int) -> Callable[[socket.socket, float], int]:
    """A receiver that appends each full chunk to `fd`, as a broker appends each produced batch."""

    def receive(conn: socket.socket, deadline: float) -> int:
        view = memoryview(bytearray(chunk))
        total = 0
        while filled := _fill(conn, view, deadline):
            _write_all(fd, view[:filled])
            total += filled
        return total

    return receive


def _receive_and_discard(buffer_size: int) -> Callable[[socket.socket, float], int]:
    """A receiver that recv_into's one preallocated buffer until EOF and keeps nothing."""

    def receive(conn: socket.socket, deadline: float) -> int:
        view = memoryview(bytearray(buffer_size))
        total = 0
        while n := conn.recv_into(view):
            total += n
            _check_deadline(deadline)
        return total

    return receive


def _stop(peer: subprocess.Popen[bytes], deadline: float) -> tuple[int, str]:
    """Wait for the peer until the deadline (then kill it); its exit code and stderr."""
    try:
        _, err = peer.communicate(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        peer.kill()
        _, err = peer.communicate()
    return peer.returncode, err.decode(errors="replace").strip()


def _timed_transfer(
    peer_args: list[str], receive: Callable[[socket.socket, float], int], expected: int, timeout: float
) -> Transfer:
    """Start a sender process with `peer_args`, time `receive` on its connection, check the byte count.

    The clock starts right before the go byte is sent and stops when `receive` returns (EOF)."""
    deadline = time.monotonic() + timeout
    with _listener() as listener:
        port = listener.getsockname()[1]
        cmd = [sys.executable, str(THIS_FILE), PEER_FLAG, str(port), f"{timeout + 5:.0f}", *peer_args]
        peer = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            with _accept(listener, peer, deadline) as conn:
                _set_kernel_timeouts(conn, min(timeout, STALL_S))
                started = time.perf_counter()
                conn.sendall(GO)
                received = receive(conn, deadline)
                seconds = time.perf_counter() - started
        finally:
            code, err = _stop(peer, deadline)
    if code != 0 or received != expected:
        raise RuntimeError(f"received {received} of {expected} bytes; sender exited with {code}: {err[-2000:]}")
    return Transfer(received, seconds)


# --- the three measurements ---------------------------------------------------------------------------


def tcp_to_file(
    total_bytes: int = 1 << 30, chunk: int = CHUNK, path: Path | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> Transfer:
    """Loopback TCP into a file: `chunk`-sized sends, recv_into, os.write per full chunk; then one fsync,
    timed separately. With `path` the file is written there and kept (so a caller can check it);
    without, it goes to a temp dir that is removed."""
    with _target(path) as target:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            peer_args = ["memory", str(chunk), str(total_bytes)]
            transfer = _timed_transfer(peer_args, _receive_to_file(fd, chunk), total_bytes, timeout)
            started = time.perf_counter()
            os.fsync(fd)
            return replace(transfer, fsync_seconds=time.perf_counter() - started)
        finally:
            os.close(fd)


def tcp_to_file_mb_s(
    total_bytes: int = 1 << 30, chunk: int = CHUNK, path: Path | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> float:
    """MB/s of tcp_to_file(): the ceiling for "produce with 1 MiB batches" on this machine."""
    return tcp_to_file(total_bytes, chunk, path, timeout).mb_s


def make_file(path: Path, total_bytes: int, block: int = 8 << 20) -> None:
    """Write `total_bytes` of random-looking data to `path` and fsync it, so it sits clean in the page
    cache (no writeback running while it is sent)."""
    pattern = memoryview(os.urandom(block))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for offset in range(0, total_bytes, block):
            _write_all(fd, pattern[: min(block, total_bytes - offset)])
        os.fsync(fd)
    finally:
        os.close(fd)


def send_file(source: Path, chunk: int = SENDFILE_CHUNK, timeout: float = DEFAULT_TIMEOUT_S) -> Transfer:
    """An existing (page-cached) file sent with os.sendfile in `chunk` pieces to a discarding receiver."""
    size = source.stat().st_size
    return _timed_transfer(["file", str(chunk), str(source)], _receive_and_discard(RECV_BUFFER), size, timeout)


def sendfile_mb_s(
    total_bytes: int = 1 << 30,
    path: Path | None = None,
    chunk: int = SENDFILE_CHUNK,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> float:
    """MB/s of sendfile from the page cache over loopback: the ceiling for "consume with sendfile".

    The source file (created untimed) is written at `path` and kept, or in a temp dir that is removed."""
    with _target(path) as source:
        make_file(source, total_bytes)
        return send_file(source, chunk, timeout).mb_s


def tcp_loopback(total_bytes: int = 1 << 30, chunk: int = CHUNK, timeout: float = DEFAULT_TIMEOUT_S) -> Transfer:
    """Loopback TCP memory to memory: `chunk`-sized sends, recv_into a `chunk` buffer, discard."""
    peer_args = ["memory", str(chunk), str(total_bytes)]
    return _timed_transfer(peer_args, _receive_and_discard(chunk), total_bytes, timeout)


def tcp_loopback_mb_s(total_bytes: int = 1 << 30, chunk: int = CHUNK, timeout: float = DEFAULT_TIMEOUT_S) -> float:
    """MB/s of tcp_loopback(): what the loopback itself carries, with no file on either side."""
    return tcp_loopback(total_bytes, chunk, timeout).mb_s


@contextmanager
def _target(path: Path | None) -> Iterator[Path]:
    """`path` itself (kept, the caller's), or a file in a fresh temp dir that is removed afterwards."""
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="kafkapy-rawlimits-") as tmp:
        yield Path(tmp) / "data.bin"


# --- the sending side (a separate process) ------------------------------------------------------------


def _send_memory(sock: socket.socket, chunk: int, total: int) -> None:
    """sendall `total` bytes from one preallocated buffer, `chunk` at a time."""
    view = memoryview(os.urandom(chunk))
    for offset in range(0, total, chunk):
        sock.sendall(view[: min(chunk, total - offset)])


def _send_file(sock: socket.socket, fd: int, chunk: int) -> None:
    """os.sendfile the whole of `fd`, at most `chunk` bytes per call."""
    size, offset = os.fstat(fd).st_size, 0
    while offset < size:
        sent = os.sendfile(sock.fileno(), fd, offset, min(chunk, size - offset))
        if sent == 0:
            raise EOFError(f"sendfile sent nothing at offset {offset} of {size}")
        offset += sent


def peer_main(argv: list[str]) -> int:
    """The sender process: `PORT ALARM_S memory CHUNK TOTAL` or `PORT ALARM_S file CHUNK PATH`.

    Everything is prepared before connecting; after the receiver's go byte it only sends. Any socket
    error (the receiver gone) ends it with an exception, and SIGALRM ends it if it outlives ALARM_S."""
    port, alarm_s, mode, chunk, what = int(argv[0]), int(argv[1]), argv[2], int(argv[3]), argv[4]
    signal.alarm(alarm_s)
    fd = os.open(what, os.O_RDONLY) if mode == "file" else -1
    try:
        with socket.create_connection((HOST, port), timeout=STALL_S) as sock:
            sock.setblocking(True)
            _set_kernel_timeouts(sock, STALL_S)
            if sock.recv(1) != GO:
                raise ConnectionError("receiver closed before the go byte")
            if mode == "file":
                _send_file(sock, fd, chunk)
            else:
                _send_memory(sock, chunk, int(what))
            sock.shutdown(socket.SHUT_WR)
    finally:
        if fd >= 0:
            os.close(fd)
    return 0


# --- the CLI ------------------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """'1G' -> 2**30, '512M' -> 512 * 2**20, '4096' -> 4096 (binary suffixes K, M, G)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    try:
        value = int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1G, 256M or 4096, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return value


def run_all(
    total: int, runs: int, chunk: int, sendfile_chunk: int, timeout: float, root: Path | None
) -> dict[str, list[Transfer]]:
    """`runs` rounds of the three transfers (the sendfile source is written once, up front)."""
    results: dict[str, list[Transfer]] = {"tcp_loopback": [], "tcp_to_file": [], "sendfile": []}
    with tempfile.TemporaryDirectory(prefix="kafkapy-rawlimits-", dir=root) as tmp:
        source = Path(tmp) / "sendfile-source.bin"
        make_file(source, total)
        for _ in range(runs):
            results["tcp_loopback"].append(tcp_loopback(total, chunk, timeout))
            results["tcp_to_file"].append(tcp_to_file(total, chunk, Path(tmp) / "received.bin", timeout))
            (Path(tmp) / "received.bin").unlink()
            results["sendfile"].append(send_file(source, sendfile_chunk, timeout))
    return results


def _median_mb_s(transfers: list[Transfer]) -> float:
    return statistics.median(t.mb_s for t in transfers)


def print_table(results: dict[str, list[Transfer]], total: int, chunk: int, sendfile_chunk: int) -> None:
    """The medians, every run's number, and the untimed fsync after tcp -> file."""
    labels = {
        "tcp_loopback": f"tcp loopback, memory to memory ({chunk >> 10} KiB sends)",
        "tcp_to_file": f"tcp -> file ({chunk >> 10} KiB recv_into + os.write)",
        "sendfile": f"sendfile page cache -> tcp ({sendfile_chunk >> 10} KiB calls)",
    }
    runs = len(results["tcp_loopback"])
    print(f"{f'{total / MB:.0f} MB per run, median of {runs}':52} {'MB/s':>8}   runs")
    for name, transfers in results.items():
        each = ", ".join(f"{t.mb_s:.0f}" for t in transfers)
        print(f"{labels[name]:52} {_median_mb_s(transfers):8.0f}   {each}")
    fsyncs = [t.fsync_seconds or 0.0 for t in results["tcp_to_file"]]
    fsync = statistics.median(fsyncs)
    rate = f"{total / MB / fsync:.0f} MB/s" if fsync > 0 else "-"
    print(f"{'  fsync after tcp -> file (not in the rate above)':52} {fsync:7.2f}s   ({rate} to disk)")


def _mount_of(path: Path) -> dict[str, str]:
    """The file system the temp files lived on (device, mount point, type), from /proc/mounts."""
    best = {"mount": "", "device": "?", "type": "?"}
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return best
    resolved = str(path.resolve())
    for line in lines:
        device, mount, fstype = line.split()[:3]
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best["mount"]):
            best = {"mount": mount, "device": device, "type": fstype}
    return best


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=THIS_FILE.parent, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode().strip() or None


def write_json(results: dict[str, list[Transfer]], settings: dict[str, object], elapsed: float) -> Path:
    """bench/results/rawlimits-<UTC time>.json with every run, the medians, settings and machine."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"rawlimits-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    report = {
        "settings": settings,
        "median_mb_s": {name: round(_median_mb_s(ts), 1) for name, ts in results.items()},
        "runs": {name: [{**asdict(t), "mb_s": round(t.mb_s, 1)} for t in ts] for name, ts in results.items()},
        "elapsed_seconds": round(elapsed, 2),
        "git_commit": _git_commit(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    out.write_text(json.dumps(report, indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=parse_size, default=1 << 30, help="bytes per transfer (default 1G)")
    parser.add_argument("--runs", type=int, default=3, help="rounds of the three transfers; the median is shown")
    parser.add_argument("--chunk", type=parse_size, default=CHUNK, help="TCP send / file write size (1M)")
    parser.add_argument("--sendfile-chunk", type=parse_size, default=SENDFILE_CHUNK, help="bytes per sendfile (8M)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds allowed per transfer")
    parser.add_argument("--dir", type=Path, default=None, help="where the temp files go (default: system temp)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    started = time.monotonic()
    results = run_all(args.bytes, args.runs, args.chunk, args.sendfile_chunk, args.timeout, args.dir)
    elapsed = time.monotonic() - started
    print_table(results, args.bytes, args.chunk, args.sendfile_chunk)
    settings = {
        "bytes": args.bytes,
        "runs": args.runs,
        "chunk": args.chunk,
        "sendfile_chunk": args.sendfile_chunk,
        "recv_buffer_sendfile": RECV_BUFFER,
        "timeout_s": args.timeout,
        "file_system": _mount_of(args.dir or Path(tempfile.gettempdir())),
    }
    out = write_json(results, settings, elapsed)
    print(f"total {elapsed:.1f}s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(peer_main(sys.argv[2:]) if sys.argv[1:2] == [PEER_FLAG] else main())
