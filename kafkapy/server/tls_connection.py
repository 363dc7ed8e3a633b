"""A client connection on an SSL or SASL_SSL listener: the same request loop, its bytes through TLS.

TLS is the standard library's ``ssl``: an ``SSLObject`` over two memory BIOs, fed from the raw
socket by the same non-blocking reads and writes as the plaintext path. Not ``trio.SSLStream``:
its ``receive_some`` returns one TLS record per call, each a pass through trio's scheduler, and
librdkafka writes a record per message (~1 KB), so a producer over SSLStream got 27 MB/s where this
drains every record a socket read brought in one go (Kafka's SslTransportLayer unwraps in a loop
the same way); the measurements are in the commit that made the change.

TLS cannot splice files (the bytes must be encrypted), so, as in Kafka, a fetch's file regions are
read with pread, a bounded chunk at a time, encrypted and sent. The handshake runs in the
connection's own task: a client that fails it (wrong CA, a plaintext client on a TLS port) costs
one log line and its connection, nothing else.
"""

from __future__ import annotations

import logging
import os
import ssl

import trio

from kafkapy.broker import Broker
from kafkapy.logging_setup import RateLimitedLog
from kafkapy.protocol.schema import Region
from kafkapy.security.listeners import Listener
from kafkapy.security.session import SSL
from kafkapy.security.tls import TLSSettings, ssl_reason
from kafkapy.server.server import ClientConnection, _send_all

log = logging.getLogger("kafkapy.server")
# Handshake failures are what a port scanner or a misconfigured client causes, repeatedly.
handshake_log = RateLimitedLog(log)
# Raw bytes read from the socket at a time: many TLS records, decrypted in one go.
RAW_READ_SIZE = 256 * 1024
# Decrypted bytes taken from OpenSSL per read call (at most one TLS record, 16 KiB, comes per call).
DECRYPTED_READ_SIZE = 64 * 1024
# A segment file region is read and encrypted this much at a time (a fetch may hold megabytes).
REGION_CHUNK = 1024 * 1024


class TLSClientConnection(ClientConnection):
    """ClientConnection whose bytes go through TLS; the Session's principal comes from the handshake."""

    def __init__(self, broker: Broker, stream: trio.SocketStream, listener: Listener, tls: TLSSettings) -> None:
        super().__init__(broker, stream, listener)
        self.tls = tls
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.ssl_object = tls.context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    async def run(self) -> None:
        if await self._handshake():
            await super().run()

    async def _handshake(self) -> bool:
        """Complete the TLS handshake and set the principal; False (logged) when the client fails it."""
        try:
            while True:
                try:
                    self.ssl_object.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await self._flush()
                    if not await self._fill():
                        return False
            await self._flush()
        except ssl.SSLError as exc:
            # A plaintext client's bytes: "wrong version number"; an untrusted certificate: "certificate unknown".
            handshake_log.info("closing connection: TLS handshake failed", peer=self.peer, error=ssl_reason(exc))
            return False
        if self.tls.security_protocol == SSL:
            # On SASL_SSL the principal is SASL's, once the client authenticates.
            try:
                self.session.principal = self.tls.principal(self.ssl_object)
            except ValueError as exc:  # NoMatchingRule, or a certificate OpenSSL took and cryptography cannot read
                handshake_log.info("closing connection: SSL authentication failed", peer=self.peer, error=str(exc))
                return False
        return True

    async def _fill(self) -> bool:
        """Raw bytes from the socket into OpenSSL; False when the client has gone or stayed idle too long."""
        data = await self._read_socket(lambda fd: os.read(fd, RAW_READ_SIZE))
        if not data:
            return False
        self.incoming.write(data)
        return True

    async def _flush(self) -> None:
        """Send what OpenSSL has written (handshake messages, encrypted records)."""
        data = self.outgoing.read()
        if data:
            await _send_all(self.sock, data)

    async def _receive(self) -> bool:
        """Decrypt every record the socket has into the connection's buffer; False once the client is gone."""
        received = False
        while True:
            try:
                data = self.ssl_object.read(DECRYPTED_READ_SIZE)
            except ssl.SSLWantReadError:
                # TLS 1.3 post-handshake messages (a key update) may need an answer.
                await self._flush()
                if received:
                    break
                if not await self._fill():
                    return False
                continue
            except ssl.SSLError as exc:  # close_notify, an EOF inside a record, a bad record
                log.debug("TLS connection closed", extra={"peer": self.peer, "error": ssl_reason(exc)})
                return False
            if not data:
                return False
            self.conn.receive_data(data)
            received = True
        await trio.lowlevel.checkpoint()
        return True

    async def _send(self, chunks: list[bytes | Region]) -> None:
        """Encrypt and send a response; file regions a chunk at a time, read with pread."""
        for chunk in chunks:
            if isinstance(chunk, bytes):
                if chunk:
                    self.ssl_object.write(chunk)
                continue
            with chunk.opened() as fd:
                if fd is None:
                    self.ssl_object.write(chunk.read_bytes())
                    continue
                await self._flush()
                await self._send_file(fd, chunk.position, chunk.length)
        await self._flush()

    async def _send_file(self, fd: int, position: int, remaining: int) -> None:
        """A segment file region through TLS: pread a chunk, encrypt and send it, until done."""
        while remaining:
            data = os.pread(fd, min(remaining, REGION_CHUNK), position)
            if not data:
                raise ConnectionError(f"segment file ended {remaining} bytes early")
            self.ssl_object.write(data)
            await self._flush()
            position += len(data)
            remaining -= len(data)
