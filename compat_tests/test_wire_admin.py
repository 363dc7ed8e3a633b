"""Wire diffs of the admin APIs a single Kafka node serves (issue #15): partition reassignments (45, 46),
AlterReplicaLogDirs (34) beside DescribeLogDirs (35), DescribeQuorum (55) and ListConfigResources (74).

Each answer, good and bad requests alike, must equal Apache Kafka 4.3.1's (a combined broker+controller
node, id 1) field by field. What legitimately differs is ignored by name and said where: the log dir's
path and disk sizes, and the metadata log offsets and timestamps kafkapy has no metadata log for.
"""

from __future__ import annotations

from typing import Any

import pytest
from wire_diff import WirePair, differences, normalize, unique_name

from kafkapy.client.wire import WireClient
from kafkapy.protocol.records import build_batch

REASSIGN, LIST_REASSIGNMENTS, ALTER_LOG_DIRS, DESCRIBE_LOG_DIRS, DESCRIBE_QUORUM, LIST_CONFIG_RESOURCES = (
    45, 46, 34, 35, 55, 74,
)  # fmt: skip
# The log dir is each broker's own directory, and its disk's sizes are the disk's.
LOG_DIR_VOLATILE = ("log_dir", "total_bytes", "usable_bytes")
# kafkapy keeps no metadata log: its offsets, the fetch times and the directory id are its own.
QUORUM_VOLATILE = (
    "high_watermark",
    "log_end_offset",
    "last_fetch_timestamp",
    "last_caught_up_timestamp",
    "replica_directory_id",
    "nodes",
)
TOPIC = 2  # ConfigResource.Type.TOPIC
METADATA_PARTITION = {"topic_name": "__cluster_metadata", "partitions": [{"partition_index": 0}]}


def _reassign(topic: str, replicas: list[int] | None, *, partition: int = 0, allow: bool = True) -> dict:
    return {
        "timeout_ms": 10_000,
        "allow_replication_factor_change": allow,
        "topics": [{"name": topic, "partitions": [{"partition_index": partition, "replicas": replicas}]}],
    }


@pytest.fixture(scope="module")
def topic(wire_pair: WirePair) -> str:
    name = unique_name("admin")
    wire_pair.create_topics(name, partitions=2)
    return name


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize(
    "replicas",
    [[1], [2], [1, 2], [3, 1, 2], [1, 1], [], [0], [-1], None],
    ids=["itself", "unknown-broker", "one-more", "first-unknown", "twice", "empty", "zero", "minus-one", "cancel"],
)
def test_alter_partition_reassignments(
    wire_pair: WirePair, topic: str, version: int, replicas: list[int] | None
) -> None:
    """To itself: NONE, done at once; an unregistered broker, a broker twice or no broker:
    INVALID_REPLICA_ASSIGNMENT with Kafka's message; a cancel with nothing in progress: NO_REASSIGNMENT_IN_PROGRESS."""
    wire_pair.assert_same(REASSIGN, version, _reassign(topic, replicas))


@pytest.mark.parametrize("replicas", [[1], [1, 1], [1, 2]])
def test_alter_partition_reassignments_without_replication_factor_change(
    wire_pair: WirePair, topic: str, replicas: list[int]
) -> None:
    wire_pair.assert_same(REASSIGN, 1, _reassign(topic, replicas, allow=False))


@pytest.mark.parametrize("version", [0, 1])
def test_alter_partition_reassignments_of_unknown_topics_and_partitions(
    wire_pair: WirePair, topic: str, version: int
) -> None:
    def targets(*pairs: tuple[int, list[int] | None]) -> list[dict]:
        return [{"partition_index": index, "replicas": replicas} for index, replicas in pairs]

    body = {
        "timeout_ms": 10_000,
        "allow_replication_factor_change": True,
        "topics": [
            {"name": topic, "partitions": targets((2, [1]), (-1, None))},
            {"name": unique_name("absent"), "partitions": targets((0, [1]))},
            {"name": topic, "partitions": targets((1, [1]), (1, [2]))},
        ],
    }
    wire_pair.assert_same(REASSIGN, version, body)


@pytest.mark.parametrize("allow", [True, False])
def test_alter_partition_reassignments_of_nothing(wire_pair: WirePair, allow: bool) -> None:
    """Kafka's controller answers an empty request with an empty response (error message "", allow true)."""
    body = {"timeout_ms": 10_000, "allow_replication_factor_change": allow, "topics": []}
    wire_pair.assert_same(REASSIGN, 1, body)
    wire_pair.assert_same(REASSIGN, 0, body)


