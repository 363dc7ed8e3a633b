"""Wire diffs of KIP-1071 streams groups against Apache Kafka 4.3.1 (issue #16): StreamsGroupHeartbeat's
validation errors and their messages, a heartbeat for an unknown group or member, a join whose source
topic is missing (the status Kafka answers), a join that gets tasks (the broker-created internal topics
and the assignment), and StreamsGroupDescribe of unknown, classic and streams groups.

Both brokers run with Kafka's default ``group.streams.initial.rebalance.delay.ms`` (3 s): the first
join of a group gets no tasks; the tests heartbeat again after the delay.
"""

from __future__ import annotations

import time

import pytest
from test_wire_errmap import _init_producer, _same_per_broker, _txn_offset_commit
from wire_diff import WirePair, differences, unique_name

HEARTBEAT, DESCRIBE, METADATA, FIND_COORDINATOR, CONSUMER_GROUP_HEARTBEAT = 88, 89, 3, 10, 68
COORDINATOR_WAIT_S = 60.0
NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS = 16, 14
# Kafka's group.streams.initial.rebalance.delay.ms default, plus room.
INITIAL_DELAY_S = 3.0 + 1.0


def coordinator_ready(wire_pair: WirePair, group: str) -> str:
    """The group's coordinator loaded on both brokers (a fresh Kafka answers NOT_COORDINATOR until its
    __consumer_offsets partition is), polled with FindCoordinator; returns the group id."""
    body = {"key_type": 0, "coordinator_keys": [group]}
    describe = {"group_ids": [group], "include_authorized_operations": False}
    loading = {NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS}
    deadline = time.monotonic() + COORDINATOR_WAIT_S
    while True:
        answers = wire_pair.request(FIND_COORDINATOR, 4, body)
        if all(a["coordinators"][0]["error_code"] == 0 for a in answers.values()):
            # Found is not loaded: a describe answers COORDINATOR_LOAD_IN_PROGRESS until it is.
            described = wire_pair.request(DESCRIBE, 0, describe)
            if all(a["groups"][0]["error_code"] not in loading for a in described.values()):
                return group
        assert time.monotonic() < deadline, answers
        time.sleep(0.2)


def running_group(wire_pair: WirePair) -> tuple[str, str, dict, int]:
    """A group whose one member ("member-1") runs the word count's tasks on both brokers: the group id, its
    2-partition source topic, the member's heartbeat body and its epoch."""
    group, source = coordinator_ready(wire_pair, unique_name("sg")), unique_name("in")
    wire_pair.create_topics(source, partitions=2)
    wire_pair.request(HEARTBEAT, 0, join_body(group, source))
    time.sleep(INITIAL_DELAY_S)
    beat = {"group_id": group, "member_id": "member-1", "member_epoch": 1, "endpoint_information_epoch": 0}
    ready = wire_pair.assert_same(HEARTBEAT, 0, beat, unordered=("active_tasks",))
    assert ready["active_tasks"], ready
    return group, source, beat, ready["member_epoch"]


def sorted_topics_status(response: dict) -> dict:
    """The response with the topic names of each status detail ("...: a, b") sorted."""
    statuses = []
    for status in response["status"]:
        head, sep, names = status["status_detail"].partition(": ")
        detail = head + sep + ", ".join(sorted(names.split(", "))) if sep else head
        statuses.append({**status, "status_detail": detail})
    return {**response, "status": statuses}


def subtopologies(app: str, source: str) -> list[dict]:
    info = {"replication_factor": 0, "topic_configs": []}
    changelog = {"name": f"{app}-counts-changelog", "partitions": 0, "replication_factor": 0,
                 "topic_configs": [{"key": "cleanup.policy", "value": "compact"}]}  # fmt: skip
    return [
        {"subtopology_id": "0", "source_topics": [source], "source_topic_regex": [], "state_changelog_topics": [],
         "repartition_sink_topics": [f"{app}-words-repartition"], "repartition_source_topics": [],
         "copartition_groups": []},
        {"subtopology_id": "1", "source_topics": [], "source_topic_regex": [], "state_changelog_topics": [changelog],
         "repartition_sink_topics": [],
         "repartition_source_topics": [{"name": f"{app}-words-repartition", "partitions": 0, **info}],
         "copartition_groups": []},
    ]  # fmt: skip


