"""Plumbing shared by the Python client drivers (and the runner): the JSON-lines loop, bytes, error names.

A driver subclasses `Driver`, sets `client`/`version`, and implements `op_<name>(request) -> reply
fields` for each op it supports (see README.md in this folder for the ops). Everything else — reading
requests, base64, turning exceptions into `{"ok": false, "error": ...}`, running `async def` ops on
one event loop, answering `unsupported` for unknown ops, the `group_consume` loop over a client's
consumers (`run_group`), the `--client-config` security settings (`ClientConfig`, turned into the
client's own settings by the driver's `security_settings`) — lives here once.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import inspect
import json
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")

# Kafka's error names for the errors the scenarios expect, keyed by the names clients use instead.
# librdkafka (confluent-kafka, kcat) abbreviates some broker errors and reports client-side checks as
# local errors (leading underscore); these are the same condition a Java client reports.
KAFKA_ERROR_NAMES = {
    "MSG_SIZE_TOO_LARGE": "MESSAGE_TOO_LARGE",
    "_MSG_SIZE_TOO_LARGE": "MESSAGE_TOO_LARGE",
    "UNKNOWN_TOPIC_OR_PART": "UNKNOWN_TOPIC_OR_PARTITION",
    "_UNKNOWN_PARTITION": "UNKNOWN_TOPIC_OR_PARTITION",
    "_UNKNOWN_TOPIC": "UNKNOWN_TOPIC_OR_PARTITION",
    "TOPIC_EXCEPTION": "INVALID_TOPIC_EXCEPTION",
    "INVALID_TOPIC": "INVALID_TOPIC_EXCEPTION",
    "MESSAGE_SIZE_TOO_LARGE": "MESSAGE_TOO_LARGE",
    "_AUTHENTICATION": "SASL_AUTHENTICATION_FAILED",
}


class Unsupported(Exception):
    """The client cannot do this step or option; the reply says `unsupported` instead of failing."""


class ClientError(Exception):
    """A failure the client reported, with Kafka's error name when known."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = kafka_error_name(error)
        self.message = message


def kafka_error_name(name: str) -> str:
    """Kafka's name for an error a client calls `name`."""
    return KAFKA_ERROR_NAMES.get(name, name)


def error_name(exc: BaseException) -> str:
    """Kafka's error name for a client exception if it carries one, else the exception's class name.

    kafka-python and aiokafka broker errors carry it as `.message` (an upper-case constant) next to
    `.errno`; anything else is named by its class.
    """
    if isinstance(exc, ClientError):
        return exc.error
    name = getattr(exc, "message", None)
    if getattr(exc, "errno", None) is not None and isinstance(name, str) and name.isupper():
        return kafka_error_name(name)
    return type(exc).__name__


