"""A minimal blocking Kafka wire client built on kafkapy's own codec.

For tests and tools that need to send exact requests (any API version, malformed frames) and see
exact responses, which stock clients never do. The framing and the codecs are the broker's own:
a ``protocol.connection.Connection`` in the client role encodes the requests and decodes the
responses; this class only moves its bytes over a socket.
"""

from __future__ import annotations

import socket
from typing import Any

import construct as c

from kafkapy.protocol.connection import Connection, Role


class WireClient:
    """One TCP connection; ``request`` sends a request and returns the decoded response.

    A response that answers another correlation id, or does not decode, raises ProtocolError.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str = "kafkapy-wire",
        timeout: float = 10.0,
        source_host: str | None = None,
    ) -> None:
        """``source_host`` binds the client's end (127.0.0.2: another client host, for ACL host filters)."""
        source = (source_host, 0) if source_host is not None else None
        self.sock = socket.create_connection((host, port), timeout=timeout, source_address=source)
        self.client_id = client_id
        self._correlation_id = 0
        self._conn = Connection(our_role=Role.CLIENT)

    @classmethod
    def connect(cls, bootstrap: str, **kwargs: Any) -> WireClient:
        host, _, port = bootstrap.rpartition(":")
        return cls(host, int(port), **kwargs)

    def encode(self, api_key: int, version: int, body: dict) -> tuple[int, bytes]:
        """(correlation id, framed request)."""
        self._correlation_id += 1
        frame = self._conn.encode_request(api_key, version, self._correlation_id, body, client_id=self.client_id)
        return self._correlation_id, frame

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, api_key: int, version: int, body: dict, *, response_version: int | None = None) -> c.Container:
        correlation_id, data = self.encode(api_key, version, body)
        self.send_raw(data)
        version = response_version if response_version is not None else version
        return self.read_response(api_key, version, correlation_id)

    def read_response(self, api_key: int, version: int, correlation_id: int) -> c.Container:
        """The next response, decoded as (api, version)'s; ConnectionError if the broker closed."""
        while (response := self._conn.next_response(api_key, version, correlation_id)) is None:
            with self._conn.get_buffer() as buffer:
                n = self.sock.recv_into(buffer)
            if not n:
                raise ConnectionError("broker closed the connection")
            self._conn.buffer_updated(n)
        return response

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
