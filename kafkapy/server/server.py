"""The trio TCP server: one task per connection around a sans-IO ``Connection``.

Requests on a connection are handled one at a time, in order, like Apache Kafka, which mutes a
channel while its request is being processed, so responses always go out in request order; the
requests a client pipelines behind it wait, already read, in the connection's buffer.
"""

from __future__ import annotations

import errno
import logging
import math
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

import trio

from kafkapy.apis import CloseConnection, RequestContext, load_handlers
from kafkapy.apis.dispatch import dispatch
from kafkapy.apis.sasl_authenticate import evaluate_token
from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig
from kafkapy.logging_setup import RateLimitedLog
from kafkapy.protocol.connection import Connection, ProtocolError, Request
from kafkapy.protocol.schema import Region
from kafkapy.security.listeners import Listener
from kafkapy.security.sasl import max_receive_size
from kafkapy.security.session import Session
from kafkapy.server.connection_quotas import ConnectionQuotas, IPAddress, client_address
from kafkapy.server.startup import (
    close_listeners,
    data_dir_lock,
    listen,
    open_broker,
    storage_fields,
    tls_listener_settings,
)

if TYPE_CHECKING:
    from kafkapy.security.tls import TLSSettings

log = logging.getLogger("kafkapy.server")
# What one socket read returns (a byte count for readv, bytes for read).
_Read = TypeVar("_Read")
# Lines a client can cause by sending bad frames, at most a few a second however many connections
# send them (a fuzzer grew the log by megabytes without it); dispatch limits its own the same way.
bad_frame_log = RateLimitedLog(log)

# Requests one connection handles from its buffer before it yields to the other connections.
REQUESTS_PER_CHECKPOINT = 16
# A connection that has waited this long for its client's next bytes gives its receive buffer back
# (allocated again when bytes arrive): idle connections cost a few KB, busy ones keep their buffer.
BUFFER_RELEASE_S = 1.0
# How long a connection answered before it is closed (a failed authentication) stays open.
CLOSE_AFTER_ANSWER_S = 0.1
# accept() failing for want of file descriptors or memory: wait, doubling up to the maximum, and try
# again (trio's serve_listeners waits 100 ms each time, logging every attempt).
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
ACCEPT_RETRY_MIN_S = 0.01
ACCEPT_RETRY_MAX_S = 0.5
# While accept keeps failing, it is logged at most once this often.
ACCEPT_FAILURE_LOG_INTERVAL_S = 60.0


