"""Kafka 4.3.1's own tools for the admin APIs of issue #15, run against kafkapy and the reference side by
side: kafka-reassign-partitions (--generate, --execute with and without log dirs, --verify, --list,
--cancel), kafka-log-dirs --describe and kafka-metadata-quorum describe --status / --replication.

Each command must exit with the reference's code and print the same, modulo what is each broker's own:
its log dir path, cluster id, and the metadata log offsets, directory id, timestamps and endpoint
kafkapy has no metadata log or controller listener for (test_wire_admin.py says why).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka_tools import ToolResult, run_tool
from test_wire_admin import log_dir_of
from wire_diff import WirePair, unique_name

from kafkapy.client.wire import WireClient


def _log_dirs(wire_pair: WirePair) -> dict[str, str]:
    def find(bootstrap: str) -> str:
        with WireClient.connect(bootstrap, timeout=30.0) as client:
            return log_dir_of(client)

    return wire_pair.on_both(find)


def _on_both(
    wire_pair: WirePair, tool: str, *args: str | Callable[[str, str], str], work_dir: Path | None = None
) -> dict[str, ToolResult]:
    """``tool --bootstrap-server B *args`` against each broker; an argument may be a function of
    (broker name, log dir) for what differs per broker (a plan file naming its log dir)."""
    dirs = _log_dirs(wire_pair)
    results = {}
    for name, bootstrap in wire_pair.bootstraps.items():
        argv = [a(name, dirs[name]) if callable(a) else a for a in args]
        result = run_tool(tool, "--bootstrap-server", bootstrap, *argv, work_dir=work_dir)
        # Stack traces' frames and each broker's log dir are not what is compared.
        stdout = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("\tat "))
        results[name] = ToolResult(result.returncode, stdout.replace(dirs[name], "<log-dir>"), result.stderr)
    return results


def _assert_same(results: dict[str, ToolResult]) -> ToolResult:
    ours, theirs = results["kafkapy"], results["reference"]
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), (
        f"kafkapy:\n{ours.output}\nreference:\n{theirs.output}"
    )
    return ours


@pytest.fixture
def topic(wire_pair: WirePair) -> str:
    name = unique_name("reassign")
    wire_pair.create_topics(name, partitions=2)
    return name


def _reassign(wire_pair: WirePair, *args: str | Callable[[str, str], str]) -> ToolResult:
    """kafka-reassign-partitions with ``args`` on both; the same exit code and output, kafkapy's returned."""
    return _assert_same(_on_both(wire_pair, "kafka-reassign-partitions", *args))


def _plan(tmp_path: Path, name: str, partitions: list[dict]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"version": 1, "partitions": partitions}))
    return str(path)


def test_reassign_partitions_generate_execute_verify_list_cancel(
    wire_pair: WirePair, topic: str, tmp_path: Path
) -> None:
    """The whole round on one node: the generated plan keeps every partition on broker 1, executing it
    completes at once, --verify says so, nothing is listed, and there is nothing to cancel."""
    moves = tmp_path / "topics.json"
    moves.write_text(json.dumps({"version": 1, "topics": [{"topic": topic}]}))
    generated = _reassign(wire_pair, "--generate", "--topics-to-move-json-file", str(moves), "--broker-list", "1")
    assert generated.returncode == 0 and "Proposed partition reassignment configuration" in generated.stdout
    plan = _plan(tmp_path, "plan.json", [{"topic": topic, "partition": p, "replicas": [1]} for p in (0, 1)])
    executed = _reassign(wire_pair, "--execute", "--reassignment-json-file", plan)
    assert executed.returncode == 0 and "Successfully started partition reassignments" in executed.stdout
    verified = _reassign(wire_pair, "--verify", "--preserve-throttles", "--reassignment-json-file", plan)
    assert f"Reassignment of partition {topic}-1 is completed." in verified.stdout
    listed = _reassign(wire_pair, "--list")
    assert listed.returncode == 0
    cancelled = _reassign(wire_pair, "--cancel", "--preserve-throttles", "--reassignment-json-file", plan)
    assert cancelled.returncode == 0 and "None of the specified partition reassignments are active." in cancelled.stdout


def test_reassign_partitions_verify_clears_throttles(wire_pair: WirePair, topic: str, tmp_path: Path) -> None:
    plan = _plan(tmp_path, "plan.json", [{"topic": topic, "partition": 0, "replicas": [1]}])
    """--verify without --preserve-throttles also clears the broker throttles: IncrementalAlterConfigs DELETE of
    the replication throttle rates on BROKER 1, which dynamic broker configs accept as Kafka does."""
    _reassign(wire_pair, "--execute", "--reassignment-json-file", plan)
    verified = _reassign(wire_pair, "--verify", "--reassignment-json-file", plan)
    assert verified.returncode == 0 and "Clearing broker-level throttles on broker 1" in verified.stdout


