"""A bounded live fuzzer: hostile and odd requests at a real broker process, over TCP.

Random bytes, bad size prefixes, unknown api keys and versions, truncated bodies, and requests of
every (api, version) in protocol_specs, built with kafkapy's own codec from random valid values
(negative partitions, huge max_bytes, empty and absent topic names, duplicates, nulls where allowed),
sent as they are or mutated (bit flips, truncation, length fields set to -1 or huge, bytes inserted).

It asserts what the developer guide promises of hostile input: no traceback in the broker's log and
a bounded log size; the broker answers ApiVersions on a new connection throughout; records produced
with a real client before the fuzzing read back intact after it and after a restart.

Run it alone with ``pytest -m fuzz tests/integration/test_fuzz.py``. Cases come from a fixed seed
and then from ``KAFKAPY_FUZZ_SEED`` (a fresh random seed when unset); a failure prints both seeds
and the last cases sent. ``KAFKAPY_FUZZ_SECONDS`` sets the fuzzing time (default 40 s, CI <= 90 s).
"""

from __future__ import annotations

import io
import os
import random
import socket
import struct
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from kafkapy.client.wire import WireClient
from kafkapy.protocol.records import build_batch
from kafkapy.protocol.schema import codec, header_construct, parse_stream
from kafkapy.protocol.specs import ApiKey, FieldSpec, api_specs
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import consume_confluent, create_topic, produce_confluent, producer
from tests.unit.test_codec_properties import INT_RANGES

FIXED_SEED = 20261207
FUZZ_SECONDS = float(os.environ.get("KAFKAPY_FUZZ_SECONDS", "40"))
MAX_CASES = 200_000  # a bound in count as well as in time
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(FUZZ_SECONDS + 110)]
KNOWN_TOPIC = "fuzz-known"
KNOWN_RECORDS = 200
# Generous: the broker logs one line per rate-limited call site at most 5 times a second.
MAX_LOG_BYTES = 2 * 1024 * 1024
PROBE_EVERY_S = 2.0
CASE_TIMEOUT_S = 3.0  # a case that gets no answer (a long poll, acks=0) is abandoned after this
# Valid requests keep their waits short, so no answer means a stuck broker; generous on a busy machine.
VALID_CASE_TIMEOUT_S = 15.0

_SIZE = struct.Struct(">i")
_PROBE_KEY, _PROBE_VERSION = 18, 0  # ApiVersions v0: every client can send and read it

# APIs that delete or rewrite data never name the known topic: what they do to it is not a defect.
DESTRUCTIVE = {20, 21, 33, 44}


