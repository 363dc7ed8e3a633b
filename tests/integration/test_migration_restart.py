"""Classic <-> consumer group migration across a crash (issue #16): a consumer group holding a classic
member and a consumer-protocol member, and then the classic group it turns back into, come back after
kill -9 as they were (the classic member's ClassicMemberMetadata is in its ConsumerGroupMemberMetadata
record, as Kafka writes it), with the committed offsets. Requests go over kafkapy's wire client, so
each step is exact; the stock clients' view of the same migration is the compat cell group_migration."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.testing.process import BrokerProcess
from tests.integration.clientutil import create_topic, unique_topic

JOIN_GROUP, SYNC_GROUP, HEARTBEAT, OFFSET_COMMIT, OFFSET_FETCH, LIST_GROUPS = 11, 14, 12, 8, 9, 16
CONSUMER_GROUP_HEARTBEAT, CONSUMER_GROUP_DESCRIBE = 68, 69


def _string(s: str) -> bytes:
    return struct.pack(">h", len(s)) + s.encode()


def _partitions(topic: str, partitions: list[int]) -> bytes:
    return _string(topic) + struct.pack(">i", len(partitions)) + b"".join(struct.pack(">i", p) for p in partitions)


def subscription(topic: str, owned: list[int]) -> bytes:
    """ConsumerProtocolSubscription v1 (kafka-clients' layout): the topic, no user data, the owned partitions."""
    owned_part = struct.pack(">i", 1) + _partitions(topic, owned) if owned else struct.pack(">i", 0)
    return struct.pack(">hi", 1, 1) + _string(topic) + struct.pack(">i", -1) + owned_part


def assignment(topic: str, partitions: list[int]) -> bytes:
    return struct.pack(">hi", 1, 1) + _partitions(topic, partitions) + struct.pack(">i", -1)


class Group:
    """One group on one broker, spoken to with exact requests."""

    def __init__(self, broker: BrokerProcess, topic: str) -> None:
        self.broker, self.topic, self.group = broker, topic, unique_topic("migrate")
        self.classic_id = ""

    def call(self, api_key: int, version: int, body: dict) -> object:
        with WireClient.connect(self.broker.bootstrap, timeout=30.0) as client:
            return client.request(api_key, version, body)

    def join(self, owned: list[int]) -> object:
        body = {
            "group_id": self.group, "session_timeout_ms": 30000, "rebalance_timeout_ms": 30000,
            "member_id": self.classic_id, "group_instance_id": None, "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": subscription(self.topic, owned)}], "reason": None,
        }  # fmt: skip
        joined = self.call(JOIN_GROUP, 9, body)
        if joined.error_code == ErrorCode.MEMBER_ID_REQUIRED:
            self.classic_id = joined.member_id
            joined = self.call(JOIN_GROUP, 9, {**body, "member_id": joined.member_id})
        return joined

    def sync(self, generation: int, assignments: dict[str, bytes]) -> object:
        return self.call(SYNC_GROUP, 5, {
            "group_id": self.group, "generation_id": generation, "member_id": self.classic_id,
            "group_instance_id": None, "protocol_type": "consumer", "protocol_name": "range",
            "assignments": [{"member_id": m, "assignment": a} for m, a in assignments.items()],
        })  # fmt: skip

    def heartbeat(self, generation: int) -> int:
        body = {"group_id": self.group, "generation_id": generation, "member_id": self.classic_id,
                "group_instance_id": None}  # fmt: skip
        return self.call(HEARTBEAT, 4, body).error_code

    def consumer_heartbeat(self, member_id: str, epoch: int) -> object:
        return self.call(CONSUMER_GROUP_HEARTBEAT, 1, {
            "group_id": self.group, "member_id": member_id, "member_epoch": epoch, "instance_id": None,
            "rack_id": None, "rebalance_timeout_ms": 30000 if epoch == 0 else -1,
            "subscribed_topic_names": [self.topic] if epoch == 0 else None, "subscribed_topic_regex": None,
            "server_assignor": None, "topic_partitions": [] if epoch == 0 else None,
        })  # fmt: skip

    def commit(self, generation: int, offsets: dict[int, int]) -> list[int]:
        partitions = [
            {"partition_index": p, "committed_offset": o, "committed_leader_epoch": -1, "committed_metadata": ""}
            for p, o in offsets.items()
        ]
        body = {"group_id": self.group, "generation_id_or_member_epoch": generation, "member_id": self.classic_id,
                "group_instance_id": None, "topics": [{"name": self.topic, "partitions": partitions}]}  # fmt: skip
        return [p.error_code for p in self.call(OFFSET_COMMIT, 9, body).topics[0].partitions]

    def committed(self) -> dict[int, int]:
        body = {"groups": [{"group_id": self.group, "member_id": None, "member_epoch": -1,
                            "topics": [{"name": self.topic, "partition_indexes": [0, 1]}]}],
                "require_stable": False}  # fmt: skip
        found = self.call(OFFSET_FETCH, 9, body).groups[0].topics[0].partitions
        return {p.partition_index: p.committed_offset for p in found}

    def listed(self) -> tuple[str, str]:
        groups = self.call(LIST_GROUPS, 5, {"states_filter": [], "types_filter": []}).groups
        return next((g.group_type, g.group_state) for g in groups if g.group_id == self.group)

    def member_types(self) -> dict[str, int]:
        body = {"group_ids": [self.group], "include_authorized_operations": False}
        described = self.call(CONSUMER_GROUP_DESCRIBE, 1, body)
        return {m.member_id: m.member_type for m in described.groups[0].members}


def test_a_migrating_group_survives_kill9_each_way(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory()
    topic = unique_topic("migrate")
    create_topic(broker.bootstrap, topic, 2)
    g = Group(broker, topic)
    joined = g.join([])
    assert joined.error_code == 0 and joined.generation_id == 1
    assert g.sync(1, {g.classic_id: assignment(topic, [0, 1])}).error_code == 0
    assert g.commit(1, {0: 4, 1: 6}) == [0, 0]
    # Upgrade: a consumer-protocol member joins; the classic member gives up partition 1 to it.
    newcomer = str(uuid.uuid4())
    assert g.consumer_heartbeat(newcomer, 0).member_epoch == 2
    assert g.join([0]).generation_id == 2
    assert g.sync(2, {}).assignment == assignment(topic, [0])
    reconciled = g.consumer_heartbeat(newcomer, 2)
    assert [list(t.partitions) for t in reconciled.assignment.topic_partitions] == [[1]]
    assert g.commit(2, {0: 5}) == [0]

    broker.restart(crash=True)
    # The consumer group came back with its classic member, at its epoch, and the offsets.
    assert g.listed() == ("consumer", "Stable")
    assert g.member_types() == {g.classic_id: 0, newcomer: 1}
    assert g.heartbeat(2) == ErrorCode.NONE
    assert g.sync(2, {}).assignment == assignment(topic, [0])
    assert g.consumer_heartbeat(newcomer, 2).error_code == 0
    assert g.committed() == {0: 5, 1: 6}

    # Downgrade: the consumer-protocol member leaves; the classic group comes back after a crash too.
    assert g.consumer_heartbeat(newcomer, -1).error_code == 0
    assert g.listed()[0] == "classic"
    broker.restart(crash=True)
    assert g.listed()[0] == "classic"
    assert g.committed() == {0: 5, 1: 6}
    rejoined = g.join([])
    assert rejoined.error_code == 0 and rejoined.leader == g.classic_id