def test_reassign_partitions_to_an_unknown_broker(wire_pair: WirePair, topic: str, tmp_path: Path) -> None:
    plan = _plan(tmp_path, "plan.json", [{"topic": topic, "partition": 0, "replicas": [2]}])
    refused = _reassign(wire_pair, "--execute", "--reassignment-json-file", plan)
    assert refused.returncode == 1 and "Unknown broker id 2" in refused.stdout


@pytest.mark.parametrize("where", ["own", "absent"])
def test_reassign_partitions_with_log_dirs(wire_pair: WirePair, topic: str, tmp_path: Path, where: str) -> None:
    """A plan naming log dirs makes the tool send AlterReplicaLogDirs: into the broker's own dir it
    completes; into a dir the broker lacks, LogDirNotFoundException and exit code 1."""

    def plan(broker: str, log_dir: str) -> str:
        target = log_dir if where == "own" else "/nonexistent/kafka-logs"
        move = {"topic": topic, "partition": 0, "replicas": [1], "log_dirs": [target]}
        return _plan(tmp_path, f"{broker}.json", [move])

    executed = _reassign(wire_pair, "--execute", "--reassignment-json-file", plan)
    if where == "own":
        assert executed.returncode == 0 and "Successfully started moving log directory to <log-dir>" in executed.stdout
        verified = _reassign(wire_pair, "--verify", "--preserve-throttles", "--reassignment-json-file", plan)
        assert f"Reassignment of replica {topic}-0-1 completed successfully." in verified.stdout
    else:
        assert executed.returncode == 1 and "LogDirNotFoundException" in executed.stdout


def test_log_dirs_describe(wire_pair: WirePair, topic: str) -> None:
    described = _assert_same(_on_both(wire_pair, "kafka-log-dirs", "--describe", "--topic-list", topic))
    (line,) = [line for line in described.stdout.splitlines() if line.startswith("{")]
    (broker,) = json.loads(line)["brokers"]
    (log_dir,) = broker["logDirs"]
    assert broker["broker"] == 1 and log_dir["logDir"] == "<log-dir>"
    assert sorted(p["partition"] for p in log_dir["partitions"]) == [f"{topic}-0", f"{topic}-1"]


def _fields(stdout: str) -> dict[str, str]:
    return dict(re.match(r"(\w+):\s+(.*)", line).groups() for line in stdout.splitlines() if line.strip())  # type: ignore[union-attr]


def test_metadata_quorum_describe_status(wire_pair: WirePair) -> None:
    results = _on_both(wire_pair, "kafka-metadata-quorum", "describe", "--status")
    ours, theirs = (_fields(results[name].stdout) for name in ("kafkapy", "reference"))
    assert results["kafkapy"].returncode == results["reference"].returncode == 0, results["kafkapy"].output
    per_broker = ("ClusterId", "HighWatermark", "CurrentVoters")
    for fields in (ours, theirs):
        for name in per_broker:
            fields.pop(name)
    assert ours == theirs
    assert ours["LeaderId"] == "1" and ours["CurrentObservers"] == "[]"
    (voter,) = json.loads(_fields(results["kafkapy"].stdout)["CurrentVoters"])
    host_port = wire_pair.bootstraps["kafkapy"]
    assert voter["id"] == 1 and voter["endpoints"] == [f"PLAINTEXT://{host_port}"]


def test_metadata_quorum_describe_replication(wire_pair: WirePair) -> None:
    results = _on_both(wire_pair, "kafka-metadata-quorum", "describe", "--replication")
    rows = {}
    for name, result in results.items():
        assert result.returncode == 0, result.output
        header, *lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
        rows[name] = [dict(zip(header, line, strict=True)) for line in lines]
    # The offsets, directory id and timestamps are each broker's own (no metadata log in kafkapy).
    same = ("NodeId", "Lag", "Status")
    assert [{k: r[k] for k in same} for r in rows["kafkapy"]] == [{k: r[k] for k in same} for r in rows["reference"]]
    assert rows["kafkapy"] == [
        {**rows["kafkapy"][0], "NodeId": "1", "Lag": "0", "Status": "Leader"}
    ] and rows["kafkapy"][0]["LastFetchTimestamp"] == rows["kafkapy"][0]["LastCaughtUpTimestamp"]
