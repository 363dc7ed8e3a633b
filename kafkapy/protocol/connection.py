"""Sans-IO Kafka connection, in the manner of h11: bytes in, requests out; responses in, bytes out.

The broker's socket loop feeds whatever it received to ``receive_data`` and takes complete requests
from ``next_request``; for each request it hands the response object to ``encode_response`` and sends
the returned chunks (bytes, and file regions to splice with sendfile) in order.

A client plays the other end, as h11's ``Connection(our_role=CLIENT)``: ``encode_request`` frames a
request, and ``next_response`` decodes what it received. Both ends share the framing (the size
prefix, the receive buffers, the header codecs), so it lives in one place.

A SaslHandshake v0 answered NONE (pre-KIP-152) changes the framing, as in Kafka's
SaslServerAuthenticator without Kafka headers: the frames that follow, both ways, are raw SASL tokens
(a size and the token's bytes, no header), read with ``next_sasl_token`` and framed with
``encode_sasl_token``, until the side that knows the exchange is over calls ``end_sasl_tokens``.
The connection sees the handshake go through (``encode_response`` on the broker,
``next_response`` on the client), so both ends switch at the same frame.
"""

from __future__ import annotations

import contextlib
import enum
import io
import mmap
import struct
from dataclasses import dataclass, field

import construct as c

from kafkapy.protocol.schema import Codec, Region, ResponseWriter, build_stream, codec, header_construct, parse_stream
from kafkapy.protocol.specs import ApiKey, api_specs

# Kafka's socket.request.max.bytes is 100 MiB.
DEFAULT_MAX_REQUEST_SIZE = 100 * 1024 * 1024

_SIZE = struct.Struct(">i")
_KEY_VERSION_CORRELATION = struct.Struct(">hhi")
# The only SaslHandshake version whose tokens follow as raw frames (v1+: in SaslAuthenticate requests).
_RAW_TOKENS_HANDSHAKE_VERSION = 0
# A raw SASL token may be empty (Kafka's NetworkReceive refuses only a negative size).
_MIN_TOKEN_SIZE = 0


# A response frame holds at least its correlation id; any int32 size is a valid one for a client.
_MIN_RESPONSE_SIZE = 4
_MAX_RESPONSE_SIZE = 2**31 - 1


class ProtocolError(Exception):
    """The peer sent something that is not a Kafka request (or, to a client, not the response it
    waits for): the connection must be closed."""


class Role(enum.Enum):
    """Which end of the connection this side plays (h11's ``our_role``)."""

    SERVER = "server"  # reads requests, writes responses: the broker
    CLIENT = "client"  # writes requests, reads responses: kafkapy.client.wire


@dataclass
class Request:
    """One decoded request. ``body`` is None when the API or version is not in the specs."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    size: int
    body: c.Container | None = None
    codec: Codec | None = field(default=None, repr=False)


# A connection's receive buffer: small requests are read into it and copied out whole. It is
# anonymous memory that costs RSS only for the pages written to (a request/response client touches
# one), allocated at the connection's first read and given back to the OS when it goes idle
# (``release_buffer``): a bytearray would be zeroed whole, and its freed memory kept in the heap.
RECEIVE_BUFFER_SIZE = 128 * 1024
# A request at least this large that has not fully arrived gets a buffer of its own, and the rest
# of it is read straight into that buffer (no copy out). The buffer starts at twice the bytes
# received (at least this size) and doubles whenever it is full, up to the declared size: memory
# follows the bytes a peer sends, not the size it claims (Kafka bounds the latter with
# queued.max.request.bytes instead).
LARGE_REQUEST_SIZE = 64 * 1024
# What a large request's buffer grows by is copied from here, so growing it makes no temporary
# bytes object.
_ZEROS = memoryview(bytes(1024 * 1024))
# Not charged against the commit limit up front either (strict overcommit); Python 3.13+ names the flag.
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0)


def _anonymous_memory(size: int) -> mmap.mmap:
    """``size`` bytes of private anonymous memory, backed by RAM page by page as they are written."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | _MAP_NORESERVE)


