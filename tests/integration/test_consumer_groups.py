"""KIP-848 consumer groups with a real client: confluent-kafka (librdkafka >= 2.12) with
``group.protocol=consumer`` over TCP against a real broker process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

from kafkapy.client.wire import WireClient
from kafkapy.testing.process import BrokerProcess
from tests.integration.clientutil import (
    Deadline,
    base_conf,
    create_topic,
    flush_all,
    producer,
    unique_topic,
)

# Short heartbeats so reconciliation takes seconds, not Kafka's 5 s per step.
FAST = ("--override", "group.consumer.heartbeat.interval.ms=200")


def _consumer(bootstrap: str, group: str, **conf: object) -> Consumer:
    return Consumer(
        {
            **base_conf(bootstrap),
            "group.id": group,
            "group.protocol": "consumer",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **conf,
        }
    )


def _produce(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    p = producer(bootstrap)
    for partition in range(partitions):
        for i in range(per_partition):
            p.produce(topic, value=f"{partition}-{i}".encode(), partition=partition)
    flush_all(p)


def _started(
    broker_factory: Callable[..., BrokerProcess], partitions: int, per_partition: int
) -> tuple[BrokerProcess, str, str]:
    """A broker with a topic of ``partitions`` holding ``per_partition`` records each, and a group name."""
    broker = broker_factory(extra_args=FAST)
    topic, group = unique_topic("cg"), unique_topic("group")
    create_topic(broker.bootstrap, topic, partitions)
    _produce(broker.bootstrap, topic, partitions, per_partition)
    return broker, topic, group


def _poll_until(consumers: list[Consumer], done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = Deadline(timeout, what)
    while not done():
        for c in consumers:
            msg = c.poll(0.1)
            assert msg is None or msg.error() is None or msg.error().retriable(), msg.error()
        deadline.check()


def test_a_consumer_protocol_member_gets_every_partition_consumes_and_commits(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    broker, topic, group = _started(broker_factory, 3, 5)
    c = _consumer(broker.bootstrap, group)
    try:
        c.subscribe([topic])
        seen: list[tuple[int, int]] = []
        deadline = Deadline(60, "15 records through the consumer protocol")
        while len(seen) < 15:
            msg = c.poll(0.2)
            if msg is not None and msg.error() is None:
                seen.append((msg.partition(), msg.offset()))
            deadline.check(f"seen {len(seen)}")
        assert {tp.partition for tp in c.assignment()} == {0, 1, 2}
        c.commit(asynchronous=False)
        committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert [(tp.partition, tp.offset) for tp in committed] == [(0, 5), (1, 5), (2, 5)]
    finally:
        c.close()
    # The offsets outlive the member, as a fresh consumer of the group sees.
    c = _consumer(broker.bootstrap, group)
    try:
        committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert [tp.offset for tp in committed] == [5, 5, 5]
    finally:
        c.close()


def test_two_members_split_the_partitions_without_overlap(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(extra_args=FAST)
    topic, group = unique_topic("cg"), unique_topic("group")
    create_topic(broker.bootstrap, topic, 4)
    a, b = _consumer(broker.bootstrap, group), _consumer(broker.bootstrap, group)
    try:
        a.subscribe([topic])
        _poll_until([a], lambda: len(a.assignment()) == 4, "the first member owns all 4 partitions")
        b.subscribe([topic])

        def split() -> bool:
            mine, theirs = {tp.partition for tp in a.assignment()}, {tp.partition for tp in b.assignment()}
            # Revocation before reassignment: at no point do both members hold a partition.
            assert not mine & theirs, (mine, theirs)
            return len(mine) == 2 and len(theirs) == 2

        _poll_until([a, b], split, "the two members own 2 partitions each")
    finally:
        a.close()
        b.close()


def _describe(bootstrap: str, group: str) -> Any:
    with WireClient.connect(bootstrap) as client:
        return client.request(69, 1, {"group_ids": [group], "include_authorized_operations": False}).groups[0]


def _list_groups(bootstrap: str) -> dict[str, tuple[str, str]]:
    with WireClient.connect(bootstrap) as client:
        groups = client.request(16, 5, {"states_filter": [], "types_filter": []}).groups
    return {g.group_id: (g.group_type, g.group_state) for g in groups}


def test_a_consumer_group_survives_kill9_with_its_members_epochs_and_offsets(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    """Members, epochs and assignments come back from ``__consumer_offsets`` after a crash, and the group
    is still a consumer group (not an offsets-only classic group); its commits are still there."""
    broker, topic, group = _started(broker_factory, 2, 3)
    c = _consumer(broker.bootstrap, group)
    try:
        c.subscribe([topic])
        _poll_until([c], lambda: len(c.assignment()) == 2, "the member owns both partitions")
        c.commit(offsets=[TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 3)], asynchronous=False)
        before = _describe(broker.bootstrap, group)
        assert before.error_code == 0 and before.group_state == "Stable" and len(before.members) == 1
        broker.restart(crash=True)
        after = _describe(broker.bootstrap, group)
        assert (after.group_epoch, after.assignment_epoch) == (before.group_epoch, before.assignment_epoch)
        [was], [member] = before.members, after.members
        assert (member.member_id, member.member_epoch) == (was.member_id, was.member_epoch)
        assert [sorted(tp.partitions) for tp in member.assignment.topic_partitions] == [[0, 1]]
        assert _list_groups(broker.bootstrap)[group] == ("consumer", "Stable")
        # The reloaded member commits at its reloaded epoch (OffsetCommit v9 checks it).
        c.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 3)], asynchronous=False)
    finally:
        c.close()
    # The member left with epoch -1: the group is empty, its offsets kept.
    deadline = Deadline(30, "the group empty after its member left")
    while _describe(broker.bootstrap, group).group_state != "Empty":
        deadline.check()
        time.sleep(0.1)
    fresh = _consumer(broker.bootstrap, group)
    try:
        committed = fresh.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
        assert [tp.offset for tp in committed] == [3, 3]
    finally:
        fresh.close()
    broker.restart(crash=True)
    assert _list_groups(broker.bootstrap)[group] == ("consumer", "Empty")


def _wire_join(bootstrap: str, group: str, member: str, topics: list[str]) -> Any:
    """A ConsumerGroupHeartbeat v1 join (epoch 0) over kafkapy's wire client, once the coordinator is there."""
    body = {
        "group_id": group, "member_id": member, "member_epoch": 0, "rebalance_timeout_ms": 5000,
        "subscribed_topic_names": topics, "topic_partitions": [],
    }  # fmt: skip
    with WireClient.connect(bootstrap) as client:
        client.request(10, 3, {"key": group, "key_type": 0})
        return client.request(68, 1, body)


