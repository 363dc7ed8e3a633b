"""The trio TCP server: one task per connection around a sans-IO ``Connection``.

Requests on a connection are handled one at a time, in order, like Apache Kafka, which mutes a
channel while its request is being processed, so responses always go out in request order; the
requests a client pipelines behind it wait, already read, in the connection's buffer.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable

import trio

from kafkapy.apis import HANDLERS, CloseConnection, RequestContext, load_handlers
from kafkapy.apis.api_versions import unsupported_version_response
from kafkapy.broker import Broker
from kafkapy.config import BrokerConfig
from kafkapy.logs import RateLimitedLog
from kafkapy.protocol.connection import API_VERSIONS_KEY, Connection, ProtocolError, Request
from kafkapy.protocol.schema import Region

log = logging.getLogger("kafkapy.server")
# Lines a client can cause by sending bad or unsupported requests, at most a few a second each
# however many connections send them (a fuzzer grew the log by megabytes without these).
bad_frame_log = RateLimitedLog(log)
unsupported_log = RateLimitedLog(log)
handler_closed_log = RateLimitedLog(log)
handler_failed_log = RateLimitedLog(log)

# Requests one connection handles from its buffer before it yields to the other connections.
REQUESTS_PER_CHECKPOINT = 16


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
    A region without an OS file descriptor (``fd`` None: ``--storage memory``) is sent from its bytes.
    """
    fd = getattr(region, "fd", None)
    if fd is None:
        await _send_all(sock, region.read_bytes())
        return
    position, remaining = region.position, region.length
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

    def __init__(self, broker: Broker, stream: trio.SocketStream) -> None:
        self.broker = broker
        self.sock = stream.socket
        self.conn = Connection(broker.config.socket_request_max_bytes)
        try:
            host, port = self.sock.getpeername()[:2]
            self.peer = f"{host}:{port}"
        except OSError:
            self.peer = "?"

    async def run(self) -> None:
        """Handle requests in order until the client closes or a request needs the connection closed.

        One task does it all, like Kafka muting a channel while its request is processed: the next
        request is decoded only after this one is answered, and the socket is read only when no
        complete request is buffered.
        """
        handled_since_receive = 0
        while True:
            try:
                request = self.conn.next_request()
            except ProtocolError as exc:
                bad_frame_log.warning("closing connection: bad request frame", peer=self.peer, error=str(exc))
                return
            if request is None:
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
            if not await self._handle(request):
                return

    async def _receive(self) -> bool:
        """Read what the socket has into the connection's buffer; False once the client is gone."""
        try:
            received = await self.sock.recv_into(self.conn.get_buffer())
        except OSError:
            return False
        if not received:
            return False
        self.conn.buffer_updated(received)
        return True

    async def _handle(self, request: Request) -> bool:
        """Handle one request; False when the connection must be closed."""
        started = time.perf_counter()
        handler = HANDLERS.get(request.api_key)
        if request.api_key == API_VERSIONS_KEY and (request.body is None or not handler.supports(request.api_version)):
            chunks = self.conn.encode_response(request, unsupported_version_response(), version=0)
            await send_chunks(self.sock, chunks)
            return True
        if handler is None or request.body is None or not handler.supports(request.api_version):
            # Apache Kafka closes the connection too: the client cannot read an answer in a
            # version it did not negotiate through ApiVersions.
            unsupported_log.warning(
                "closing connection: unsupported request",
                peer=self.peer,
                api_key=request.api_key,
                api_version=request.api_version,
            )
            return False
        ctx = RequestContext(self.broker, request, self.peer)
        try:
            body = await handler.func(ctx, request.body)
        except CloseConnection as exc:
            handler_closed_log.info("closing connection", api=handler.name, peer=self.peer, reason=str(exc))
            return False
        except Exception:
            handler_failed_log.exception("handler failed; closing connection", api=handler.name, peer=self.peer)
            return False
        if body is not None:
            await send_chunks(self.sock, self.conn.encode_response(request, body))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "request",
                extra={
                    "api": handler.name,
                    "version": request.api_version,
                    "correlation_id": request.correlation_id,
                    "client_id": request.client_id,
                    "size": request.size,
                    "peer": self.peer,
                    "ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
        return True


async def _serve_connection(broker: Broker, stream: trio.SocketStream) -> None:
    async with stream:
        try:
            await ClientConnection(broker, stream).run()
        except* (ConnectionError, trio.BrokenResourceError, trio.ClosedResourceError) as group:
            log.debug("connection closed", extra={"error": str(group.exceptions[0])})
        except* Exception:
            # A bug met by one client must not take the broker down with it.
            log.exception("connection failed; closed")


async def serve(
    config: BrokerConfig,
    *,
    on_ready: Callable[[str, int], None] | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open the data dir, listen, and serve until cancelled; then close every log cleanly."""
    load_handlers()
    broker = Broker.open(config)
    try:
        listeners = await trio.open_tcp_listeners(config.port, host=config.host)
        port = listeners[0].socket.getsockname()[1]
        config.port = port
        async with trio.open_nursery() as nursery:
            await nursery.start(broker.run)
            await nursery.start(trio.serve_listeners, lambda s: _serve_connection(broker, s), listeners)
            log.info("listening", extra={"host": config.host, "port": port, "data_dir": str(config.data_dir)})
            if on_ready is not None:
                on_ready(config.host, port)
            task_status.started(port)
    finally:
        broker.close()
        log.info("stopped", extra={"data_dir": str(config.data_dir)})