async def _send_all(sock: trio.socket.SocketType, data: bytes) -> None:
    """Write all of ``data``, waiting for the socket only when its send buffer is full.

    trio's ``sock.send`` yields to the scheduler after every successful call; the connection task
    already yields once per receive, so a response's writes skip that extra scheduler pass.
    """
    fd = sock.fileno()
    view = memoryview(data)
    while view:
        try:
            sent = os.write(fd, view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        view = view[sent:]


async def _send_region(sock: trio.socket.SocketType, region: Region) -> None:
    """Zero-copy send of a segment file range; falls back to pread+send where sendfile can't.

    Like ``_send_all`` it writes first and waits for the socket only when its buffer is full.
    A region without an OS file descriptor (None: ``--storage memory``) is sent from its bytes.
    The fd stays open until the region is sent, whatever the storage's LRU of open files does
    while this waits on the socket.
    """
    with region.opened() as fd:
        if fd is None:
            await _send_all(sock, region.read_bytes())
            return
        await _sendfile(sock, fd, region.position, region.length)


async def _sendfile(sock: trio.socket.SocketType, fd: int, position: int, remaining: int) -> None:
    """``os.sendfile`` of ``remaining`` bytes of ``fd`` from ``position``, pread+send where it can't."""
    while remaining:
        try:
            sent = os.sendfile(sock.fileno(), fd, position, remaining)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            await _send_all(sock, os.pread(fd, remaining, position))
            return
        if sent == 0:
            raise ConnectionError(f"segment file ended {remaining} bytes early")
        position += sent
        remaining -= sent


async def send_chunks(sock: trio.socket.SocketType, chunks: list[bytes | Region]) -> None:
    for chunk in chunks:
        if isinstance(chunk, bytes):
            if chunk:
                await _send_all(sock, chunk)
        else:
            await _send_region(sock, chunk)


class ClientConnection:
    """One client's connection: reads requests, dispatches them in order, writes responses."""

    def __init__(self, broker: Broker, stream: trio.SocketStream, listener: Listener) -> None:
        self.broker = broker
        self.sock = stream.socket
        self.conn = Connection(broker.config.socket_request_max_bytes)
        self.session = Session.for_listener(listener.name, listener.security_protocol)
        # While SASL authenticates (or re-authenticates) requests and raw tokens are held to
        # sasl.server.max.receive.size (Kafka's 512 KB), as Kafka's SaslServerAuthenticator reads them.
        self.authenticating = False
        self.sasl_max_receive_size = broker.config.socket_request_max_bytes
        self.sasl_listener = not self.session.authenticated
        if self.sasl_listener:
            self.sasl_max_receive_size = min(self.sasl_max_receive_size, max_receive_size(broker.config, listener.name))
            self._track_authentication()
        idle_ms = broker.config.connections_max_idle_ms
        self.max_idle_s = idle_ms / 1000 if idle_ms >= 0 else math.inf
        # Kafka's client host is the address alone; the peer "host:port" names the connection in logs.
        try:
            host, port = self.sock.getpeername()[:2]
            self.host, self.peer = host, f"{host}:{port}"
        except OSError:
            self.host = self.peer = "?"

    async def run(self) -> None:
        """Handle requests in order until the client closes or a request needs the connection closed.

        One task does it all, like Kafka muting a channel while its request is processed: the next
        request is decoded only after this one is answered, and the socket is read only when no
        complete request is buffered.
        """
        handled_since_receive = 0
        while True:
            try:
                # After a SaslHandshake v0 the frames are raw SASL tokens until the exchange completes.
                received = self.conn.next_sasl_token() if self.conn.sasl_tokens else self.conn.next_request()
            except ProtocolError as exc:
                bad_frame_log.warning("closing connection: bad request frame", peer=self.peer, error=str(exc))
                return
            if received is None:
                handled_since_receive = 0
                if not await self._receive():
                    return
                continue
            if handled_since_receive == REQUESTS_PER_CHECKPOINT:
                # One receive can hold hundreds of small pipelined requests; let other
                # connections run between them.
                handled_since_receive = 0
                await trio.lowlevel.checkpoint()
            handled_since_receive += 1
            if isinstance(received, bytes):
                if not await self._handle_sasl_token(received):
                    return
            elif not await self._handle(received):
                return

    async def _receive(self) -> bool:
        """Read what the socket has into the connection's buffer; False once the client is gone.

        The read is tried first and the socket waited on only when it has nothing; the task
        yields once per receive either way, as trio's own ``recv_into`` does.
        """
        # The buffer is asked for at each try: a long wait gives it back (_wait_readable).
        received = await self._read_socket(lambda fd: os.readv(fd, [self.conn.get_buffer()]))
        if not received:
            return False
        self.conn.buffer_updated(received)
        await trio.lowlevel.checkpoint()
        return True

    async def _read_socket(self, read: Callable[[int], _Read]) -> _Read | None:
        """``read(fd)`` of the socket, waiting for it only when it has nothing; None once the client
        has gone, the read failed, or the client stayed idle past connections.max.idle.ms."""
        while True:
            try:
                return read(self.sock.fileno())
            except BlockingIOError:
                if not await self._wait_readable():
                    return None
            except OSError:
                return None

    async def _wait_readable(self) -> bool:
        """Wait for the client's next bytes; False when it stays idle for connections.max.idle.ms.

        Past BUFFER_RELEASE_S of waiting the receive buffer is given back; past the idle limit the
        connection is closed, as Kafka's selector closes connections idle that long.
        """
        now = trio.current_time()
        close_at = now + self.max_idle_s
        for deadline in (min(now + BUFFER_RELEASE_S, close_at), close_at):
            with trio.move_on_at(deadline):
                await trio.lowlevel.wait_readable(self.sock)
                return True
            self.conn.release_buffer()
        log.debug("closing idle connection", extra={"peer": self.peer, "idle_ms": round(self.max_idle_s * 1000)})
        return False

    async def _handle(self, request: Request) -> bool:
        """Answer one request (kafkapy.apis.dispatch decides with what); False when the connection must be closed."""
        ctx = RequestContext(self.broker, request, client_host=self.host, peer=self.peer, session=self.session)
        try:
            answer = await dispatch(ctx, request)
        except CloseConnection:
            return False
        if self.sasl_listener:
            self._track_authentication()
        if answer is None:
            return True
        if answer.body is not None:
            await self._send(self.conn.encode_response(request, answer.body, answer.version))
        if answer.close:
            # The client reads the answer before it sees the close (kafka-python drops bytes that
            # arrive with the end of the stream); Kafka delays these closes by
            # connection.failed.authentication.delay.ms, 100 ms by default.
            await trio.sleep(CLOSE_AFTER_ANSWER_S)
            return False
        if answer.throttle_s:
            # A throttled client: like Kafka, the response goes at once, then no request is read for that long.
            await trio.sleep(answer.throttle_s)
        return True

    async def _handle_sasl_token(self, token: bytes) -> bool:
        """A raw SASL token after a SaslHandshake v0: its challenge goes back raw, and once the exchange
        completes Kafka requests follow; False when the client fails it.

        A failure closes the connection without an answer (the client reads no error frame), as Kafka's
        SaslServerAuthenticator does without SaslAuthenticate headers, after the same delay as above.
        """
        try:
            challenge, _ = evaluate_token(self.broker, self.session, token, self.peer)
        except CloseConnection:
            await trio.sleep(CLOSE_AFTER_ANSWER_S)
            return False
        frame = self.conn.encode_sasl_token(challenge)
        if self.session.sasl_server is None:
            self.conn.end_sasl_tokens()
        self._track_authentication()
        await self._send([frame])
        return True

    def _track_authentication(self) -> None:
        """The request size limit for where SASL is: sasl.server.max.receive.size while it
        authenticates, socket.request.max.bytes once it has."""
        authenticating = not self.session.authenticated or self.session.sasl_server is not None
        if authenticating != self.authenticating:
            self.authenticating = authenticating
            limit = self.sasl_max_receive_size if authenticating else self.broker.config.socket_request_max_bytes
            self.conn.set_max_request_size(limit)

    async def _send(self, chunks: list[bytes | Region]) -> None:
        """Write a response: straight to the socket, segment file regions by sendfile."""
        await send_chunks(self.sock, chunks)


async def _serve_connection(
    broker: Broker,
    listener: Listener,
    tls: TLSSettings | None,
    stream: trio.SocketStream,
    quotas: ConnectionQuotas,
    address: IPAddress,
) -> None:
    try:
        async with stream:
            if tls is None:
                await ClientConnection(broker, stream, listener).run()
            else:
                # Imported here: it subclasses ClientConnection, and only TLS listeners need it.
                from kafkapy.server.tls_connection import TLSClientConnection

                await TLSClientConnection(broker, stream, listener, tls).run()
    except* (ConnectionError, trio.BrokenResourceError, trio.ClosedResourceError) as group:
        log.debug("connection closed", extra={"error": str(group.exceptions[0])})
    except* Exception:
        # A bug met by one client must not take the broker down with it.
        log.exception("connection failed; closed")
    finally:
        quotas.release(address)


class _AcceptFailures:
    """accept() failing for lack of file descriptors or memory: logged once, then rate-limited.

    The broker keeps serving its connections meanwhile and accepts again once a descriptor is free
    (connections arriving meanwhile wait in the listen backlog).
    """

    def __init__(self) -> None:
        self.count = 0  # failures in a row
        self.logged = False  # this run of failures has been logged
        self.next_log_at = -math.inf

    async def failed(self, exc: OSError) -> None:
        self.count += 1
        now = trio.current_time()
        if now >= self.next_log_at:
            self.next_log_at = now + ACCEPT_FAILURE_LOG_INTERVAL_S
            self.logged = True
            log.error(
                "cannot accept connections; retrying",
                extra={"error": os.strerror(exc.errno or 0), "failed_accepts": self.count},
            )
        await trio.sleep(min(ACCEPT_RETRY_MAX_S, ACCEPT_RETRY_MIN_S * 2 ** min(self.count, 16)))

    def succeeded(self) -> None:
        if self.logged:
            log.warning("accepting connections again", extra={"failed_accepts": self.count})
        self.count, self.logged = 0, False


async def _accept(listener: trio.SocketListener, failures: _AcceptFailures) -> trio.SocketStream:
    """The next connection; waits out a shortage of descriptors or memory instead of failing."""
    while True:
        try:
            stream = await listener.accept()
        except OSError as exc:
            if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                raise
            await failures.failed(exc)
        else:
            failures.succeeded()
            return stream


def _peer_address(stream: trio.SocketStream) -> IPAddress | None:
    """The client's address as the per-address limits count it; None once it has hung up."""
    try:
        return client_address(stream.socket.getpeername()[0])
    except (OSError, ValueError):
        return None  # already gone


async def _serve_listener(
    broker: Broker,
    listener: Listener,
    tls: TLSSettings | None,
    sock: trio.SocketListener,
    quotas: ConnectionQuotas,
    nursery: trio.Nursery,
) -> None:
    """Kafka's acceptor for one listener socket: accept, apply the connection limits, start the connection's task."""
    failures = _AcceptFailures()
    async with sock:
        while True:
            stream = await _accept(sock, failures)
            try:
                await quotas.wait_for_slot()
            except trio.Cancelled:
                stream.socket.close()  # shutting down while at max.connections
                raise
            address = _peer_address(stream)
            if address is None:
                await stream.aclose()
            elif not quotas.admit(address):
                log.info(
                    "rejected connection: its address already has max.connections.per.ip connections",
                    extra={"peer": str(address), "max": quotas.limit(address)},
                )
                await stream.aclose()
            else:
                nursery.start_soon(_serve_connection, broker, listener, tls, stream, quotas, address)


async def _serve_listeners(
    broker: Broker,
    listeners: list[tuple[Listener, list[trio.SocketListener]]],
    tls: dict[str, TLSSettings],
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    """Accept on every listener; the connection tasks share one nursery and one count of connections."""
    quotas = ConnectionQuotas.from_config(broker.config, broker.dynamic_config)
    broker.dynamic_config.listeners.append(lambda: quotas.reconfigure(broker.config, broker.dynamic_config))
    async with trio.open_nursery() as nursery:
        for listener, sockets in listeners:
            for sock in sockets:
                nursery.start_soon(_serve_listener, broker, listener, tls.get(listener.name), sock, quotas, nursery)
        task_status.started()


def _record_ports(config: BrokerConfig, listeners: list[tuple[Listener, list[trio.SocketListener]]]) -> None:
    """The port each listener got (port 0 asks for a free one) into the config, where Metadata reads it."""
    for index, (_, sockets) in enumerate(listeners):
        port = sockets[0].socket.getsockname()[1]
        if index == 0:
            config.port = port
        else:
            config.listeners[index] = replace(config.listeners[index], port=port)


async def serve(
    config: BrokerConfig,
    *,
    on_ready: Callable[[str, int], None] | None = None,
    on_open: Callable[[Broker], None] | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen, open the data dir, and serve until cancelled; then close every log cleanly.

    Listening comes first so that a port in use fails before any recovery work; either failure is
    a StartupError with a one-line message. ``on_open`` receives the Broker once its data dir is
    loaded, for kafkapy-only controls that are not Kafka requests (``Broker.reset`` by SIGUSR1 or
    from KafkaBroker's thread).
    """
    load_handlers()
    tls = tls_listener_settings(config)
    listeners = await listen(config)
    with ExitStack() as held:
        try:
            held.enter_context(data_dir_lock(config))
            broker = open_broker(config)
        except BaseException:
            close_listeners(listeners)
            raise
        if on_open is not None:
            on_open(broker)
        try:
            _record_ports(config, listeners)
            async with trio.open_nursery() as nursery:
                await nursery.start(broker.run)
                await nursery.start(_serve_listeners, broker, listeners, tls)
                for listener in config.client_listeners():
                    log.info(
                        "listening",
                        extra={
                            "listener": listener.name,
                            "security_protocol": listener.security_protocol,
                            "host": listener.host,
                            "port": listener.port,
                            **storage_fields(config),
                        },
                    )
                if on_ready is not None:
                    on_ready(config.host, config.port)
                task_status.started(config.port)
        finally:
            broker.close()
            log.info("stopped", extra=storage_fields(config))
