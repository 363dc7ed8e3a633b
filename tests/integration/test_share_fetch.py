"""ShareFetch and ShareAcknowledge over the wire against a real broker process (KIP-932): share sessions,
acquisition, acknowledgement, redelivery with higher delivery counts, the delivery count limit, release
on session close, the long poll woken by an append, and the state kept in __share_group_state across
kill -9."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch, decode_records
from kafkapy.testing.process import BrokerProcess
from tests.integration.clientutil import produce_wire, unique_topic

ACCEPT, RELEASE, REJECT = 1, 2, 3
GROUP = "share-fetch-group"


@pytest.fixture
def share_broker(broker_factory: Callable[..., BrokerProcess], tmp_path: Path) -> BrokerProcess:
    """A broker whose share groups allow two deliveries (Kafka's minimum delivery count limit)."""
    props = tmp_path / "server.properties"
    props.write_text("group.share.delivery.count.limit=2\n")
    return broker_factory(extra_args=("--config", str(props)))


# The topics the tests' share group subscribes to (each test runs on its own broker).
TOPICS: list[str] = []


def create(client: WireClient, partitions: int = 1) -> tuple[str, uuid.UUID]:
    """A topic, which the next member to join GROUP subscribes to."""
    name = unique_topic("share")
    TOPICS[:] = [name]
    body = {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": 1}], "timeout_ms": 30000}
    answer = client.request(19, 7, body).topics[0]
    assert answer.error_code == 0, answer
    return name, answer.topic_id


def join(client: WireClient, partitions: int = 1, group: str = GROUP) -> str:
    """A member joins ``group`` (ShareGroupHeartbeat) and heartbeats until it is assigned the topic's
    partitions: the share group coordinator has then initialized them (share.auto.offset.reset)."""
    member, epoch = uuid.uuid4().hex[:22], 0
    deadline = time.monotonic() + 30
    while True:
        body = {"group_id": group, "member_id": member, "member_epoch": epoch, "subscribed_topic_names": None}
        if epoch == 0:
            body["subscribed_topic_names"] = list(TOPICS)
        answer = client.request(76, 1, body)
        assert answer.error_code == 0, answer
        epoch = answer.member_epoch
        assigned = answer.assignment.topic_partitions if answer.assignment else []
        if sum(len(t.partitions) for t in assigned) >= partitions:
            return member
        assert time.monotonic() < deadline, f"no assignment: {answer}"
        time.sleep(0.1)


def produce(client: WireClient, topic: str, count: int, partition: int = 0) -> None:
    produce_wire(client, topic, build_batch([(None, f"v{i}".encode(), [], 0) for i in range(count)]), partition)


def share_fetch(
    client: WireClient,
    member: str,
    epoch: int,
    topic_id: uuid.UUID,
    acks: list[tuple[int, int, int]] = (),  # type: ignore[assignment]
    *,
    partitions: tuple[int, ...] = (0,),
    max_wait_ms: int = 100,
    version: int = 1,
    group: str = GROUP,
) -> object:
    batches = [{"first_offset": f, "last_offset": la, "acknowledge_types": [t]} for f, la, t in acks]
    topic = {
        "topic_id": topic_id,
        "partitions": [
            {"partition_index": p, "acknowledgement_batches": batches if p == partitions[0] else []}
            for p in partitions
        ],
    }
    body = {
        "group_id": group,
        "member_id": member,
        "share_session_epoch": epoch,
        "max_wait_ms": max_wait_ms,
        "min_bytes": 1,
        "max_bytes": 1 << 20,
        "max_records": 500,
        "batch_size": 500,
        "topics": [topic],
        "forgotten_topics_data": [],
    }
    return client.request(78, version, body)


def acquired_by_a(client: WireClient, count: int) -> uuid.UUID:
    """A fresh topic whose share partition member "a" (session epoch 1 next) holds ``count`` records of;
    the topic's id."""
    topic, topic_id = create(client)
    join(client)
    share_fetch(client, "a", 0, topic_id)
    produce(client, topic, count)
    assert acquired(share_fetch(client, "a", 1, topic_id)) == [(0, count - 1, 1)]
    return topic_id


def acknowledge(member: str, epoch: int, topic_id: uuid.UUID, first: int, last: int, ack_type: int) -> dict:
    """A ShareAcknowledge body of one acknowledgement batch on partition 0."""
    batch = {"first_offset": first, "last_offset": last, "acknowledge_types": [ack_type]}
    partitions = [{"partition_index": 0, "acknowledgement_batches": [batch]}]
    return {"group_id": GROUP, "member_id": member, "share_session_epoch": epoch,
            "topics": [{"topic_id": topic_id, "partitions": partitions}]}  # fmt: skip


def acquired(response: object) -> list[tuple[int, int, int]]:
    return [
        (a.first_offset, a.last_offset, a.delivery_count)
        for t in response.responses  # type: ignore[attr-defined]
        for p in t.partitions
        for a in p.acquired_records
    ]


def partition_entry(response: object, index: int = 0) -> object:
    return next(p for t in response.responses for p in t.partitions if p.partition_index == index)  # type: ignore[attr-defined]


def values(response: object) -> list[bytes]:
    data = b"".join(bytes(p.records or b"") for t in response.responses for p in t.partitions)  # type: ignore[attr-defined]
    return [r.value for _, records in decode_records(data) for r in records]


def test_acquire_acknowledge_release_and_redeliver(share_broker: BrokerProcess) -> None:
    with WireClient.connect(share_broker.bootstrap) as client:
        topic, topic_id = create(client)
        # Joining initializes the share partition at the end of the log (share.auto.offset.reset latest).
        join(client)
        opened = share_fetch(client, "a", 0, topic_id)
        assert opened.error_code == 0 and acquired(opened) == []
        assert opened.acquisition_lock_timeout_ms == 30000
        produce(client, topic, 5)
        produce(client, topic, 5)
        first = share_fetch(client, "a", 1, topic_id)
        assert acquired(first) == [(0, 4, 1), (5, 9, 1)]
        assert values(first) == [f"v{i}".encode() for i in range(5)] * 2
        # Another member finds nothing available while "a" holds the records.
        assert acquired(share_fetch(client, "b", 0, topic_id)) == []
        second = share_fetch(client, "a", 2, topic_id, [(0, 4, ACCEPT), (5, 9, RELEASE)])
        assert partition_entry(second).acknowledge_error_code == 0
        assert acquired(second) == [(5, 9, 2)]
        # RENEW without IsRenewAck: that partition's INVALID_REQUEST, nothing changed.
        renew = share_fetch(client, "a", 3, topic_id, [(5, 9, 4)])
        assert partition_entry(renew).acknowledge_error_code == ErrorCode.INVALID_REQUEST
        # Acknowledging records it does not hold: INVALID_RECORD_STATE, nothing changed.
        wrong = share_fetch(client, "b", 1, topic_id, [(5, 9, ACCEPT)])
        assert partition_entry(wrong).acknowledge_error_code == ErrorCode.INVALID_RECORD_STATE
        # Released again at the delivery count limit (2): archived, never delivered again.
        third = share_fetch(client, "a", 4, topic_id, [(5, 9, RELEASE)])
        assert partition_entry(third).acknowledge_error_code == 0 and acquired(third) == []
        asked = {"group_id": GROUP, "topics": [{"topic_name": topic, "partitions": [0]}]}
        described = client.request(90, 1, {"groups": [asked]}).groups[0].topics[0].partitions[0]
        assert (described.error_code, described.start_offset, described.lag) == (0, 10, 0)


def test_share_partitions_exist_only_once_assigned(share_broker: BrokerProcess) -> None:
    """ShareFetch does not create share partitions: only the share group coordinator does, when it first
    assigns them (Kafka's InitializeShareGroupState); a full fetch then lists them."""
    with WireClient.connect(share_broker.bootstrap) as client:
        topic, topic_id = create(client)
        produce(client, topic, 2)
        before = share_fetch(client, "a", 0, topic_id)
        assert before.error_code == 0 and before.responses == []
        asked = {"group_id": GROUP, "topics": [{"topic_name": topic, "partitions": [0]}]}
        described = client.request(90, 1, {"groups": [asked]}).groups[0].topics[0].partitions[0]
        assert (described.start_offset, described.lag) == (-1, -1)
        join(client)
        after = share_fetch(client, "a", 0, topic_id)
        assert [(p.partition_index, p.error_code) for t in after.responses for p in t.partitions] == [(0, 0)]
        described = client.request(90, 1, {"groups": [asked]}).groups[0].topics[0].partitions[0]
        assert (described.start_offset, described.lag) == (2, 0)


def test_share_session_epochs(share_broker: BrokerProcess) -> None:
    with WireClient.connect(share_broker.bootstrap) as client:
        _, topic_id = create(client)
        join(client)
        assert share_fetch(client, "m", 3, topic_id).error_code == ErrorCode.SHARE_SESSION_NOT_FOUND
        assert share_fetch(client, "m", 0, topic_id).error_code == 0
        assert share_fetch(client, "m", 2, topic_id).error_code == ErrorCode.INVALID_SHARE_SESSION_EPOCH
        assert share_fetch(client, "m", 1, topic_id).error_code == 0
        with_acks = share_fetch(client, "m", 0, topic_id, [(0, 0, ACCEPT)])
        assert with_acks.error_code == ErrorCode.INVALID_REQUEST
        ack = {"group_id": GROUP, "member_id": "m", "share_session_epoch": 0, "topics": []}
        assert client.request(79, 1, ack).error_code == ErrorCode.INVALID_SHARE_SESSION_EPOCH
        assert client.request(79, 1, {**ack, "share_session_epoch": 2}).error_code == 0
        assert client.request(79, 1, {**ack, "share_session_epoch": -1}).error_code == 0
        assert client.request(79, 1, {**ack, "share_session_epoch": 3}).error_code == ErrorCode.SHARE_SESSION_NOT_FOUND


def test_share_session_limit(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory("one-session", extra_args=("--override", "group.share.max.share.sessions=1"))
    with WireClient.connect(broker.bootstrap) as client:
        _, topic_id = create(client)
        assert share_fetch(client, "a", 0, topic_id).error_code == 0
        assert share_fetch(client, "b", 0, topic_id).error_code == ErrorCode.SHARE_SESSION_LIMIT_REACHED
        # Opening again replaces a member's own session; closing one makes room.
        assert share_fetch(client, "a", 0, topic_id).error_code == 0
        assert share_fetch(client, "a", -1, topic_id).error_code == 0
        assert share_fetch(client, "b", 0, topic_id).error_code == 0


def test_closing_a_session_releases_its_records(share_broker: BrokerProcess) -> None:
    with WireClient.connect(share_broker.bootstrap) as client:
        topic_id = acquired_by_a(client, 3)
        closed = client.request(79, 2, acknowledge("a", -1, topic_id, 0, 0, ACCEPT))
        assert closed.error_code == 0 and closed.responses[0].partitions[0].error_code == 0
        # Offset 0 accepted; 1..2 released by the close, redelivered to the next member.
        assert acquired(share_fetch(client, "b", 0, topic_id)) == [(1, 2, 2)]


def test_long_poll_is_woken_by_an_append(share_broker: BrokerProcess) -> None:
    with WireClient.connect(share_broker.bootstrap) as client, WireClient.connect(share_broker.bootstrap) as other:
        topic, topic_id = create(client)
        join(client)
        share_fetch(client, "a", 0, topic_id)
        # Without a wake-up the fetch would answer empty at MaxWaitMs; the append is what ends it.
        producer = threading.Timer(0.5, lambda: produce(other, topic, 4))
        producer.start()
        try:
            answer = share_fetch(client, "a", 1, topic_id, max_wait_ms=60000)
        finally:
            producer.join()
        assert acquired(answer) == [(0, 3, 1)]


def long_poll_in_thread(bootstrap: str, member: str, topic_id: uuid.UUID) -> tuple[threading.Thread, list]:
    """Member ``member`` opens a session and long-polls (60 s) on a thread of its own; the answer lands
    in the returned list."""
    answers: list = []

    def poll() -> None:
        with WireClient.connect(bootstrap, timeout=90.0) as other:
            share_fetch(other, member, 0, topic_id)
            answers.append(share_fetch(other, member, 1, topic_id, max_wait_ms=60000))

    thread = threading.Thread(target=poll)
    thread.start()
    return thread, answers


def test_a_release_wakes_another_members_long_poll(share_broker: BrokerProcess) -> None:
    with WireClient.connect(share_broker.bootstrap) as client:
        topic_id = acquired_by_a(client, 2)
        thread, answers = long_poll_in_thread(share_broker.bootstrap, "b", topic_id)
        time.sleep(0.5)
        # No append comes: only the release can end b's wait before its 60 s (it would answer empty).
        # ShareAcknowledge, which acquires nothing (a ShareFetch would take the records back at once).
        released = client.request(79, 1, acknowledge("a", 2, topic_id, 0, 1, RELEASE))
        assert released.responses[0].partitions[0].error_code == 0
        thread.join(90)
        assert acquired(answers[0]) == [(0, 1, 2)]


def test_lock_expiry_makes_records_available_to_others(
    broker_factory: Callable[..., BrokerProcess], tmp_path: Path
) -> None:
    props = tmp_path / "server.properties"
    props.write_text("group.share.record.lock.duration.ms=1000\n")
    broker = broker_factory("short-locks", extra_args=("--config", str(props)))
    with WireClient.connect(broker.bootstrap) as client:
        topic_id = acquired_by_a(client, 2)
        # "a" never acknowledges: a second after, the lock expires and the waiting "b" acquires them.
        thread, answers = long_poll_in_thread(broker.bootstrap, "b", topic_id)
        thread.join(90)
        assert acquired(answers[0]) == [(0, 1, 2)]
        late = share_fetch(client, "a", 2, topic_id, [(0, 1, ACCEPT)])
        assert partition_entry(late).acknowledge_error_code == ErrorCode.INVALID_RECORD_STATE
        assert late.acquisition_lock_timeout_ms == 1000


def start_offset(client: WireClient, topic: str) -> int:
    asked = {"group_id": GROUP, "topics": [{"topic_name": topic, "partitions": [0]}]}
    return client.request(90, 1, {"groups": [asked]}).groups[0].topics[0].partitions[0].start_offset


def test_deleting_the_share_group_deletes_its_share_state(share_broker: BrokerProcess) -> None:
    with WireClient.connect(share_broker.bootstrap) as client:
        topic, _ = create(client)
        produce(client, topic, 2)
        member = join(client)
        assert start_offset(client, topic) == 2
        leave = {"group_id": GROUP, "member_id": member, "member_epoch": -1, "subscribed_topic_names": None}
        assert client.request(76, 1, leave).error_code == 0
        assert client.request(42, 2, {"groups_names": [GROUP]}).results[0].error_code == 0
        assert start_offset(client, topic) == -1
    share_broker.restart(crash=True)
    with WireClient.connect(share_broker.bootstrap) as client:
        # The tombstones in __share_group_state hold after kill -9.
        assert start_offset(client, topic) == -1


def test_alter_and_delete_share_group_offsets(share_broker: BrokerProcess) -> None:
    def leave(client: WireClient, member: str) -> None:
        body = {"group_id": GROUP, "member_id": member, "member_epoch": -1, "subscribed_topic_names": None}
        assert client.request(76, 1, body).error_code == 0

    with WireClient.connect(share_broker.bootstrap) as client:
        topic, topic_id = create(client)
        produce(client, topic, 5)
        member = join(client)
        alter = {"group_id": GROUP, "topics": [{"topic_name": topic, "partitions": [
            {"partition_index": 0, "start_offset": 1}]}]}  # fmt: skip
        delete = {"group_id": GROUP, "topics": [{"topic_name": topic}]}
        # Not while the group has members.
        assert client.request(91, 0, alter).error_code == ErrorCode.NON_EMPTY_GROUP
        assert client.request(92, 0, delete).error_code == ErrorCode.NON_EMPTY_GROUP
        leave(client, member)
        altered = client.request(91, 0, alter)
        assert altered.error_code == 0 and altered.responses[0].partitions[0].error_code == 0
        assert altered.responses[0].topic_id == topic_id and start_offset(client, topic) == 1
        # The next member starts at the new start offset.
        member = join(client)
        assert acquired(share_fetch(client, "a", 0, topic_id)) == [(1, 4, 1)]
        leave(client, member)
        deleted = client.request(92, 0, delete)
        assert deleted.error_code == 0 and deleted.responses[0].error_code == 0
        assert start_offset(client, topic) == -1
        # The next assignment initializes the share partition afresh (at the log end).
        join(client)
        assert start_offset(client, topic) == 5
        missing = client.request(92, 0, {**delete, "group_id": "no-such-share-group"})
        assert (missing.error_code, missing.error_message) == (69, "Group no-such-share-group not found.")


def test_a_start_offset_altered_to_the_lowest_long_is_described_with_javas_lag(share_broker: BrokerProcess) -> None:
    """Found by the live fuzzer: the lag of a start offset altered to Long.MIN_VALUE overflowed int64 and
    the answer could not be encoded (the connection was dropped); Kafka's long arithmetic wraps around."""
    with WireClient.connect(share_broker.bootstrap) as client:
        topic, _ = create(client)
        produce(client, topic, 3)
        alter = {"group_id": "lowest", "topics": [{"topic_name": topic, "partitions": [
            {"partition_index": 0, "start_offset": -(2**63)}]}]}  # fmt: skip
        assert client.request(91, 0, alter).responses[0].partitions[0].error_code == 0
        asked = {"group_id": "lowest", "topics": [{"topic_name": topic, "partitions": [0]}]}
        described = client.request(90, 1, {"groups": [asked]}).groups[0].topics[0].partitions[0]
        assert (described.start_offset, described.lag) == (-(2**63), 3 + 2**63 - 2**64)


def test_isolation_level_and_earliest_reset_from_group_configs() -> None:
    """share.isolation.level=read_committed archives an aborted transaction's records and the markers;
    read_uncommitted delivers the aborted records too; share.auto.offset.reset=earliest starts at the log
    start. Per-group overrides, set in process (the GROUP config resource is another branch's)."""
    from confluent_kafka import Producer

    from kafkapy.testing import KafkaBroker

    with KafkaBroker(in_process=True) as kafka, kafka.client() as client:
        topic, topic_id = create(client)
        producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "transactional.id": "share-txn"})
        producer.init_transactions(30)
        for value, commit in ((b"aborted", False), (b"committed", True)):
            producer.begin_transaction()
            producer.produce(topic, value)
            producer.flush(30)
            (producer.commit_transaction if commit else producer.abort_transaction)(30)
        # Offsets: 0 aborted, 1 its abort marker, 2 committed, 3 its commit marker.
        configs = kafka._thread._broker.group_configs.overrides
        for isolation, expected in (("read_committed", [(2, 2, 1)]), ("read_uncommitted", [(0, 0, 1), (2, 2, 1)])):
            group = f"share-{isolation}"
            configs[group] = {"share.isolation.level": isolation, "share.auto.offset.reset": "earliest"}
            join(client, group=group)
            answer = share_fetch(client, "a", 0, topic_id, group=group)
            assert acquired(answer) == expected, isolation
            assert set(values(answer)) >= {b"committed"}


def test_state_survives_kill_9(share_broker: BrokerProcess) -> None:
    with WireClient.connect(share_broker.bootstrap) as client:
        topic, topic_id = create(client, partitions=2)
        join(client, partitions=2)
        share_fetch(client, "a", 0, topic_id, partitions=(0, 1))
        produce(client, topic, 10)
        produce(client, topic, 4, partition=1)
        assert acquired(share_fetch(client, "a", 1, topic_id, partitions=(0, 1))) == [(0, 9, 1), (0, 3, 1)]
        acked = share_fetch(client, "a", 2, topic_id, [(0, 3, ACCEPT), (4, 5, REJECT)], partitions=(0,))
        assert partition_entry(acked).acknowledge_error_code == 0
    share_broker.restart(crash=True)
    with WireClient.connect(share_broker.bootstrap) as client:
        # Acknowledged and rejected records stay done; the acquired ones are available again, delivered
        # with the count they had: Kafka persists no acquisition.
        again = share_fetch(client, "b", 0, topic_id, partitions=(0, 1))
        assert sorted(acquired(again)) == [(0, 3, 1), (6, 9, 1)]
        released = share_fetch(client, "b", 1, topic_id, [(6, 9, RELEASE)], partitions=(0,))
        assert acquired(released) == [(6, 9, 2)]
    share_broker.restart(crash=True)
    with WireClient.connect(share_broker.bootstrap) as client:
        # The release was written (one delivery); the redelivery that followed was not, so after the
        # crash the records come back as their second delivery again.
        again = share_fetch(client, "c", 0, topic_id, partitions=(0,))
        assert acquired(again) == [(6, 9, 2)]


def test_share_drain_bench_runs(tmp_path: Path) -> None:
    """bench/share_drain.py end to end on a tiny queue: both groups drain it and a rate is reported."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "bench" / "share_drain.py"), "--count", "300", "--max-seconds", "120"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "delivery: classic consumer group" in result.stdout and "end to end:" in result.stdout, result.stdout


def test_share_version_0_refuses_the_share_record_apis(share_broker: BrokerProcess) -> None:
    with WireClient.connect(share_broker.bootstrap) as client:
        update = {"feature": "share.version", "max_version_level": 0, "upgrade_type": 2}
        body = {"timeout_ms": 30000, "feature_updates": [update], "validate_only": False}
        assert client.request(57, 1, body).error_code == 0
        _, topic_id = create(client)
        assert share_fetch(client, "a", 0, topic_id).error_code == ErrorCode.UNSUPPORTED_VERSION
        ack = {"group_id": GROUP, "member_id": "a", "share_session_epoch": 1, "topics": []}
        assert client.request(79, 1, ack).error_code == ErrorCode.UNSUPPORTED_VERSION
        described = client.request(90, 1, {"groups": [{"group_id": GROUP, "topics": None}]}).groups[0]
        assert described.error_code == ErrorCode.UNSUPPORTED_VERSION
        for key in (91, 92):
            assert client.request(key, 0, {"group_id": GROUP, "topics": []}).error_code == ErrorCode.UNSUPPORTED_VERSION
