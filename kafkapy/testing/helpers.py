"""Helpers that test suites otherwise write by hand, for any Kafka broker: kafkapy or Apache Kafka.

What Spring's KafkaTestUtils gives Java tests (getSingleRecord, getRecords, getEndOffsets,
ContainerTestUtils.waitForAssignment...), in Python style::

    offsets = produce(bootstrap, "orders", [b"a", b"b", (b"key", b"c")])
    records = consume(bootstrap, "orders", 3, timeout=10)
    wait_for_group(bootstrap, "billing", partitions=3)
    assert group_lag(bootstrap, "billing") == {("orders", 0): 0}

They speak the Kafka protocol themselves (kafkapy.client.wire), so they need no client library
and behave the same against ``kafkapy serve``, KafkaBroker, or a real Kafka cluster: requests go to
each partition's leader and each group's coordinator, found through Metadata and FindCoordinator.
Waiting helpers poll until their condition holds and raise ``WaitTimeout`` (an AssertionError, so
pytest reports it as a failed check) with what they saw when ``timeout`` seconds pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.records import Header, RecordTuple, build_batch, decode_records
from kafkapy.protocol.specs import ApiKey

# The consumer protocol assignment decoder kafkapy's admin tool uses (kafkapy groups describe).
from kafkapy.tools.admin import assignment_partitions

T = TypeVar("T")
# Request versions both kafkapy and Apache Kafka 4.x serve, addressing topics by name.
PRODUCE_V, FETCH_V, LIST_OFFSETS_V, METADATA_V = 9, 12, 7, 12
OFFSET_FETCH_V, FIND_COORDINATOR_V, DESCRIBE_GROUPS_V, DESCRIBE_CONFIGS_V = 7, 3, 5, 4
LATEST, EARLIEST = -1, -2
# Errors that pass while a new topic gets its leader, or a group its coordinator.
RETRIABLE = {
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode.LEADER_NOT_AVAILABLE,
    ErrorCode.NOT_LEADER_OR_FOLLOWER,
    ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCode.NOT_COORDINATOR,
}
POLL_INTERVAL_S = 0.05
# Records a produce() request carries per batch, and bytes a fetch asks for per partition: enough
# for speed, bounded so a helper's memory follows what the test produced.
BATCH_RECORDS = 500
FETCH_PARTITION_BYTES = 1 << 20
FETCH_MAX_WAIT_MS = 200
CONSUMER_PROTOCOL = "consumer"
TOPIC_RESOURCE = 2

RecordInput = bytes | str | None | tuple[bytes | str | None, bytes | str | None]


class WaitTimeout(AssertionError):
    """A helper's condition did not hold within its timeout."""


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[Header] = field(default_factory=list)


@dataclass(frozen=True)
class GroupDescription:
    """A classic group as DescribeGroups tells it; ``assignments`` by member id (consumer groups)."""

    group_id: str
    state: str
    protocol: str
    assignments: dict[str, list[tuple[str, int]]]

    @property
    def assigned_partitions(self) -> set[tuple[str, int]]:
        return {tp for partitions in self.assignments.values() for tp in partitions}


def _deadline_loop(timeout: float, what: Callable[[], str]) -> Iterator[float]:
    """Yields the seconds left until ``timeout`` passes, then raises WaitTimeout(what())."""
    deadline = time.monotonic() + timeout
    first = True
    while first or time.monotonic() < deadline:
        if not first:
            time.sleep(POLL_INTERVAL_S)
        first = False
        yield max(deadline - time.monotonic(), 0.0)
    raise WaitTimeout(f"after {timeout:g}s: {what()}")


