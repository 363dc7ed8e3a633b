"""Partitions against the fd limit, partition caps, all-or-nothing topic creation, stray dirs, a full disk.

Issue #13, parts 2 and 8. Every broker here is a real subprocess; limits are set on it with
prlimit (RLIMIT_NOFILE, RLIMIT_FSIZE). On 564df81 each partition held three fds for good, a
creation failing halfway left its partitions behind and dropped the connection, an empty stray
``x-7000`` directory became 7,000 partitions at start-up, and a failed append logged nothing.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch, decode_records
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess

pytestmark = pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")

CREATE_TOPICS, CREATE_PARTITIONS, METADATA, PRODUCE, FETCH = 19, 37, 3, 0, 1
MANY_PARTITIONS = 3000
LOW_FD_LIMIT = 512
# Starting and stopping cleanly go through every partition (recovery, flush): generous on a busy machine.
SLOW_START_STOP_S = 180.0


class LimitedBroker(BrokerProcess):
    """A broker started under ``prlimit`` resource limits (e.g. ``--nofile=512:512``)."""

    def __init__(self, data_dir: Path, limits: tuple[str, ...], **kwargs: object) -> None:
        super().__init__(data_dir, **kwargs)  # type: ignore[arg-type]
        self.limits = limits

    def command(self, port: int) -> list[str]:
        return ["prlimit", *self.limits, "--", *super().command(port)]


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[list[BrokerProcess]]:
    started: list[BrokerProcess] = []
    yield started
    for broker in started:
        broker.close()


def start(started: list[BrokerProcess], data_dir: Path, *limits: str, **kwargs: object) -> BrokerProcess:
    broker = LimitedBroker(data_dir, limits, log_path=data_dir.parent / f"{data_dir.name}.stderr.log", **kwargs)
    started.append(broker)
    return broker.start()


def create_topics(client: WireClient, *topics: tuple[str, int], validate_only: bool = False) -> list:
    body = {
        "topics": [{"name": name, "num_partitions": n, "replication_factor": 1} for name, n in topics],
        "timeout_ms": 30000,
        "validate_only": validate_only,
    }
    return list(client.request(CREATE_TOPICS, 7, body).topics)


def create_partitions(client: WireClient, name: str, count: int, validate_only: bool = False):
    body = {"topics": [{"name": name, "count": count}], "timeout_ms": 30000, "validate_only": validate_only}
    return client.request(CREATE_PARTITIONS, 3, body).results[0]


def metadata(client: WireClient, name: str, auto_create: bool = False):
    body = {"topics": [{"name": name}], "allow_auto_topic_creation": auto_create}
    return client.request(METADATA, 12, body).topics[0]


def produce(client: WireClient, name: str, partitions: range, value: bytes = b"v") -> list[int]:
    data = [{"index": p, "records": build_batch([(None, value + b"%d" % p, [], None)])} for p in partitions]
    body = {"acks": -1, "timeout_ms": 30000, "topic_data": [{"name": name, "partition_data": data}]}
    responses = client.request(PRODUCE, 9, body).responses[0].partition_responses
    return [r.error_code for r in responses]


def fetch_values(client: WireClient, name: str, partitions: range) -> dict[int, list[bytes | None]]:
    wanted = [{"partition": p, "fetch_offset": 0, "partition_max_bytes": 1 << 16} for p in partitions]
    body = {"max_wait_ms": 0, "min_bytes": 0, "max_bytes": 64 << 20, "topics": [{"topic": name, "partitions": wanted}]}
    found = {}
    for part in client.request(FETCH, 12, body).responses[0].partitions:
        assert part.error_code == 0
        found[part.partition_index] = [r.value for _, rs in decode_records(part.records or b"") for r in rs]
    return found


def partition_dirs(data_dir: Path, topic: str) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.name.rsplit("-", 1)[0] == topic)


def test_many_partitions_under_a_low_fd_limit(tmp_path: Path, brokers: list[BrokerProcess]) -> None:
    """3,000 partitions under a 512-fd limit: create, produce to all, fetch all, restart and crash, fetch again."""
    data_dir = tmp_path / "data"
    broker = start(brokers, data_dir, f"--nofile={LOW_FD_LIMIT}:{LOW_FD_LIMIT}", ready_timeout=SLOW_START_STOP_S)
    everything = range(MANY_PARTITIONS)
    with WireClient.connect(broker.bootstrap, timeout=120.0) as client:
        assert [t.error_code for t in create_topics(client, ("many", MANY_PARTITIONS))] == [0]
        assert produce(client, "many", everything) == [0] * MANY_PARTITIONS
        assert fetch_values(client, "many", everything) == {p: [b"v%d" % p] for p in everything}
        # Single-partition topics use the same mechanism: a few hundred more on top.
        singles = [(f"single-{n}", 1) for n in range(300)]
        assert {t.error_code for t in create_topics(client, *singles)} == {0}
    assert broker.terminate(timeout=SLOW_START_STOP_S) == 0
    broker.start()
    with WireClient.connect(broker.bootstrap, timeout=120.0) as client:
        assert len(metadata(client, "many").partitions) == MANY_PARTITIONS
        assert fetch_values(client, "many", everything) == {p: [b"v%d" % p] for p in everything}
        assert produce(client, "many", range(0, MANY_PARTITIONS, 7), b"w") == [0] * len(range(0, MANY_PARTITIONS, 7))
        assert fetch_values(client, "many", range(7, 8)) == {7: [b"v7", b"w7"]}
    # After a crash every partition's active segment is recovered: the same fd bound holds.
    broker.restart(crash=True)
    with WireClient.connect(broker.bootstrap, timeout=120.0) as client:
        assert fetch_values(client, "many", range(0, MANY_PARTITIONS, 7)) == {
            p: [b"v%d" % p, b"w%d" % p] for p in range(0, MANY_PARTITIONS, 7)
        }
    assert broker.terminate(timeout=SLOW_START_STOP_S) == 0


def test_a_topic_is_created_whole_or_not_at_all(tmp_path: Path, brokers: list[BrokerProcess]) -> None:
    """A file where a partition directory goes fails the creation cleanly: error code, nothing left, connection open."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for blocker in ("blocked-5", "grow-4", "auto-0"):
        (data_dir / blocker).write_bytes(b"in the way")
    broker = start(brokers, data_dir, "--nofile=1024:1024")
    with WireClient.connect(broker.bootstrap) as client:
        (topic,) = create_topics(client, ("blocked", 10))
        assert topic.error_code == ErrorCode.KAFKA_STORAGE_ERROR and "partition 5" in topic.error_message
        assert partition_dirs(data_dir, "blocked") == ["blocked-5"]
        assert metadata(client, "blocked").error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION

        assert [t.error_code for t in create_topics(client, ("grow", 2))] == [0]
        assert create_partitions(client, "grow", 6).error_code == ErrorCode.KAFKA_STORAGE_ERROR
        assert partition_dirs(data_dir, "grow") == ["grow-0", "grow-1", "grow-4"]
        assert len(metadata(client, "grow").partitions) == 2
        assert produce(client, "grow", range(2)) == [0, 0]

        assert metadata(client, "auto", auto_create=True).error_code == ErrorCode.KAFKA_STORAGE_ERROR
        assert produce(client, "auto", range(1)) == [ErrorCode.KAFKA_STORAGE_ERROR]
        (data_dir / "blocked-5").unlink()
        assert [t.error_code for t in create_topics(client, ("blocked", 10))] == [0]
    broker.restart()
    with WireClient.connect(broker.bootstrap) as client:
        assert len(metadata(client, "blocked").partitions) == 10
        assert len(metadata(client, "grow").partitions) == 2
        assert metadata(client, "auto").error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def _kill_while_creating(broker: BrokerProcess, data_dir: Path, request: Callable[[WireClient], object]) -> int:
    """Send ``request`` (which makes MANY_PARTITIONS directories) and SIGKILL the broker halfway.

    Returns how many of the topic's directories existed at the kill: between none and all.
    """

    def send() -> None:
        with WireClient.connect(broker.bootstrap, timeout=SLOW_START_STOP_S) as client, contextlib.suppress(
            ConnectionError
        ):
            request(client)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    deadline = time.monotonic() + SLOW_START_STOP_S
    while len(partition_dirs(data_dir, "cut")) < 100:
        assert time.monotonic() < deadline, "the broker made no partition directories"
        time.sleep(0.005)
    broker.kill9()
    sender.join(30)
    return len(partition_dirs(data_dir, "cut"))


