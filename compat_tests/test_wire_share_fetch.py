"""Wire diffs of the share group record APIs against Kafka 4.3.1 (KIP-932): share session errors of
ShareFetch (78) and ShareAcknowledge (79), and DescribeShareGroupOffsets (90) of groups and topics
without share-partition state.

A member that never joined a share group is enough for these: Kafka's ShareFetch opens a share session
for any member id and answers nothing for partitions it was not assigned (kafkapy answers the records
it can acquire: the member check belongs to the share group coordinator), so the cases here stay away
from record delivery.
"""

from __future__ import annotations

import time
import uuid

from wire_diff import WirePair, plain, unique_name

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode

MEMBER = "wire-diff-member-00001"


def _share_fetch(group: str, epoch: int, topics: list[dict] | None = None) -> dict:
    return {
        "group_id": group,
        "member_id": MEMBER,
        "share_session_epoch": epoch,
        "max_wait_ms": 0,
        "min_bytes": 1,
        "max_bytes": 1 << 20,
        "max_records": 500,
        "batch_size": 500,
        "topics": topics or [],
        "forgotten_topics_data": [],
    }


def _acks(topic_id: uuid.UUID) -> list[dict]:
    batch = {"first_offset": 0, "last_offset": 0, "acknowledge_types": [1]}
    return [{"topic_id": topic_id, "partitions": [{"partition_index": 0, "acknowledgement_batches": [batch]}]}]


def test_share_fetch_session_errors(wire_pair: WirePair) -> None:
    group = unique_name("share-wire")
    # An epoch that names no session: SHARE_SESSION_NOT_FOUND, no message.
    for version in (1, 2):
        wire_pair.assert_same(78, version, _share_fetch(group, 3))
    # Acknowledgements may not open a session: INVALID_REQUEST, no message.
    wire_pair.assert_same(78, 1, _share_fetch(group, 0, _acks(uuid.uuid4())))
    # A session opened with nothing to fetch answers no partitions.
    wire_pair.assert_same(78, 2, _share_fetch(group, 0))
    # IsRenewAck: INVALID_REQUEST.
    wire_pair.assert_same(78, 2, {**_share_fetch(group, 1), "is_renew_ack": True})


def test_share_acknowledge_session_errors(wire_pair: WirePair) -> None:
    group = unique_name("share-wire")
    body = {"group_id": group, "member_id": MEMBER, "share_session_epoch": 0, "topics": []}
    # ShareAcknowledge cannot open a session: INVALID_SHARE_SESSION_EPOCH; without one: SHARE_SESSION_NOT_FOUND.
    for version in (1, 2):
        wire_pair.assert_same(79, version, body)
        wire_pair.assert_same(79, version, {**body, "share_session_epoch": 1})
        wire_pair.assert_same(79, version, {**body, "share_session_epoch": -1})


def _coordinator_ready(bootstrap: str, group: str, timeout: float = 60.0) -> None:
    """Wait until the group's coordinator serves DescribeShareGroupOffsets (Kafka creates __consumer_offsets
    at the first FindCoordinator and answers NOT_COORDINATOR until it is loaded): set-up, not what the diff
    tests."""
    deadline = time.monotonic() + timeout
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        while True:
            found = plain(client.request(10, 3, {"key": group, "key_type": 0}))
            answer = plain(client.request(90, 0, {"groups": [{"group_id": group, "topics": None}]}))
            if found["error_code"] == 0 and answer["groups"][0]["error_code"] != ErrorCode.NOT_COORDINATOR:
                return
            assert time.monotonic() < deadline, f"still NOT_COORDINATOR after {timeout}s"
            time.sleep(0.2)


def test_describe_share_group_offsets_without_state(wire_pair: WirePair) -> None:
    group = unique_name("share-wire")
    wire_pair.on_both(lambda bootstrap: _coordinator_ready(bootstrap, group))
    missing = unique_name("no-such-topic")
    for version in (0, 1):
        # A group with no state, every topic: none; a named unknown topic: no start offset and no lag.
        wire_pair.assert_same(90, version, {"groups": [{"group_id": group, "topics": None}]})
        asked = {"group_id": group, "topics": [{"topic_name": missing, "partitions": [0, 1]}]}
        wire_pair.assert_same(90, version, {"groups": [asked]})


