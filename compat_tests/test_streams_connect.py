"""Kafka Streams and Kafka Connect against the broker under test (issue #7, scenarios 10 and 11).

- streams: a Kafka Streams 4.3.1 word count (`streams/`, exactly_once_v2, a repartition topic, a state
  store with its compacted changelog; Streams creates both topics itself through the Admin API) counts
  a first batch, is stopped, restarted with an empty state dir (so the store is restored from the
  changelog), counts a second batch; the output read with read_committed holds exactly the expected counts.
- connect: a Kafka Connect 4.3.1 standalone worker (`connect/`) runs FileStreamSource and FileStreamSink:
  a file goes through a topic and back; after a restart (source offsets from the offsets file, sink
  offsets from its consumer group) appended lines arrive too, and every line is in the sink file exactly
  once, in order.

Both Maven projects are built on first use (and again only when their pom or sources change), with a
bounded timeout; the tests are skipped when java or mvn is missing. The JVMs run on loopback, are
stopped gracefully at the end of each test and killed (by pid) if they do not stop in time.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from reference_kafka import free_port
from scenarios import Target

HERE = Path(__file__).resolve().parent
STREAMS_DIR = HERE / "streams"
CONNECT_DIR = HERE / "connect"
BUILD_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 45.0
PROGRESS_TIMEOUT_S = 60.0
MVN_PACKAGE = ["mvn", "-B", "--no-transfer-progress", "-Dstyle.color=never", "package"]
JAVA_OPTS = ["-Xmx384m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 300)


# --- building and running the JVM apps ------------------------------------------------------------


def build(folder: Path, built: Path, log_dir: Path) -> None:
    """`mvn package` in folder unless `built` is newer than the pom and every source file; skip without java/mvn."""
    if shutil.which("java") is None:
        pytest.skip(f"java not on PATH: Java 17 is needed to run {folder.name}")
    inputs = [folder / "pom.xml", *(p for p in (folder / "src").rglob("*") if p.is_file())]
    if built.exists() and built.stat().st_mtime >= max(p.stat().st_mtime for p in inputs):
        return
    if shutil.which("mvn") is None:
        pytest.skip(f"mvn not on PATH: Maven is needed to build {folder.name} (pinned jars from Maven Central)")
    log = log_dir / f"build-{folder.name}.log"
    with log.open("ab") as out:
        try:
            subprocess.run(
                MVN_PACKAGE, cwd=folder, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                timeout=BUILD_TIMEOUT_S, check=True,
            )  # fmt: skip
        except (subprocess.SubprocessError, OSError) as exc:
            tail = "\n".join(log.read_text("utf-8", "replace").splitlines()[-40:])
            raise AssertionError(f"{folder.name}: {' '.join(MVN_PACKAGE)} failed ({exc}):\n{tail}") from exc
    built.touch()


class JavaApp:
    """One JVM: stdout and stderr to a log file, its own process group; `stop()` is graceful, then kills by pid."""

    def __init__(self, name: str, command: list[str], log_path: Path, cwd: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            log.write(f"\n===== {' '.join(command)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                command, cwd=cwd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def stop(self, graceful: str = "stdin") -> int:
        """Ask the app to stop (close its stdin, or SIGTERM), wait; SIGKILL its process group after the timeout."""
        if self.proc.poll() is None:
            if graceful == "stdin":
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            else:
                self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
                raise AssertionError(
                    f"{self.name} did not stop within {STOP_TIMEOUT_S:.0f}s:\n{self.log_tail()}"
                ) from None
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture
def apps() -> Iterator[list[JavaApp]]:
    """JVMs started by a test; any still running at the end is killed (by its process group id)."""
    started: list[JavaApp] = []
    yield started
    for app in started:
        app.kill()


# --- Kafka helpers (confluent-kafka, as the rest of the suite's setup) ----------------------------


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    a = admin(bootstrap)
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(timeout=20)
    deadline = time.monotonic() + 15
    while len(a.list_topics(name, timeout=10).topics[name].partitions) < partitions:
        assert time.monotonic() < deadline, f"{name}: not in metadata with {partitions} partitions"
        time.sleep(0.1)


def produce_lines(bootstrap: str, topic: str, lines: list[str], pause_s: float = 0.0) -> None:
    """Keyed lines (so both partitions get some), idempotent; `pause_s` between lines makes a slow trickle."""
    p = Producer({"bootstrap.servers": bootstrap, "broker.address.family": "v4", "enable.idempotence": True,
                  "linger.ms": 0})  # fmt: skip
    for i, line in enumerate(lines):
        p.produce(topic, key=f"line-{i}".encode(), value=line.encode())
        if pause_s:
            p.poll(0)
            time.sleep(pause_s)
    assert p.flush(30) == 0, "input not delivered within 30 s"


def read_committed(
    bootstrap: str, topic: str, partitions: int, timeout_s: float = 20.0, isolation: str = "read_committed"
) -> list[tuple[str, int]]:
    """Every committed record of the output topic, in offset order per partition: (word, count)."""
    c = Consumer({
        "bootstrap.servers": bootstrap, "broker.address.family": "v4", "group.id": f"check-{uuid.uuid4().hex[:8]}",
        "isolation.level": isolation, "enable.auto.commit": False, "enable.partition.eof": True,
    })  # fmt: skip
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out: list[tuple[str, int]] = []
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(at_end) < partitions:
            assert time.monotonic() < deadline, f"{topic}: not at the end of every partition within {timeout_s}s"
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                    continue
                raise AssertionError(f"{topic}: consume error {m.error()}")
            at_end.discard(m.partition())
            value = m.value()
            assert value is not None and len(value) == 8, f"count for {m.key()!r} is not an 8-byte long: {value!r}"
            out.append((m.key().decode(), struct.unpack(">q", value)[0]))
        return out
    finally:
        c.close()


def wait_for(what: str, check: object, app: JavaApp, timeout_s: float = PROGRESS_TIMEOUT_S) -> None:
    """Poll `check()` (truthy = done) while the app is alive; fail with the last value seen and the app's log."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        app.check_alive()
        last = check()  # type: ignore[operator]
        if last is True:
            return
        time.sleep(0.5)
    raise AssertionError(
        f"{what}: not reached within {timeout_s:.0f}s (last: {last})\n{app.name} log:\n{app.log_tail()}"
    )