def test_a_group_subscribed_to_no_existing_topic_survives_a_restart(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    """Found by the live fuzzer: a group whose subscribed topics do not exist has metadata hash 0, the
    tagged field's default, so its ConsumerGroupMetadata record carries no MetadataHash, and reading it
    back stopped the broker from starting."""
    broker = broker_factory()
    joined = _wire_join(broker.bootstrap, "nothing-yet", "m-1", ["no-such-topic"])
    assert joined.error_code == 0
    broker.restart(crash=True)
    described = _describe(broker.bootstrap, "nothing-yet")
    assert described.error_code == 0 and [m.member_id for m in described.members] == ["m-1"]


def _owned(c: Consumer) -> set[tuple[str, int]]:
    return {(tp.topic, tp.partition) for tp in c.assignment()}


def test_a_regex_subscription_follows_new_topics_and_partitions(broker_factory: Callable[..., BrokerProcess]) -> None:
    """SubscribedTopicRegex (RE2): a topic created later that matches is assigned, and so are partitions
    added to a subscribed topic (the subscribed topics' metadata is compared at each heartbeat)."""
    broker, topic, group = _started(broker_factory, 1, 1)
    prefix = topic.rsplit("-", 1)[0]
    c = _consumer(broker.bootstrap, group)
    try:
        c.subscribe([f"^{prefix}-.*"])
        _poll_until([c], lambda: _owned(c) == {(topic, 0)}, "the matching topic assigned")
        later = f"{prefix}-later"
        create_topic(broker.bootstrap, later, 2)
        _poll_until([c], lambda: _owned(c) == {(topic, 0), (later, 0), (later, 1)}, "the new topic assigned")
        admin = AdminClient(base_conf(broker.bootstrap))
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(timeout=30)
        want = {(topic, 0), (topic, 1), (topic, 2), (later, 0), (later, 1)}
        _poll_until([c], lambda: _owned(c) == want, "the added partitions assigned")
    finally:
        c.close()


def test_a_silent_member_is_fenced_after_its_session_timeout(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(extra_args=(*FAST, "--override", "group.consumer.session.timeout.ms=1000"))
    group = unique_topic("group")
    assert _wire_join(broker.bootstrap, group, "silent", []).error_code == 0
    assert len(_describe(broker.bootstrap, group).members) == 1
    deadline = Deadline(30, "the silent member fenced")
    while _describe(broker.bootstrap, group).members:
        deadline.check()
        time.sleep(0.1)
    assert _describe(broker.bootstrap, group).group_state == "Empty"


def test_a_static_member_that_restarts_keeps_its_partitions(broker_factory: Callable[..., BrokerProcess]) -> None:
    """group.instance.id: a member leaving with epoch -2 keeps its place; its replacement (a new member id)
    gets the same partitions back while the other member's stay put."""
    broker, topic, group = _started(broker_factory, 4, 1)
    a = _consumer(broker.bootstrap, group, **{"group.instance.id": "a"})
    b = _consumer(broker.bootstrap, group, **{"group.instance.id": "b"})
    try:
        a.subscribe([topic])
        b.subscribe([topic])
        _poll_until([a, b], lambda: len(_owned(a)) == 2 and len(_owned(b)) == 2, "2 partitions each")
        before_a, before_b = _owned(a), _owned(b)
        b.close()
        b = _consumer(broker.bootstrap, group, **{"group.instance.id": "b"})
        b.subscribe([topic])
        _poll_until([a, b], lambda: _owned(b) == before_b, "the restarted static member's partitions back")
        assert _owned(a) == before_a
    finally:
        a.close()
        b.close()


def test_transactional_offsets_of_a_consumer_protocol_group_commit_with_the_transaction(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    """TxnOffsetCommit with the member's epoch (send_offsets_to_transaction with the consumer's group
    metadata) is accepted by a consumer group and its offsets apply at the commit."""
    broker, topic, group = _started(broker_factory, 1, 3)
    c = _consumer(broker.bootstrap, group)
    p = producer(broker.bootstrap, **{"transactional.id": unique_topic("txn")})
    try:
        c.subscribe([topic])
        _poll_until([c], lambda: _owned(c) == {(topic, 0)}, "the partition assigned")
        p.init_transactions(30)
        p.begin_transaction()
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 2)], c.consumer_group_metadata(), 30)
        p.commit_transaction(30)
        assert c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset == 2
    finally:
        c.close()