def _joined_member(bootstrap: str, group: str, topic: str, timeout: float = 60.0) -> str:
    """A member of ``group`` (ShareGroupHeartbeat) assigned ``topic``'s partition; set-up, retried while
    Kafka's coordinator loads."""
    member, epoch = uuid.uuid4().hex[:22], 0
    deadline = time.monotonic() + timeout
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        while True:
            client.request(10, 4, {"key_type": 0, "coordinator_keys": [group]})
            body = {"group_id": group, "member_id": member, "member_epoch": epoch, "rack_id": None,
                    "subscribed_topic_names": [topic] if epoch == 0 else None}  # fmt: skip
            answer = client.request(76, 1, body)
            if answer.error_code == 0:
                epoch = answer.member_epoch
                if answer.assignment is not None and answer.assignment.topic_partitions:
                    return member
            assert time.monotonic() < deadline, f"no assignment: {answer}"
            time.sleep(0.3)


def _leave(bootstrap: str, group: str, member: str) -> None:
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        body = {"group_id": group, "member_id": member, "member_epoch": -1, "subscribed_topic_names": None}
        assert client.request(76, 1, body).error_code == 0


def test_alter_and_delete_share_group_offsets(wire_pair: WirePair) -> None:
    group, topic = unique_name("share-wire"), unique_name("share-wire-topic")
    body = {"topics": [{"name": topic, "num_partitions": 1, "replication_factor": 1}], "timeout_ms": 30000}
    wire_pair.request(19, 7, body)
    members = {name: _joined_member(b, group, topic) for name, b in wire_pair.bootstraps.items()}
    alter = {"group_id": group, "topics": [{"topic_name": topic, "partitions": [
        {"partition_index": 0, "start_offset": 3}]}]}  # fmt: skip
    delete = {"group_id": group, "topics": [{"topic_name": topic}, {"topic_name": unique_name("no-such-topic")}]}
    # A group with a member: NON_EMPTY_GROUP, "The group is not empty."
    wire_pair.assert_same(91, 0, alter)
    wire_pair.assert_same(92, 0, delete)
    for name, bootstrap in wire_pair.bootstraps.items():
        _leave(bootstrap, group, members[name])
    # Empty: any start offset is taken, even past the log end (the lag is then negative); an unknown
    # topic's partition is UNKNOWN_TOPIC_OR_PARTITION with Kafka's message.
    unknown = {"topic_name": unique_name("no-such-topic"), "partitions": [{"partition_index": 0, "start_offset": 0}]}
    wire_pair.assert_same(91, 0, {**alter, "topics": alter["topics"] + [unknown]}, ignore=["topic_id"])
    described = {"groups": [{"group_id": group, "topics": [{"topic_name": topic, "partitions": [0]}]}]}
    wire_pair.assert_same(90, 1, described, ignore=["topic_id"])
    wire_pair.assert_same(92, 0, delete, ignore=["topic_id"])
    # Deleting offsets of a group that does not exist: GROUP_ID_NOT_FOUND, "Group X not found."
    wire_pair.assert_same(92, 0, {**delete, "group_id": unique_name("no-such-group")})


def test_share_version_0_refuses_the_share_record_apis(wire_pair: WirePair) -> None:
    """With share.version finalized at 0, Kafka 4.3.1 answers ShareFetch, ShareAcknowledge and the share group
    offsets APIs UNSUPPORTED_VERSION (91 and 92 with the error's default message)."""

    def share_version(level: int, upgrade_type: int) -> None:
        update = {"feature": "share.version", "max_version_level": level, "upgrade_type": upgrade_type}
        body = {"timeout_ms": 30000, "feature_updates": [update], "validate_only": False}
        for broker, answer in wire_pair.request(57, 1, body).items():
            assert answer["error_code"] == 0, (broker, answer)

    group = unique_name("share-wire")
    share_version(0, 2)  # SAFE_DOWNGRADE
    try:
        wire_pair.assert_same(78, 1, _share_fetch(group, 0))
        wire_pair.assert_same(79, 1, {"group_id": group, "member_id": MEMBER, "share_session_epoch": 1, "topics": []})
        wire_pair.assert_same(90, 1, {"groups": [{"group_id": group, "topics": None}]})
        wire_pair.assert_same(91, 0, {"group_id": group, "topics": []})
        wire_pair.assert_same(92, 0, {"group_id": group, "topics": []})
    finally:
        share_version(1, 1)  # UPGRADE
