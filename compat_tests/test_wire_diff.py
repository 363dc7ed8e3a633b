"""Wire diffs of everyday requests: kafkapy's answer equals Apache Kafka 4.3.1's (wire_diff.py).

Each area's fidelity cases live in their own test_wire_<area>.py beside this file.
"""

from __future__ import annotations

import pytest
from wire_diff import WirePair, differences, normalize, unique_name


def test_normalize_keeps_sentinels_and_hides_volatile_values() -> None:
    response = {"throttle_time_ms": 7, "producer_id": -1, "topics": [{"topic_id": "x", "name": "b"}, {"name": "a"}]}
    assert normalize(response, unordered=("topics",)) == {
        "throttle_time_ms": "<throttle_time_ms>",
        "producer_id": -1,
        "topics": [{"name": "a"}, {"topic_id": "<topic_id>", "name": "b"}],
    }
    assert differences({"a": [1, {"b": 2}]}, {"a": [1, {"b": 3}]}) == [".a[1].b: kafkapy=2 reference=3"]
    assert differences({"a": 1}, {"a": 1}) == []


def test_metadata_of_an_unknown_topic_without_auto_creation(wire_pair: WirePair) -> None:
    body = {
        "topics": [{"name": unique_name("absent"), "topic_id": None}],
        "allow_auto_topic_creation": False,
        "include_topic_authorized_operations": False,
    }
    wire_pair.assert_same(3, 12, body, ignore=("brokers", "controller_id"))


@pytest.mark.parametrize("version", [1, 4, 7, 11])
def test_list_offsets_of_an_empty_topic(wire_pair: WirePair, version: int) -> None:
    topic = unique_name("empty")
    wire_pair.create_topics(topic, partitions=2)
    body = {
        "replica_id": -1,
        "isolation_level": 0,
        "topics": [
            {
                "name": topic,
                "partitions": [
                    {"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1},
                    {"partition_index": 1, "current_leader_epoch": -1, "timestamp": -2},
                    {"partition_index": 2, "current_leader_epoch": -1, "timestamp": -1},
                ],
            }
        ],
        "timeout_ms": 1000,
    }
    wire_pair.assert_same(2, version, body, unordered=("partitions",))