@pytest.mark.parametrize("grow", [False, True], ids=["create-topics", "create-partitions"])
def test_a_crash_while_creating_partitions_leaves_the_topic_as_before(
    tmp_path: Path, brokers: list[BrokerProcess], grow: bool
) -> None:
    """kill -9 during CreateTopics (CreatePartitions) of 3,000 partitions under a 1,024-fd limit, then restart.

    On 8b9c4e3 the restarted broker served the directories made so far: a topic of a few hundred
    partitions, which a client retrying its CreateTopics got TOPIC_ALREADY_EXISTS for.
    """
    data_dir = tmp_path / "data"
    broker = start(brokers, data_dir, "--nofile=1024:1024", ready_timeout=SLOW_START_STOP_S)
    before = 1 if grow else 0
    if grow:
        with WireClient.connect(broker.bootstrap) as client:
            (topic,) = create_topics(client, ("cut", 1))
            assert topic.error_code == 0 and produce(client, "cut", range(1)) == [0]

    def request(client: WireClient) -> object:
        if grow:
            return create_partitions(client, "cut", MANY_PARTITIONS)
        return create_topics(client, ("cut", MANY_PARTITIONS))

    made = _kill_while_creating(broker, data_dir, request)
    assert 100 <= made < MANY_PARTITIONS
    broker.start()
    with WireClient.connect(broker.bootstrap, timeout=SLOW_START_STOP_S) as client:
        if grow:
            assert len(metadata(client, "cut").partitions) == 1
            assert fetch_values(client, "cut", range(1)) == {0: [b"v0"]}
            assert create_partitions(client, "cut", MANY_PARTITIONS).error_code == 0
        else:
            assert metadata(client, "cut").error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            assert [t.error_code for t in create_topics(client, ("cut", MANY_PARTITIONS))] == [0]
        assert produce(client, "cut", range(MANY_PARTITIONS - 1, MANY_PARTITIONS)) == [0]
    assert len(partition_dirs(data_dir, "cut")) == MANY_PARTITIONS
    interrupted = [line for line in broker.stderr_text().splitlines() if "creating partitions was interrupted" in line]
    assert len(interrupted) == 1 and "topic=cut" in interrupted[0] and f"first_partition={before}" in interrupted[0]
    assert not (data_dir / "pending-partitions.json").exists()


