"""The security cells of issue #14: client × cell on the secured broker (secured.py).

Each client connects with a `--client-config` (drivers/README.md): SASL_SSL with PLAIN or
SCRAM-SHA-512, or SSL with a client certificate. The suite's admin (PLAINTEXT, a super user) makes
the topics, ACLs, SCRAM credentials and quotas. Every expectation holds on Apache Kafka 4.3.1
(`--reference-kafka -k security`); a client that cannot do a cell's settings shows `unsup`.

The cells and what each checks are in compat_tests/README.md (Security cells).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AclOperation, ResourceType
from matrix import Client, ClientConfig, ClientFailure, DriverPool, Unsupported, load_manifests
from pydriver import Message
from scenarios import CONSUME_TIMEOUT_MS, Ctx, Target, check_round_trip, expect_failure, sample_messages
from secured import CLIENT_CN, USER_PREFIXES, SecuredBroker
from test_matrix import run_cell, used_clients

CLIENTS = sorted(load_manifests())
# How long a cell waits for an ACL change to reach the authorizer (Kafka applies it from its metadata log).
ACL_WAIT_S = 15.0
# The quota cell: the user's producer_byte_rate and what it produces in one step, in batches of at most
# QUOTA_BATCH bytes, so several requests, each one after the broker's throttling of the one before.
QUOTA_USER = "throttled"
QUOTA_RATE = 50 * 1024
QUOTA_BATCH = 32 * 1024
QUOTA_TOTAL = 300 * 1024
GROUP_TIMEOUT_MS = 20000
READ_WRITE = (AclOperation.READ, AclOperation.WRITE)
# How long a client with a wrong password may try before its step fails (clients retry a refused login).
REFUSED_LOGIN_MS = 5000
# Drivers that find a topic's partitions by listing all topics: Kafka lists only the topics the
# principal may Describe, so to them a denied topic is unknown (on Apache Kafka as on kafkapy).
CONSUME_DENIED_AS = {"kafka-python": "UNKNOWN_TOPIC_OR_PARTITION", "aiokafka": "UNKNOWN_TOPIC_OR_PARTITION",
                     "kcat": "UNKNOWN_TOPIC_OR_PARTITION"}  # fmt: skip


@dataclass
class SecurityCtx:
    """What a security cell gets: the secured broker, the drivers, and the clients it opened (closed after)."""

    broker: SecuredBroker
    pool: DriverPool
    node: pytest.Item
    opened: list[Client] = field(default_factory=list)

    def client(self, name: str, config: ClientConfig, listener: str) -> Client:
        """The client `name` with `config`, connected to `listener`'s bootstrap (its own driver process)."""
        client = self.pool.get(name, config, self.broker.bootstraps[listener])
        if client not in self.opened:
            self.opened.append(client)
            self.node.user_properties.append(("driver_logs", [str(client.log_path)]))
        return client

    def create_topic(self, prefix: str) -> str:
        """A new 1-partition topic made by the suite's admin (scenarios.Ctx on the PLAINTEXT listener)."""
        return Ctx(Target(self.broker.admin_bootstrap, self.broker.kind), self.pool).create_topic(prefix, 1)

    def close(self) -> None:
        """Stop the cell's drivers: each config is used by one cell, so none is kept for later."""
        for client in self.opened:
            client.close()