def test_a_full_group_refuses_a_new_member(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(extra_args=("--override", "group.consumer.max.size=1"))
    group = unique_topic("group")
    assert _wire_join(broker.bootstrap, group, "first", []).error_code == 0
    refused = _wire_join(broker.bootstrap, group, "second", [])
    assert (refused.error_code, refused.error_message) == (
        81,
        "The consumer group has reached its maximum capacity of 1 members.",
    )
    assert [m.member_id for m in _describe(broker.bootstrap, group).members] == ["first"]
    # Checked at every heartbeat, before the member: an unknown member of a full group hears it too.
    with WireClient.connect(broker.bootstrap) as client:
        stranger = client.request(68, 1, {"group_id": group, "member_id": "stranger", "member_epoch": 3})
    assert stranger.error_code == 81


def test_the_target_assignment_waits_for_the_assignment_interval(broker_factory: Callable[..., BrokerProcess]) -> None:
    """Kafka 4.3 computes a group's target at most once per group.consumer.assignment.interval.ms: a
    member joining within it gets the current assignment epoch and nothing yet, the group is Assigning."""
    broker = broker_factory(extra_args=("--override", "group.consumer.assignment.interval.ms=600000"))
    topic, group = unique_topic("cg"), unique_topic("group")
    create_topic(broker.bootstrap, topic, 2)
    first = _wire_join(broker.bootstrap, group, "first", [topic])
    assert (first.member_epoch, [tp.partitions for tp in first.assignment.topic_partitions]) == (2, [[0, 1]])
    second = _wire_join(broker.bootstrap, group, "second", [topic])
    assert (second.member_epoch, second.assignment.topic_partitions) == (2, [])
    described = _describe(broker.bootstrap, group)
    assert (described.group_state, described.group_epoch, described.assignment_epoch) == ("Assigning", 3, 2)


def test_a_member_that_does_not_revoke_in_its_rebalance_timeout_is_fenced(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    """Revocation before reassignment, and its limit: the partitions go to the new member only once the
    old one stops reporting them, and a member that keeps them past its rebalance timeout is fenced."""
    broker = broker_factory(extra_args=("--override", "group.consumer.assignment.interval.ms=0"))
    topic, group = unique_topic("cg"), unique_topic("group")
    create_topic(broker.bootstrap, topic, 2)

    def heartbeat(member: str, epoch: int, owned: list[int]) -> Any:
        with WireClient.connect(broker.bootstrap) as client:
            topic_id = client.request(3, 12, {"topics": [{"name": topic}]}).topics[0].topic_id
            body = {"group_id": group, "member_id": member, "member_epoch": epoch,
                    "topic_partitions": [{"topic_id": topic_id, "partitions": owned}]}  # fmt: skip
            return client.request(68, 1, body)

    first = _wire_join(broker.bootstrap, group, "hoarder", [topic])
    assert [tp.partitions for tp in first.assignment.topic_partitions] == [[0, 1]]
    second = _wire_join(broker.bootstrap, group, "newcomer", [topic])
    assert (second.error_code, second.assignment.topic_partitions) == (0, [])
    # The hoarder is asked to give one partition up, keeps its epoch, and the newcomer waits for it.
    asked = heartbeat("hoarder", first.member_epoch, [0, 1])
    assert asked.member_epoch == first.member_epoch and len(asked.assignment.topic_partitions[0].partitions) == 1
    waiting = heartbeat("newcomer", second.member_epoch, [])
    assert waiting.error_code == 0 and not (waiting.assignment and waiting.assignment.topic_partitions)
    # Still reporting both past its rebalance timeout (5 s): fenced, and the newcomer gets both.
    deadline = Deadline(60, "the hoarder fenced")
    while heartbeat("hoarder", first.member_epoch, [0, 1]).error_code == 0:
        deadline.check()
        time.sleep(0.5)
    assert heartbeat("hoarder", first.member_epoch, [0, 1]).error_code == 25  # UNKNOWN_MEMBER_ID
    deadline = Deadline(30, "the newcomer owns both partitions")
    epoch, owned = waiting.member_epoch, []
    while owned != [0, 1]:
        answer = heartbeat("newcomer", epoch, owned)
        assert answer.error_code == 0, answer
        epoch = answer.member_epoch
        if answer.assignment is not None and answer.assignment.topic_partitions:
            owned = sorted(answer.assignment.topic_partitions[0].partitions)
        deadline.check(f"owned {owned}")
