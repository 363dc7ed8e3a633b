"""Connection's receive buffers: memory follows the bytes received, not the size a peer declares.

Memory is read from this process's VmRSS: the receive buffer is anonymous memory (mmap) that counts only once
written to, which tracemalloc does not see. Each bound is far below what a buffer of the declared
(or a fixed 128 KiB) size costs, and far above the noise of the interpreter's own allocations.
"""

from __future__ import annotations

import gc
import os
import struct

import pytest
from test_codec import _feed_like_a_socket as feed
from test_codec import frame

from kafkapy.protocol.connection import Connection
from kafkapy.protocol.specs import ApiKey

MIB = 1024 * 1024


def rss() -> int:
    """This process's resident memory, in bytes."""
    gc.collect()
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def api_versions(correlation_id: int) -> bytes:
    return frame(ApiKey.API_VERSIONS, 3, correlation_id, {"client_software_name": "t", "client_software_version": "1"})


def produce(records: bytes) -> bytes:
    topic = {"name": "t", "partition_data": [{"index": 0, "records": records}]}
    return frame(ApiKey.PRODUCE, 9, 1, {"acks": 1, "timeout_ms": 10, "topic_data": [topic]})


@pytest.mark.parametrize("way", ["receive_data", "get_buffer"])
def test_a_huge_declared_size_costs_only_the_bytes_sent(way: str) -> None:
    """20 connections each declaring a 100 MiB request and sending 8 bytes of it hold ~nothing."""
    before = rss()
    conns = [Connection() for _ in range(20)]
    data = struct.pack(">i", 100 * MIB) + b"\0\0\0\x12\0\0\0\1"
    for conn in conns:
        if way == "receive_data":
            conn.receive_data(data)
        else:
            assert feed(conn, data, 1 << 20) == []
        assert conn.next_request() is None
        assert conn.buffered == 8
    assert rss() - before < 16 * MIB


def test_a_large_request_split_across_many_reads_grows_as_it_arrives() -> None:
    """A 32 MiB produce request read 256 KiB at a time: memory tracks what has arrived (the buffer
    doubles when full, and the heap may keep the block it grew from), and the whole request decodes
    with its records a writable view into the frame (no copy)."""
    records = os.urandom(32 * MIB)
    data = memoryview(produce(records))
    conn = Connection()
    before = rss()
    step = 256 * 1024
    for offset in range(0, 8 * MIB, step):
        assert feed(conn, data[offset : offset + step], step) == []
        assert rss() - before < 3 * (offset + step) + 8 * MIB
    (request,) = feed(conn, data[8 * MIB :], step)
    got = request.body.topic_data[0].partition_data[0].records
    assert isinstance(got, memoryview) and not got.readonly
    assert got == records
    assert conn.buffered == 0


@pytest.mark.parametrize("chunk", [1, 1 << 20], ids=["split-into-1-byte-reads", "pipelined-in-one-read"])
def test_small_requests_cost_a_page_not_a_buffer(chunk: int) -> None:
    """200 connections each read ten small requests, byte by byte or all at once: every request comes
    out whole and in order, and each connection's buffer costs the page it wrote, not 128 KiB."""
    data = b"".join(api_versions(i) for i in range(10))
    before = rss()
    conns = [Connection() for _ in range(200)]
    for conn in conns:
        requests = feed(conn, data, chunk)
        assert [(r.api_key, r.correlation_id) for r in requests] == [(18, i) for i in range(10)]
    assert rss() - before < 8 * MIB


def test_release_buffer_keeps_a_partial_request() -> None:
    """An idle connection gives its buffer back; bytes of a request already received are kept."""
    conn = Connection()
    data = api_versions(1) + api_versions(2)
    cut = len(api_versions(1)) + 5
    assert [r.correlation_id for r in feed(conn, data[:cut], 1 << 20)] == [1]
    conn.release_buffer()
    assert conn.buffered == 5
    assert [r.correlation_id for r in feed(conn, data[cut:], 1 << 20)] == [2]
    conn.release_buffer()
    assert conn.buffered == 0
    assert [r.correlation_id for r in feed(conn, api_versions(3), 1 << 20)] == [3]


def test_release_buffer_returns_the_memory() -> None:
    """Pipelining readers fill their buffers; released, those pages go back to the OS."""
    data = b"".join(api_versions(i) for i in range(5000))  # ~100 KiB: most of a buffer
    conns = [Connection() for _ in range(100)]
    for conn in conns:
        assert len(feed(conn, data, 1 << 20)) == 5000
    held = rss()
    for conn in conns:
        conn.release_buffer()
    assert held - rss() > 8 * MIB  # 100 buffers of ~100 KiB written
