"""KIP-1071 streams groups over the wire (StreamsGroupHeartbeat 88, StreamsGroupDescribe 89) against a
real broker process: joining with a topology, the broker creating the internal topics, task
assignment and incremental reconciliation between two members, describe, leave, and the group
surviving kill -9."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess

HEARTBEAT, DESCRIBE = 88, 89
MISSING_INTERNAL_TOPICS = 3


def streams_broker(broker_factory: Callable[..., BrokerProcess], *extra: str) -> BrokerProcess:
    overrides = [
        "group.streams.initial.rebalance.delay.ms=0",
        "group.streams.assignment.interval.ms=0",
        "group.streams.num.standby.replicas=1",
        *extra,
    ]
    args: list[str] = []
    for item in overrides:
        args += ["--override", item]
    return broker_factory(extra_args=tuple(args), num_partitions=1)


@dataclass
class App:
    """A streams application's names on a fresh broker (initial delay 0, one standby replica)."""

    broker: BrokerProcess
    client: WireClient
    app: str
    source: str


@pytest.fixture
def streams_app(broker_factory: Callable[..., BrokerProcess]) -> Iterator[App]:
    broker = streams_broker(broker_factory)
    with WireClient.connect(broker.bootstrap) as client:
        yield App(broker, client, f"app-{uuid.uuid4().hex[:6]}", f"in-{uuid.uuid4().hex[:6]}")