def test_partition_caps(tmp_path: Path, brokers: list[BrokerProcess]) -> None:
    """Kafka's 10,000 partitions per CreateTopics request, and kafkapy.max.broker.partitions."""
    data_dir = tmp_path / "data"
    overrides = ("--override", "kafkapy.max.broker.partitions=20", "--num-partitions", "8")
    broker = start(brokers, data_dir, "--nofile=1024:1024", extra_args=overrides)
    with WireClient.connect(broker.bootstrap) as client:
        excessive = create_topics(client, ("huge-a", 10_000), ("huge-b", 1))
        assert [(t.error_code, t.error_message) for t in excessive] == [
            (ErrorCode.POLICY_VIOLATION, "Excessively large number of partitions per request.")
        ] * 2
        assert partition_dirs(data_dir, "huge-a") == [] and partition_dirs(data_dir, "huge-b") == []

        assert [t.error_code for t in create_topics(client, ("first", 15))] == [0]
        (validated,) = create_topics(client, ("second", 6), validate_only=True)
        assert validated.error_code == ErrorCode.POLICY_VIOLATION
        assert "kafkapy.max.broker.partitions=20" in validated.error_message
        assert [t.error_code for t in create_topics(client, ("second", 6))] == [ErrorCode.POLICY_VIOLATION]
        assert create_partitions(client, "first", 21).error_code == ErrorCode.POLICY_VIOLATION
        assert metadata(client, "auto", auto_create=True).error_code == ErrorCode.POLICY_VIOLATION
        assert partition_dirs(data_dir, "second") == [] and partition_dirs(data_dir, "auto") == []
        assert create_partitions(client, "first", 20).error_code == 0
        assert [t.error_code for t in create_topics(client, ("third", 1))] == [ErrorCode.POLICY_VIOLATION]
        assert (
            client.request(ApiKey.DELETE_TOPICS, 6, {"topics": [{"name": "first"}], "timeout_ms": 5000})
            .responses[0]
            .error_code
            == 0
        )
        assert [t.error_code for t in create_topics(client, ("third", 20))] == [0]


def test_stray_directories_are_logged_and_ignored(tmp_path: Path, brokers: list[BrokerProcess]) -> None:
    data_dir = tmp_path / "data"
    broker = start(brokers, data_dir, "--nofile=1024:1024")
    with WireClient.connect(broker.bootstrap) as client:
        assert [t.error_code for t in create_topics(client, ("keep", 2))] == [0]
    broker.terminate()
    strays = ["x-7000", "keep-9", "lost+found", "not a partition-0"]
    for name in strays:
        (data_dir / name).mkdir()
    broker.start()
    with WireClient.connect(broker.bootstrap) as client:
        assert metadata(client, "x").error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert len(metadata(client, "keep").partitions) == 2
    assert not (data_dir / "x-0").exists() and not (data_dir / "keep-2").exists()
    log = broker.stderr_text()
    for name in strays:
        assert sum("stray directory" in line and str(data_dir / name) in line for line in log.splitlines()) == 1, name


def test_a_full_disk_is_logged_once_per_partition(tmp_path: Path, brokers: list[BrokerProcess]) -> None:
    """Appends past RLIMIT_FSIZE fail like a full disk: KAFKA_STORAGE_ERROR, one log line, the rest rate-limited."""
    data_dir = tmp_path / "data"
    broker = start(brokers, data_dir, "--nofile=1024:1024", f"--fsize={64 << 10}")
    value = b"x" * 4096
    with WireClient.connect(broker.bootstrap) as client:
        assert [t.error_code for t in create_topics(client, ("full", 2))] == [0]
        codes = [produce(client, "full", range(2), value)[0] for _ in range(40)]
        assert codes[0] == 0 and codes[-5:] == [ErrorCode.KAFKA_STORAGE_ERROR] * 5
        assert set(codes) == {0, ErrorCode.KAFKA_STORAGE_ERROR}
        # What was acknowledged stays readable.
        acknowledged = codes.count(0)
        assert len(fetch_values(client, "full", range(1))[0]) >= 1
    log = broker.stderr_text()
    failures = [line for line in log.splitlines() if "answered KAFKA_STORAGE_ERROR" in line]
    assert sorted(line.split(" partition=")[1].split()[0] for line in failures) == ["full-0", "full-1"]
    assert acknowledged < 40
