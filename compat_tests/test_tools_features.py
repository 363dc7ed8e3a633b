"""Kafka 4.3.1's kafka-features against kafkapy and the reference: the same commands print the same lines.

`describe` is compared on the features kafkapy supports (it lists no others) modulo the epoch, which is
Kafka's metadata log offset; every other command's output and exit code must be equal. Commands that
change a level put it back, as both brokers serve the whole session.
"""

from __future__ import annotations

import re

import pytest
from kafka_tools import ToolResult, run_tool
from test_wire_features import SUPPORTED
from wire_diff import WirePair


def features(wire_pair: WirePair, *args: str) -> dict[str, ToolResult]:
    return wire_pair.on_both(lambda bootstrap: run_tool("kafka-features", "--bootstrap-server", bootstrap, *args))


def assert_same_output(wire_pair: WirePair, *args: str) -> str:
    results = features(wire_pair, *args)
    ours, theirs = results["kafkapy"], results["reference"]
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), (
        f"kafka-features {' '.join(args)}:\nkafkapy: {ours.output}\nreference: {theirs.output}"
    )
    return ours.stdout


def described(result: ToolResult) -> list[str]:
    """`describe` lines of the features kafkapy supports, without the epoch."""
    assert result.returncode == 0, result.output
    lines = []
    for line in result.stdout.splitlines():
        name = re.match(r"Feature: (\S+)", line)
        if name and name.group(1) in SUPPORTED:
            lines.append(re.sub(r"\s+Epoch: \d+", "", line))
    return lines


def assert_same_description(wire_pair: WirePair) -> list[str]:
    results = features(wire_pair, "describe")
    ours = described(results["kafkapy"])
    assert ours == described(results["reference"])
    assert len(ours) == len(results["kafkapy"].stdout.splitlines()), "kafkapy describes a feature it does not support"
    return ours


def transaction_version(lines: list[str]) -> str:
    """The `describe` line of transaction.version."""
    return next(line for line in lines if line.split()[1] == "transaction.version")


def test_describe(wire_pair: WirePair) -> None:
    lines = assert_same_description(wire_pair)
    assert [line.split()[1] for line in lines] == [
        "group.version", "metadata.version", "share.version", "streams.version", "transaction.version"
    ]
    assert "FinalizedVersionLevel: 2" in transaction_version(lines)


@pytest.mark.parametrize(
    "args",
    [
        ("upgrade", "--feature", "transaction.version=2"),
        ("upgrade", "--feature", "transaction.version=3"),
        ("downgrade", "--feature", "transaction.version=1", "--dry-run"),
        ("upgrade", "--metadata", "4.3"),
        ("downgrade", "--metadata", "4.2"),
        ("disable", "--feature", "nope.version"),
        ("version-mapping",),
        ("version-mapping", "--release", "3.9"),
        ("feature-dependencies", "--feature", "transaction.version=2"),
    ],
    ids=" ".join,
)
def test_commands_that_change_nothing(wire_pair: WirePair, args: tuple[str, ...]) -> None:
    assert_same_output(wire_pair, *args)


def test_downgrade_disable_and_upgrade_transaction_version(wire_pair: WirePair) -> None:
    try:
        assert "transaction.version was downgraded to 1." in assert_same_output(
            wire_pair, "downgrade", "--feature", "transaction.version=1"
        )
        assert "FinalizedVersionLevel: 1" in transaction_version(assert_same_description(wire_pair))
        assert "transaction.version was disabled." in assert_same_output(
            wire_pair, "disable", "--feature", "transaction.version"
        )
        assert "FinalizedVersionLevel: 0" in transaction_version(assert_same_description(wire_pair))
    finally:
        assert "transaction.version was upgraded to 2." in assert_same_output(
            wire_pair, "upgrade", "--feature", "transaction.version=2"
        )
    assert "FinalizedVersionLevel: 2" in transaction_version(assert_same_description(wire_pair))
