"""Broker CPU per request: pre-encoded Produce and Fetch requests over one raw connection.

    python3 bench/request_cost.py                      # every workload, 2000 requests each
    python3 bench/request_cost.py --workload fetch-1m --requests 5000 --storage memory

Where compare.py says how fast a broker is with a real client, this says what one request costs
kafkapy, without a client's own work on the clock: the request bytes are built once, sent as fast
as the broker answers (``--window`` produce requests in flight; fetches one at a time, as librdkafka
sends them) and the answers read into one buffer. The broker's user and system CPU (/proc) over the
requests, divided by their count, is the figure; run py-spy on the broker meanwhile to see where it
goes. Workloads:

- ``produce-lz4``: 967 records of 1 KiB in one lz4 batch (~8.3 KB), what compare.py's lz4 workload sends.
- ``produce-16k``: 63 uncompressed records of 16 KiB (~1 MB a request).
- ``fetch-1m``: Fetch v13 of 1 MiB (max.partition.fetch.bytes) from ``--fetch-batches`` (1000) batches
  of ~1 MB, in order.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kafkapy.client.wire import WireClient
from kafkapy.protocol.compression import CompressionType
from kafkapy.protocol.records import build_batch
from kafkapy.protocol.specs import ApiKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import _first_metadata, _free_port, compile_bytecode  # noqa: E402

TOPIC = "cost"
TIMESTAMP = 1_700_000_000_000
TICKS = os.sysconf("SC_CLK_TCK")
_SIZE = struct.Struct(">i")


def _batch_of_16k_records() -> bytes:
    """63 uncompressed records of 16 KiB: ~1 MB, what fits one 1 MiB fetch."""
    return build_batch([(None, os.urandom(16384), [], TIMESTAMP)] * 63)


def _produce_frame(client: WireClient, batch: bytes) -> bytes:
    body = {
        "transactional_id": None,
        "acks": 1,
        "timeout_ms": 30_000,
        "topic_data": [{"name": TOPIC, "partition_data": [{"index": 0, "records": batch}]}],
    }
    return client.encode(ApiKey.PRODUCE, 9, body)[1]


def _fetch_frame(client: WireClient, topic_id: object, offset: int) -> bytes:
    partition = {
        "partition": 0,
        "current_leader_epoch": -1,
        "fetch_offset": offset,
        "last_fetched_epoch": -1,
        "log_start_offset": -1,
        "partition_max_bytes": 1 << 20,
    }
    body = {
        "replica_id": -1,
        "max_wait_ms": 500,
        "min_bytes": 1,
        "max_bytes": 50 << 20,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [{"topic_id": topic_id, "partitions": [partition]}],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    return client.encode(ApiKey.FETCH, 13, body)[1]


class Responses:
    """Reads whole response frames into one reused buffer (the client must not be the bottleneck)."""

    def __init__(self, client: WireClient) -> None:
        self.sock = client.sock
        self.buffer = bytearray(4 << 20)

    def read(self) -> int:
        view = memoryview(self.buffer)
        self._fill(view[:4])
        size = _SIZE.unpack_from(self.buffer)[0]
        self._fill(view[:size])
        return size

    def _fill(self, view: memoryview) -> None:
        got = 0
        while got < len(view):
            n = self.sock.recv_into(view[got:])
            if not n:
                raise ConnectionError("broker closed the connection")
            got += n


def _cpu_ticks(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def _produce(client: WireClient, frame: bytes, count: int, window: int) -> None:
    responses = Responses(client)
    in_flight = 0
    for _ in range(count):
        if in_flight == window:
            responses.read()
            in_flight -= 1
        client.send_raw(frame)
        in_flight += 1
    for _ in range(in_flight):
        responses.read()


def _prepare_fetches(client: WireClient, requests: int, window: int, batches: int) -> Callable[[], None]:
    """Write ``batches`` of ~1 MB; a function fetching ``requests`` of them, in order and round again."""
    batch = _batch_of_16k_records()
    _produce(client, _produce_frame(client, batch), batches, window)
    topic_id = client.request(ApiKey.METADATA, 12, {"topics": [{"name": TOPIC}]}).topics[0].topic_id
    responses = Responses(client)

    def run() -> None:
        for i in range(requests):
            client.send_raw(_fetch_frame(client, topic_id, (i % batches) * 63))
            if responses.read() < len(batch):
                raise RuntimeError("a fetch came back without its batch")

    return run


def run_workload(
    name: str, pid: int, client: WireClient, requests: int, window: int, fetch_batches: int = 1000
) -> dict:
    """Prepare the workload's data, then time ``requests`` of it; the per-request broker CPU."""
    if name == "fetch-1m":
        run = _prepare_fetches(client, requests, window, fetch_batches)
    else:
        if name == "produce-lz4":
            batch = build_batch([(None, b"x" * 1024, [], TIMESTAMP)] * 967, compression=CompressionType.LZ4)
        else:
            batch = _batch_of_16k_records()
        frame = _produce_frame(client, batch)

        def run() -> None:
            _produce(client, frame, requests, window)

    user0, sys0 = _cpu_ticks(pid)
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    user1, sys1 = _cpu_ticks(pid)
    return {
        "workload": name,
        "requests": requests,
        "requests_per_s": round(requests / seconds),
        "broker_user_us": round((user1 - user0) / TICKS / requests * 1e6),
        "broker_sys_us": round((sys1 - sys0) / TICKS / requests * 1e6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=("produce-lz4", "produce-16k", "fetch-1m"), action="append")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--window", type=int, default=5, help="produce requests in flight")
    parser.add_argument("--storage", choices=("disk", "memory"), default="disk")
    parser.add_argument("--fetch-batches", type=int, default=1000, help="~1 MB batches fetch-1m reads")
    args = parser.parse_args()
    compile_bytecode()
    for name in args.workload or ("produce-lz4", "produce-16k", "fetch-1m"):
        with tempfile.TemporaryDirectory() as data_dir:
            port = _free_port()
            cmd = [sys.executable, "-m", "kafkapy", "serve", "--port", str(port), "--data-dir", data_dir]
            proc = subprocess.Popen(
                [*cmd, "--storage", args.storage], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                _first_metadata(port, time.monotonic() + 15)
                with WireClient("127.0.0.1", port, timeout=30) as client:
                    client.request(
                        ApiKey.METADATA, 12, {"topics": [{"name": TOPIC}], "allow_auto_topic_creation": True}
                    )
                    result = run_workload(name, proc.pid, client, args.requests, args.window, args.fetch_batches)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        print(
            f"{result['workload']:12s} {result['requests']} requests, {result['requests_per_s']}/s, broker CPU "
            f"per request: user {result['broker_user_us']} µs + sys {result['broker_sys_us']} µs",
            flush=True,
        )


if __name__ == "__main__":
    main()