class Connection:
    """Framing and header/body codec for one connection, from the broker's side unless ``our_role``
    is ``Role.CLIENT``.

    Bytes come in either through ``receive_data`` (any bytes object) or, without a copy, in the
    manner of asyncio's BufferedProtocol: read into ``get_buffer()`` and report ``buffer_updated(n)``.
    ``max_request_size`` bounds the frames a broker accepts; a client takes any response size.
    """

    def __init__(self, max_request_size: int = DEFAULT_MAX_REQUEST_SIZE, *, our_role: Role = Role.SERVER) -> None:
        self.our_role = our_role
        self.max_request_size = max_request_size
        if our_role is Role.CLIENT:
            self._min_frame, self._max_frame, self._frame_kind = _MIN_RESPONSE_SIZE, _MAX_RESPONSE_SIZE, "response"
        else:
            self._min_frame, self._max_frame, self._frame_kind = 8, max_request_size, "request"
        self._min_message, self._message_kind = self._min_frame, self._frame_kind  # restored when raw SASL tokens end
        # After a SaslHandshake v0: the next frames are raw SASL tokens, not Kafka requests/responses.
        self.sasl_tokens = False
        self._scratch: mmap.mmap | None = None  # allocated by get_buffer, given back by release_buffer
        self._start = 0  # unparsed bytes are _scratch[_start:_end]
        self._end = 0
        self._large: bytearray | None = None  # a large request's frame (without its size) being filled
        self._large_size = 0  # its declared size, which len(_large) grows to
        self._large_filled = 0

    def _filling_large(self) -> bool:
        return self._large is not None and self._large_filled < self._large_size

    def get_buffer(self) -> memoryview:
        """Where the next bytes from the socket should be read to (never empty).

        The caller drops the view before the next call: the large request's buffer grows in place.
        """
        if self._large is not None and self._filling_large():
            if self._large_filled == len(self._large):
                self._grow_large()
            return memoryview(self._large)[self._large_filled :]
        if self._scratch is None:
            self._scratch = _anonymous_memory(RECEIVE_BUFFER_SIZE)
        elif self._end == len(self._scratch):
            pending = self._end - self._start
            if self._start:
                self._scratch.move(0, self._start, pending)
            else:
                # Full of unparsed bytes: only a caller that feeds without taking requests gets here.
                grown = _anonymous_memory(2 * len(self._scratch))
                grown.write(self._scratch)
                self._scratch = grown
            self._start, self._end = 0, pending
        return memoryview(self._scratch)[self._end :]

    def _grow_large(self) -> None:
        """Double a large request's full buffer, but not past its declared size."""
        frame = self._large
        assert frame is not None
        target = min(2 * len(frame), self._large_size)
        while len(frame) < target:
            frame += _ZEROS[: target - len(frame)]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written at the start of the last ``get_buffer()``."""
        if self._filling_large():
            self._large_filled += nbytes
        else:
            self._end += nbytes

    def set_max_request_size(self, size: int) -> None:
        """The largest request accepted from now on (Kafka's sasl.server.max.receive.size before SASL
        authentication, socket.request.max.bytes after)."""
        self.max_request_size = self._max_frame = size

    def release_buffer(self) -> None:
        """Give the receive buffer back to the OS unless it holds unparsed bytes: for an idle connection.

        The next ``get_buffer`` allocates a new one.
        """
        if self._start == self._end:
            self._scratch = None
            self._start = self._end = 0

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes read from the socket (copied into the receive buffer)."""
        view = memoryview(data)
        while view:
            with self.get_buffer() as target:  # released at once: the buffer may grow next round
                n = min(len(target), len(view))
                target[:n] = view[:n]
            self.buffer_updated(n)
            view = view[n:]
            with contextlib.suppress(ProtocolError):  # next_request reports a bad size
                self._start_large_request()

    @property
    def buffered(self) -> int:
        return self._end - self._start + (self._large_filled if self._large is not None else 0)

    def _frame_size(self) -> int | None:
        """The size of the request at the head of the buffer, once its 4 bytes are in."""
        if self._end - self._start < 4:
            return None
        assert self._scratch is not None
        size = _SIZE.unpack_from(self._scratch, self._start)[0]
        if size < self._min_frame or size > self._max_frame:
            limit = " (socket.request.max.bytes)" if self.our_role is Role.SERVER else ""
            raise ProtocolError(f"{self._frame_kind} size {size} outside {self._min_frame}..{self._max_frame}{limit}")
        return size

    def _start_large_request(self) -> None:
        """Move an incomplete large request out of the receive buffer into one of its own."""
        if self._large is not None:
            return
        size = self._frame_size()
        if size is None or size < LARGE_REQUEST_SIZE or self._end - self._start >= 4 + size:
            return
        assert self._scratch is not None
        got = self._end - self._start - 4
        frame = bytearray(min(size, max(2 * got, LARGE_REQUEST_SIZE)))
        frame[:got] = memoryview(self._scratch)[self._start + 4 : self._end]
        self._large, self._large_size, self._large_filled = frame, size, got
        self._start = self._end = 0

    def next_frame(self) -> bytearray | None:
        """The next complete frame without its size prefix, or None until more bytes arrive.

        Raises ProtocolError for a size no frame may have.
        """
        if self._large is not None:
            if self._filling_large():
                return None
            frame, self._large = self._large, None
            return frame
        size = self._frame_size()
        if size is None:
            return None
        if self._end - self._start < 4 + size:
            self._start_large_request()
            return None
        begin = self._start + 4
        assert self._scratch is not None
        # A bytearray copy: the request may keep views into it (writable record batches).
        frame = bytearray(memoryview(self._scratch)[begin : begin + size])
        self._start = begin + size
        if self._start == self._end:
            self._start = self._end = 0
        return frame

    def next_request(self) -> Request | None:
        """The next complete request, or None until more bytes arrive.

        Raises ProtocolError for a frame that cannot be a request (bad size, undecodable body).
        """
        assert not self.sasl_tokens, "raw SASL tokens come next: next_sasl_token"
        frame = self.next_frame()
        return None if frame is None else decode_request(frame)

    def next_sasl_token(self) -> bytes | None:
        """The peer's next raw SASL token (after a SaslHandshake v0), or None until more bytes arrive.

        Raises ProtocolError for a size no token may have (above the request size limit: Kafka's
        sasl.server.max.receive.size while authenticating).
        """
        assert self.sasl_tokens, "no SaslHandshake v0 went through: tokens go in SaslAuthenticate"
        frame = self.next_frame()
        return None if frame is None else bytes(frame)

    def encode_sasl_token(self, token: bytes) -> bytes:
        """A raw SASL token framed for the peer: its size, then its bytes."""
        assert self.sasl_tokens, "no SaslHandshake v0 went through: tokens go in SaslAuthenticate"
        return _SIZE.pack(len(token)) + token

    def end_sasl_tokens(self) -> None:
        """The SASL exchange is over: Kafka requests and responses follow."""
        self.sasl_tokens = False
        self._min_frame, self._frame_kind = self._min_message, self._message_kind

    def _saw_handshake(self, api_key: int, api_version: int, body: dict | c.Container) -> None:
        """Raw SASL tokens follow a SaslHandshake v0 the broker accepted."""
        if (
            api_key == ApiKey.SASL_HANDSHAKE
            and api_version == _RAW_TOKENS_HANDSHAKE_VERSION
            and body["error_code"] == 0
        ):
            self.sasl_tokens = True
            self._min_frame, self._frame_kind = _MIN_TOKEN_SIZE, "SASL token"

    def encode_request(
        self, api_key: int, api_version: int, correlation_id: int, body: dict, *, client_id: str | None
    ) -> bytes:
        """A client's framed request; KeyError when the specs do not cover (api, version)."""
        req_codec = codec(api_key, api_version)
        out = io.BytesIO()
        out.write(b"\0\0\0\0")
        header = {
            "request_api_key": api_key,
            "request_api_version": api_version,
            "correlation_id": correlation_id,
            "client_id": client_id,
        }
        build_stream(header_construct("RequestHeader", req_codec.request_header_version), header, out)
        build_stream(req_codec.request, body, out)
        data = out.getbuffer()
        _SIZE.pack_into(data, 0, len(data) - 4)
        del data
        return out.getvalue()

    def next_response(self, api_key: int, api_version: int, correlation_id: int) -> c.Container | None:
        """A client's next response, decoded as the answer to (api, version, correlation id), or None
        until more bytes arrive.

        Raises ProtocolError when it answers another correlation id or does not decode: Kafka answers a
        connection's requests in order, so either means the client lost track of the connection.
        """
        frame = self.next_frame()
        if frame is None:
            return None
        resp_codec = codec(api_key, api_version)
        # A plain stream, not a FrameReader: the records of a response come out as bytes, which a
        # client keeps after the frame is gone.
        stream = io.BytesIO(frame)
        try:
            header = parse_stream(header_construct("ResponseHeader", resp_codec.response_header_version), stream)
            if header.correlation_id != correlation_id:
                raise ProtocolError(f"response to correlation id {header.correlation_id}, expected {correlation_id}")
            response = parse_stream(resp_codec.response, stream)
        except (c.ConstructError, UnicodeDecodeError, ValueError, struct.error) as exc:
            raise ProtocolError(f"cannot decode api {api_key} v{api_version} response: {exc}") from exc
        self._saw_handshake(api_key, api_version, response)
        return response

    def encode_response(self, request: Request, body: dict, version: int | None = None) -> list[bytes | Region]:
        """Frame a response to ``request``; ``version`` overrides the request's (ApiVersions fallback)."""
        resp_codec = request.codec if version is None else codec(request.api_key, version)
        assert resp_codec is not None
        out = ResponseWriter()
        out.write(b"\0\0\0\0")
        build_stream(
            header_construct("ResponseHeader", resp_codec.response_header_version),
            {"correlation_id": request.correlation_id},
            out,
        )
        resp_codec.encode_response(body, out)
        chunks = out.chunks()
        total = sum(len(ch) if isinstance(ch, bytes) else ch.length for ch in chunks) - 4
        first = chunks[0]
        assert isinstance(first, bytes)
        chunks[0] = _SIZE.pack(total) + first[4:]
        if request.api_key == ApiKey.SASL_HANDSHAKE:
            self._saw_handshake(request.api_key, resp_codec.version, body)
        return chunks


