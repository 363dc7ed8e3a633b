"""Nulls where the schema forbids them, and repeated bad frames, against a real broker process.

On 564df81 a Fetch whose topic name was null reached the handler as None: a TypeError traceback
(~40 log lines) per request, and a fuzzer grew the log by 12 MB.
"""

from __future__ import annotations

import socket
import struct
import time

from kafkapy.client.wire import WireClient
from kafkapy.protocol.schema import codec
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess

# The broker's RateLimitedLog: a burst of 5 lines, then 5 a second, per call site.
BURST, PER_SECOND = 5, 5


def null_topic_fetch(correlation_id: int) -> bytes:
    """Fetch v4 for one topic whose non-nullable name is null (int16 length -1)."""
    body = codec(ApiKey.FETCH, 4).encode_request({"topics": [{"topic": "t", "partitions": [{"partition": 0}]}]})
    body = body.replace(b"\x00\x01t", b"\xff\xff", 1)
    payload = struct.pack(">hhih", 1, 4, correlation_id, 4) + b"fuzz" + body
    return struct.pack(">i", len(payload)) + payload


def bad_frame_lines(broker: BrokerProcess) -> list[str]:
    return [line for line in broker.stderr_text().splitlines() if "bad request frame" in line]


def test_null_topic_name_closes_with_one_warning(broker: BrokerProcess) -> None:
    with WireClient.connect(broker.bootstrap) as client:
        client.send_raw(null_topic_fetch(1))
        assert client.is_closed_by_peer(timeout=10)
    with WireClient.connect(broker.bootstrap) as client:  # and the broker still answers
        assert (
            client.request(
                ApiKey.API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"}
            ).error_code
            == 0
        )
    log = broker.stderr_text()
    assert "Traceback" not in log and "level=error" not in log, log
    lines = bad_frame_lines(broker)
    assert len(lines) == 1, log
    assert "level=warning" in lines[0] and "non-nullable field topic was serialized as null" in lines[0]


def test_repeated_bad_frames_log_a_bounded_number_of_lines(broker: BrokerProcess) -> None:
    started = time.monotonic()
    sent = 300
    for i in range(sent):
        with socket.create_connection(("127.0.0.1", broker.port or 0), timeout=10) as sock:
            sock.sendall(null_topic_fetch(i))
            while sock.recv(4096):  # until the broker closes it
                pass
    elapsed = time.monotonic() - started
    with WireClient.connect(broker.bootstrap) as client:  # every bad frame has been handled before this
        client.request(ApiKey.API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})
    lines = bad_frame_lines(broker)
    assert 1 <= len(lines) <= BURST + PER_SECOND * (elapsed + 1), (len(lines), elapsed)
    if 1 < elapsed < sent / PER_SECOND / 2:  # faster than the rate: some lines say how many were dropped
        assert any("suppressed=" in line for line in lines)
