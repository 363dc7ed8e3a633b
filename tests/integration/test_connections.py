"""What a connection costs the broker, and the limits on connections, with Kafka's names.

Real broker processes over TCP: memory is the broker's VmRSS from /proc; the limits are set with
``--override`` as in kafka-server-start. Waits poll for a condition under a generous deadline.
"""

from __future__ import annotations

import os
import resource
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess

MIB = 1024 * 1024
DEADLINE_S = 30.0
API_VERSIONS_BODY = {"client_software_name": "t", "client_software_version": "1"}


def broker_rss(broker: BrokerProcess) -> int:
    """The broker process's resident memory, in bytes."""
    for line in Path(f"/proc/{broker.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def api_versions_ok(client: WireClient) -> bool:
    return client.request(ApiKey.API_VERSIONS, 3, API_VERSIONS_BODY).error_code == ErrorCode.NONE


def answered(client: WireClient, timeout: float) -> bool:
    """Send ApiVersions; True if it is answered within ``timeout``, False if not (or the broker closed)."""
    client.sock.settimeout(timeout)
    try:
        return api_versions_ok(client)
    except TimeoutError:
        return False
    except ConnectionError:
        return False
    finally:
        client.sock.settimeout(DEADLINE_S)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def clients(broker: BrokerProcess, count: int) -> Iterator[list[WireClient]]:
    with ExitStack() as stack:
        yield [stack.enter_context(WireClient.connect(broker.bootstrap, timeout=DEADLINE_S)) for _ in range(count)]


def test_huge_size_prefixes_cost_what_was_sent(broker: BrokerProcess) -> None:
    """30 connections each declare a 100 MiB request (socket.request.max.bytes) and send 8 bytes of
    it: the broker's memory stays small and another client is answered meanwhile."""
    with WireClient.connect(broker.bootstrap, timeout=DEADLINE_S) as other:
        assert api_versions_ok(other)
        before = broker_rss(broker)
        with ExitStack() as stack:
            socks = [stack.enter_context(socket.create_connection(("127.0.0.1", broker.port))) for _ in range(30)]
            for sock in socks:
                sock.sendall(struct.pack(">i", 100 * MIB) + struct.pack(">hhi", 0, 9, 1))
            assert api_versions_ok(other)
            # Reading those bytes is what once allocated (and zeroed) 100 MiB per connection, for
            # seconds: watch the memory for a while.
            grown = 0
            for _ in range(20):
                grown = max(grown, broker_rss(broker) - before)
                time.sleep(0.1)
            assert grown < 200 * MIB, f"RSS grew {grown / MIB:.0f} MiB"
            assert api_versions_ok(other)


def test_idle_connections_cost_a_few_kb(broker: BrokerProcess) -> None:
    """500 connections that each made a request and went idle: a few KB each once idle."""
    count = 500
    with WireClient.connect(broker.bootstrap, timeout=DEADLINE_S) as first:
        assert api_versions_ok(first)
        before = broker_rss(broker)
        with clients(broker, count) as many:
            for client in many:
                assert api_versions_ok(client)
            per_connection: list[float] = []

            def cheap() -> bool:
                per_connection.append((broker_rss(broker) - before) / count)
                return per_connection[-1] < 24 * 1024

            try:
                wait_for(cheap, "idle connections to cost < 24 KiB each", timeout=10)
            finally:
                print(f"RSS per idle connection: {per_connection[0] / 1024:.1f} KiB at once, "
                      f"{per_connection[-1] / 1024:.1f} KiB after {len(per_connection) * 0.05:.1f} s")
            assert all(api_versions_ok(client) for client in many[:10])


def test_connections_max_idle_ms_closes_idle_connections(broker_factory: Callable[..., BrokerProcess]) -> None:
    """An idle connection is closed after connections.max.idle.ms; one that keeps sending is not
    (it sends every 0.1 s: only a stall of the test process over 1.4 s could fail it)."""
    idle_s = 1.5
    broker = broker_factory(extra_args=("--override", f"connections.max.idle.ms={int(idle_s * 1000)}"))
    with WireClient.connect(broker.bootstrap) as idle, WireClient.connect(broker.bootstrap) as busy:
        assert api_versions_ok(idle) and api_versions_ok(busy)
        started = time.monotonic()
        while time.monotonic() - started < 2 * idle_s:
            assert api_versions_ok(busy)
            time.sleep(0.1)
        assert idle.is_closed_by_peer(timeout=DEADLINE_S)
        assert api_versions_ok(busy)
    with WireClient.connect(broker.bootstrap) as again:
        assert api_versions_ok(again)


@pytest.mark.parametrize(
    "limits",
    [
        ("max.connections.per.ip=2",),
        ("max.connections.per.ip=0", "max.connections.per.ip.overrides=127.0.0.1:2,::1:5"),
    ],
    ids=["max.connections.per.ip", "overrides"],
)
def test_max_connections_per_ip_closes_excess_connections(
    broker_factory: Callable[..., BrokerProcess], limits: tuple[str, ...]
) -> None:
    """Kafka closes a connection from an address that already has its limit; the others keep working,
    and a slot freed is a slot taken again."""
    args = [arg for limit in limits for arg in ("--override", limit)]
    broker = broker_factory(extra_args=tuple(args))
    with clients(broker, 2) as (a, b):
        assert api_versions_ok(a) and api_versions_ok(b)
        with WireClient.connect(broker.bootstrap) as third:
            assert third.is_closed_by_peer(timeout=DEADLINE_S)
        assert api_versions_ok(a) and api_versions_ok(b)
        a.close()

        def admitted() -> bool:
            with WireClient.connect(broker.bootstrap) as client:
                return answered(client, DEADLINE_S)

        wait_for(admitted, "a connection once one closed")
        assert api_versions_ok(b)
    log = broker.log_path.read_text()
    assert "rejected connection" in log


def test_max_connections_waits_for_a_free_slot(broker_factory: Callable[..., BrokerProcess]) -> None:
    """At max.connections the broker stops accepting (as Kafka's acceptor blocks): a new connection
    is not served until an open one closes; the open ones keep working."""
    broker = broker_factory(extra_args=("--override", "max.connections=2"))
    with clients(broker, 2) as (a, b):
        assert api_versions_ok(a) and api_versions_ok(b)
        with WireClient.connect(broker.bootstrap) as third:
            assert not answered(third, timeout=1.0)
            assert api_versions_ok(a) and api_versions_ok(b)
            a.close()
            third.sock.settimeout(DEADLINE_S)
            # The ApiVersions sent above is answered once the broker takes the connection.
            assert third.read_response(ApiKey.API_VERSIONS, 3, 1).error_code == ErrorCode.NONE
            assert api_versions_ok(third) and api_versions_ok(b)


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_accept_survives_running_out_of_file_descriptors(broker: BrokerProcess) -> None:
    """With RLIMIT_NOFILE lowered on the broker, connections past it wait in the backlog while the
    open ones are served; once they close the broker accepts again, and it logs the failure once."""
    pid = broker.pid
    assert pid is not None
    with WireClient.connect(broker.bootstrap) as existing:
        assert api_versions_ok(existing)
        logged_before = len(broker.log_path.read_text())
        hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (_open_fds(pid) + 3, hard))
        try:
            with clients(broker, 10) as extra:
                for client in extra:
                    client.send_raw(client.encode(ApiKey.API_VERSIONS, 3, API_VERSIONS_BODY)[1])
                # Some were accepted before the descriptors ran out; the rest wait.
                time.sleep(2)
                assert api_versions_ok(existing)
            with WireClient.connect(broker.bootstrap) as later:
                assert answered(later, DEADLINE_S)
            assert api_versions_ok(existing)
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (hard, hard))
    log = broker.log_path.read_text()[logged_before:]
    # trio's serve_listeners logged every retry (every 100 ms), each with a traceback.
    failures = [
        line
        for line in log.splitlines()
        if not line.startswith("=====") and ("accept" in line or "Too many open files" in line)
    ]
    assert 1 <= len(failures) <= 3, "\n".join(failures[:20])