# --- scenario 10: Kafka Streams word count, exactly_once_v2, restart ------------------------------

WORDS = ["kafka", "streams", "exactly", "once", "broker", "python", "compat", "count"]


def text_lines(batch: int, count: int) -> list[str]:
    """Deterministic lines with repeated words, mixed case and punctuation (split on non-word characters)."""
    lines = []
    for i in range(count):
        words = [WORDS[(i * 3 + j * (batch + 1)) % len(WORDS)] for j in range(1 + (i + batch) % 5)]
        lines.append(f"{words[0].upper()}, " + " ".join(words[1:]) + f" batch{batch}!")
    return lines


def word_counts(lines: list[str]) -> Counter[str]:
    return Counter(w for line in lines for w in re.split(r"\W+", line.lower()) if w)


def test_streams_wordcount_exactly_once(target: Target, apps: list[JavaApp], tmp_path: Path) -> None:
    run_wordcount(target, apps, tmp_path, [])


def test_streams_protocol(target: Target, apps: list[JavaApp], tmp_path: Path) -> None:
    """The same word count with ``group.protocol=streams``: a KIP-1071 streams group, whose internal topics
    the broker creates and whose tasks the broker assigns (issue #16)."""
    run_wordcount(target, apps, tmp_path, ["streams"])


