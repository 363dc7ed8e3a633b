"""A client connection on an SSL or SASL_SSL listener: the same request loop over ``trio.SSLStream``.

The plaintext path reads and writes the socket directly and sends segment files with sendfile;
TLS cannot splice files (the bytes must be encrypted), so, as in Kafka, a fetch's file regions are
read with pread, a bounded chunk at a time, and sent through the SSL stream. The handshake runs in
the connection's own task: a client that fails it (wrong CA, a plaintext client on a TLS port)
costs one log line and its connection, nothing else.
"""

from __future__ import annotations

import logging
import os

import trio

from kafkapy.broker import Broker
from kafkapy.logging_setup import RateLimitedLog
from kafkapy.protocol.schema import Region
from kafkapy.security.listeners import Listener
from kafkapy.security.session import SSL
from kafkapy.security.tls import NoMatchingRule, TLSSettings, ssl_reason
from kafkapy.server.server import ClientConnection

log = logging.getLogger("kafkapy.server")
# Handshake failures are what a port scanner or a misconfigured client causes, repeatedly.
handshake_log = RateLimitedLog(log)
# Bytes asked of the SSL stream per receive: memory follows what arrives, a TLS record or a few.
RECEIVE_SIZE = 64 * 1024
# A segment file region is read and encrypted this much at a time (a fetch may hold megabytes).
REGION_CHUNK = 1024 * 1024


class TLSClientConnection(ClientConnection):
    """ClientConnection whose bytes go through TLS; the Session's principal comes from the handshake."""

    def __init__(self, broker: Broker, stream: trio.SocketStream, listener: Listener, tls: TLSSettings) -> None:
        super().__init__(broker, stream, listener)
        self.tls = tls
        # https_compatible: a client that closes without close_notify (most do) has simply gone.
        self.stream = trio.SSLStream(stream, tls.context, server_side=True, https_compatible=True)

    async def run(self) -> None:
        if await self._handshake():
            await super().run()

    async def _handshake(self) -> bool:
        """Complete the TLS handshake and set the principal; False (logged) when the client fails it."""
        with trio.move_on_after(self.max_idle_s):
            try:
                await self.stream.do_handshake()
            except trio.BrokenResourceError as exc:
                # A plaintext client's bytes: "wrong version number"; an untrusted certificate: "certificate unknown".
                reason = ssl_reason(exc.__cause__ or exc)
                handshake_log.info("closing connection: TLS handshake failed", peer=self.peer, error=reason)
                return False
            if self.tls.security_protocol == SSL:
                # On SASL_SSL the principal is SASL's, once the client authenticates.
                try:
                    self.session.principal = self.tls.principal(self.stream)  # type: ignore[arg-type]
                except NoMatchingRule as exc:
                    handshake_log.info("closing connection: SSL authentication failed", peer=self.peer, error=str(exc))
                    return False
            return True
        log.debug("closing connection: no TLS handshake within connections.max.idle.ms", extra={"peer": self.peer})
        return False

    async def _receive(self) -> bool:
        """Read decrypted bytes into the connection's buffer; False once the client is gone or idle too long."""
        with trio.move_on_after(self.max_idle_s):
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except trio.BrokenResourceError:
                return False
            if not data:
                return False
            self.conn.receive_data(data)
            return True
        log.debug("closing idle connection", extra={"peer": self.peer, "idle_ms": round(self.max_idle_s * 1000)})
        return False

    async def _send(self, chunks: list[bytes | Region]) -> None:
        """Encrypt and send a response; bytes around file regions are joined into as few writes as can be."""
        pending: list[bytes] = []
        for chunk in chunks:
            if isinstance(chunk, bytes):
                pending.append(chunk)
                continue
            with chunk.opened() as fd:
                if fd is None:
                    pending.append(chunk.read_bytes())
                    continue
                await self._flush(pending)
                await self._send_file(fd, chunk.position, chunk.length)
        await self._flush(pending)

    async def _flush(self, pending: list[bytes]) -> None:
        if pending:
            data = b"".join(pending)
            pending.clear()
            if data:
                await self.stream.send_all(data)

    async def _send_file(self, fd: int, position: int, remaining: int) -> None:
        """A segment file region through TLS: pread a chunk, send it, until done."""
        while remaining:
            data = os.pread(fd, min(remaining, REGION_CHUNK), position)
            if not data:
                raise ConnectionError(f"segment file ended {remaining} bytes early")
            await self.stream.send_all(data)
            position += len(data)
            remaining -= len(data)

