"""Consumer-group members for the integration tests: stock clients polling in their own threads.

Each member records what it was assigned (and revoked) and every record it received, so a test can
wait on a condition with a deadline instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, TopicPartition

from tests.integration.clientutil import Deadline, base_conf

# The broker under test accepts sessions from 1 s (group.min.session.timeout.ms), so these are short.
SESSION_MS = 3000
HEARTBEAT_MS = 300
GROUP_BROKER_ARGS = ("--override", "group.min.session.timeout.ms=1000")


def wait_until(condition: Callable[[], bool], seconds: float, what: str, detail: Callable[[], object] = str) -> None:
    deadline = Deadline(seconds, what)
    while not condition():
        deadline.check(f"(state: {detail()})")
        time.sleep(0.05)


@dataclass
class Member:
    """One group member in a thread; ``assignment`` is its current set of partitions."""

    name: str
    assignment: set[int] = field(default_factory=set)
    records: list[tuple[int, int, bytes | None]] = field(default_factory=list)
    revoked: list[set[int]] = field(default_factory=list)
    assigned: list[set[int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def close(self, timeout: float = 20) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)
            assert not self.thread.is_alive(), f"{self.name} did not close"

    def snapshot(self) -> set[int]:
        with self.lock:
            return set(self.assignment)


def confluent_member(
    bootstrap: str, group: str, topic: str, name: str, *, commit: bool = True, **conf: object
) -> Member:
    """A confluent-kafka (librdkafka) consumer that subscribes, polls and commits after processing."""
    member = Member(name)
    settings: dict[str, object] = {
        **base_conf(bootstrap),
        "group.id": group,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_MS,
        "heartbeat.interval.ms": HEARTBEAT_MS,
        "enable.auto.commit": False,
        "topic.metadata.refresh.interval.ms": 1000,
    }
    settings.update(conf)
    cooperative = settings.get("partition.assignment.strategy") == "cooperative-sticky"

    def on_assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        got = {tp.partition for tp in partitions}
        with member.lock:
            member.assigned.append(got)
            member.assignment = member.assignment | got if cooperative else got
        if cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)

    def on_revoke(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = {tp.partition for tp in partitions}
        if commit and not cooperative:
            try:
                consumer.commit(asynchronous=False)
            except Exception as exc:  # noqa: BLE001 - nothing to commit, or the generation moved on
                member.errors.append(f"commit on revoke: {exc}")
        with member.lock:
            member.revoked.append(lost)
            member.assignment = member.assignment - lost if cooperative else set()
        if cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    def run() -> None:
        consumer = Consumer(settings)
        consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
        try:
            while not member.stop.is_set():
                msgs = consumer.consume(num_messages=500, timeout=0.1)
                for msg in msgs:
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            member.errors.append(str(err))
                        continue
                    with member.lock:
                        member.records.append((msg.partition(), msg.offset(), msg.value()))
                if msgs and commit:
                    try:
                        consumer.commit(asynchronous=False)
                    except Exception as exc:  # noqa: BLE001 - e.g. REBALANCE_IN_PROGRESS: redelivered later
                        member.errors.append(f"commit: {exc}")
        finally:
            consumer.close()

    member.thread = threading.Thread(target=run, name=name, daemon=True)
    member.thread.start()
    return member


def kafka_python_member(bootstrap: str, group: str, topic: str, name: str, **conf: object) -> Member:
    """A kafka-python consumer in the group, committing synchronously after each poll."""
    from kafka import KafkaConsumer
    from kafka.consumer.subscription_state import ConsumerRebalanceListener

    member = Member(name)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):  # noqa: ANN001, ANN201 - kafka-python's signature
            with member.lock:
                member.revoked.append({tp.partition for tp in revoked})
                member.assignment = set()

        def on_partitions_assigned(self, assigned):  # noqa: ANN001, ANN201
            with member.lock:
                member.assigned.append({tp.partition for tp in assigned})
                member.assignment = {tp.partition for tp in assigned}

    settings: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "session_timeout_ms": SESSION_MS,
        "heartbeat_interval_ms": HEARTBEAT_MS,
        "request_timeout_ms": 15000,
        "metadata_max_age_ms": 1000,
    }
    settings.update(conf)

    def run() -> None:
        consumer = KafkaConsumer(**settings)
        consumer.subscribe([topic], listener=Listener())
        try:
            while not member.stop.is_set():
                polled = consumer.poll(timeout_ms=100, max_records=500)
                for records in polled.values():
                    with member.lock:
                        member.records.extend((r.partition, r.offset, r.value) for r in records)
                if polled:
                    try:
                        consumer.commit()
                    except Exception as exc:  # noqa: BLE001 - a rebalance: the records are redelivered
                        member.errors.append(f"commit: {exc}")
        finally:
            consumer.close()

    member.thread = threading.Thread(target=run, name=name, daemon=True)
    member.thread.start()
    return member


def partitions_of(members: list[Member]) -> list[set[int]]:
    return [m.snapshot() for m in members]


def covers(members: list[Member], partitions: int, each: int | None = None) -> bool:
    """Every partition assigned exactly once (and ``each`` per member, if given)."""
    sets = partitions_of(members)
    flat = [p for s in sets for p in s]
    if sorted(flat) != list(range(partitions)):
        return False
    return each is None or all(len(s) == each for s in sets)
