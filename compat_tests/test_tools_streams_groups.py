"""Kafka 4.3.1's own tools on kafkapy's streams groups (issue #16).

- kafka-streams-groups (StreamsGroupCommand: ListGroups, StreamsGroupDescribe, OffsetFetch, ListOffsets,
  DeleteGroups) prints the same lines for the same group on kafkapy and on the reference, but for the
  coordinator's address and the order of rows Kafka prints from hash maps.
- kafka-dump-log --offsets-decoder reads the streams group records kafkapy wrote to __consumer_offsets:
  they are in Kafka's layouts.
"""

from __future__ import annotations

import re
from pathlib import Path

from kafka_tools import ToolResult, run_tool
from test_wire_streams_group import HEARTBEAT, join_body, running_group
from wire_diff import WirePair, unique_name

from kafkapy.client.wire import WireClient
from tests.broker_process import BrokerProcess


def streams_groups(wire_pair: WirePair, *args: str) -> dict[str, ToolResult]:
    return wire_pair.on_both(lambda bootstrap: run_tool("kafka-streams-groups", "--bootstrap-server", bootstrap, *args))


def rows(result: ToolResult) -> tuple[int, list[str]]:
    """Exit code and output lines, sorted, with the coordinator's host:port blanked."""
    lines = [re.sub(r"\S+:\d+ \((\d+)\)", r"<coordinator> (\1)", line.rstrip()) for line in result.stdout.splitlines()]
    return result.returncode, sorted(line for line in lines if line)


def assert_same_output(wire_pair: WirePair, *args: str) -> list[str]:
    results = streams_groups(wire_pair, *args)
    ours, theirs = rows(results["kafkapy"]), rows(results["reference"])
    assert ours == theirs, (
        f"kafka-streams-groups {' '.join(args)}:\nkafkapy: {results['kafkapy'].output}\n"
        f"reference: {results['reference'].output}"
    )
    return ours[1]


def test_kafka_streams_groups_describes_as_on_kafka(wire_pair: WirePair) -> None:
    group, _, beat, _ = running_group(wire_pair)
    assert group in assert_same_output(wire_pair, "--list")
    assert_same_output(wire_pair, "--describe", "--group", group)
    assert_same_output(wire_pair, "--describe", "--group", group, "--state", "--verbose")
    described = assert_same_output(wire_pair, "--describe", "--group", group, "--members", "--verbose")
    assert any("member-1" in line and "ACTIVE:" in line for line in described), described
    assert_same_output(wire_pair, "--describe", "--group", group, "--offsets")
    # A group with a member cannot be deleted; once it left, it can.
    assert_same_output(wire_pair, "--delete", "--group", group)
    leave = {**beat, "member_epoch": -1}
    for name, answer in wire_pair.request(HEARTBEAT, 0, leave).items():
        assert answer["error_code"] == 0, (name, answer)
    assert_same_output(wire_pair, "--describe", "--group", group, "--state")
    assert_same_output(wire_pair, "--delete", "--group", group)
    assert group not in assert_same_output(wire_pair, "--list")


def test_kafka_dump_log_decodes_the_streams_group_records(tmp_path: Path) -> None:
    broker = BrokerProcess(
        tmp_path / "data",
        log_path=tmp_path / "broker.log",
        extra_args=("--override", "offsets.topic.num.partitions=1"),
    )
    broker.start()
    try:
        group, source = unique_name("sg"), unique_name("in")
        with WireClient.connect(broker.bootstrap) as client:
            create = {"topics": [{"name": source, "num_partitions": 2, "replication_factor": 1}]}
            assert client.request(19, 7, create).topics[0].error_code == 0
            assert client.request(HEARTBEAT, 0, join_body(group, source)).error_code == 0
    finally:
        broker.close()
    segment = tmp_path / "data" / "__consumer_offsets-0" / "00000000000000000000.log"
    result = run_tool("kafka-dump-log", "--files", str(segment), "--offsets-decoder", "--print-data-log")
    assert result.returncode == 0, result.output
    keys = re.findall(r'key: \{"type":"(\d+)","data":\{"groupId":"([^"]+)"', result.stdout)
    # Member metadata, topology, group metadata, target assignment metadata, current member assignment.
    assert {(int(t), g) for t, g in keys} >= {(19, group), (23, group), (17, group), (20, group), (22, group)}
    assert f'"sourceTopics":["{source}"]' in result.stdout and '"processId":"process-1"' in result.stdout
    assert "error" not in result.stdout.lower() and "exception" not in result.output.lower()