def test_a_reassignment_to_itself_completes_at_once(wire_pair: WirePair, topic: str) -> None:
    """Nothing is left in progress: List shows nothing, Metadata the same replicas, and a cancel finds
    nothing to cancel."""
    wire_pair.assert_same(REASSIGN, 1, _reassign(topic, [1], partition=1))
    named = [{"name": topic, "partition_indexes": [0, 1, 7]}, {"name": "absent", "partition_indexes": [0]}]
    for topics in (None, named):
        wire_pair.assert_same(LIST_REASSIGNMENTS, 0, {"timeout_ms": 10_000, "topics": topics})
    metadata = {"topics": [{"name": topic}], "allow_auto_topic_creation": False}
    response = wire_pair.assert_same(3, 12, metadata, ignore=("brokers",))
    assert [p["replica_nodes"] for p in response["topics"][0]["partitions"]] == [[1], [1]]
    wire_pair.assert_same(REASSIGN, 1, _reassign(topic, None, partition=1))


def log_dir_of(client: WireClient) -> str:
    (result,) = client.request(DESCRIBE_LOG_DIRS, 4, {"topics": []})["results"]
    return result["log_dir"]


def _each_in_its_log_dir(wire_pair: WirePair, version: int, dirs: Any) -> list[str]:
    """AlterReplicaLogDirs sent to each broker with ``dirs(own_log_dir)``; the differences of the answers."""

    def send(bootstrap: str) -> Any:
        with WireClient.connect(bootstrap, timeout=30.0) as client:
            return client.request(ALTER_LOG_DIRS, version, {"dirs": dirs(log_dir_of(client))})

    answers = wire_pair.on_both(send)
    ours, theirs = (normalize(answers[name], unordered=("results", "partitions")) for name in ("kafkapy", "reference"))
    return differences(ours, theirs)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    "where",
    [
        lambda own: own,
        lambda own: own + "/",
        lambda own: "/nonexistent/kafka-logs",
        lambda own: "relative",
        lambda own: "",
    ],
    ids=["own", "own-slash", "absent", "relative", "empty"],
)
def test_alter_replica_log_dirs(wire_pair: WirePair, topic: str, version: int, where: Any) -> None:
    """Into the dir it is in: NONE (unknown partitions UNKNOWN_TOPIC_OR_PARTITION); any other path, even
    the same dir spelled with a slash: LOG_DIR_NOT_FOUND for every partition, known or not."""

    def dirs(own: str) -> list[dict]:
        wanted = [{"name": topic, "partitions": [0, 1, 9]}, {"name": "absent-topic", "partitions": [0]}]
        return [{"path": where(own), "topics": wanted}]

    assert not _each_in_its_log_dir(wire_pair, version, dirs)


def test_alter_replica_log_dirs_last_dir_wins(wire_pair: WirePair, topic: str) -> None:
    """A partition named under two dirs goes where the last one says; an empty request gets no results."""

    def dirs(own: str) -> list[dict]:
        return [
            {"path": own, "topics": [{"name": topic, "partitions": [0, 1]}]},
            {"path": "/elsewhere", "topics": [{"name": topic, "partitions": [1]}]},
        ]

    assert not _each_in_its_log_dir(wire_pair, 2, dirs)
    assert not _each_in_its_log_dir(wire_pair, 2, lambda own: [])


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_describe_log_dirs_of_the_same_topics(wire_pair: WirePair, topic: str, version: int) -> None:
    """The same partitions in one log dir, modulo the dir's path and disk sizes (the topics are empty:
    sizes 0 on both), in any order (Kafka's follows a hash map)."""
    body = {"topics": [{"topic": topic, "partitions": [0, 1, 5]}, {"topic": "absent-topic", "partitions": [0]}]}
    wire_pair.assert_same(DESCRIBE_LOG_DIRS, version, body, ignore=LOG_DIR_VOLATILE, unordered=("topics", "partitions"))


