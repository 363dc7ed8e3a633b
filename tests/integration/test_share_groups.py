"""KIP-932 share group membership over the wire: ShareGroupHeartbeat, ShareGroupDescribe, ListGroups,
DeleteGroups, session expiry and the groups surviving kill -9 (issue #16)."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from kafkapy.acl import AclOperation, ResourceType, allow_everything
from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.testing.broker import KafkaBroker
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import create_topic_wire

HEARTBEAT, DESCRIBE, LIST_GROUPS, DELETE_GROUPS, JOIN_GROUP = 76, 77, 16, 42, 11
JAVA_LIB = Path(__file__).resolve().parents[2] / "compat_tests" / "apache-kafka" / "target" / "lib"
# A short session (Kafka's default is 45 s) so that the test sees it expire.
SHORT_SESSION = ("--override", "group.share.session.timeout.ms=1500")


def heartbeat(client: WireClient, group: str, member: str, epoch: int, topics: list[str] | None = None):
    body = {"group_id": group, "member_id": member, "member_epoch": epoch, "subscribed_topic_names": topics}
    return client.request(HEARTBEAT, 1, body)


def describe(client: WireClient, *groups: str):
    return client.request(DESCRIBE, 1, {"group_ids": list(groups), "include_authorized_operations": True}).groups


def partitions(answer) -> dict[uuid.UUID, list[int]]:
    return {t.topic_id: list(t.partitions) for t in answer.assignment.topic_partitions}


def member_assignments(group) -> dict[str, tuple[int, str]]:
    return {m.member_id: (m.member_epoch, repr(m.assignment)) for m in group.members}


def test_members_share_the_partitions_and_describe_shows_them(broker: BrokerProcess) -> None:
    with WireClient.connect(broker.bootstrap) as client:
        create_topic_wire(client, "queue", 2)
        a = heartbeat(client, "sg", "member-a", 0, ["queue"])
        assert (a.error_code, a.member_id, a.member_epoch, a.heartbeat_interval_ms) == (0, "member-a", 2, 5000)
        (topic_id,) = partitions(a)
        assert partitions(a) == {topic_id: [0, 1]}
        b = heartbeat(client, "sg", "member-b", 0, ["queue"])
        assert b.member_epoch == 3 and len(partitions(b)[topic_id]) == 1
        a = heartbeat(client, "sg", "member-a", 2)
        assert a.member_epoch == 3 and sorted(partitions(a)[topic_id] + partitions(b)[topic_id]) == [0, 1]
        assert heartbeat(client, "sg", "member-a", 3).assignment is None, "unchanged: no assignment sent"
        c = heartbeat(client, "sg", "member-c", 0, ["queue"])
        assert c.error_code == 0 and partitions(c)[topic_id], "a third member shares a partition"

        (group,) = describe(client, "sg")
        summary = (group.error_code, group.group_state, group.group_epoch, group.assignor_name)
        assert summary == (0, "Stable", 4, "simple")
        members = {m.member_id: m for m in group.members}
        assert set(members) == {"member-a", "member-b", "member-c"}
        assert members["member-a"].client_host == "/127.0.0.1"
        assert members["member-a"].assignment.topic_partitions[0].topic_name == "queue"
        assert group.authorized_operations == 3400  # READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS
        empty, missing = describe(client, "nope", "")  # Kafka answers the invalid ids first
        assert (missing.error_code, missing.error_message) == (69, "Group nope not found.")
        assert empty.error_code == 24

        listed = client.request(LIST_GROUPS, 5, {"states_filter": [], "types_filter": ["share"]}).groups
        assert [(g.group_id, g.protocol_type, g.group_state, g.group_type) for g in listed] == [
            ("sg", "share", "Stable", "share")
        ]


def test_heartbeat_errors(broker: BrokerProcess) -> None:
    with WireClient.connect(broker.bootstrap) as client:
        create_topic_wire(client, "t", 1)
        assert heartbeat(client, "", "m", 0, ["t"]).error_message == "GroupId can't be empty."
        assert heartbeat(client, "g", "", 0, ["t"]).error_code == 42
        assert heartbeat(client, "g", "m", 0).error_message == "SubscribedTopicNames must be set in first request."
        assert heartbeat(client, "g", "m", -2).error_message == "MemberEpoch is invalid."
        gone = heartbeat(client, "g", "m", 3)
        assert (gone.error_code, gone.error_message) == (69, "Share group g not found.")
        assert heartbeat(client, "g", "m", 0, ["t"]).member_epoch == 2
        fenced = heartbeat(client, "g", "m", 5)
        assert fenced.error_code == 110 and "greater member epoch (5)" in fenced.error_message
        unknown = heartbeat(client, "g", "x", 1)
        assert (unknown.error_code, unknown.error_message) == (25, "Member x is not a member of group g.")
        left = heartbeat(client, "g", "m", -1)
        assert (left.error_code, left.member_id, left.member_epoch) == (0, "m", -1)

        join = {
            "group_id": "classic",
            "session_timeout_ms": 10000,
            "rebalance_timeout_ms": 10000,
            "member_id": "",
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b""}],
        }
        client.request(JOIN_GROUP, 4, join)
        other = heartbeat(client, "classic", "m", 0, ["t"])
        assert (other.error_code, other.error_message) == (69, "Group classic is not a share group.")
        assert describe(client, "classic")[0].error_message == "Group classic is not a share group."


def test_session_expiry_and_delete(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(extra_args=SHORT_SESSION)
    with WireClient.connect(broker.bootstrap) as client:
        create_topic_wire(client, "t", 1)
        heartbeat(client, "g", "m", 0, ["t"])
        deleted = client.request(DELETE_GROUPS, 2, {"groups_names": ["g"]}).results
        assert [(r.group_id, r.error_code) for r in deleted] == [("g", 68)]  # NON_EMPTY_GROUP
        deadline = time.monotonic() + 30
        while describe(client, "g")[0].group_state != "Empty":
            assert time.monotonic() < deadline, "the session never expired"
            time.sleep(0.2)
        deleted = client.request(DELETE_GROUPS, 2, {"groups_names": ["g", "g"]}).results
        assert [(r.group_id, r.error_code) for r in deleted] == [("g", 0)]
        assert describe(client, "g")[0].error_code == 69


def test_groups_survive_kill_9(broker: BrokerProcess) -> None:
    with WireClient.connect(broker.bootstrap) as client:
        create_topic_wire(client, "t", 3)
        heartbeat(client, "g", "a", 0, ["t"])
        heartbeat(client, "g", "b", 0, ["t"])
        a = heartbeat(client, "g", "a", 2)
        (before,) = describe(client, "g")
    broker.restart(crash=True)
    with WireClient.connect(broker.bootstrap) as client:
        (after,) = describe(client, "g")
        assert (after.group_epoch, after.assignment_epoch, after.group_state) == (
            before.group_epoch,
            before.assignment_epoch,
            "Stable",
        )
        assert member_assignments(after) == member_assignments(before)
        again = heartbeat(client, "g", "a", a.member_epoch)
        assert (again.error_code, again.member_epoch) == (0, a.member_epoch), "the member carries on after restart"


@pytest.mark.skipif(
    shutil.which("java") is None or not (JAVA_LIB / "kafka-clients-4.3.1.jar").exists(),
    reason="needs java and the Kafka client jars (compat_tests/apache-kafka/target/lib)",
)
def test_java_share_consumers_join_share_and_leave(broker_factory: Callable[..., BrokerProcess]) -> None:
    """Kafka's KafkaShareConsumer (kafka-clients 4.3.1): three join and split a 2-partition topic (one
    partition shared), one closes and leaves, the others close and the group is Empty."""
    # A 1 s heartbeat interval (Kafka's default is 5 s) so that reassignments reach members sooner.
    broker = broker_factory(extra_args=("--override", "group.share.heartbeat.interval.ms=1000"))
    with WireClient.connect(broker.bootstrap) as client:
        create_topic_wire(client, "java-queue", 2)
    program = Path(__file__).parent / "java" / "ShareGroupMembers.java"
    result = subprocess.run(
        ["java", "-cp", f"{JAVA_LIB}/*", str(program), broker.bootstrap, "java-share", "java-queue", "2"],
        capture_output=True,
        text=True,
        timeout=110,  # three stages of at most 30 s each, within the integration tests' 120 s
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.splitlines()[-3:] == [
        "joined: 3 members, every partition assigned",
        "left: 2 members",
        "closed: Empty",
    ]


class HideTopic:
    """An authorizer that allows everything but DESCRIBE on one topic."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def __call__(self, ctx: object, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
        return not (resource_type == ResourceType.TOPIC and operation == AclOperation.DESCRIBE and name == self.topic)


def test_topics_the_principal_may_not_describe() -> None:
    """A heartbeat subscribing to a topic the principal may not DESCRIBE is TOPIC_AUTHORIZATION_FAILED, and
    ShareGroupDescribe of a group assigned such a topic answers that error with Kafka's message."""
    with KafkaBroker(in_process=True, storage="memory") as kafka:
        kafka.create_topic("open", 1)
        kafka.create_topic("secret", 1)
        broker = kafka._thread._broker
        with kafka.client() as client:
            assert heartbeat(client, "g", "m", 0, ["open", "secret"]).member_epoch == 2
            broker.authorizer = HideTopic("secret")
            try:
                denied = heartbeat(client, "g", "other", 0, ["open", "secret"])
                assert (denied.error_code, denied.member_id) == (ErrorCode.TOPIC_AUTHORIZATION_FAILED, None)
                assert heartbeat(client, "g", "other", 0, ["open"]).error_code == 0
                (group,) = describe(client, "g")
                assert (group.error_code, group.error_message, group.members) == (
                    ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                    "The described group uses topics that the client is not authorized to describe.",
                    [],
                )
            finally:
                broker.authorizer = allow_everything