@dataclass(frozen=True)
class ClientConfig:
    """A driver's `--client-config` (README.md): the security settings every client it creates uses.

    Keys are the protocol's; the defaults (all absent) are a PLAINTEXT client. `ssl_*_location` PEM
    files are for librdkafka and the Python clients; the PKCS12 truststore/keystore are for Java.
    """

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_truststore_location: str | None = None
    ssl_truststore_password: str | None = None
    ssl_keystore_location: str | None = None
    ssl_keystore_password: str | None = None

    @classmethod
    def from_json(cls, text: str | None) -> ClientConfig:
        """Parse the argument; an unknown key or protocol is a ValueError (the runner's mistake, not the client's)."""
        d = json.loads(text) if text else {}
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"--client-config: unknown keys {sorted(unknown)}")
        config = cls(**d)
        if config.security_protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError(f"--client-config: security_protocol {config.security_protocol!r}")
        return config

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def ssl(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def librdkafka(self) -> dict[str, str]:
        """librdkafka's properties for these settings (confluent-kafka's config dict, kcat's `-X`)."""
        settings = {"security.protocol": self.security_protocol.lower()}
        names = {
            "sasl.mechanism": self.sasl_mechanism if self.sasl else None,
            "sasl.username": self.sasl_username if self.sasl else None,
            "sasl.password": self.sasl_password if self.sasl else None,
            "ssl.ca.location": self.ssl_ca_location if self.ssl else None,
            "ssl.certificate.location": self.ssl_certificate_location if self.ssl else None,
            "ssl.key.location": self.ssl_key_location if self.ssl else None,
        }
        return settings | {k: v for k, v in names.items() if v is not None}

    def python_sasl(self, mechanisms: tuple[str, ...]) -> dict[str, str]:
        """kafka-python's and aiokafka's shared keyword arguments for SASL (both name them alike)."""
        if not self.sasl:
            return {}
        if self.sasl_mechanism not in mechanisms:
            raise Unsupported(f"SASL mechanism {self.sasl_mechanism!r}")
        return {
            "sasl_mechanism": str(self.sasl_mechanism),
            "sasl_plain_username": str(self.sasl_username),
            "sasl_plain_password": str(self.sasl_password),
        }


def b64d(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def b64e(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Message:
    """One record as the protocol carries it, with bytes decoded."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp: int | None = None
    partition: int | None = None
    offset: int | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Message:
        return cls(
            key=b64d(d.get("key")),
            value=b64d(d.get("value")),
            headers=tuple((str(h[0]), b64d(h[1])) for h in d.get("headers") or ()),
            timestamp=d.get("timestamp"),
            partition=d.get("partition"),
            offset=d.get("offset"),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "key": b64e(self.key),
            "value": b64e(self.value),
            "headers": [[k, b64e(v)] for k, v in self.headers],
            "timestamp": self.timestamp,
        }


def messages(request: dict[str, Any]) -> list[Message]:
    """The `messages` of a produce request, decoded."""
    return [Message.from_wire(m) for m in request["messages"]]


def codec(request: dict[str, Any], supported: tuple[str, ...] = CODECS) -> str:
    """The request's compression codec, or Unsupported when this client cannot produce it."""
    name = request.get("compression") or "none"
    if name not in supported:
        raise Unsupported(f"compression {name!r}")
    return name


def start_offsets(request: dict[str, Any], partitions: list[int]) -> dict[int, int | str]:
    """Where a consume starts on each partition: an offset, or "earliest"/"latest"."""
    start = request.get("start", "earliest")
    if isinstance(start, dict):
        return {p: int(start[str(p)]) if str(p) in start else "earliest" for p in partitions}
    if start not in ("earliest", "latest"):
        raise Unsupported(f"start {start!r}")
    return dict.fromkeys(partitions, start)


@dataclass
class _Slot:
    """One group member under `run_group`. A sync member's calls all run, one at a time, on the
    slot's own thread (sync consumers are not thread-safe); its lock keeps them in order."""

    member: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    thread: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))
    assigned: set[int] = field(default_factory=set)
    read: dict[tuple[int, int], Message] = field(default_factory=dict)
    closed: bool = False

    async def do(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a member method: awaited if it is a coroutine function, else on the slot's thread."""
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.thread, fn, *args)

    async def pump(self) -> None:
        """Poll until closed, remembering the assignment after each poll and every record read."""
        while not self.closed:
            async with self.lock:
                if self.closed:
                    break
                got = await self.do(self.member.poll, 0.2)
                self.assigned = set(await self.do(self.member.assignment))
            for m in got:
                self.read[(m.partition, m.offset)] = m
            await asyncio.sleep(0)

    async def close(self) -> None:
        async with self.lock:
            if not self.closed:
                self.closed = True
                await self.do(self.member.close)
                self.thread.shutdown(wait=False)


def _split(slots: list[_Slot]) -> bool:
    """Every member owns partitions, and no partition has two owners."""
    sets = [s.assigned for s in slots]
    return all(sets) and sum(map(len, sets)) == len(set().union(*sets))


async def run_group(request: dict[str, Any], members: list[Any]) -> dict[str, Any]:
    """The `group_consume` op over started members (objects with `poll(timeout_s) -> [Message]`,
    `assignment() -> partitions`, `commit()`, `close()`, each sync or async); see README.md.

    Members poll concurrently until they split the partitions and the owners have read `count`
    records from their partitions; then each commits (`commit`), member 0 leaves and the others
    poll until they own everything it owned (`leave`); all are closed at the end.
    """
    slots = [_Slot(m) for m in members]
    deadline = time.monotonic() + int(request.get("timeout_ms", 30000)) / 1000
    count = int(request["count"])
    pumps = [asyncio.ensure_future(s.pump()) for s in slots]

    async def until(done: Callable[[], bool], what: str) -> None:
        while not done():
            for task in pumps:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if time.monotonic() > deadline:
                state = [(sorted(s.assigned), len(s.read)) for s in slots if not s.closed]
                raise ClientError("Timeout", f"{what}: members' (assignment, records read): {state}")
            await asyncio.sleep(0.05)

    def owners_read() -> int:
        return sum(1 for s in slots for (p, _) in s.read if p in s.assigned)

    try:
        await until(lambda: _split(slots) and owners_read() >= count, f"split and read {count} records")
        reply: dict[str, Any] = {
            "members": [
                {"assigned": sorted(s.assigned), "messages": [m.to_wire() for m in s.read.values()]} for s in slots
            ]
        }
        if request.get("commit"):
            for s in slots:
                async with s.lock:
                    await s.do(s.member.commit)
        if request.get("leave"):
            everything = set().union(*(s.assigned for s in slots))
            await slots[0].close()
            rest = slots[1:]
            await until(lambda: _split(rest) and set().union(*(s.assigned for s in rest)) == everything, "takeover")
            reply["after_leave"] = [sorted(s.assigned) for s in rest]
        return reply
    finally:
        for s in slots:
            await s.close()
        await asyncio.gather(*pumps, return_exceptions=True)


class LiveMembers:
    """The member_* ops (README.md): group members that stay in their group across steps.

    Each is a `_Slot` (see `run_group`) whose member also has `positions() -> {partition: offset}`
    (where it reads next on each partition it owns). The slots poll on the driver's event loop, which
    runs while an op runs: the runner awaits every op, so members poll whenever a step waits on them.
    """

    def __init__(self) -> None:
        self.slots: dict[str, _Slot] = {}
        self.pumps: dict[str, asyncio.Future[None]] = {}

    def start(self, name: str, member: Any) -> dict[str, Any]:
        if name in self.slots:
            raise ClientError("BadRequest", f"member {name} is already running")
        slot = self.slots[name] = _Slot(member)
        self.pumps[name] = asyncio.ensure_future(slot.pump())
        return {}

    def slot(self, name: str) -> _Slot:
        if name not in self.slots:
            raise ClientError("BadRequest", f"no running member {name}")
        return self.slots[name]

    async def positions(self, slot: _Slot) -> dict[int, int]:
        async with slot.lock:
            return dict(await slot.do(slot.member.positions))

    async def wait(self, request: dict[str, Any]) -> dict[str, Any]:
        """Until the named members split every partition and each owner's position reached `positions`."""
        slots = [self.slot(name) for name in request["names"]]
        everything = set(range(int(request["partitions"])))
        want = {int(p): int(o) for p, o in (request.get("positions") or {}).items()}
        deadline = time.monotonic() + int(request.get("timeout_ms", 30000)) / 1000
        while True:
            for name in request["names"]:
                pump = self.pumps[name]
                if pump.done() and pump.exception() is not None:
                    raise pump.exception()  # type: ignore[misc]
            owned = [set(s.assigned) for s in slots]
            if _split(slots) and set().union(*owned) == everything:
                reached = [await self.positions(s) for s in slots]
                pairs = list(zip(owned, reached, strict=True))
                if all(pos.get(p, -1) >= want.get(p, 0) for mine, pos in pairs for p in mine):
                    return {"members": [{"assigned": sorted(o), "positions": r} for o, r in pairs]}
            if time.monotonic() > deadline:
                state = [sorted(o) for o in owned]
                raise ClientError("Timeout", f"split and reach the positions: members' assignments: {state}")
            await asyncio.sleep(0.05)

    async def commit(self, name: str) -> dict[str, Any]:
        slot = self.slot(name)
        async with slot.lock:
            await slot.do(slot.member.commit)
            return {"offsets": dict(await slot.do(slot.member.positions))}

    async def stop(self, name: str) -> dict[str, Any]:
        slot = self.slot(name)
        await slot.close()
        await asyncio.gather(self.pumps.pop(name), return_exceptions=True)
        del self.slots[name]
        return {"assigned": sorted(slot.assigned), "messages": [m.to_wire() for m in slot.read.values()]}


class ShareDeliveries:
    """What the share consumers of a `share_consume` run saw, and which acknowledgement each record gets
    (README.md): `reject` values are rejected, `poison` values released at every delivery, `release`
    values released at their first delivery only, every other record accepted."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.count = int(request["count"])
        self.release = {b64d(v) for v in request.get("release", [])}
        self.reject = {b64d(v) for v in request.get("reject", [])}
        self.poison = {b64d(v) for v in request.get("poison", [])}
        self.poison_deliveries = int(request.get("poison_deliveries", 1))
        self.deliveries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def ack(self, member: int, msg: Message, delivery_count: int | None) -> str:
        """Record one delivery; the acknowledge type to give it (ACCEPT, RELEASE or REJECT)."""
        if msg.value in self.reject:
            ack = "REJECT"
        elif msg.value in self.poison or (msg.value in self.release and delivery_count == 1):
            ack = "RELEASE"
        else:
            ack = "ACCEPT"
        with self._lock:
            self.deliveries.append({"member": member, **msg.to_wire(), "delivery_count": delivery_count, "ack": ack})
        return ack

    def done(self) -> bool:
        """Every record accepted, rejected, or (poison) delivered `poison_deliveries` times."""
        with self._lock:
            accepted = {d["value"] for d in self.deliveries if d["ack"] == "ACCEPT"}
            rejected = {d["value"] for d in self.deliveries if d["ack"] == "REJECT"}
            poisoned = Counter(d["value"] for d in self.deliveries if b64d(d["value"]) in self.poison)
        finished = len(accepted) + len(rejected) + len(self.poison)
        return finished >= self.count and all(poisoned[b64e(v)] >= self.poison_deliveries for v in self.poison)


ShareMember = Callable[[ShareDeliveries, threading.Event], None]


def run_share(request: dict[str, Any], members: list[ShareMember]) -> dict[str, Any]:
    """Run `share_consume`'s members (each a loop polling, acknowledging and committing until told to
    stop) on threads until every record is finished, then `settle_ms` more (a record delivered again
    then would show), and return the deliveries."""
    seen = ShareDeliveries(request)
    stop = threading.Event()
    failures: list[BaseException] = []

    def member(loop: Callable[[ShareDeliveries, threading.Event], None]) -> None:
        try:
            loop(seen, stop)
        except BaseException as exc:  # noqa: BLE001 - reported as the op's failure
            failures.append(exc)
            stop.set()

    threads = [threading.Thread(target=member, args=(loop,), daemon=True) for loop in members]
    for t in threads:
        t.start()
    deadline = time.monotonic() + int(request.get("timeout_ms", 60000)) / 1000
    while not seen.done() and not failures and time.monotonic() < deadline:
        time.sleep(0.05)
    finished = seen.done()
    if finished:
        time.sleep(int(request.get("settle_ms", 2000)) / 1000)
    stop.set()
    for t in threads:
        t.join(30)
    if failures:
        raise failures[0]
    if not finished:
        raise ClientError("Timeout", f"share_consume: not done, deliveries {seen.deliveries}")
    return {"deliveries": seen.deliveries}


def instance_ids(request: dict[str, Any]) -> list[str | None]:
    """group_consume's static instance id per member (None: a dynamic member)."""
    n = int(request.get("members", 1))
    ids = request.get("instance_ids") or [None] * n
    if len(ids) != n:
        raise ValueError(f"{n} members but {len(ids)} instance_ids")
    return list(ids)