def join_body(group: str, source: str, **changes: object) -> dict:
    body = {"group_id": group, "member_id": "member-1", "member_epoch": 0, "endpoint_information_epoch": 0,
            "rebalance_timeout_ms": 30000, "topology": {"epoch": 0, "subtopologies": subtopologies(group, source)},
            "process_id": "process-1", "user_endpoint": None, "client_tags": [],
            "active_tasks": [], "standby_tasks": [], "warmup_tasks": []}  # fmt: skip
    body.update(changes)
    return body


INVALID = {
    "empty group id": {"group_id": ""},
    "empty member id": {"member_id": ""},
    "no rebalance timeout": {"rebalance_timeout_ms": -1},
    "no topology": {"topology": None},
    "no process id": {"process_id": None},
    "tasks on join": {"active_tasks": [{"subtopology_id": "0", "partitions": [0]}]},
    "topology after join": {"member_epoch": 3},
    "epoch below -2": {"member_epoch": -3},
    "static leave without instance id": {"member_epoch": -2, "topology": None},
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_heartbeats(wire_pair: WirePair, case: str) -> None:
    group = coordinator_ready(wire_pair, unique_name("sg"))
    wire_pair.assert_same(HEARTBEAT, 0, join_body(group, "in", **INVALID[case]))


def test_unknown_group_and_member(wire_pair: WirePair) -> None:
    group = coordinator_ready(wire_pair, unique_name("sg"))
    beat = {"group_id": group, "member_id": "m", "member_epoch": 1, "endpoint_information_epoch": 0}
    wire_pair.assert_same(HEARTBEAT, 0, beat)


def test_missing_source_topic_status(wire_pair: WirePair) -> None:
    group = coordinator_ready(wire_pair, unique_name("sg"))
    wire_pair.assert_same(HEARTBEAT, 0, join_body(group, unique_name("missing")))
    # Kafka 4.3.1 describes this group at group epoch 2 right after the join answered member epoch 1
    # (kafkapy: 1); the rest is the same.
    wire_pair.assert_same(DESCRIBE, 0, {"group_ids": [group], "include_authorized_operations": False},
                          ignore=("group_epoch",))  # fmt: skip


def test_join_gets_tasks_and_internal_topics(wire_pair: WirePair) -> None:
    group, source = coordinator_ready(wire_pair, unique_name("sg")), unique_name("in")
    wire_pair.create_topics(source, partitions=2)
    # The internal topics missing at the join are named in a status, in no particular order on Kafka.
    endpoint = {"host": "localhost", "port": 7070}
    answers = wire_pair.request(HEARTBEAT, 0, join_body(group, source, user_endpoint=endpoint))
    assert not differences(*(sorted_topics_status(answers[name]) for name in ("kafkapy", "reference")))
    first = answers["kafkapy"]
    time.sleep(INITIAL_DELAY_S)
    beat = {"group_id": group, "member_id": "member-1", "member_epoch": first["member_epoch"],
            "endpoint_information_epoch": 0}  # fmt: skip
    # Kafka lists an endpoint's topics in no particular order (a hash map's).
    ready = wire_pair.assert_same(
        HEARTBEAT, 0, beat, unordered=("active_tasks", "active_partitions", "standby_partitions")
    )
    # Zombie epochs: a greater one, and the previous one without the tasks that show a lost answer.
    wire_pair.assert_same(HEARTBEAT, 0, {**beat, "member_epoch": ready["member_epoch"] + 5})
    wire_pair.assert_same(HEARTBEAT, 0, {**beat, "member_epoch": ready["member_epoch"] - 1})
    wire_pair.assert_same(DESCRIBE, 0, {"group_ids": [group], "include_authorized_operations": True},
                          )  # fmt: skip
    listed = wire_pair.request(16, 5, {"states_filter": [], "types_filter": ["streams"]})
    entries = {broker: [g for g in answer["groups"] if g["group_id"] == group] for broker, answer in listed.items()}
    assert entries["kafkapy"] == entries["reference"] and len(entries["kafkapy"]) == 1, entries
    names = [f"{group}-words-repartition", f"{group}-counts-changelog"]
    body = {"topics": [{"name": n} for n in names], "allow_auto_topic_creation": False}
    wire_pair.assert_same(METADATA, 12, body, ignore=("topic_id",))
    # Each internal topic got exactly the configs the topology gave it (the changelog is compacted).
    for name in names:
        resource = {"resource_type": 2, "resource_name": name, "configuration_keys": None}
        answers = wire_pair.request(32, 4, {"resources": [resource], "include_synonyms": False,
                                            "include_documentation": False})  # fmt: skip
        overrides = {
            broker: sorted((c["name"], c["value"]) for c in answer["results"][0]["configs"] if c["config_source"] == 1)
            for broker, answer in answers.items()
        }
        assert overrides["kafkapy"] == overrides["reference"], (name, overrides)
        assert (("cleanup.policy", "compact") in overrides["kafkapy"]) == name.endswith("-changelog")


def test_describe_unknown_and_other_groups(wire_pair: WirePair) -> None:
    group = coordinator_ready(wire_pair, unique_name("none"))
    wire_pair.assert_same(DESCRIBE, 0, {"group_ids": [group], "include_authorized_operations": False})


def test_a_consumer_group_id_is_not_a_streams_group(wire_pair: WirePair) -> None:
    """One id namespace: a streams heartbeat or describe of a KIP-848 consumer group is refused."""
    group = coordinator_ready(wire_pair, unique_name("cg"))
    join = {"group_id": group, "member_id": "consumer-1", "member_epoch": 0, "rebalance_timeout_ms": 30000,
            "subscribed_topic_names": ["t"], "topic_partitions": []}  # fmt: skip
    for name, answer in wire_pair.request(CONSUMER_GROUP_HEARTBEAT, 0, join).items():
        assert answer["error_code"] == 0, (name, answer)
    wire_pair.assert_same(HEARTBEAT, 0, join_body(group, "in"))
    wire_pair.assert_same(DESCRIBE, 0, {"group_ids": [group], "include_authorized_operations": False})


def regex_topology(pattern: str) -> dict:
    sub = {"subtopology_id": "0", "source_topics": [], "source_topic_regex": [pattern], "state_changelog_topics": [],
           "repartition_sink_topics": [], "repartition_source_topics": [], "copartition_groups": []}  # fmt: skip
    return {"epoch": 0, "subtopologies": [sub]}


def test_source_topic_regex_is_refused(wire_pair: WirePair) -> None:
    """Kafka 4.3.1 refuses a topology with a source regex (INVALID_REQUEST, "not supported yet")."""
    group = coordinator_ready(wire_pair, unique_name("sg"))
    wire_pair.assert_same(HEARTBEAT, 0, join_body(group, "", topology=regex_topology(f"{unique_name('rx')}-.*")))


def test_static_membership_is_refused(wire_pair: WirePair) -> None:
    """Kafka 4.3.1 refuses an instance id (INVALID_REQUEST "Static membership is not yet supported."), on a
    join as on a static leave."""
    group = coordinator_ready(wire_pair, unique_name("sg"))
    wire_pair.assert_same(HEARTBEAT, 0, join_body(group, "in", instance_id="instance-1"))
    wire_pair.assert_same(HEARTBEAT, 0, join_body(group, "in", instance_id="instance-1", member_epoch=-2))


def topology_with(group: str, source: str, change: str) -> dict:
    """The word count topology with one defect."""
    subs = subtopologies(group, source)
    if change == "changelog with partitions":
        subs[1]["state_changelog_topics"][0]["partitions"] = 3
    elif change == "sink that no subtopology reads":
        subs[0]["repartition_sink_topics"] = ["nobody-reads-this"]
    elif change == "same subtopology id twice":
        subs[1]["subtopology_id"] = "0"
    elif change == "no subtopologies":
        subs = []
    elif change == "copartition index out of range":
        group_of = {"source_topics": [5], "source_topic_regex": [], "repartition_source_topics": []}
        subs[0]["copartition_groups"] = [group_of]
    elif change == "internal topic named as a source":
        subs[0]["source_topics"] = [f"{group}-words-repartition"]
    return {"epoch": 0, "subtopologies": subs}


INVALID_TOPOLOGIES = ["changelog with partitions", "sink that no subtopology reads", "same subtopology id twice",
                      "no subtopologies", "copartition index out of range", "internal topic named as a source"]


@pytest.mark.parametrize("change", INVALID_TOPOLOGIES)
def test_invalid_topologies(wire_pair: WirePair, change: str) -> None:
    """Kafka 4.3.1's STREAMS_INVALID_TOPOLOGY answers, its UNKNOWN_SERVER_ERROR for a subtopology id given
    twice or a copartition index out of range, and what it accepts (no subtopologies, ...)."""
    group, source = coordinator_ready(wire_pair, unique_name("sg")), unique_name("in")
    wire_pair.create_topics(source, partitions=2)
    answers = wire_pair.request(HEARTBEAT, 0, join_body(group, source, topology=topology_with(group, source, change)))
    assert not differences(*(sorted_topics_status(answers[name]) for name in ("kafkapy", "reference")))


def test_topology_epochs(wire_pair: WirePair) -> None:
    """A member joining with another topology epoch is refused ("Topology updates are not supported yet."),
    one with the group's epoch joins."""
    group, source = coordinator_ready(wire_pair, unique_name("sg")), unique_name("in")
    wire_pair.create_topics(source, partitions=2)
    answers = wire_pair.request(HEARTBEAT, 0, join_body(group, source))
    assert not differences(*(sorted_topics_status(answers[name]) for name in ("kafkapy", "reference")))
    newer = {"epoch": 1, "subtopologies": subtopologies(group, source)}
    wire_pair.assert_same(HEARTBEAT, 0, join_body(group, source, member_id="member-2", topology=newer),
                          unordered=("active_tasks", "standby_tasks"))  # fmt: skip
    time.sleep(INITIAL_DELAY_S)  # Kafka creates the internal topics asynchronously
    beat = {"group_id": group, "member_id": "member-1", "member_epoch": 1, "endpoint_information_epoch": 0}
    wire_pair.assert_same(HEARTBEAT, 0, beat, unordered=("active_tasks",))
    older = {"epoch": 0, "subtopologies": subtopologies(group, source)}
    wire_pair.assert_same(HEARTBEAT, 0, join_body(group, source, member_id="member-3", topology=older),
                          unordered=("active_tasks", "standby_tasks"))  # fmt: skip
    wire_pair.assert_same(DESCRIBE, 0, {"group_ids": [group], "include_authorized_operations": False},
                          unordered=("members",))  # fmt: skip


def test_offset_commit_and_fetch_with_member_epochs(wire_pair: WirePair) -> None:
    """Kafka Streams commits into its streams group with its member id and epoch (OffsetCommit v9+)."""
    group, source, beat, epoch = running_group(wire_pair)

    def commit(member: str, member_epoch: int) -> dict:
        partitions = [{"partition_index": 0, "committed_offset": 5, "committed_metadata": ""}]
        return {"group_id": group, "generation_id_or_member_epoch": member_epoch, "member_id": member,
                "topics": [{"name": source, "partitions": partitions}]}  # fmt: skip

    for member, member_epoch in (("member-1", epoch), ("member-1", epoch - 1), ("member-1", epoch + 1),
                                 ("nobody", epoch), ("", -1)):  # fmt: skip
        wire_pair.assert_same(8, 9, commit(member, member_epoch))
    for member, member_epoch in (("member-1", epoch), ("member-1", epoch - 1), ("nobody", epoch)):
        body = {"groups": [{"group_id": group, "member_id": member, "member_epoch": member_epoch,
                            "topics": [{"name": source, "partition_indexes": [0, 1]}]}], "require_stable": False}
        wire_pair.assert_same(9, 9, body)  # fmt: skip


def test_classic_describe_groups_of_a_streams_group(wire_pair: WirePair) -> None:
    group = coordinator_ready(wire_pair, unique_name("sg"))
    wire_pair.request(HEARTBEAT, 0, join_body(group, unique_name("missing")))
    wire_pair.assert_same(15, 5, {"groups": [group], "include_authorized_operations": False})


def test_source_topic_grows(wire_pair: WirePair) -> None:
    """Partitions added to the source topic: the repartition topic no longer matches it."""
    group, source, beat, epoch = running_group(wire_pair)
    grow = {"topics": [{"name": source, "count": 3, "assignments": None}], "timeout_ms": 30000, "validate_only": False}
    for name, answer in wire_pair.request(37, 3, grow).items():
        assert answer["results"][0]["error_code"] == 0, (name, answer)
    time.sleep(INITIAL_DELAY_S)
    wire_pair.assert_same(HEARTBEAT, 0, {**beat, "member_epoch": epoch}, unordered=("active_tasks",))
    wire_pair.assert_same(DESCRIBE, 0, {"group_ids": [group], "include_authorized_operations": False})


@pytest.mark.parametrize("change", ["current", "older", "newer", "none", "unknown"])
def test_txn_offset_commit_to_a_streams_group(wire_pair: WirePair, change: str) -> None:
    """TxnOffsetCommit v3 as Kafka Streams sends it with exactly-once (its member id and epoch), with an
    older or newer epoch, without one (the group-id-only API) and from an unknown member."""
    group, source, _, epoch = running_group(wire_pair)
    cases = {"current": (epoch, "member-1"), "older": (epoch - 1, "member-1"), "newer": (epoch + 1, "member-1"),
             "none": (-1, ""), "unknown": (epoch, "nobody")}  # fmt: skip
    generation, member = cases[change]
    txn_id = unique_name("sg-txn")
    producers = wire_pair.on_both(lambda bootstrap: _init_producer(bootstrap, txn_id))

    def add_offsets(producer_id: int, producer_epoch: int) -> dict:
        return {"transactional_id": txn_id, "group_id": group, "producer_id": producer_id,
                "producer_epoch": producer_epoch}  # fmt: skip

    assert _same_per_broker(wire_pair, 25, 3, producers, add_offsets)["error_code"] == 0
    commit = _txn_offset_commit(txn_id, group, source)

    def body(producer_id: int, producer_epoch: int) -> dict:
        return {**commit(producer_id, producer_epoch), "generation_id": generation, "member_id": member}

    _same_per_broker(wire_pair, 28, 3, producers, body)


def test_a_member_rejoining_with_its_own_id(wire_pair: WirePair) -> None:
    """A known member joining again (epoch 0, same member id), as a Streams client recovering from an error."""
    group, source, _, _ = running_group(wire_pair)
    wire_pair.assert_same(HEARTBEAT, 0, join_body(group, source), unordered=("active_tasks",))
    wire_pair.assert_same(DESCRIBE, 0, {"group_ids": [group], "include_authorized_operations": False})