class _Cluster:
    """Connections to a cluster's brokers, by node id, opened on demand from the bootstrap broker."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap = WireClient.connect(bootstrap_servers)
        self._clients: dict[int, WireClient] = {}
        self._addresses: dict[int, str] = {}

    def __enter__(self) -> _Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in [self._bootstrap, *self._clients.values()]:
            client.close()

    def request(self, api_key: int, version: int, body: dict) -> Any:
        """A request to the bootstrap broker; the decoded response."""
        return self._bootstrap.request(api_key, version, body)

    def node(self, node_id: int) -> WireClient:
        if node_id not in self._clients:
            self._clients[node_id] = WireClient.connect(self._addresses[node_id])
        return self._clients[node_id]

    def leaders(self, topic: str, *, auto_create: bool = False) -> dict[int, int]:
        """Leader node id by partition; KafkaError (a RETRIABLE one while the topic is being created)."""
        body = {"topics": [{"name": topic}], "allow_auto_topic_creation": auto_create}
        meta = self.request(ApiKey.METADATA, METADATA_V, body)
        self._addresses.update({b.node_id: f"{b.host}:{b.port}" for b in meta.brokers})
        found = meta.topics[0]
        if found.error_code != ErrorCode.NONE:
            raise KafkaError(ErrorCode(found.error_code), f"topic {topic!r}")
        leaders = {p.partition_index: p.leader_id for p in found.partitions}
        if not leaders or min(leaders.values()) < 0:
            raise KafkaError(ErrorCode.LEADER_NOT_AVAILABLE, f"topic {topic!r}")
        return leaders

    def coordinator(self, group_id: str) -> WireClient:
        found = self.request(ApiKey.FIND_COORDINATOR, FIND_COORDINATOR_V, {"key": group_id, "key_type": 0})
        if found.error_code != ErrorCode.NONE:
            raise KafkaError(ErrorCode(found.error_code), found.error_message)
        self._addresses[found.node_id] = f"{found.host}:{found.port}"
        return self.node(found.node_id)


def _retrying(timeout: float, attempt: Callable[[], T]) -> T:
    """``attempt()`` until it raises no RETRIABLE KafkaError (a new topic or group settling)."""
    last: list[KafkaError] = []
    for _ in _deadline_loop(timeout, lambda: f"still {last[-1]}"):
        try:
            return attempt()
        except KafkaError as exc:
            if exc.code not in RETRIABLE:
                raise
            last.append(exc)
    raise AssertionError("unreachable")  # _deadline_loop raises


def _as_bytes(data: bytes | str | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


def produce(
    bootstrap_servers: str,
    topic: str,
    records: Iterable[RecordInput],
    *,
    partition: int = 0,
    headers: list[Header] | None = None,
    timeout: float = 30.0,
) -> list[int]:
    """Write ``records`` (values, or (key, value) pairs; str is UTF-8) to one partition; their offsets.

    acks=all, in batches of BATCH_RECORDS. The topic is auto-created if the broker allows it.
    """
    offsets: list[int] = []
    with _Cluster(bootstrap_servers) as cluster:

        def send(batch: list[RecordTuple]) -> list[int]:
            # Retried on errors that mean nothing was written: a new topic still electing its leader.
            return _retrying(timeout, lambda: _produce_batch(cluster, topic, partition, batch, timeout))

        batch: list[RecordTuple] = []
        for item in records:
            key, value = item if isinstance(item, tuple) else (None, item)
            batch.append((_as_bytes(key), _as_bytes(value), list(headers or []), None))
            if len(batch) == BATCH_RECORDS:
                offsets += send(batch)
                batch = []
        if batch:
            offsets += send(batch)
    return offsets


def _produce_batch(
    cluster: _Cluster, topic: str, partition: int, batch: list[RecordTuple], timeout: float
) -> list[int]:
    client = cluster.node(cluster.leaders(topic, auto_create=True)[partition])
    data = {"index": partition, "records": build_batch(batch)}
    body = {"acks": -1, "timeout_ms": int(timeout * 1000), "topic_data": [{"name": topic, "partition_data": [data]}]}
    answer = client.request(ApiKey.PRODUCE, PRODUCE_V, body).responses[0].partition_responses[0]
    if answer.error_code != ErrorCode.NONE:
        raise KafkaError(ErrorCode(answer.error_code), answer.error_message)
    return list(range(answer.base_offset, answer.base_offset + len(batch)))


def _list_offsets(cluster: _Cluster, topic: str, timestamp: int, timeout: float) -> dict[int, int]:
    """ListOffsets for every partition of ``topic`` at each partition's leader."""
    return _retrying(timeout, lambda: _list_offsets_once(cluster, topic, timestamp))