def create(client: WireClient, name: str, partitions: int) -> None:
    body = {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": 1}]}
    assert client.request(ApiKey.CREATE_TOPICS, 7, body).topics[0].error_code == ErrorCode.NONE


def topology(app: str, source: str) -> dict:
    """The word count's two subtopologies: source -> repartition topic -> a store with its changelog."""
    info = {"replication_factor": 0, "topic_configs": []}
    repartition = f"{app}-words-repartition"
    changelog = {"name": f"{app}-counts-changelog", "partitions": 0, **info,
                 "topic_configs": [{"key": "cleanup.policy", "value": "compact"}]}  # fmt: skip
    return {
        "epoch": 0,
        "subtopologies": [
            {"subtopology_id": "0", "source_topics": [source], "source_topic_regex": [],
             "state_changelog_topics": [], "repartition_sink_topics": [repartition],
             "repartition_source_topics": [], "copartition_groups": []},
            {"subtopology_id": "1", "source_topics": [], "source_topic_regex": [],
             "state_changelog_topics": [changelog], "repartition_sink_topics": [],
             "repartition_source_topics": [{"name": repartition, "partitions": 0, **info}], "copartition_groups": []},
        ],
    }  # fmt: skip


def join(client: WireClient, group: str, member: str, process: str, topo: dict, rebalance_ms: int = 30000) -> dict:
    body = {"group_id": group, "member_id": member, "member_epoch": 0, "endpoint_information_epoch": 0,
            "rebalance_timeout_ms": rebalance_ms, "topology": topo, "process_id": process,
            "user_endpoint": {"host": "localhost", "port": 8080}, "client_tags": []}  # fmt: skip
    return client.request(HEARTBEAT, 0, body)


def join_ready(
    client: WireClient, group: str, member: str, process: str, topo: dict, rebalance_ms: int = 30000
) -> dict:
    """Join, then heartbeat once more if the join created the internal topics (ready from then on)."""
    resp = join(client, group, member, process, topo, rebalance_ms)
    if [s.status_code for s in resp.status] == [MISSING_INTERNAL_TOPICS]:
        resp = beat(client, group, member, resp.member_epoch)
    assert resp.error_code == ErrorCode.NONE and list(resp.status) == [], resp
    return resp


def beat(client: WireClient, group: str, member: str, epoch: int, owned: dict | None = None) -> dict:
    body: dict = {"group_id": group, "member_id": member, "member_epoch": epoch, "endpoint_information_epoch": 0}
    if owned is not None:
        body.update(owned)
    return client.request(HEARTBEAT, 0, body)


def tasks(resp: dict, kind: str = "active_tasks") -> set[tuple[str, int]]:
    return {(t.subtopology_id, p) for t in resp[kind] or () for p in t.partitions}


def as_owned(active: set, standby: set = frozenset()) -> dict:
    def ids(ts: set) -> list[dict]:
        subs = sorted({s for s, _ in ts})
        return [{"subtopology_id": s, "partitions": sorted(p for t, p in ts if t == s)} for s in subs]

    return {"active_tasks": ids(active), "standby_tasks": ids(standby), "warmup_tasks": []}


def describe(client: WireClient, group: str) -> dict:
    return client.request(DESCRIBE, 0, {"group_ids": [group], "include_authorized_operations": False}).groups[0]


def test_missing_source_topic_is_a_status_then_tasks_once_it_exists(streams_app: App) -> None:
    client, app, source = streams_app.client, streams_app.app, streams_app.source
    resp = join(client, app, "m1", "p1", topology(app, source))
    assert resp.error_code == ErrorCode.NONE, resp
    assert [(s.status_code, s.status_detail) for s in resp.status] == [(1, f"Source topics {source} are missing.")]
    assert describe(client, app).group_state == "NotReady"
    create(client, source, 3)
    # The broker creates the internal topics and says so (as Kafka, whose creation is asynchronous)...
    resp = beat(client, app, "m1", resp.member_epoch)
    names = f"{app}-words-repartition, {app}-counts-changelog"
    assert [(s.status_code, s.status_detail) for s in resp.status] == [
        (MISSING_INTERNAL_TOPICS, f"Internal topics are missing: {names}")
    ]
    assert tasks(resp) == set()
    # ...and assigns the tasks from the next heartbeat on.
    resp = beat(client, app, "m1", resp.member_epoch)
    assert list(resp.status) == []
    assert tasks(resp) == {("0", 0), ("0", 1), ("0", 2), ("1", 0), ("1", 1), ("1", 2)}
    # The broker made the repartition topic (as many partitions as the source) and the compacted changelog.
    meta = client.request(ApiKey.METADATA, 12, {"topics": None, "allow_auto_topic_creation": False})
    counts = {t.name: len(t.partitions) for t in meta.topics}
    assert counts[f"{app}-words-repartition"] == 3 and counts[f"{app}-counts-changelog"] == 3


def test_tasks_move_to_a_second_member_only_after_the_first_revokes(streams_app: App) -> None:
    client, app, source = streams_app.client, streams_app.app, streams_app.source
    create(client, source, 2)
    first = join_ready(client, app, "m1", "p1", topology(app, source))
    everything = {("0", 0), ("0", 1), ("1", 0), ("1", 1)}
    e = first.member_epoch
    assert tasks(first) == everything
    second = join(client, app, "m2", "p2", topology(app, source))
    # m1 still has every task active: m2 gets none of them yet, only standbys (another process).
    assert tasks(second) == set() and second.member_epoch == e + 1
    assert tasks(second, "standby_tasks") and tasks(second, "standby_tasks") <= everything
    revoking = beat(client, app, "m1", e)
    assert revoking.member_epoch == e and len(tasks(revoking)) == 2  # told to keep only half
    kept = tasks(revoking)
    again = beat(client, app, "m2", e + 1)
    assert not tasks(again)  # not released yet
    done = beat(client, app, "m1", e, as_owned(kept))
    assert done.member_epoch == e + 1
    # KIP-1251: a commit at the older epoch e still goes through for a partition of a task m1 kept (it has
    # had it since e), not for one of a task it gave up.
    inputs = {"0": source, "1": f"{app}-words-repartition"}
    (kept_sub, kept_partition), (gone_sub, gone_partition) = sorted(kept)[0], sorted(everything - kept)[0]
    assert commit(client, app, inputs[kept_sub], "m1", e, 1, kept_partition) == ErrorCode.NONE
    assert commit(client, app, inputs[gone_sub], "m1", e, 1, gone_partition) == ErrorCode.STALE_MEMBER_EPOCH
    released = beat(client, app, "m2", e + 1)
    assert tasks(released) == everything - kept
    assert describe(client, app).group_state == "Stable"
    # The previous epoch with a subset of the tasks is a member whose last answer was lost: accepted.
    lost = beat(client, app, "m1", e, as_owned(kept))
    assert lost.error_code == ErrorCode.NONE and lost.member_epoch == e + 1 and tasks(lost) == kept
    # A zombie at an old epoch is fenced.
    assert beat(client, app, "m1", e).error_code == ErrorCode.FENCED_MEMBER_EPOCH
    assert beat(client, app, "m1", e + 5).error_code == ErrorCode.FENCED_MEMBER_EPOCH
    # m2 leaves: m1 gets everything back at a new epoch.
    assert beat(client, app, "m2", -1).member_epoch == -1
    # It first drops its standby tasks (revoked before they come back as active ones)...
    dropping = beat(client, app, "m1", e + 1)
    assert dropping.member_epoch == e + 1 and tasks(dropping) == kept
    assert tasks(dropping, "standby_tasks") == set()
    back = beat(client, app, "m1", e + 1, as_owned(kept))
    assert tasks(back) == everything and back.member_epoch == e + 2


def test_describe_shows_topology_members_and_assignment(streams_app: App) -> None:
    client, app, source = streams_app.client, streams_app.app, streams_app.source
    create(client, source, 2)
    joined = join_ready(client, app, "m1", "p1", topology(app, source))
    group = describe(client, app)
    assert group.error_code == ErrorCode.NONE and group.group_state == "Stable"
    assert group.group_epoch == group.assignment_epoch == joined.member_epoch
    subs = {s.subtopology_id: s for s in group.topology.subtopologies}
    assert [t.partitions for t in subs["1"].repartition_source_topics] == [2]
    assert [t.partitions for t in subs["1"].state_changelog_topics] == [2]
    (member,) = group.members
    assert (member.member_id, member.process_id, member.member_epoch) == ("m1", "p1", joined.member_epoch)
    assert member.user_endpoint.port == 8080
    assert len(member.assignment.active_tasks) == 2
    missing = describe(client, "no-such-group")
    expected = (ErrorCode.GROUP_ID_NOT_FOUND, "Group no-such-group not found.")
    assert (missing.error_code, missing.error_message) == expected
    listed = client.request(ApiKey.LIST_GROUPS, 5, {"states_filter": [], "types_filter": ["streams"]}).groups
    assert [(g.group_id, g.group_type, g.group_state) for g in listed] == [(app, "streams", "Stable")]


def test_invalid_heartbeats_get_kafkas_errors(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = streams_broker(broker_factory)
    with WireClient.connect(broker.bootstrap) as client:
        resp = beat(client, "g", "m", 0)
        assert (resp.error_code, resp.error_message) == (
            ErrorCode.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request."
        )  # fmt: skip
        resp = beat(client, "nope", "m", 3)
        assert (resp.error_code, resp.error_message) == (ErrorCode.GROUP_ID_NOT_FOUND, "Streams group nope not found.")


@pytest.mark.timeout(120)
def test_group_survives_kill_9(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = streams_broker(broker_factory)
    app, source = f"app-{uuid.uuid4().hex[:6]}", f"in-{uuid.uuid4().hex[:6]}"
    with WireClient.connect(broker.bootstrap) as client:
        create(client, source, 2)
        first = join_ready(client, app, "m1", "p1", topology(app, source))
        before = describe(client, app)
    broker.kill9()
    broker.start()
    with WireClient.connect(broker.bootstrap) as client:
        after = describe(client, app)
        assert after.group_state == "Stable"
        assert (after.group_epoch, after.assignment_epoch) == (before.group_epoch, before.assignment_epoch)
        assert after.topology == before.topology and after.members == before.members
        resp = beat(client, app, "m1", first.member_epoch)
        assert resp.error_code == ErrorCode.NONE and resp.member_epoch == first.member_epoch
        assert tasks(resp) == tasks(first)


def commit(client: WireClient, group: str, topic: str, member: str, epoch: int, offset: int, partition: int = 0) -> int:
    body = {"group_id": group, "generation_id_or_member_epoch": epoch, "member_id": member,
            "topics": [{"name": topic, "partitions": [{"partition_index": partition, "committed_offset": offset,
                                                       "committed_metadata": ""}]}]}  # fmt: skip
    return client.request(ApiKey.OFFSET_COMMIT, 9, body).topics[0].partitions[0].error_code


def test_offset_commits_are_checked_against_member_epochs(streams_app: App) -> None:
    """Kafka Streams commits with OffsetCommit (its member id and epoch) into its streams group."""
    client, app, source = streams_app.client, streams_app.app, streams_app.source
    create(client, source, 1)
    epoch = join_ready(client, app, "m1", "p1", topology(app, source)).member_epoch
    assert commit(client, app, source, "m1", epoch, 42) == ErrorCode.NONE
    assert commit(client, app, source, "m1", epoch - 1, 43) == ErrorCode.STALE_MEMBER_EPOCH
    assert commit(client, app, source, "zombie", epoch, 44) == ErrorCode.UNKNOWN_MEMBER_ID
    body = {"groups": [{"group_id": app, "member_id": "m1", "member_epoch": epoch,
                        "topics": [{"name": source, "partition_indexes": [0]}]}],
            "require_stable": False}  # fmt: skip
    fetched = client.request(ApiKey.OFFSET_FETCH, 9, body).groups[0]
    assert fetched.error_code == ErrorCode.NONE and fetched.topics[0].partitions[0].committed_offset == 42
    # The streams group is listed as such, not as a classic group holding its offsets.
    listed = client.request(ApiKey.LIST_GROUPS, 5, {"states_filter": [], "types_filter": []}).groups
    assert [(g.group_id, g.group_type) for g in listed if g.group_id == app] == [(app, "streams")]


def test_a_member_that_does_not_revoke_within_its_rebalance_timeout_is_removed(streams_app: App) -> None:
    client, app, source = streams_app.client, streams_app.app, streams_app.source
    create(client, source, 2)
    first = join_ready(client, app, "m1", "p1", topology(app, source), rebalance_ms=300)
    everything = tasks(first)
    second = join(client, app, "m2", "p2", topology(app, source))
    revoking = beat(client, app, "m1", first.member_epoch)
    assert len(tasks(revoking)) == 2  # told to give up half, which it never acknowledges
    # m2 heartbeats, reporting the tasks it was last given, until m1 is gone and m2 has every task.
    deadline = time.monotonic() + 30
    got, standby, epoch = tasks(second), tasks(second, "standby_tasks"), second.member_epoch
    while got != everything:
        assert time.monotonic() < deadline, f"m2 still has {got} of {everything}"
        time.sleep(0.2)
        resp = beat(client, app, "m2", epoch, as_owned(got, standby))
        assert resp.error_code == ErrorCode.NONE, resp
        epoch = resp.member_epoch
        if resp.active_tasks is not None:
            got, standby = tasks(resp), tasks(resp, "standby_tasks")
    assert beat(client, app, "m1", first.member_epoch).error_code == ErrorCode.UNKNOWN_MEMBER_ID


def test_group_streams_max_size(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = streams_broker(broker_factory, "group.streams.max.size=1")
    app, source = f"app-{uuid.uuid4().hex[:6]}", f"in-{uuid.uuid4().hex[:6]}"
    with WireClient.connect(broker.bootstrap) as client:
        assert join(client, app, "m1", "p1", topology(app, source)).error_code == ErrorCode.NONE
        full = join(client, app, "m2", "p2", topology(app, source))
        message = "The streams group has reached its maximum capacity of 1 members."
        expected = (ErrorCode.GROUP_MAX_SIZE_REACHED, message)
        assert (full.error_code, full.error_message) == expected
        assert (beat(client, app, "m3", 4).error_code, beat(client, app, "m1", -1).error_code) == (
            ErrorCode.GROUP_MAX_SIZE_REACHED, ErrorCode.NONE
        )  # fmt: skip


def test_delete_group_after_the_last_member_left_and_it_stays_deleted(streams_app: App) -> None:
    client, app, source = streams_app.client, streams_app.app, streams_app.source
    create(client, source, 1)
    epoch = join_ready(client, app, "m1", "p1", topology(app, source)).member_epoch
    assert commit(client, app, source, "m1", epoch, 7) == ErrorCode.NONE
    deleted = client.request(ApiKey.DELETE_GROUPS, 2, {"groups_names": [app]}).results[0]
    assert deleted.error_code == ErrorCode.NON_EMPTY_GROUP
    assert beat(client, app, "m1", -1).error_code == ErrorCode.NONE
    assert describe(client, app).group_state == "Empty"
    deleted = client.request(ApiKey.DELETE_GROUPS, 2, {"groups_names": [app]}).results[0]
    assert deleted.error_code == ErrorCode.NONE
    streams_app.broker.kill9()
    streams_app.broker.start()
    with WireClient.connect(streams_app.broker.bootstrap) as after:
        assert describe(after, app).error_code == ErrorCode.GROUP_ID_NOT_FOUND
        body = {"groups": [{"group_id": app, "topics": None}], "require_stable": False}
        assert list(after.request(ApiKey.OFFSET_FETCH, 9, body).groups[0].topics) == []
