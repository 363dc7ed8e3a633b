"""Starting a broker: listening and opening the data dir, each failure a one-line StartupError.

``kafkapy serve`` prints the message and exits with code 2; the message names the problem and
the flag that fixes it, instead of a traceback.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig
from kafkapy.security.listeners import SSL_PROTOCOLS, Listener

if TYPE_CHECKING:
    from kafkapy.security.tls import TLSSettings

log = logging.getLogger("kafkapy.server")

# Kafka's name for the file it locks in each log dir, so that one broker at a time uses it.
LOCK_FILE = ".lock"


class StartupError(Exception):
    """The broker cannot start; the message is one line naming the problem and its fix."""


def first_exception(group: BaseExceptionGroup) -> BaseException:
    """The first exception inside a (nested) exception group: what a nursery around serve() raised."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def listen(config: BrokerConfig) -> list[tuple[Listener, list[trio.SocketListener]]]:
    """Listen on every client listener; StartupError saying which one failed, why, and what to change.

    A listener that fails closes the sockets of those opened before it.
    """
    opened: list[tuple[Listener, list[trio.SocketListener]]] = []
    try:
        for listener in config.client_listeners():
            try:
                sockets = await trio.open_tcp_listeners(listener.port, host=listener.host)
            except OSError as exc:
                raise StartupError(_listen_problem(listener.host, listener.port, exc)) from None
            opened.append((listener, sockets))
    except BaseException:
        close_listeners(opened)
        raise
    return opened


def close_listeners(listeners: list[tuple[Listener, list[trio.SocketListener]]]) -> None:
    """Close listening sockets that will not be served (start-up failed after they were opened)."""
    for _, sockets in listeners:
        for sock in sockets:
            sock.socket.close()


def tls_listener_settings(config: BrokerConfig) -> dict[str, TLSSettings]:
    """The TLS set-up of every SSL and SASL_SSL listener, by name; StartupError naming what is wrong.

    kafkapy.security.tls (and the cryptography package it uses for PKCS12) is imported only when a
    listener needs it, so a plaintext broker starts as fast as ever.
    """
    secured = [lsn for lsn in config.client_listeners() if lsn.security_protocol in SSL_PROTOCOLS]
    if not secured:
        return {}
    from kafkapy.security.tls import TLSConfigError, tls_settings

    settings = {}
    for listener in secured:
        try:
            settings[listener.name] = tls_settings(config, listener.name, listener.security_protocol)
        except TLSConfigError as exc:
            raise StartupError(f"listener {listener.name}: {exc}") from None
    return settings


def _listen_problem(host: str, port: int, exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot listen on {host}: unknown host ({exc.strerror}); pick an address with --host"
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use (another broker?); pick one with --port"
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on port {port} on {host} (ports below 1024 need root); pick one with --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: not an address of this machine; pick one with --host"
    return f"cannot listen on port {port} on {host}: {exc.strerror or exc}"


def open_broker(config: BrokerConfig) -> Broker:
    """Broker.open, with a data dir it cannot use turned into a StartupError."""
    try:
        if config.storage != "memory":
            _probe_writable(config.data_dir)
        return Broker.open(config)
    except OSError as exc:
        raise StartupError(_data_dir_problem(config.data_dir, exc)) from None
    except ValueError as exc:
        # Another broker's meta.properties (node.id) or an unreadable identity file; the traceback
        # is for --log-level debug.
        log.debug("data dir refused", exc_info=True)
        raise StartupError(f"cannot use data dir {config.data_dir}: {exc}; pick another with --data-dir") from None


@contextmanager
def data_dir_lock(config: BrokerConfig) -> Iterator[None]:
    """Hold the data dir's lock while the broker uses it, as Kafka locks each log dir.

    Two brokers on one data dir (a second ``kafkapy serve --port 9093`` from the same directory)
    would write the same segment files; the second is refused with a StartupError. The lock is
    flock(2): the kernel drops it when the process dies, so a crash leaves nothing to clean up.
    """
    if config.storage == "memory":
        yield
        return
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(config.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StartupError(_data_dir_problem(config.data_dir, exc)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StartupError(
                f"data dir {config.data_dir} is in use by another broker (its {LOCK_FILE} is locked);"
                " stop that broker or pick another with --data-dir"
            ) from None
        yield
    finally:
        os.close(fd)


def _probe_writable(data_dir: Path) -> None:
    """OSError unless a file can be made in an existing data dir.

    Opening one that already holds a broker writes nothing, so without this a data dir the broker
    cannot write (a volume left by a root container) would start and then fail the first topic
    creation or checkpoint, long after start-up.
    """
    if data_dir.is_dir():
        with tempfile.TemporaryFile(dir=data_dir):
            pass


def _data_dir_problem(data_dir: Path, exc: OSError) -> str:
    path = Path(exc.filename) if exc.filename else data_dir
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return f"data dir {data_dir} is not a directory ({path} is a file); point --data-dir at a directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        owner = _existing(path).stat().st_uid
        return (
            f"data dir {data_dir} is not writable by uid {os.geteuid()} ({_existing(path)} is owned by uid {owner});"
            " chown it (a docker volume is root's until chowned) or pick another with --data-dir"
        )
    if exc.errno == errno.EROFS:
        return f"data dir {data_dir} is on a read-only file system; pick another with --data-dir"
    where = "" if path == data_dir else f" ({path})"
    return f"cannot use data dir {data_dir}: {exc.strerror or exc}{where}; pick another with --data-dir"


def _existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that we can see (whose owner explains a permission error)."""
    while path != path.parent:
        try:
            path.stat()
            return path
        except OSError:  # missing, or behind a directory we may not enter
            path = path.parent
    return path


def storage_fields(config: BrokerConfig) -> dict[str, str]:
    """What the start-up and stop lines say about storage: memory, or disk and its data dir."""
    if config.storage == "memory":
        return {"storage": "memory"}
    return {"storage": config.storage, "data_dir": str(config.data_dir)}