def _list_offsets_once(cluster: _Cluster, topic: str, timestamp: int) -> dict[int, int]:
    leaders = cluster.leaders(topic)
    offsets: dict[int, int] = {}
    for node_id in set(leaders.values()):
        parts = [{"partition_index": p, "timestamp": timestamp} for p, n in leaders.items() if n == node_id]
        body = {"replica_id": -1, "isolation_level": 0, "topics": [{"name": topic, "partitions": parts}]}
        for answer in cluster.node(node_id).request(ApiKey.LIST_OFFSETS, LIST_OFFSETS_V, body).topics[0].partitions:
            if answer.error_code != ErrorCode.NONE:
                raise KafkaError(ErrorCode(answer.error_code), f"{topic}-{answer.partition_index}")
            offsets[answer.partition_index] = answer.offset
    return dict(sorted(offsets.items()))


def end_offsets(bootstrap_servers: str, topic: str, *, timeout: float = 30.0) -> dict[int, int]:
    """The log end offset (high watermark) of each partition (Spring's getEndOffsets)."""
    with _Cluster(bootstrap_servers) as cluster:
        return _list_offsets(cluster, topic, LATEST, timeout)


def beginning_offsets(bootstrap_servers: str, topic: str, *, timeout: float = 30.0) -> dict[int, int]:
    """The log start offset of each partition."""
    with _Cluster(bootstrap_servers) as cluster:
        return _list_offsets(cluster, topic, EARLIEST, timeout)


def consume(
    bootstrap_servers: str,
    topic: str,
    count: int,
    *,
    timeout: float = 30.0,
    partitions: Iterable[int] | None = None,
    from_offsets: dict[int, int] | None = None,
    read_committed: bool = True,
) -> list[ConsumedRecord]:
    """The first ``count`` records of ``topic``, waiting for them.

    Every partition is read from its log start; ``partitions`` narrows that down, and
    ``from_offsets`` ({partition: offset}) reads just those partitions from those offsets. Records
    come partition by partition within each fetch. No consumer group is used or committed.
    Records of aborted transactions are skipped, as a read_committed consumer does
    (``read_committed=False`` reads them). Raises WaitTimeout if fewer than ``count`` arrive
    within ``timeout`` (Spring's getRecords with a minimum count).
    """
    records: list[ConsumedRecord] = []
    with _Cluster(bootstrap_servers) as cluster:
        start = from_offsets if from_offsets is not None else _list_offsets(cluster, topic, EARLIEST, timeout)
        positions = dict(start) if partitions is None else {p: start[p] for p in partitions}
        leaders = _retrying(timeout, lambda: cluster.leaders(topic))
        seen = lambda: f"{len(records)} of {count} records from {topic} (positions {positions})"  # noqa: E731
        for left in _deadline_loop(timeout, seen):
            max_wait_ms = int(min(left * 1000, FETCH_MAX_WAIT_MS))
            found, moved = _poll(cluster, topic, leaders, positions, max_wait_ms, read_committed)
            records += found
            if moved:
                leaders = _retrying(left, lambda: cluster.leaders(topic))
            if len(records) >= count:
                return records[:count]
    raise AssertionError("unreachable")  # _deadline_loop raises


def _poll(
    cluster: _Cluster,
    topic: str,
    leaders: dict[int, int],
    positions: dict[int, int],
    max_wait_ms: int,
    read_committed: bool,
) -> tuple[list[ConsumedRecord], bool]:
    """One Fetch per leader for the partitions in ``positions``, which it advances.

    Returns the records and whether a leader answered with a RETRIABLE error (leadership moved).
    """
    found: list[ConsumedRecord] = []
    moved = False
    for node_id in sorted(set(leaders.values())):
        owned = {p: o for p, o in positions.items() if leaders.get(p) == node_id}
        if not owned:
            continue
        try:
            found += _fetch(cluster.node(node_id), topic, owned, max_wait_ms, read_committed, positions)
        except KafkaError as exc:
            if exc.code not in RETRIABLE:
                raise
            moved = True
    return found, moved