def run_wordcount(target: Target, apps: list[JavaApp], tmp_path: Path, protocol: list[str]) -> None:
    """The word count scenario; ``protocol`` is [] (Streams' default, classic) or [group.protocol]."""
    started = time.monotonic()
    build(STREAMS_DIR, STREAMS_DIR / "target" / "wordcount.jar", tmp_path)
    bootstrap = target.bootstrap
    tag = uuid.uuid4().hex[:8]
    app_id, input_topic, output_topic = f"wordcount-{tag}", f"wc-input-{tag}", f"wc-output-{tag}"
    create_topic(bootstrap, input_topic, 2)
    create_topic(bootstrap, output_topic, 1)
    classpath = f"{STREAMS_DIR / 'target' / 'wordcount.jar'}:{STREAMS_DIR / 'target' / 'lib'}/*"

    def start(state_dir: str) -> JavaApp:
        command = ["java", *JAVA_OPTS, "-cp", classpath, "kafkapy.compat.WordCount",
                   bootstrap, app_id, input_topic, output_topic, str(tmp_path / state_dir), *protocol]  # fmt: skip
        app = JavaApp("wordcount", command, tmp_path / "wordcount.log", tmp_path)
        apps.append(app)
        return app

    def latest_counts() -> dict[str, int]:
        return dict(read_committed(bootstrap, output_topic, 1))

    def reached(expected: Counter[str]) -> object:
        got = latest_counts()
        return True if got == dict(expected) else got

    first, second = text_lines(1, 40), text_lines(2, 30)
    produce_lines(bootstrap, input_topic, first)
    app = start("state-1")
    wait_for("counts of the first batch", lambda: reached(word_counts(first)), app)
    assert app.stop() == 0, f"wordcount did not exit cleanly:\n{app.log_tail()}"

    # Streams made its internal topics itself: the repartition topic of groupBy and the store's changelog.
    repartition, changelog = f"{app_id}-words-repartition", f"{app_id}-counts-changelog"
    setup = admin(bootstrap)  # (kept referenced: a destroyed AdminClient fails its pending futures)
    topics = setup.list_topics(timeout=10).topics
    assert repartition in topics and changelog in topics, sorted(t for t in topics if t.startswith(app_id))
    assert len(topics[repartition].partitions) == 2 and len(topics[changelog].partitions) == 2
    resource = ConfigResource(ConfigResource.Type.TOPIC, changelog)
    configs = setup.describe_configs([resource])[resource].result(timeout=20)
    assert configs["cleanup.policy"].value == "compact", configs["cleanup.policy"]

    # Restart with an empty state dir: the store is restored from its changelog, then counts the second batch.
    produce_lines(bootstrap, input_topic, second)
    app = start("state-2")
    wait_for("counts of both batches", lambda: reached(word_counts(first + second)), app)

    # Kill -9 mid-stream, while a third batch trickles in (so a transaction is most likely open), restart on the
    # same state dir (same process id, so the same transactional id: the new producer fences the old one and
    # the broker aborts its transaction) and let the rest of the input arrive.
    third = text_lines(3, 240)
    feed_errors: list[BaseException] = []

    def feed() -> None:
        try:
            produce_lines(bootstrap, input_topic, third, pause_s=0.005)
        except BaseException as exc:  # reported by the test thread below
            feed_errors.append(exc)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    time.sleep(0.6)
    app.kill()
    feeder.join(timeout=60)
    assert not feeder.is_alive() and not feed_errors, f"third batch not produced within 60 s: {feed_errors}"
    app = start("state-2")
    everything = word_counts(first + second + third)
    wait_for("counts of all three batches", lambda: reached(everything), app)
    time.sleep(1.0)  # anything counted twice would show up as counts above the expected ones
    assert app.stop() == 0, f"wordcount did not exit cleanly:\n{app.log_tail()}"

    records = read_committed(bootstrap, output_topic, 1)
    assert dict(records) == dict(everything)
    for word in {w for w, _ in records}:
        counts = [n for w, n in records if w == word]
        assert counts == sorted(set(counts)), f"{word}: counts not strictly increasing (reprocessed?): {counts}"
    uncommitted = len(read_committed(bootstrap, output_topic, 1, isolation="read_uncommitted"))
    print(
        f"streams: {len(records)} committed count updates ({uncommitted - len(records)} more read_uncommitted), "
        f"{time.monotonic() - started:.1f}s"
    )