def test_describe_log_dirs_sizes_after_the_same_produce(wire_pair: WirePair) -> None:
    """The same batch bytes make the same partition size: only the dir's path and disk sizes differ."""
    topic = unique_name("sizes")
    wire_pair.create_topics(topic, partitions=2)
    batch = build_batch([(b"k", b"v" * 100, [], 1_700_000_000_000)] * 3)
    produce = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 10_000,
        "topic_data": [{"name": topic, "partition_data": [{"index": 1, "records": batch}]}],
    }
    for broker, answer in wire_pair.request(0, 9, produce).items():
        assert answer["responses"][0]["partition_responses"][0]["error_code"] == 0, broker
    response = wire_pair.assert_same(
        DESCRIBE_LOG_DIRS, 4, {"topics": [{"topic": topic, "partitions": [0, 1]}]},
        ignore=LOG_DIR_VOLATILE, unordered=("partitions",),
    )  # fmt: skip
    sizes = {p["partition_index"]: p["partition_size"] for p in response["results"][0]["topics"][0]["partitions"]}
    assert sizes == {0: 0, 1: len(batch)}


@pytest.mark.parametrize("version", [0, 1, 2])
def test_describe_quorum(wire_pair: WirePair, version: int) -> None:
    """One voter, the node itself, leading at epoch 1 with no observers; the leader's fetch times are now."""
    response = wire_pair.assert_same(DESCRIBE_QUORUM, version, {"topics": [METADATA_PARTITION]}, ignore=QUORUM_VOLATILE)
    (partition,) = response["topics"][0]["partitions"]
    (voter,) = partition["current_voters"]
    assert voter["log_end_offset"] == partition["high_watermark"] >= 0
    if version >= 1:
        assert voter["last_fetch_timestamp"] == voter["last_caught_up_timestamp"] > 0
    if version >= 2:
        (node,) = response["nodes"]
        assert node["node_id"] == 1 and node["listeners"]
        kafkapy_port = int(wire_pair.bootstraps["kafkapy"].rsplit(":", 1)[1])
        assert {(listener["host"], listener["port"]) for listener in node["listeners"]} == {("127.0.0.1", kafkapy_port)}


@pytest.mark.parametrize("version", [0, 2])
@pytest.mark.parametrize(
    "topics",
    [
        [{"topic_name": "__cluster_metadata", "partitions": [{"partition_index": 1}]}],
        [{"topic_name": "some-topic", "partitions": [{"partition_index": 0}]}],
        [{"topic_name": "__cluster_metadata", "partitions": [{"partition_index": 0}, {"partition_index": 0}]}],
        [{"topic_name": "__cluster_metadata", "partitions": []}],
        [METADATA_PARTITION, METADATA_PARTITION],
        [],
    ],
    ids=["partition-1", "other-topic", "twice", "no-partition", "topic-twice", "nothing"],
)
def test_describe_quorum_of_anything_else(wire_pair: WirePair, version: int, topics: list[dict]) -> None:
    """Kafka's KafkaRaftClient answers UNKNOWN_TOPIC_OR_PARTITION for every partition named."""
    wire_pair.assert_same(DESCRIBE_QUORUM, version, {"topics": topics})


def _config_resources(wire_pair: WirePair, version: int, body: dict, topics: set[str]) -> dict:
    """Both answers to ListConfigResources, topics other than ``topics`` left out (other tests of the
    session create their own, and kafkapy may hold internal topics the reference has not made yet) and
    the topics, which come last, sorted (Kafka lists them from a hash set)."""
    answers = wire_pair.request(LIST_CONFIG_RESOURCES, version, body)
    for answer in answers.values():
        resources = answer["config_resources"]
        others = [r for r in resources if r.get("resource_type") != TOPIC]
        assert resources[: len(others)] == others, f"topics listed before other resources: {resources}"
        answer["config_resources"] = others + sorted(
            (r for r in resources if r.get("resource_type") == TOPIC and r["resource_name"] in topics),
            key=lambda r: r["resource_name"],
        )
    return answers


@pytest.mark.parametrize(
    ("version", "types"),
    [(0, []), (1, []), (1, [2]), (1, [4]), (1, [8]), (1, [16]), (1, [32]), (1, [2, 4, 16, 32]), (1, [4, 4]),
     (1, [0]), (1, [1]), (1, [3]), (1, [99]), (1, [-1]), (1, [2, 3])],
)  # fmt: skip
def test_list_config_resources(wire_pair: WirePair, topic: str, version: int, types: list[int]) -> None:
    """By type: this node as broker and broker logger, the topics; no groups with configs nor client
    metrics; an unknown type UNSUPPORTED_VERSION; v0 (ListClientMetricsResources) client metrics only."""
    other = unique_name("configs")
    wire_pair.create_topics(other)
    answers = _config_resources(wire_pair, version, {"resource_types": types}, {topic, other})
    assert not differences(normalize(answers["kafkapy"]), normalize(answers["reference"]))
