"""Apache Kafka's own tools on share groups (issue #16): kafka-share-groups against kafkapy and the reference
Kafka 4.3.1 (--list, --describe --state and --describe --members print the same for a share group with two
members, modulo the coordinator's address and the epochs, which differ by timing: see
test_wire_share_group.py), and kafka-dump-log decoding the share group records of a kafkapy data dir."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from kafka_tools import run_tool
from reference_kafka import ReferenceKafkaError
from test_wire_share_group import _heartbeat_body, _join
from wire_diff import WirePair, unique_name

from kafkapy.client.wire import WireClient
from kafkapy.protocol.records import build_batch
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import create_topic_wire, produce_wire
from tests.integration.test_share_fetch import ACCEPT, REJECT, share_fetch


@pytest.fixture(scope="module")
def share_group(wire_pair: WirePair) -> str:
    topic, group = unique_name("tool-queue"), unique_name("tool-share")
    wire_pair.create_topics(topic, partitions=2)
    _join(wire_pair, group, "member-one", topic)
    _join(wire_pair, group, "member-two", topic)
    return group


def _tool(wire_pair: WirePair, *args: str) -> dict[str, str]:
    """The tool's stdout against each broker, the coordinator's address and epochs blanked."""
    outputs = {}
    for broker, bootstrap in wire_pair.bootstraps.items():
        result = run_tool("kafka-share-groups", "--bootstrap-server", bootstrap, *args)
        assert result.returncode == 0, (broker, result.output)
        outputs[broker] = re.sub(r"127\.0\.0\.1:\d+", "<coordinator>", result.stdout)
    return outputs


def _rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.strip()]


def test_list_shows_the_share_group(wire_pair: WirePair, share_group: str) -> None:
    for broker, output in _tool(wire_pair, "--list").items():
        assert share_group in output.split(), (broker, output)


def test_describe_state(wire_pair: WirePair, share_group: str) -> None:
    outputs = {b: _rows(o) for b, o in _tool(wire_pair, "--describe", "--group", share_group, "--state").items()}
    assert outputs["kafkapy"][0] == outputs["reference"][0], "the same columns"
    header = outputs["kafkapy"][0]
    keep = [i for i, name in enumerate(header) if "EPOCH" not in name]
    assert [[row[i] for i in keep if i < len(row)] for row in outputs["kafkapy"]] == [
        [row[i] for i in keep if i < len(row)] for row in outputs["reference"]
    ]


def test_describe_members(wire_pair: WirePair, share_group: str) -> None:
    outputs = {b: _rows(o) for b, o in _tool(wire_pair, "--describe", "--group", share_group, "--members").items()}
    assert outputs["kafkapy"][0] == outputs["reference"][0], "the same columns"
    # Group, member id, host and client id; the partition counts and assignments depend on timing.
    members = {b: sorted(tuple(row[:4]) for row in rows[1:]) for b, rows in outputs.items()}
    assert members["kafkapy"] == members["reference"]
    assert [m[1] for m in members["kafkapy"]] == ["member-one", "member-two"]


def test_leave_empties_the_group(wire_pair: WirePair, share_group: str) -> None:
    for member in ("member-one", "member-two"):
        for bootstrap in wire_pair.bootstraps.values():
            with WireClient.connect(bootstrap) as client:
                assert client.request(76, 1, _heartbeat_body(share_group, member, -1)).error_code == 0
    outputs = _tool(wire_pair, "--describe", "--group", share_group, "--state")
    assert outputs["kafkapy"] == outputs["reference"]


def _dump_log(data_dir: Path, topic: str, decoder: str) -> tuple[Any, list[str]]:
    """kafka-dump-log with ``decoder`` over every segment of ``topic`` in a kafkapy data dir: the result
    and the record types of the keys it decoded (skips the test without Kafka's tools)."""
    files = sorted(str(p) for p in data_dir.glob(f"{topic}-*/*.log"))
    try:
        result = run_tool("kafka-dump-log", decoder, "--files", ",".join(files))
    except ReferenceKafkaError as exc:
        pytest.skip(f"no Kafka tools to run: {exc}")
    assert result.returncode == 0, result.output
    return result, re.findall(r'key: \{"type":"(\d+)"', result.stdout)


def test_kafka_dump_log_decodes_kafkapys_share_group_records(tmp_path: Path) -> None:
    """Kafka's kafka-dump-log --offsets-decoder reads the ShareGroup* records kafkapy writes (a join,
    a second member, a leave), every one of them."""
    broker = BrokerProcess(tmp_path / "data", log_path=tmp_path / "broker.log").start()
    try:
        with WireClient.connect(broker.bootstrap) as client:
            create_topic_wire(client, "dump-queue", 2)
            for member, epoch in (("member-a", 0), ("member-b", 0), ("member-b", -1)):
                topics = ["dump-queue"] if epoch == 0 else None
                answer = client.request(76, 1, _heartbeat_body("dump-group", member, epoch, topics))
                assert answer.error_code == 0, answer
    finally:
        broker.close()
    result, keys = _dump_log(tmp_path / "data", "__consumer_offsets", "--offsets-decoder")
    assert sorted(set(keys)) == ["10", "11", "12", "13", "14", "15"], result.output
    assert "<DELETE>" in result.stdout and "Unknown" not in result.stdout and "error" not in result.stdout.lower()
    assert '"subscribedTopicNames":["dump-queue"]' in result.stdout


def test_kafka_dump_log_decodes_kafkapys_share_group_state(tmp_path: Path) -> None:
    """Kafka's kafka-dump-log --share-group-state-decoder reads the ShareSnapshot records kafkapy writes to
    __share_group_state (initialization, acknowledgements, a deletion's tombstone)."""
    broker = BrokerProcess(tmp_path / "data", log_path=tmp_path / "broker.log").start()
    try:
        with WireClient.connect(broker.bootstrap) as client:
            create_topic_wire(client, "state-queue", 1)
            topic_id = client.request(3, 12, {"topics": [{"name": "state-queue"}]}).topics[0].topic_id
            answer = client.request(76, 1, _heartbeat_body("share-fetch-group", "member-a", 0, ["state-queue"]))
            assert answer.error_code == 0, answer
            produce_wire(client, "state-queue", build_batch([(None, b"v%d" % i, [], 0) for i in range(4)]))
            share_fetch(client, "member-a", 0, topic_id)
            share_fetch(client, "member-a", 1, topic_id, [(0, 1, ACCEPT), (2, 2, REJECT)])
    finally:
        broker.close()
    result, keys = _dump_log(tmp_path / "data", "__share_group_state", "--share-group-state-decoder")
    assert "Unknown" not in result.stdout and "error" not in result.stdout.lower(), result.output
    assert keys == ["0", "0"], result.output
    # Initialized at the log end (0) before the records came; then 0-1 accepted and 2 rejected, 3 in flight.
    assert '"startOffset":0' in result.stdout and '"startOffset":3' in result.stdout, result.output