@dataclass
class Pools:
    """Values the generator picks names and ids from, so requests meet existing things as well."""

    topics: list[str]
    topic_ids: list[uuid.UUID]
    safe_topics: list[str]  # without the known topic
    safe_topic_ids: list[uuid.UUID]
    groups: list[str] = field(default_factory=lambda: ["", "fuzz-group", "g" * 300, "absent-group"])
    configs: list[str] = field(
        default_factory=lambda: ["retention.ms", "cleanup.policy", "segment.bytes", "max.message.bytes", "x.y"]
    )
    config_values: list[str | None] = field(default_factory=lambda: ["-1", "0", "1", "compact", "abc", "", None])
    # Values taken from the broker's answers (member ids, producer ids and epochs, fetch sessions...),
    # so that later requests continue what earlier ones started.
    seen: dict[str, list[Any]] = field(default_factory=dict)

    def harvest(self, value: Any) -> None:
        """Remember the HARVESTED fields of a decoded response, a few values of each."""
        if isinstance(value, list):
            for item in value:
                self.harvest(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key in HARVESTED and item is not None and not isinstance(item, dict | list):
                    values = self.seen.setdefault(key, [])
                    if item not in values:
                        values.append(item)
                        del values[:-8]
                else:
                    self.harvest(item)


HARVESTED = {
    "member_id",
    "generation_id",
    "producer_id",
    "producer_epoch",
    "leader_epoch",
    "session_id",
    "session_epoch",
    "high_watermark",
    "log_start_offset",
    "offset",
    "protocol_name",
}


class Generator:
    """Random valid request bodies of one (api, version), from the spec."""

    def __init__(self, rng: random.Random, pools: Pools) -> None:
        self.rng = rng
        self.pools = pools

    def body(self, api_key: int, fields: list[FieldSpec], version: int, flexible: bool) -> dict:
        out: dict[str, Any] = {}
        for f in fields:
            if version not in f.versions or (f.tag is not None and not flexible):
                continue
            if version in f.nullable and self.rng.random() < 0.15:
                out[f.name] = None
            elif f.type == "struct":
                out[f.name] = self.body(api_key, f.fields, version, flexible)
            elif f.type == "array":
                n = self.rng.choice((0, 1, 1, 2, 3))
                if f.item_type == "struct":
                    out[f.name] = [self.body(api_key, f.fields, version, flexible) for _ in range(n)]
                else:
                    out[f.name] = [self.value(api_key, f.name, f.item_type or "") for _ in range(n)]
            else:
                out[f.name] = self.value(api_key, f.name, f.type)
        return out

    def value(self, api_key: int, name: str, ptype: str) -> Any:
        rng = self.rng
        if ptype in INT_RANGES:
            return self.integer(name, *INT_RANGES[ptype])
        if ptype == "bool":
            return rng.random() < 0.5
        if ptype == "float64":
            return rng.choice((0.0, -1.0, 1e308, 0.5))
        if ptype == "uuid":
            ids = self.pools.safe_topic_ids if api_key in DESTRUCTIVE else self.pools.topic_ids
            return rng.choice([*ids, uuid.UUID(int=0), uuid.uuid4()])
        if ptype == "records":
            return self.records()
        if ptype == "bytes":
            return rng.randbytes(rng.choice((0, 1, 8, 40)))
        return self.string(api_key, name)

    def integer(self, name: str, low: int, high: int) -> int:
        rng = self.rng
        seen = self.seen(name)
        if seen is not None and low <= seen <= high:
            return seen
        if name.endswith("_ms"):
            # Waits (long polls, join timeouts) are kept short so a case is answered quickly.
            candidates: tuple[int, ...] = (-1, 0, 1, 50)
        else:
            candidates = (0, 0, 1, -1, 2, 3, high, low, rng.randint(low, high), rng.randint(-5, 100))
        # Only what the type can carry (an unsigned port cannot be -1): mutations make the rest.
        return rng.choice([v for v in candidates if low <= v <= high])

    def seen(self, name: str) -> Any:
        """Half the time, a value the broker answered for a field of this name (None: none yet)."""
        values = self.pools.seen.get(name.removeprefix("last_").removeprefix("current_"))
        return self.rng.choice(values) if values and self.rng.random() < 0.5 else None

    def string(self, api_key: int, name: str) -> str:
        rng, pools = self.rng, self.pools
        seen = self.seen(name)
        if isinstance(seen, str):
            return seen
        if "topic" in name or name in ("name", "resource_name"):
            topics = pools.safe_topics if api_key in DESTRUCTIVE else pools.topics
            internal = ["__consumer_offsets", "__transaction_state"]
            return rng.choice([*topics, "", "absent-topic", "bad name!", "t" * 300, *internal])
        if "group" in name or name in ("member_id", "group_instance_id"):
            return rng.choice(pools.groups)
        if name in ("key", "config_name", "configuration_keys"):
            return rng.choice(pools.configs)
        if name == "value":
            return rng.choice([v for v in pools.config_values if v is not None])
        return rng.choice(("", "x", "fuzz", "é" * 3, rng.randbytes(6).hex()))

    def records(self) -> bytes:
        rng = self.rng
        choice = rng.random()
        if choice < 0.5:
            count = rng.choice((1, 2, 5))
            producer_id = self.integer("producer_id", -1, 2**63 - 1) if rng.random() < 0.5 else -1
            return build_batch(
                [(b"k", b"fuzz", [], None)] * count,
                compression=rng.choice((0, 0, 1, 3, 4)),
                producer_id=producer_id,
                producer_epoch=self.integer("producer_epoch", -1, 2**15 - 1) if producer_id != -1 else -1,
                base_sequence=rng.choice((0, 0, 1, 5, 2**31 - 1)) if producer_id != -1 else -1,
                transactional=producer_id != -1 and rng.random() < 0.5,
                control=rng.random() < 0.05,
            )
        if choice < 0.7:
            return b""
        return rng.randbytes(rng.choice((1, 12, 61, 100)))


def frame(api_key: int, version: int, correlation_id: int, body: bytes, client_id: str | None = "fuzz") -> bytes:
    pair = codec(api_key, version)
    header = header_construct("RequestHeader", pair.request_header_version).build(
        {"request_api_key": api_key, "request_api_version": version, "correlation_id": correlation_id,
         "client_id": client_id}
    )  # fmt: skip
    return _SIZE.pack(len(header) + len(body)) + header + body


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Bit flips, truncation, a length-sized field set to -1 or huge, bytes inserted."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(("flip", "truncate", "minus_one", "huge", "insert", "varint"))
        at = rng.randrange(max(len(out), 1))
        if kind == "flip" and out:
            out[at] ^= 1 << rng.randrange(8)
        elif kind == "truncate":
            del out[at:]
        elif kind in ("minus_one", "huge"):
            width = rng.choice((2, 4))
            value = -1 if kind == "minus_one" else 2 ** (8 * width - 1) - 1
            out[at : at + width] = value.to_bytes(width, "big", signed=True)
        elif kind == "varint":
            out[at : at + 1] = rng.choice((b"\x00", b"\xff\xff\xff\xff\x0f", b"\x80"))
        else:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
    return bytes(out)


@dataclass
class Case:
    """Bytes sent on a connection; ``whole`` when they are complete frames (else the client then
    closes its side, as a client that gives up would, and the broker must close too)."""

    what: str
    data: bytes
    whole: bool = True
    api: tuple[int, int] | None = None  # a valid request's (api key, version), to read its answer

    def __str__(self) -> str:
        shown = self.data[:200].hex()
        return f"{self.what} ({len(self.data)} bytes): {shown}{'...' if len(self.data) > 200 else ''}"


class Cases:
    """The case generators, each a function of the random source."""

    def __init__(self, rng: random.Random, pools: Pools) -> None:
        self.rng = rng
        self.gen = Generator(rng, pools)
        self.pairs = [
            (key, v)
            for key, spec in sorted(api_specs().items())
            for v in range(spec.versions.low, (spec.versions.high or spec.versions.low) + 1)
        ]
        self.kinds: list[Callable[[], Case]] = [
            self.random_bytes,
            self.size_prefix,
            self.unknown_api,
            self.truncated,
            *[self.valid] * 6,
            *[self.mutated] * 6,
        ]

    def next(self) -> Case:
        return self.rng.choice(self.kinds)()

    def request(self) -> tuple[int, int, bytes]:
        api_key, version = self.rng.choice(self.pairs)
        spec = api_specs()[api_key]
        obj = self.gen.body(api_key, spec.request.fields, version, spec.request.is_flexible(version))
        return api_key, version, codec(api_key, version).encode_request(obj)

    def valid(self) -> Case:
        api_key, version, body = self.request()
        return Case(f"valid api {api_key} v{version}", frame(api_key, version, 1, body), api=(api_key, version))

    def mutated(self) -> Case:
        api_key, version, body = self.request()
        data = frame(api_key, version, 1, mutate(self.rng, body))
        if self.rng.random() < 0.2:
            data = data[:4] + mutate(self.rng, data[4:])  # the header too; the size stays right
            data = _SIZE.pack(len(data) - 4) + data[4:]
        return Case(f"mutated api {api_key} v{version}", data)

    def random_bytes(self) -> Case:
        return Case("random bytes", self.rng.randbytes(self.rng.choice((1, 3, 4, 9, 64, 300))), whole=False)

    def size_prefix(self) -> Case:
        size = self.rng.choice((-1, -(2**31), 0, 1, 7, 8, 2**31 - 1, 100 * 1024 * 1024 + 1, 5000))
        data = _SIZE.pack(size) + self.rng.randbytes(self.rng.choice((0, 4, 20)))
        return Case(f"size prefix {size}", data, whole=False)

    def unknown_api(self) -> Case:
        rng = self.rng
        api_key = rng.choice((-1, 4, 5, 6, 7, 27, 57, 99, 1000, 32767, rng.randint(-(2**15), 2**15 - 1)))
        version = rng.choice((-1, 0, 1, 99, 32767))
        if rng.random() < 0.5:
            api_key, _ = rng.choice(self.pairs)
            version = rng.choice((-1, -32768, 99, 32767, api_specs()[api_key].versions.high + 1))
        body = struct.pack(">hhi", api_key, version, 1) + b"\x00\x04fuzz" + rng.randbytes(rng.choice((0, 3, 30)))
        return Case(f"api {api_key} v{version}", _SIZE.pack(len(body)) + body)

    def truncated(self) -> Case:
        api_key, version, body = self.request()
        data = frame(api_key, version, 1, body)
        cut = self.rng.randrange(4, len(data)) if len(data) > 4 else len(data)
        # The size still says the whole frame: the broker waits for the rest, then the client leaves.
        return Case(f"truncated api {api_key} v{version} at {cut}", data[:cut], whole=False)


def decode_answer(api_key: int, version: int, frame: bytes) -> Any:
    """A response to a valid request, decoded (it must decode: the broker built it from the spec)."""
    pair = codec(api_key, version)
    stream = io.BytesIO(frame)
    header_construct("ResponseHeader", pair.response_header_version).parse_stream(stream)
    return parse_stream(pair.response, stream)


class Probe:
    """A raw connection that sends a case followed by an ApiVersions probe and waits for the probe's
    answer (or the broker closing the connection): the case has been handled either way."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.correlation_id = 1000
        self.answer: bytes | None = None  # the last answer to a case (correlation id 1)

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=CASE_TIMEOUT_S)
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, case: Case) -> str:
        """'answered', 'closed' or 'abandoned' (no answer within the timeout, connection dropped)."""
        sock = self._connect()
        sock.settimeout(CASE_TIMEOUT_S if case.api is None else VALID_CASE_TIMEOUT_S)
        self.correlation_id += 1
        probe = frame(_PROBE_KEY, _PROBE_VERSION, self.correlation_id, b"")
        try:
            if not case.whole:
                sock.sendall(case.data)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
                self.close()
                return "closed"
            sock.sendall(case.data + probe)
            self.answer = None
            while True:
                size = _SIZE.unpack(self._read(sock, 4))[0]
                response = self._read(sock, size)
                correlation_id = struct.unpack_from(">i", response)[0]
                if correlation_id == self.correlation_id:
                    return "answered"
                self.answer = response
        except (ConnectionError, struct.error):
            self.close()
            return "closed"
        except TimeoutError:
            self.close()
            return "abandoned"

    @staticmethod
    def _read(sock: socket.socket, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return bytes(buf)


def api_versions_ok(broker: BrokerProcess) -> None:
    """A new connection gets an ApiVersions answer (error 0 and the APIs listed)."""
    with WireClient.connect(broker.bootstrap, timeout=10) as client:
        resp = client.request(ApiKey.API_VERSIONS, 3, {"client_software_name": "fuzz", "client_software_version": "1"})
        assert resp.error_code == 0 and len(resp.api_keys) > 30, resp


def produce_known(broker: BrokerProcess) -> list[tuple[int, bytes, bytes]]:
    create_topic(broker.bootstrap, KNOWN_TOPIC, 2)
    p = producer(broker.bootstrap)
    messages = [
        (i, {"key": f"k{i}".encode(), "value": os.urandom(50) + f"v{i}".encode(), "partition": i % 2})
        for i in range(KNOWN_RECORDS)
    ]
    batch = produce_confluent(p, KNOWN_TOPIC, messages)
    assert not batch.errors and len(batch.acked) == KNOWN_RECORDS, batch.errors
    return sorted((batch.acked[i][0], messages[i][1]["key"], messages[i][1]["value"]) for i in range(KNOWN_RECORDS))


def read_known(broker: BrokerProcess) -> list[tuple[int, bytes, bytes]]:
    """The first records of both partitions of the known topic (Produce may append more)."""
    per_partition = KNOWN_RECORDS // 2
    out = []
    for partition in (0, 1):
        records = consume_confluent(broker.bootstrap, [TopicPartition(KNOWN_TOPIC, partition, 0)], per_partition)
        out += [(r.partition, r.key, r.value) for r in records[:per_partition]]
        assert [r.offset for r in records[:per_partition]] == list(range(per_partition))
    return sorted(out)


def topic_pools(broker: BrokerProcess) -> Pools:
    scratch = ["fuzz-scratch-1", "fuzz-scratch-3"]
    for name, partitions in zip(scratch, (1, 3), strict=True):
        create_topic(broker.bootstrap, name, partitions)
    with WireClient.connect(broker.bootstrap) as client:
        meta = client.request(ApiKey.METADATA, 12, {"topics": None, "allow_auto_topic_creation": False})
    ids = {t.name: t.topic_id for t in meta.topics}
    return Pools(
        topics=[KNOWN_TOPIC, *scratch],
        topic_ids=[ids[KNOWN_TOPIC], *(ids[s] for s in scratch)],
        safe_topics=scratch,
        safe_topic_ids=[ids[s] for s in scratch],
    )


class LogWatch:
    """Reads what the broker appended to its log since the last look."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.path = broker.log_path
        self.offset = 0

    def new_text(self) -> str:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data.decode("utf-8", "replace")


def fuzz(broker: BrokerProcess, pools: Pools, seed: int, seconds: float, report: list[str]) -> dict[str, int]:
    """Send cases from ``seed`` for ``seconds``; fail at the first traceback or unanswered probe."""
    rng = random.Random(seed)
    cases = Cases(rng, pools)
    probe = Probe(broker.port or 0)
    watch = LogWatch(broker)
    watch.new_text()
    recent: deque[str] = deque(maxlen=8)
    counts: dict[str, int] = {}
    end = time.monotonic() + seconds
    next_probe = 0.0
    try:
        for n in range(MAX_CASES):
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_probe:
                api_versions_ok(broker)
                next_probe = now + PROBE_EVERY_S
            case = cases.next()
            recent.append(f"#{n} {case}")
            outcome = probe.send(case)
            counts[outcome] = counts.get(outcome, 0) + 1
            if case.api is not None and probe.answer is not None:
                pools.harvest(decode_answer(*case.api, probe.answer))
            text = watch.new_text()
            if "Traceback" in text or "level=error" in text:
                failed(report, f"seed {seed}: broker logged an error after case #{n}", recent, text)
            if not broker.is_running():
                failed(report, f"seed {seed}: broker died at case #{n}", recent, text)
            if outcome == "abandoned" and case.api is not None:
                # Waits are kept short in valid requests: no answer means the broker is stuck on it.
                failed(report, f"seed {seed}: no answer within {VALID_CASE_TIMEOUT_S}s to case #{n}", recent, text)
            if outcome == "abandoned":
                try:
                    api_versions_ok(broker)
                except OSError:
                    failed(report, f"seed {seed}: broker stopped answering after case #{n}", recent, text)
    finally:
        probe.close()
    api_versions_ok(broker)
    counts["cases"] = sum(counts.values())
    counts.update({f"seen {key}": len(values) for key, values in sorted(pools.seen.items())})
    return counts


def failed(report: list[str], what: str, recent: deque[str], log_text: str) -> None:
    report += [f"{what}; the last cases:", *recent, "broker log since the case before:", log_text[-6000:]]
    pytest.fail("\n".join(report), pytrace=False)


def seeds() -> Iterator[int]:
    yield FIXED_SEED
    env = os.environ.get("KAFKAPY_FUZZ_SEED")
    yield int(env) if env else random.SystemRandom().randrange(2**32)


def test_live_fuzz(broker: BrokerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    known = produce_known(broker)
    assert read_known(broker) == known
    pools = topic_pools(broker)
    report: list[str] = []
    for seed in seeds():
        report.append(f"seed {seed} (rerun with KAFKAPY_FUZZ_SEED={seed})")
        counts = fuzz(broker, pools, seed, FUZZ_SECONDS / 2, report)
        report.append(f"seed {seed}: {counts}")
    log_size = broker.log_path.stat().st_size
    assert log_size < MAX_LOG_BYTES, f"broker log grew to {log_size} bytes\n" + "\n".join(report)
    assert read_known(broker) == known, "\n".join(report)
    broker.restart()
    api_versions_ok(broker)
    assert read_known(broker) == known, "\n".join(report)
    text = broker.stderr_text()
    assert "Traceback" not in text and "level=error" not in text, "\n".join(report)
    with capsys.disabled():
        print("\n" + "\n".join(report) + f"\nbroker log: {log_size} bytes")