def _fetch(
    client: WireClient,
    topic: str,
    owned: dict[int, int],
    max_wait_ms: int,
    read_committed: bool,
    positions: dict[int, int],
) -> list[ConsumedRecord]:
    """One Fetch of ``owned`` partitions; advances ``positions`` past what it returns."""
    limit = FETCH_PARTITION_BYTES
    parts = [{"partition": p, "fetch_offset": o, "partition_max_bytes": limit} for p, o in owned.items()]
    body = {
        "max_wait_ms": max_wait_ms,
        "min_bytes": 1,
        "isolation_level": int(read_committed),
        "topics": [{"topic": topic, "partitions": parts}],
        "forgotten_topics_data": [],
    }
    answers = client.request(ApiKey.FETCH, FETCH_V, body).responses[0].partitions
    # Errors first, so that no partition's position moves past records that are not returned.
    for answer in answers:
        if answer.error_code != ErrorCode.NONE:
            raise KafkaError(ErrorCode(answer.error_code), f"{topic}-{answer.partition_index}")
    found: list[ConsumedRecord] = []
    for answer in answers:
        aborted = sorted((a.first_offset, a.producer_id) for a in answer.aborted_transactions or [])
        for offset, record in _committed_records(answer.records or b"", aborted, owned[answer.partition_index]):
            found.append(ConsumedRecord(topic, answer.partition_index, offset, *record))
            positions[answer.partition_index] = offset + 1
    return found


def _committed_records(
    data: bytes, aborted: list[tuple[int, int]], position: int
) -> Iterator[tuple[int, tuple[int, bytes | None, bytes | None, list[Header]]]]:
    """(offset, (timestamp, key, value, headers)) of the data records at or after ``position``.

    Skips control batches and, like Kafka's consumer, the batches of producers an aborted
    transaction (from the Fetch response) is open for at that offset, until their abort marker.
    """
    open_aborts: set[int] = set()
    for header, batch in decode_records(data):
        while aborted and aborted[0][0] <= header.last_offset:
            open_aborts.add(aborted.pop(0)[1])
        if header.is_control:
            open_aborts.discard(header.producer_id)
            continue
        if header.is_transactional and header.producer_id in open_aborts:
            continue
        for r in batch:
            if r.offset >= position:
                yield r.offset, (r.timestamp, r.key, r.value, r.headers)


def single_record(bootstrap_servers: str, topic: str, *, timeout: float = 30.0) -> ConsumedRecord:
    """The one record of ``topic``: waits for it, fails if the topic holds more (Spring's getSingleRecord)."""
    first = consume(bootstrap_servers, topic, 1, timeout=timeout)[0]
    with _Cluster(bootstrap_servers) as cluster:
        positions = _list_offsets(cluster, topic, EARLIEST, timeout)
        positions[first.partition] = first.offset + 1
        leaders = cluster.leaders(topic)
        more, _ = _poll(cluster, topic, leaders, positions, 0, read_committed=True)
    if more:
        raise AssertionError(f"expected a single record in {topic}, found more: {[first, *more][:5]}")
    return first


def topic_configs(bootstrap_servers: str, topic: str) -> dict[str, str | None]:
    """Every config of ``topic`` with its value: overrides and the defaults (DescribeConfigs)."""
    body = {"resources": [{"resource_type": TOPIC_RESOURCE, "resource_name": topic, "configuration_keys": None}]}
    with WireClient.connect(bootstrap_servers) as client:
        result = client.request(ApiKey.DESCRIBE_CONFIGS, DESCRIBE_CONFIGS_V, body).results[0]
    if result.error_code != ErrorCode.NONE:
        raise KafkaError(ErrorCode(result.error_code), result.error_message)
    return {entry.name: entry.value for entry in result.configs}


