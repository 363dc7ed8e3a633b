"""At-least-once under churn: for 60 s a producer writes while group members join and leave.

Members (librdkafka and kafka-python) commit after processing, so every acknowledged record must
be consumed at least once by someone, whatever the rebalances in between.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, Message

from tests.broker_process import BrokerProcess
from tests.integration.clientutil import create_topic, flush_all, producer, unique_topic
from tests.integration.grouputil import GROUP_BROKER_ARGS, Member, confluent_member, kafka_python_member, wait_until

DURATION_S = 60
CHURN_EVERY_S = 5
PARTITIONS = 6


@pytest.mark.timeout(DURATION_S + 120)
def test_every_record_consumed_at_least_once_while_members_churn(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory(extra_args=GROUP_BROKER_ARGS)
    bootstrap = b.bootstrap
    topic, group = unique_topic("alo"), "at-least-once"
    create_topic(bootstrap, topic, PARTITIONS)

    acked: set[tuple[int, int]] = set()
    errors: list[str] = []
    stop_producing = threading.Event()

    def produce() -> None:
        p = producer(bootstrap, **{"linger.ms": 2})

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                acked.add((msg.partition(), msg.offset()))

        i = 0
        while not stop_producing.is_set():
            p.produce(topic, key=str(i).encode(), value=str(i).encode(), on_delivery=on_delivery)
            i += 1
            p.poll(0.002)
        flush_all(p)

    factories = [confluent_member, kafka_python_member]
    members: list[Member] = []
    retired: list[Member] = []
    started = 0

    def start_member() -> None:
        nonlocal started
        make = factories[started % len(factories)]
        members.append(make(bootstrap, group, topic, f"member-{started}"))
        started += 1

    producer_thread = threading.Thread(target=produce, daemon=True)
    producer_thread.start()
    try:
        for _ in range(3):
            start_member()
        end = time.monotonic() + DURATION_S
        while time.monotonic() < end:
            time.sleep(CHURN_EVERY_S)
            leaving = members.pop(0)
            leaving.close()
            retired.append(leaving)
            start_member()
        stop_producing.set()
        producer_thread.join(60)
        assert not producer_thread.is_alive() and not errors, errors[:5]

        def consumed() -> set[tuple[int, int]]:
            out: set[tuple[int, int]] = set()
            for m in retired + members:
                with m.lock:
                    out.update((p, o) for p, o, _ in m.records)
            return out

        wait_until(lambda: acked <= consumed(), 60, "every acked record consumed", lambda: len(acked - consumed()))
    finally:
        stop_producing.set()
        for m in members:
            m.close()
    assert started >= DURATION_S // CHURN_EVERY_S + 3
    assert len(acked) > 1000
    assert acked <= consumed()
