"""Consumer groups with stock clients against the real broker: membership, rebalances, commits, admin.

The broker runs with group.min.session.timeout.ms=1000 so members can use 3 s sessions and the
suite stays quick; everything waits on conditions with deadlines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.broker_process import REPO_ROOT, BrokerProcess
from tests.integration.clientutil import create_topic, flush_all, producer, unique_topic
from tests.integration.grouputil import (
    GROUP_BROKER_ARGS,
    SESSION_MS,
    Member,
    confluent_member,
    covers,
    kafka_python_member,
    partitions_of,
    wait_until,
)

PARTITIONS = 6
# Rebalances here finish well within a few session timeouts.
SETTLE_S = 30


@pytest.fixture(scope="module")
def group_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    base = tmp_path_factory.mktemp("group-broker")
    b = BrokerProcess(base / "data", log_path=base / "stderr.log", extra_args=GROUP_BROKER_ARGS)
    b.start()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def members() -> Iterator[list[Member]]:
    """Members a test starts; all closed at teardown."""
    started: list[Member] = []
    yield started
    for m in started:
        m.stop.set()
    for m in started:
        m.close()


def group_name() -> str:
    return f"group-{uuid.uuid4().hex[:10]}"


def produce(bootstrap: str, topic: str, count: int, start: int = 0) -> None:
    p = producer(bootstrap)
    for i in range(start, start + count):
        p.produce(topic, key=str(i).encode(), value=str(i).encode())
    flush_all(p)


MemberFactory = Callable[..., Member]
CLIENTS: dict[str, MemberFactory] = {"confluent": confluent_member, "kafka-python": kafka_python_member}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_three_members_share_partitions_and_take_over_from_a_leaver(
    group_broker: BrokerProcess, members: list[Member], client: str
) -> None:
    bootstrap = group_broker.bootstrap
    topic, group = unique_topic("grp"), group_name()
    create_topic(bootstrap, topic, PARTITIONS)
    # Two kafka-python 3.0.12 consumers in one process can deadlock in its network selector (a client
    # bug, seen against Apache Kafka too), so the kafka-python case is one kafka-python member (the
    # one that leaves) beside two librdkafka members using the same range assignor.
    makers = [CLIENTS[client]] + [CLIENTS["confluent"] if client == "kafka-python" else CLIENTS[client]] * 2
    conf = {"partition.assignment.strategy": "range"} if client == "kafka-python" else {}
    members.append(makers[0](bootstrap, group, topic, f"{client}-0"))
    members.extend(make(bootstrap, group, topic, f"{client}-{i}", **conf) for i, make in enumerate(makers[1:], 1))
    wait_until(lambda: covers(members, PARTITIONS, each=2), SETTLE_S, "2 each", lambda: partitions_of(members))
    leaver = members.pop(0)
    leaver.close()
    # LeaveGroup starts the rebalance at once: well within a session timeout.
    wait_until(
        lambda: covers(members, PARTITIONS, each=3),
        SESSION_MS / 1000,
        "the leaver's partitions taken over",
        lambda: partitions_of(members),
    )
    produce(bootstrap, topic, 60)
    wait_until(lambda: sum(len(m.records) for m in members) >= 60, SETTLE_S, "records consumed")


def test_mixed_clients_in_one_group(group_broker: BrokerProcess, members: list[Member]) -> None:
    """librdkafka and kafka-python speak the same consumer protocol; the broker only relays it."""
    bootstrap = group_broker.bootstrap
    topic, group = unique_topic("mixed"), group_name()
    create_topic(bootstrap, topic, PARTITIONS)
    members.append(confluent_member(bootstrap, group, topic, "confluent", **{"partition.assignment.strategy": "range"}))
    members.append(kafka_python_member(bootstrap, group, topic, "kafka-python"))
    wait_until(lambda: covers(members, PARTITIONS, each=3), SETTLE_S, "3 each", lambda: partitions_of(members))


_KILLED_CONSUMER = textwrap.dedent(
    """
    import sys
    from confluent_kafka import Consumer
    bootstrap, group, topic, session = sys.argv[1:5]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": int(session),
                  "heartbeat.interval.ms": 300, "broker.address.family": "v4"})
    c.subscribe([topic], on_assign=lambda consumer, parts: print("assigned", len(parts), flush=True))
    while True:
        c.poll(0.1)
    """
)


def test_killed_member_is_evicted_after_its_session_timeout(group_broker: BrokerProcess, members: list[Member]) -> None:
    bootstrap = group_broker.bootstrap
    topic, group = unique_topic("kill"), group_name()
    create_topic(bootstrap, topic, PARTITIONS)
    survivor = confluent_member(bootstrap, group, topic, "survivor")
    members.append(survivor)
    wait_until(lambda: len(survivor.snapshot()) == PARTITIONS, SETTLE_S, "survivor owns everything")
    victim = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CONSUMER, bootstrap, group, topic, str(SESSION_MS)],
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        wait_until(lambda: len(survivor.snapshot()) == PARTITIONS // 2, SETTLE_S, "victim joined")
        assert victim.stdout is not None and victim.stdout.readline().startswith(b"assigned")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    # No LeaveGroup: the session must expire first, then the survivor takes everything back.
    wait_until(lambda: len(survivor.snapshot()) == PARTITIONS, SESSION_MS / 1000 + 10, "victim evicted")


def test_commits_survive_kill9_and_consumers_resume_exactly(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory(extra_args=GROUP_BROKER_ARGS)
    topic, group = unique_topic("resume"), group_name()
    create_topic(b.bootstrap, topic, 3)
    produce(b.bootstrap, topic, 90)
    first = confluent_member(b.bootstrap, group, topic, "before-crash")
    wait_until(lambda: len(first.records) >= 90, SETTLE_S, "first consumer read everything")
    first.close()  # commits were synchronous after each batch
    consumed = {(p, o) for p, o, _ in first.records}
    b.restart(crash=True)
    produce(b.bootstrap, topic, 60, start=90)
    second = kafka_python_member(b.bootstrap, group, topic, "after-crash")
    try:
        wait_until(lambda: len(second.records) >= 60, SETTLE_S, "second consumer read the new records")
        # A marker produced last: anything re-read from before the crash would have come before it.
        produce(b.bootstrap, topic, 1, start=150)
        wait_until(lambda: len(second.records) >= 61, SETTLE_S, "marker record")
    finally:
        second.close()
    again = {(p, o) for p, o, _ in second.records}
    assert not consumed & again, "records consumed before the crash were read again"
    assert len(again) == 61 == len(second.records)
    values = sorted(int(v) for _, _, v in first.records + second.records)
    assert values == list(range(151)), "a record was skipped or duplicated"


def test_cooperative_sticky_rebalances_incrementally(group_broker: BrokerProcess, members: list[Member]) -> None:
    bootstrap = group_broker.bootstrap
    topic, group = unique_topic("coop"), group_name()
    create_topic(bootstrap, topic, PARTITIONS)
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    first = confluent_member(bootstrap, group, topic, "coop-1", **conf)
    members.append(first)
    wait_until(lambda: len(first.snapshot()) == PARTITIONS, SETTLE_S, "first owns everything")
    second = confluent_member(bootstrap, group, topic, "coop-2", **conf)
    members.append(second)
    wait_until(lambda: covers(members, PARTITIONS, each=3), SETTLE_S, "3 each", lambda: partitions_of(members))
    # Incremental: the first member only ever gave up the 3 partitions that moved, and kept the rest.
    # (librdkafka also calls on_assign with no partitions at the end of an incremental rebalance.)
    assert [r for r in first.revoked if r] == [second.snapshot()]
    assert [a for a in first.assigned if a] == [set(range(PARTITIONS))]
    third = confluent_member(bootstrap, group, topic, "coop-3", **conf)
    members.append(third)
    wait_until(lambda: covers(members, PARTITIONS, each=2), SETTLE_S, "2 each", lambda: partitions_of(members))
    assert all(len(r) == 1 for m in (first, second) for r in m.revoked[1 if m is first else 0 :] if r)


def test_static_member_rejoins_without_rebalance(group_broker: BrokerProcess, members: list[Member]) -> None:
    bootstrap = group_broker.bootstrap
    topic, group = unique_topic("static"), group_name()
    create_topic(bootstrap, topic, PARTITIONS)
    stays = confluent_member(bootstrap, group, topic, "static-a", **{"group.instance.id": "a"})
    members.append(stays)
    restarts = confluent_member(bootstrap, group, topic, "static-b", **{"group.instance.id": "b"})
    wait_until(lambda: covers([stays, restarts], PARTITIONS, each=3), SETTLE_S, "3 each")
    before = restarts.snapshot()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    assignments_before = {m.group_instance_id: m.assignment for m in described.members}
    stays_history = (list(stays.assigned), list(stays.revoked))
    restarts.close()  # a static member sends no LeaveGroup
    back = confluent_member(bootstrap, group, topic, "static-b-again", **{"group.instance.id": "b"})
    members.append(back)
    wait_until(lambda: back.snapshot() == before, SESSION_MS / 1000, "same partitions back")
    assert (stays.assigned, stays.revoked) == stays_history, "the other member saw a rebalance"
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    assert described.state == ConsumerGroupState.STABLE
    assert {m.group_instance_id for m in described.members} == {"a", "b"}
    assert {m.group_instance_id: m.assignment for m in described.members}.keys() == assignments_before.keys()


def test_admin_describe_list_delete_and_offsets(group_broker: BrokerProcess, members: list[Member]) -> None:
    bootstrap = group_broker.bootstrap
    topic, group = unique_topic("admin"), group_name()
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, 10)
    member = confluent_member(bootstrap, group, topic, "admin-member", **{"client.id": "admin-test"})
    members.append(member)
    wait_until(lambda: len(member.records) >= 10 and len(member.snapshot()) == 2, SETTLE_S, "consumed")
    admin = AdminClient({"bootstrap.servers": bootstrap})

    listed = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(timeout=10)
    assert group in {g.group_id for g in listed.valid}
    listed_empty = admin.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(timeout=10)
    assert group not in {g.group_id for g in listed_empty.valid}

    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    assert described.state == ConsumerGroupState.STABLE
    assert described.partition_assignor == "range"
    (m,) = described.members
    assert m.client_id == "admin-test" and m.host == "/127.0.0.1"
    assert sorted(tp.partition for tp in m.assignment.topic_partitions) == [0, 1]
    assert described.coordinator.id == 1

    with pytest.raises(KafkaException) as refused:
        admin.delete_consumer_groups([group])[group].result(timeout=10)
    assert refused.value.args[0].name() == "NON_EMPTY_GROUP"

    committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=10)
    offsets = {tp.partition: tp.offset for tp in committed.topic_partitions if tp.topic == topic}
    assert sum(offsets.values()) == 10

    # OffsetDelete (confluent-kafka's Python AdminClient has no call for it; kafka-python's has)
    # refuses a topic the group still subscribes to ...
    from kafka import TopicPartition as KTopicPartition
    from kafka.admin import KafkaAdminClient

    kadmin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        result = kadmin.delete_group_offsets(group, [KTopicPartition(topic, 0)])
        assert {tp.partition: err.__name__ for tp, err in result.items()} == {0: "GroupSubscribedToTopicError"}
        member.close()
        members.remove(member)
        wait_until(
            lambda: admin.describe_consumer_groups([group])[group].result(timeout=10).state == ConsumerGroupState.EMPTY,
            SETTLE_S,
            "group empty",
        )
        # ... and deletes the offsets once the group is empty.
        result = kadmin.delete_group_offsets(group, [KTopicPartition(topic, 0)])
        assert {tp.partition: err.__name__ for tp, err in result.items()} == {0: "NoError"}
    finally:
        kadmin.close()
    # Alter (OffsetCommit) works on the empty group.
    altered = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 1, 3)])
    admin.alter_consumer_group_offsets([altered])[group].result(timeout=10)
    committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=10)
    assert {(tp.partition, tp.offset) for tp in committed.topic_partitions} == {(1, 3)}

    admin.delete_consumer_groups([group])[group].result(timeout=10)
    listed = admin.list_consumer_groups().result(timeout=10)
    assert group not in {g.group_id for g in listed.valid}
    with pytest.raises(KafkaException) as missing:
        admin.delete_consumer_groups([group])[group].result(timeout=10)
    assert missing.value.args[0].name() == "GROUP_ID_NOT_FOUND"