def committed_offsets(bootstrap_servers: str, group_id: str, *, timeout: float = 30.0) -> dict[tuple[str, int], int]:
    """The offsets ``group_id`` committed, by (topic, partition)."""
    with _Cluster(bootstrap_servers) as cluster:
        return _committed(cluster, group_id, timeout)


def _committed(cluster: _Cluster, group_id: str, timeout: float) -> dict[tuple[str, int], int]:
    def fetch() -> dict[tuple[str, int], int]:
        body = {"group_id": group_id, "topics": None, "require_stable": False}
        answer = cluster.coordinator(group_id).request(ApiKey.OFFSET_FETCH, OFFSET_FETCH_V, body)
        if answer.error_code != ErrorCode.NONE:
            raise KafkaError(ErrorCode(answer.error_code), f"group {group_id!r}")
        return {
            (t.name, p.partition_index): p.committed_offset
            for t in answer.topics
            for p in t.partitions
            if p.committed_offset >= 0
        }

    return _retrying(timeout, fetch)


def group_lag(bootstrap_servers: str, group_id: str, *, timeout: float = 30.0) -> dict[tuple[str, int], int]:
    """End offset minus committed offset, for each partition ``group_id`` committed an offset for.

    Partitions without a committed offset are left out, as kafka-consumer-groups shows "-" for them.
    """
    with _Cluster(bootstrap_servers) as cluster:
        committed = _committed(cluster, group_id, timeout)
        ends = {topic: _list_offsets(cluster, topic, LATEST, timeout) for topic in {t for t, _ in committed}}
    return {(t, p): ends[t][p] - offset for (t, p), offset in sorted(committed.items())}


def describe_group(bootstrap_servers: str, group_id: str, *, timeout: float = 30.0) -> GroupDescription:
    """The group's state and, for consumer groups, each member's assigned partitions."""
    with _Cluster(bootstrap_servers) as cluster:
        return _describe(cluster, group_id, timeout)


def _describe(cluster: _Cluster, group_id: str, timeout: float) -> GroupDescription:
    def describe() -> GroupDescription:
        body = {"groups": [group_id], "include_authorized_operations": False}
        group = cluster.coordinator(group_id).request(ApiKey.DESCRIBE_GROUPS, DESCRIBE_GROUPS_V, body).groups[0]
        if group.error_code != ErrorCode.NONE:
            raise KafkaError(ErrorCode(group.error_code), f"group {group_id!r}")
        consumer = group.protocol_type == CONSUMER_PROTOCOL
        assignments = {
            m.member_id: sorted(assignment_partitions(bytes(m.member_assignment))) if consumer else []
            for m in group.members
        }
        return GroupDescription(group.group_id, group.group_state, group.protocol_data, assignments)

    return _retrying(timeout, describe)


def wait_for_group(
    bootstrap_servers: str,
    group_id: str,
    *,
    members: int | None = None,
    partitions: int | None = None,
    timeout: float = 30.0,
) -> GroupDescription:
    """Wait until ``group_id`` is Stable, with ``members`` members and ``partitions`` partitions assigned.

    Spring's ContainerTestUtils.waitForAssignment: call it before producing what a freshly
    started consumer (auto.offset.reset=latest) must see.
    """
    seen: list[GroupDescription] = []

    def ready(group: GroupDescription) -> bool:
        return (
            group.state == "Stable"
            and (members is None or len(group.assignments) == members)
            and (partitions is None or len(group.assigned_partitions) == partitions)
        )

    with _Cluster(bootstrap_servers) as cluster:
        for left in _deadline_loop(timeout, lambda: f"group {group_id!r} is {seen[-1] if seen else 'not found'}"):
            seen.append(_describe(cluster, group_id, left))
            if ready(seen[-1]):
                return seen[-1]
    raise AssertionError("unreachable")  # _deadline_loop raises