def group_protocol(request: dict[str, Any]) -> str:
    """group_consume's rebalance protocol: "classic" (JoinGroup/SyncGroup, the default) or "consumer"
    (KIP-848, ConsumerGroupHeartbeat: the broker assigns)."""
    protocol = request.get("group_protocol") or "classic"
    if protocol not in ("classic", "consumer"):
        raise ValueError(f"group_protocol {protocol!r}")
    return protocol


def classic_group_only(request: dict[str, Any], client: str) -> None:
    """Refuse (unsupported) a group_consume this client can only run with the classic protocol."""
    if group_protocol(request) != "classic":
        raise Unsupported(f"{client} has no KIP-848 consumer group protocol (group.protocol=consumer)")
    if request.get("topic_regex"):
        raise Unsupported(f"{client} has no broker-side regex subscription")


def isolation_level(request: dict[str, Any]) -> str:
    """consume's isolation level: read_uncommitted (Kafka's default) unless asked otherwise."""
    level = request.get("isolation_level") or "read_uncommitted"
    if level not in ("read_committed", "read_uncommitted"):
        raise ValueError(f"isolation_level {level!r}")
    return level


def send_offsets(request: dict[str, Any]) -> tuple[str, str, dict[int, int]] | None:
    """txn_produce's `send_offsets` as (group, topic, {partition: offset}), or None."""
    so = request.get("send_offsets")
    if not so:
        return None
    return so["group"], so["topic"], {int(p): int(o) for p, o in so["offsets"].items()}


