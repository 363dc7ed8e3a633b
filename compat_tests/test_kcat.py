"""kcat (librdkafka's command-line client) against the broker: metadata, keyed produce, consume.

kcat is what people reach for first to poke at a broker, so `-L`, `-P -K:` and `-C -e` must work
unchanged. Its consumer mode (-C without -G) assigns partitions directly, which is all kafkapy
needs without a group coordinator.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections import Counter, defaultdict

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat not installed (apt-get install -y kcat)")

PARTITIONS = 3
COUNT = 500
TIMEOUT_S = 30


def kcat(bootstrap: str, *args: str, stdin: str | None = None) -> str:
    """Run kcat with a timeout; fail the test with its stderr if it exits non-zero."""
    assert KCAT is not None
    proc = subprocess.run(
        [KCAT, "-b", bootstrap, "-X", "broker.address.family=v4", *args],
        input=stdin.encode() if stdin is not None else None,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, (
        f"kcat {' '.join(args)} exited {proc.returncode}\nstderr:\n{err}\nstdout:\n{out[-2000:]}"
    )
    return out


def new_topic(bootstrap: str, partitions: int = PARTITIONS) -> str:
    """Create a uniquely named topic with the stock AdminClient (works on kafkapy and real Kafka)."""
    name = f"kcat-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)], operation_timeout=15)
    fs[name].result(timeout=20)
    return name


def consume_json(bootstrap: str, topic: str) -> list[dict]:
    """Everything in the topic, via `kcat -C -e -J` (exits at the end of every partition)."""
    out = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_kcat_metadata_lists_topic(bootstrap: str) -> None:
    topic = new_topic(bootstrap)
    md = json.loads(kcat(bootstrap, "-L", "-J", "-t", topic))
    assert len(md["brokers"]) >= 1
    broker_ids = {b["id"] for b in md["brokers"]}
    [t] = [t for t in md["topics"] if t["topic"] == topic]
    assert "error" not in t, t
    assert sorted(p["partition"] for p in t["partitions"]) == list(range(PARTITIONS))
    for p in t["partitions"]:
        assert p["leader"] in broker_ids, p
        assert "error" not in p, p


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kcat_keyed_produce_then_consume(bootstrap: str, codec: str) -> None:
    topic = new_topic(bootstrap)
    sent = [(f"key-{i % 17}", f"value-{i}") for i in range(COUNT)]
    lines = "".join(f"{k}:{v}\n" for k, v in sent)
    # Idempotent: Kafka keeps a partition's produce order across retries only then (a plain producer
    # retrying a failed batch behind later ones reorders them, on Apache Kafka too).
    kcat(
        bootstrap,
        "-P",
        "-t",
        topic,
        "-K:",
        "-z",
        codec,
        "-H",
        "origin=kcat",
        "-X",
        "enable.idempotence=true",
        stdin=lines,
    )

    records = consume_json(bootstrap, topic)
    assert Counter((r["key"], r["payload"]) for r in records) == Counter(sent)

    by_partition: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        by_partition[r["partition"]].append(r)
    key_partition: dict[str, int] = {}
    for partition, recs in by_partition.items():
        recs.sort(key=lambda r: r["offset"])
        assert [r["offset"] for r in recs] == list(range(len(recs))), f"p{partition}: offsets"
        order = [int(r["payload"].split("-")[1]) for r in recs]
        assert order == sorted(order), f"p{partition}: not in produce order"
        for r in recs:
            assert key_partition.setdefault(r["key"], partition) == partition, f"key {r['key']} split"
            assert r.get("headers") == ["origin", "kcat"], r
            assert r["tstype"] == "create", r


def test_kcat_query_offset_by_timestamp(bootstrap: str) -> None:
    topic = new_topic(bootstrap, partitions=1)
    for batch in range(3):
        kcat(bootstrap, "-P", "-t", topic, "-p", "0", stdin="".join(f"b{batch}-{i}\n" for i in range(20)))
    records = sorted(consume_json(bootstrap, topic), key=lambda r: r["offset"])
    assert len(records) == 60
    for probe in (0, 25, 59):
        ts = records[probe]["ts"]
        want = min(r["offset"] for r in records if r["ts"] >= ts)
        out = kcat(bootstrap, "-Q", "-t", f"{topic}:0:{ts}")
        found = re.search(r"offset\s+(-?\d+)", out)
        assert found is not None and int(found.group(1)) == want, f"-Q {ts}: {out!r} (expected offset {want})"