# --- scenario 11: Kafka Connect standalone, FileStreamSource -> topic -> FileStreamSink ------------


def connect_worker(bootstrap: str, work: Path, topic: str, log_dir: Path) -> JavaApp:
    source, sink, offsets = work / "source.txt", work / "sink.txt", work / "connect.offsets"
    settings = {
        "worker.properties": {
            "bootstrap.servers": bootstrap,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "offset.storage.file.filename": str(offsets),
            "offset.flush.interval.ms": "500",
            "listeners": f"http://127.0.0.1:{free_port()}",
            "consumer.session.timeout.ms": "10000",
            "consumer.heartbeat.interval.ms": "1000",
        },
        "source.properties": {
            "name": "file-source",
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "tasks.max": "1",
            "file": str(source),
            "topic": topic,
        },
        "sink.properties": {
            "name": "file-sink",
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max": "1",
            "file": str(sink),
            "topics": topic,
        },
    }
    for name, props in settings.items():
        (work / name).write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    command = [
        "java", *JAVA_OPTS,
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-cp", f"{CONNECT_DIR / 'target' / 'lib'}/*", "org.apache.kafka.connect.cli.ConnectStandalone",
        *(str(work / name) for name in settings),
    ]  # fmt: skip
    return JavaApp("connect-standalone", command, log_dir / "connect.log", work)


def test_connect_file_source_to_sink(target: Target, apps: list[JavaApp], tmp_path: Path) -> None:
    started = time.monotonic()
    build(CONNECT_DIR, CONNECT_DIR / "target" / "lib" / "connect-file-4.3.1.jar", tmp_path)
    bootstrap = target.bootstrap
    topic = f"connect-lines-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, 1)
    work = tmp_path / "work"
    work.mkdir()
    source, sink = work / "source.txt", work / "sink.txt"
    # ASCII only: FileStreamSourceTask counts its offset in characters but skips bytes when it resumes.
    first = [f"line {i:03d} before the restart: hello, world" for i in range(50)]
    second = [f"line {i:03d} after the restart" for i in range(50, 80)]
    source.write_text("".join(f"{line}\n" for line in first), "utf-8")

    def sink_lines() -> list[str]:
        return sink.read_text("utf-8").splitlines() if sink.exists() else []

    def sink_has(expected: list[str]) -> object:
        got = sink_lines()
        return True if len(got) >= len(expected) else f"{len(got)} of {len(expected)} lines"

    worker = connect_worker(bootstrap, work, topic, tmp_path)
    apps.append(worker)
    wait_for("the first lines in the sink file", lambda: sink_has(first), worker)
    time.sleep(1.5)  # past offset.flush.interval.ms, so a duplicate would have time to show
    worker.stop(graceful="sigterm")
    assert sink_lines() == first

    with source.open("a", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in second))
    worker = connect_worker(bootstrap, work, topic, tmp_path)
    apps.append(worker)
    wait_for("the appended lines in the sink file", lambda: sink_has(first + second), worker)
    time.sleep(2.0)  # a source or sink replaying from the start would add lines now
    worker.stop(graceful="sigterm")
    assert sink_lines() == first + second, "sink file is not every source line exactly once, in order"

    # The topic holds each line once too: the source resumed from its offsets file instead of re-reading.
    c = Consumer({"bootstrap.servers": bootstrap, "broker.address.family": "v4", "group.id": f"check-{topic}",
                  "enable.partition.eof": True})  # fmt: skip
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        values: list[str] = []
        deadline = time.monotonic() + 20
        while True:
            assert time.monotonic() < deadline, f"{topic}: end not reached within 20 s ({len(values)} read)"
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                break
            values.append(m.value().decode("utf-8"))
    finally:
        c.close()
    assert values == first + second
    print(f"connect: {len(values)} lines through {topic}, {time.monotonic() - started:.1f}s")
