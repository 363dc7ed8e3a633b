"""A minimal blocking Kafka wire client built on kafkapy's own codec.

For tests and tools that need to send exact requests (any API version, malformed frames) and see
exact responses, which stock clients never do.
"""

from __future__ import annotations

import io
import socket
import struct
from typing import Any

import construct as c

from kafkapy.protocol.schema import codec, header_construct

_SIZE = struct.Struct(">i")


class WireClient:
    """One TCP connection; ``request`` sends a request and returns the decoded response."""

    def __init__(self, host: str, port: int, *, client_id: str = "kafkapy-wire", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.client_id = client_id
        self._correlation_id = 0

    @classmethod
    def connect(cls, bootstrap: str, **kwargs: Any) -> WireClient:
        host, _, port = bootstrap.rpartition(":")
        return cls(host, int(port), **kwargs)

    def encode(self, api_key: int, version: int, body: dict) -> tuple[int, bytes]:
        """(correlation id, framed request)."""
        self._correlation_id += 1
        pair = codec(api_key, version)
        header = header_construct("RequestHeader", pair.request_header_version).build(
            {
                "request_api_key": api_key,
                "request_api_version": version,
                "correlation_id": self._correlation_id,
                "client_id": self.client_id,
            }
        )
        payload = header + pair.encode_request(body)
        return self._correlation_id, _SIZE.pack(len(payload)) + payload

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive_frame(self) -> bytes:
        """One response frame without its size; ConnectionError if the broker closed."""
        size = _SIZE.unpack(self._read(4))[0]
        return self._read(size)

    def request(self, api_key: int, version: int, body: dict, *, response_version: int | None = None) -> c.Container:
        correlation_id, data = self.encode(api_key, version, body)
        self.send_raw(data)
        version = response_version if response_version is not None else version
        return self.read_response(api_key, version, correlation_id)

    def read_response(self, api_key: int, version: int, correlation_id: int) -> c.Container:
        stream = io.BytesIO(self.receive_frame())
        pair = codec(api_key, version)
        header = header_construct("ResponseHeader", pair.response_header_version).parse_stream(stream)
        if header.correlation_id != correlation_id:
            raise AssertionError(f"correlation id {header.correlation_id}, expected {correlation_id}")
        return pair.response.parse_stream(stream)

    def _read(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return bytes(buf)

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the broker closes the connection within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