class FrameReader:
    """A read-only stream over one request frame for the compiled parsers.

    ``read`` copies, like a file; ``read_view`` hands out a view into the frame, which the
    ``records`` fields use so a produce request's batches reach the log without a copy (and,
    over a bytearray frame, writable, so the base offsets can be patched in place).
    """

    __slots__ = ("_view", "_position")

    def __init__(self, frame: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(frame)
        self._position = 0

    def read(self, n: int = -1) -> bytes:
        start = self._position
        data = self._view[start:] if n < 0 else self._view[start : start + n]  # slices stop at the end
        self._position = start + len(data)
        return data.tobytes()

    def read_view(self, n: int = -1) -> memoryview:
        start = self._position
        end = len(self._view) if n < 0 else min(start + n, len(self._view))
        self._position = end
        return self._view[start:end]

    def tell(self) -> int:
        return self._position


def decode_request(frame: bytes | bytearray | memoryview) -> Request:
    """Decode one request frame (without its size prefix)."""
    api_key, api_version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(frame)
    spec = api_specs().get(api_key)
    if spec is None or api_version not in spec.versions:
        if spec is not None and api_key == ApiKey.API_VERSIONS and api_version > spec.versions.low:
            # A newer ApiVersions than we know: answer it with v0 and UNSUPPORTED_VERSION.
            return Request(api_key, api_version, correlation_id, _client_id(frame), len(frame))
        return Request(api_key, api_version, correlation_id, None, len(frame))
    req_codec = codec(api_key, api_version)
    stream = FrameReader(frame)
    try:
        header = parse_stream(header_construct("RequestHeader", req_codec.request_header_version), stream)
        body = parse_stream(req_codec.request, stream)
    except (c.ConstructError, UnicodeDecodeError, ValueError, struct.error) as exc:
        raise ProtocolError(f"cannot decode {spec.name} v{api_version} request: {exc}") from exc
    return Request(api_key, api_version, correlation_id, header.get("client_id"), len(frame), body, req_codec)


def _client_id(frame: bytes | bytearray | memoryview) -> str | None:
    try:
        return header_construct("RequestHeader", 1).parse(frame).get("client_id")
    except (c.ConstructError, UnicodeDecodeError, struct.error):
        return None