class Driver:
    """Base of a driver: subclasses set `client`/`version` and define `op_<name>` methods."""

    client = "?"
    version = "?"

    def __init__(self, bootstrap: str, client_config: ClientConfig | None = None) -> None:
        self.bootstrap = bootstrap
        self.client_config = client_config or ClientConfig()
        self._loop: asyncio.AbstractEventLoop | None = None
        # The client's own settings for the client config; what it cannot do makes every op but
        # `hello` answer unsupported (the cell is skipped with the reason).
        self.config_problem: str | None = None
        try:
            self.security: dict[str, Any] = self.security_settings(self.client_config)
        except Unsupported as exc:
            self.security, self.config_problem = {}, str(exc)

    def security_settings(self, config: ClientConfig) -> dict[str, Any]:
        """The client's settings for `config`, merged into every client the driver creates.

        Drivers that can do security override this; the base only knows PLAINTEXT.
        """
        if config != ClientConfig():
            raise Unsupported(f"{self.client} driver has no security settings")
        return {}

    def run(self, result: Any) -> Any:
        """Await `result` on the driver's own event loop if it is awaitable (asyncio clients keep one loop)."""
        if not inspect.isawaitable(result):
            return result
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(result)

    def ops(self) -> list[str]:
        return sorted(name[3:] for name in dir(self) if name.startswith("op_"))

    def op_hello(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"client": self.client, "version": self.version, "ops": self.ops()}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request in, one reply out; never raises."""
        op = request.get("op")
        handler: Callable[[dict[str, Any]], Any] | None = getattr(self, f"op_{op}", None)
        if handler is None:
            return {"ok": False, "unsupported": True, "message": f"op {op!r} not implemented by {self.client}"}
        if self.config_problem is not None and op != "hello":
            return {"ok": False, "unsupported": True, "message": f"--client-config: {self.config_problem}"}
        try:
            return {"ok": True, **self.run(handler(request))}
        except Unsupported as exc:
            return {"ok": False, "unsupported": True, "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - every client failure becomes a reply
            traceback.print_exc(file=sys.stderr)
            message = exc.message if isinstance(exc, ClientError) else str(exc)
            return {"ok": False, "error": error_name(exc), "message": message or repr(exc)}

    def close(self) -> Any:
        """Release clients the driver keeps between requests (may be a coroutine)."""


def serve(factory: Callable[[str, ClientConfig], Driver], argv: list[str] | None = None) -> None:
    """Parse `--bootstrap` and `--client-config`, then answer JSON lines from stdin until it closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--client-config", default=None, help="security settings as JSON (README.md)")
    args = parser.parse_args(argv)
    driver = factory(args.bootstrap, ClientConfig.from_json(args.client_config))
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except json.JSONDecodeError as exc:
                reply: dict[str, Any] = {"ok": False, "error": "BadRequest", "message": str(exc)}
            else:
                reply = driver.handle(request)
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        driver.run(driver.close())