@pytest.fixture(scope="session")
def secured_pool(secured: SecuredBroker, request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[DriverPool]:  # fmt: skip
    """The drivers of the security cells: one process per (client, config), built once up front."""
    pool = DriverPool(secured.admin_bootstrap, Path(tmp_path_factory.mktemp("secured-drivers")))
    pool.prepare(used_clients(request.session.items, "secured_pool"), start=False)
    try:
        yield pool
    finally:
        pool.close()


def until(step: Callable[[], Any], what: str, retry: type[Exception] = ClientFailure) -> Any:
    """Retry `step` while it raises `retry` (an ACL change on its way to the authorizer), up to ACL_WAIT_S."""
    deadline = time.monotonic() + ACL_WAIT_S
    while True:
        try:
            return step()
        except retry as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still not so after {ACL_WAIT_S:.0f}s: {exc}") from None
            time.sleep(0.5)


def expect_denied_consume(client: Client, topic: str) -> None:
    """A consume of a topic the principal may not read fails: TOPIC_AUTHORIZATION_FAILED where the client
    asks about the topic by name, UNKNOWN_TOPIC_OR_PARTITION where it lists all topics (CONSUME_DENIED_AS)."""
    want = CONSUME_DENIED_AS.get(client.name, "TOPIC_AUTHORIZATION_FAILED")
    try:
        got = client.consume(topic, count=1, timeout_ms=5000)
    except ClientFailure as exc:
        assert exc.error == want, f"expected {want}, client reported {exc.error}: {exc.message}"
        return
    raise AssertionError(f"expected {want}, the consume succeeded: {got!r}")


def expect_denied_produce(client: Client, topic: str, records: list[Message]) -> None:
    expect_failure(client, "TOPIC_AUTHORIZATION_FAILED", lambda: client.produce(topic, records))


def expect_unreadable(client: Client, topic: str) -> None:
    """After a revoke, the topic's record does not read back: the consume fails as a denied one does, or
    (a client that knew the topic before, and retries what its fetches are told) reads nothing."""
    try:
        got = client.consume(topic, count=1, timeout_ms=5000)
    except ClientFailure as exc:
        allowed = {"TOPIC_AUTHORIZATION_FAILED", CONSUME_DENIED_AS.get(client.name, "TOPIC_AUTHORIZATION_FAILED")}
        assert exc.error in allowed, f"expected one of {sorted(allowed)}, client reported {exc.error}: {exc.message}"
        return
    assert got == [], f"read after DeleteAcls: {got!r}"


def round_trip(client: Client, topic: str, origin: str, count: int = 8, **produce: Any) -> None:
    """Produce `count` sample records and read them back, as in the matrix's produce_consume."""
    sent = sample_messages(origin, count=count)
    acked = client.produce(topic, sent, **produce)
    got = client.consume(topic, count=len(sent), timeout_ms=CONSUME_TIMEOUT_MS)
    check_round_trip(sent, acked, got, partitions=1)


def sasl_cell(mechanism: str) -> Callable[[SecurityCtx, str], None]:
    def run(ctx: SecurityCtx, name: str) -> None:
        client = ctx.client(name, ctx.broker.sasl_config(mechanism, "alice"), "SASL_SSL")
        topic = ctx.create_topic(f"{USER_PREFIXES['alice']}{mechanism.lower()}-{name}")
        round_trip(client, topic, name)
        wrong = ctx.client(name, ctx.broker.sasl_config(mechanism, "alice", "not-alice-secret"), "SASL_SSL")
        expect_failure(wrong, "SASL_AUTHENTICATION_FAILED", lambda: wrong.metadata([topic], REFUSED_LOGIN_MS))

    run.__doc__ = f"SASL_SSL + {mechanism}: round trip as alice; a wrong password fails authentication."
    return run


def mtls(ctx: SecurityCtx, name: str) -> None:
    """SSL with a client certificate: its CN is the principal, denied until an ACL names it."""
    client = ctx.client(name, ctx.broker.mtls_config(), "SSL")
    topic = ctx.create_topic(f"sec-mtls-{name}")
    expect_denied_consume(client, topic)
    ctx.broker.create_acls(ctx.broker.allow(f"User:{CLIENT_CN}", ResourceType.TOPIC, topic, READ_WRITE))
    until(lambda: round_trip(client, topic, name), f"round trip after granting User:{CLIENT_CN}")


def acl(ctx: SecurityCtx, name: str) -> None:
    """Denied topic and group, granted by CreateAcls, denied again after DeleteAcls."""
    client = ctx.client(name, ctx.broker.sasl_config("PLAIN", "bob"), "SASL_SSL")
    topic = ctx.create_topic(f"sec-acl-{name}")
    group = f"sec-acl-{name}-{uuid.uuid4().hex[:8]}"
    record = [Message(b"k", b"v")]
    # A producer of its own (acks=1) for the denied attempt, so the one used after the grant starts clean.
    expect_failure(client, "TOPIC_AUTHORIZATION_FAILED", lambda: client.produce(topic, record, acks="1"))
    expect_denied_consume(client, topic)
    principal = "User:bob"
    topic_acls = ctx.broker.allow(principal, ResourceType.TOPIC, topic, READ_WRITE)
    ctx.broker.create_acls(topic_acls)
    until(lambda: client.produce(topic, record), "produce after CreateAcls")
    assert [m.value for m in client.consume(topic, count=1)] == [b"v"]
    group_acls = ctx.broker.allow(principal, ResourceType.GROUP, group, (AclOperation.READ,))
    grouped = group_step(client, topic, group)
    try:
        expect_failure(client, "GROUP_AUTHORIZATION_FAILED", grouped)
    except Unsupported:
        grouped = None  # no group_consume (kcat): the topic checks stand alone
    if grouped is not None:
        ctx.broker.create_acls(group_acls)
        until(grouped, "group_consume after CreateAcls on the group")
    ctx.broker.delete_acls(topic_acls + group_acls)
    until(lambda: expect_denied_produce(client, topic, record), "produce denied after DeleteAcls", retry=AssertionError)
    until(lambda: expect_unreadable(client, topic), "consume denied after DeleteAcls", retry=AssertionError)


def group_step(client: Client, topic: str, group: str) -> Callable[[], Any]:
    """One member of `group` reads the topic's record and commits."""
    return lambda: client.call(
        "group_consume", timeout=GROUP_TIMEOUT_MS / 1000 + 30, topic=topic, group=group, members=1, assignor=None,
        instance_ids=None, session_timeout_ms=6000, count=1, commit=True, leave=False, timeout_ms=GROUP_TIMEOUT_MS,
    )  # fmt: skip


def quota(ctx: SecurityCtx, name: str) -> None:
    """A producer over its user's producer_byte_rate is held to about that rate, and told so."""
    ctx.broker.set_producer_byte_rate(QUOTA_USER, QUOTA_RATE)
    client = ctx.client(name, ctx.broker.sasl_config("PLAIN", QUOTA_USER), "SASL_SSL")
    topic = ctx.create_topic(f"{USER_PREFIXES[QUOTA_USER]}quota-{name}")
    per_record = 3 * 1024
    records = [Message(b"q", os.urandom(per_record), partition=0) for _ in range(QUOTA_TOTAL // per_record)]
    options = {"batch_bytes": QUOTA_BATCH, "max_request_bytes": QUOTA_BATCH + 1024}
    client.produce(topic, records[:1], **options)  # connected, the topic's metadata known, before the clock starts
    started = time.monotonic()
    reply = client.produce_reply(topic, records, **options)
    elapsed = time.monotonic() - started
    implied = QUOTA_TOTAL / QUOTA_RATE
    # Kafka measures the rate over its quota windows (2 of 1 s here), so up to about two seconds' worth
    # goes through before the throttling holds; unthrottled, 300 KB on loopback take well under a second.
    assert implied * 0.5 <= elapsed <= implied * 4 + 15, f"{QUOTA_TOTAL} bytes took {elapsed:.1f}s at {QUOTA_RATE} B/s"
    throttle = reply.get("throttle_time_ms")
    assert throttle is None or throttle > 0, f"the client reported no throttle time: {throttle}"


CELLS: dict[str, Callable[[SecurityCtx, str], None]] = {
    "sasl_plain": sasl_cell("PLAIN"),
    "sasl_scram": sasl_cell("SCRAM-SHA-512"),
    "mtls": mtls,
    "acl": acl,
    "quota": quota,
}


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("client_name", CLIENTS)
def test_security(request: pytest.FixtureRequest, secured: SecuredBroker, secured_pool: DriverPool, client_name: str,
                  cell: str) -> None:  # fmt: skip
    ctx = SecurityCtx(secured, secured_pool, request.node)
    where = ("security", cell, client_name)
    try:
        run_cell(request.node, where, [], secured_pool, lambda _: CELLS[cell](ctx, client_name))
    finally:
        ctx.close()
