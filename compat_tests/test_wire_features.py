"""Wire diffs of finalized features and transaction version 2: kafkapy answers as Apache Kafka 4.3.1 does.

ApiVersions v3+ features are compared for the features kafkapy supports (metadata.version,
transaction.version, group.version, streams.version); those it deliberately leaves at level 0 (kraft.version,
share.version, eligible.leader.replicas.version) must be absent from its answer, not different.
The finalized features epoch is Kafka's metadata log offset, which moves on its own: only its validity
(>= 0) is compared. Updates that change levels put them back, as both brokers serve the whole session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from wire_diff import WirePair, differences, normalize, plain, unique_name

from kafkapy.client.wire import WireClient
from kafkapy.features import FEATURES
from kafkapy.protocol.records import build_batch

# The features kafkapy enables at some level: the only ones its ApiVersions may list.
SUPPORTED = frozenset(f.name for f in FEATURES if f.max_level > 0)
API_VERSIONS_BODY = {"client_software_name": "wire-diff", "client_software_version": "1"}
UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE = 1, 2, 3
WAIT_S = 30.0


def _features(response: dict) -> dict:
    """The feature fields of an ApiVersions response, kept to the features kafkapy supports, sorted."""
    return {
        "supported_features": sorted(
            (f for f in response["supported_features"] if f["name"] in SUPPORTED), key=lambda f: f["name"]
        ),
        "finalized_features": sorted(
            (f for f in response["finalized_features"] if f["name"] in SUPPORTED), key=lambda f: f["name"]
        ),
        "finalized_features_epoch_valid": response["finalized_features_epoch"] >= 0,
        "zk_migration_ready": response.get("zk_migration_ready", False),
    }


def assert_same_features(wire_pair: WirePair, version: int) -> dict:
    responses = wire_pair.request(18, version, API_VERSIONS_BODY)
    ours = responses["kafkapy"]
    extra = {f["name"] for f in ours["supported_features"] + ours["finalized_features"]} - SUPPORTED
    assert not extra, f"kafkapy lists features it does not support: {extra}"
    lines = differences(_features(ours), _features(responses["reference"]))
    assert not lines, f"ApiVersions v{version} features differ from Kafka 4.3.1:\n" + "\n".join(lines)
    return ours


@pytest.mark.parametrize("version", [3, 4])
def test_api_versions_features(wire_pair: WirePair, version: int) -> None:
    """main sent no features at all: the Java producer then never used transaction version 2."""
    ours = assert_same_features(wire_pair, version)
    assert {"name": "transaction.version", "max_version_level": 2, "min_version_level": 2} in ours[
        "finalized_features"
    ]


def _update(updates: list[tuple[str, int, int]], validate_only: bool = True) -> dict:
    return {
        "timeout_ms": 60000,
        "validate_only": validate_only,
        "feature_updates": [
            {"feature": name, "max_version_level": level, "upgrade_type": kind, "allow_downgrade": kind != UPGRADE}
            for name, level, kind in updates
        ],
    }


UPDATES = [
    [("transaction.version", 2, UPGRADE)],
    [("transaction.version", 3, UPGRADE)],
    [("transaction.version", 1, UPGRADE)],
    [("transaction.version", 1, SAFE_DOWNGRADE)],
    [("transaction.version", 0, UNSAFE_DOWNGRADE)],
    [("transaction.version", -1, SAFE_DOWNGRADE)],
    [("transaction.version", 2, 0)],
    [("transaction.version", 2, 4)],
    [("nope.version", 1, UPGRADE)],
    [("nope.version", 0, SAFE_DOWNGRADE)],
    [("metadata.version", 30, UPGRADE)],
    [("metadata.version", 31, UPGRADE)],
    [("metadata.version", 29, SAFE_DOWNGRADE)],
    [("metadata.version", 29, UNSAFE_DOWNGRADE)],
    [("metadata.version", 6, SAFE_DOWNGRADE)],
    [("transaction.version", 1, SAFE_DOWNGRADE), ("nope.version", 1, UPGRADE)],
    [("transaction.version", 2, UPGRADE), ("transaction.version", 1, SAFE_DOWNGRADE)],
    [],
]


@pytest.mark.parametrize("version", [0, 1, 2])
@pytest.mark.parametrize("updates", UPDATES, ids=lambda u: ",".join(f"{n}={lvl}/{k}" for n, lvl, k in u) or "none")
def test_update_features(wire_pair: WirePair, version: int, updates: list[tuple[str, int, int]]) -> None:
    """Validate-only (v1+) updates, and on v0 (which has no validate_only and treats every update as an
    upgrade) the same updates, of which only the no-op upgrades to the current levels succeed (none of
    these asks for a higher supported level): nothing changes either broker."""
    wire_pair.assert_same(57, version, _update(updates))


def test_a_downgrade_and_upgrade_take_effect(wire_pair: WirePair) -> None:
    """transaction.version 2 -> 1 -> 2 for real: ApiVersions shows each level on both brokers."""
    try:
        wire_pair.assert_same(57, 1, _update([("transaction.version", 1, SAFE_DOWNGRADE)], validate_only=False))
        level = _finalized_level(assert_same_features(wire_pair, 4), "transaction.version")
        assert level == 1
    finally:
        wire_pair.assert_same(57, 2, _update([("transaction.version", 2, UPGRADE)], validate_only=False))
    assert _finalized_level(assert_same_features(wire_pair, 4), "transaction.version") == 2


def _finalized_level(response: dict, name: str) -> int | None:
    return next((f["max_version_level"] for f in response["finalized_features"] if f["name"] == name), None)


class Txn:
    """One transactional id on one broker, driven request by request over raw Kafka requests."""

    def __init__(self, bootstrap: str, txn_id: str, topic: str, group: str) -> None:
        self.bootstrap, self.txn_id, self.topic, self.group = bootstrap, txn_id, topic, group
        self.producer_id, self.epoch = -1, -1

    def request(self, api_key: int, version: int, body: dict) -> dict:
        with WireClient.connect(self.bootstrap, timeout=30.0) as client:
            return plain(client.request(api_key, version, body))

    def until(self, api_key: int, version: int, body: dict, ready: Callable[[dict], bool]) -> dict:
        """Repeat a request until ``ready`` (a coordinator still loading answers with retriable errors)."""
        deadline = time.monotonic() + WAIT_S
        while not ready(response := self.request(api_key, version, body)):
            assert time.monotonic() < deadline, f"not ready within {WAIT_S}s: {response}"
            time.sleep(0.1)
        return response

    def init(self) -> dict:
        """FindCoordinator first: it creates __transaction_state, which InitProducerId alone never does."""
        self.until(10, 4, {"key_type": 1, "coordinator_keys": [self.txn_id]}, _found)
        body = {
            "transactional_id": self.txn_id,
            "transaction_timeout_ms": 60000,
            "producer_id": -1,
            "producer_epoch": -1,
        }
        response = self.until(22, 5, body, lambda r: r["error_code"] == 0)
        self.producer_id, self.epoch = response["producer_id"], response["producer_epoch"]
        return response

    def produce(
        self, version: int, partition: int, sequence: int, *, producer_id: int | None = None, epoch: int | None = None
    ) -> dict:
        batch = build_batch(
            [(b"k", b"v", [], None)],
            producer_id=self.producer_id if producer_id is None else producer_id,
            producer_epoch=self.epoch if epoch is None else epoch,
            base_sequence=sequence,
            transactional=True,
        )
        body = {
            "transactional_id": self.txn_id,
            "acks": -1,
            "timeout_ms": 10000,
            "topic_data": [{"name": self.topic, "partition_data": [{"index": partition, "records": batch}]}],
        }
        return self.request(0, version, body)

    def commit_offsets(self, version: int) -> dict:
        body = {
            "transactional_id": self.txn_id,
            "group_id": self.group,
            "producer_id": self.producer_id,
            "producer_epoch": self.epoch,
            "generation_id": -1,
            "member_id": "",
            "group_instance_id": None,
            "topics": [
                {
                    "name": self.topic,
                    "partitions": [
                        {"partition_index": 0, "committed_offset": 1, "committed_leader_epoch": -1,
                         "committed_metadata": ""}
                    ],
                }
            ],
        }  # fmt: skip
        return self.request(28, version, body)

    def end(self, version: int, commit: bool, epoch: int) -> dict:
        body = {
            "transactional_id": self.txn_id,
            "producer_id": self.producer_id,
            "producer_epoch": epoch,
            "committed": commit,
        }
        return self.request(26, version, body)

    def describe(self) -> dict:
        return self.request(65, 0, {"transactional_ids": [self.txn_id]})

    def wait_complete(self) -> None:
        """Kafka writes the markers after answering EndTxn: wait until the transaction is complete."""
        self.until(65, 0, {"transactional_ids": [self.txn_id]}, _complete)

    def committed_end(self) -> dict:
        body = {
            "replica_id": -1,
            "isolation_level": 1,
            "topics": [{"name": self.topic, "partitions": [
                {"partition_index": p, "current_leader_epoch": -1, "timestamp": -1} for p in (0, 1)
            ]}],
        }  # fmt: skip
        return self.request(2, 7, body)


def _found(response: dict) -> bool:
    return response["coordinators"][0]["error_code"] == 0


def _complete(response: dict) -> bool:
    return response["transaction_states"][0]["transaction_state"] in ("CompleteCommit", "CompleteAbort")


def tv2_sequence(bootstrap: str, names: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """Produce without AddPartitionsToTxn at each version, then end the transaction with EndTxn v5.

    Yields (step, response) pairs; the same steps run on both brokers with their own producer ids.
    """
    txn = Txn(bootstrap, names["txn"], names["topic"], names["group"])
    yield "init", txn.init()
    txn.until(10, 4, {"key_type": 0, "coordinator_keys": [txn.group]}, _found)
    epoch = txn.epoch
    for version in (3, 8, 10, 11):
        yield f"produce v{version} outside the transaction", txn.produce(version, 0, 0)
    yield "produce v12 by another producer id", txn.produce(12, 0, 0, producer_id=txn.producer_id + 1000)
    yield "produce v12 with a future epoch", txn.produce(12, 0, 0, epoch=epoch + 1)
    yield "produce v12 adds partition 0", txn.produce(12, 0, 0)
    yield "produce v12 again", txn.produce(12, 0, 1)
    yield "produce v11 to partition 1", txn.produce(11, 1, 0)
    yield "produce v12 adds partition 1", txn.produce(12, 1, 0)
    for version in (3, 4, 5):
        yield f"TxnOffsetCommit v{version} without AddOffsetsToTxn", txn.commit_offsets(version)
    yield "ongoing transaction", txn.describe()
    yield "EndTxn v5 commits and bumps the epoch", txn.end(5, True, epoch)
    txn.wait_complete()
    yield "EndTxn v5 retried", txn.end(5, True, epoch)
    yield "EndTxn v5 retried as an abort", txn.end(5, False, epoch)
    yield "EndTxn v5 with the new epoch", txn.end(5, True, epoch + 1)
    yield "produce v12 with the old epoch", txn.produce(12, 0, 2)
    yield "committed offsets", txn.committed_end()
    yield "EndTxn v4 with the new epoch (transaction version 1 rules)", txn.end(4, True, epoch + 1)
    yield "EndTxn v5 aborts an empty transaction", txn.end(5, False, epoch + 1)
    txn.wait_complete()
    yield "EndTxn v5 abort retried", txn.end(5, False, epoch + 1)
    yield "EndTxn v5 with a fenced epoch", txn.end(5, False, epoch)
    yield "EndTxn v5 commits the aborted transaction", txn.end(5, True, epoch + 2)


def assert_same_steps(runs: dict[str, list[tuple[str, Any]]]) -> None:
    """The responses of each step equal on both brokers, modulo the order Kafka lists a transaction's
    topics and partitions in (hash order)."""
    unordered = ("topics", "partitions")
    lines = []
    for (step, ours), (_, theirs) in zip(runs["kafkapy"], runs["reference"], strict=True):
        ours, theirs = normalize(ours, (), unordered), normalize(theirs, (), unordered)
        lines += [f"{step}: {line}" for line in differences(ours, theirs)]
    assert not lines, "the transaction steps differ from Kafka 4.3.1:\n" + "\n".join(lines)


def test_transaction_version_2_produce_without_add_partitions(wire_pair: WirePair) -> None:
    """Kafka 4.3.1: INVALID_TXN_STATE on v3-v10 and TRANSACTION_ABORTABLE on v11 for a partition outside the
    transaction, which v12 adds; TxnOffsetCommit v5 adds the offsets partition; EndTxn v5 bumps the epoch and
    takes a retry. main answered v11 and v12 with INVALID_TXN_STATE and its own message."""
    names = {"topic": unique_name("tv2"), "txn": unique_name("tv2-txn"), "group": unique_name("tv2-group")}
    wire_pair.create_topics(names["topic"], partitions=2)
    assert_same_steps(wire_pair.on_both(lambda bootstrap: list(tv2_sequence(bootstrap, names))))


def short_tv2_sequence(bootstrap: str, names: dict[str, str]) -> Iterator[tuple[str, Any]]:
    txn = Txn(bootstrap, names["txn"], names["topic"], names["group"])
    yield "init", txn.init()
    yield "produce v11 outside the transaction", txn.produce(11, 0, 0)
    yield "produce v12 adds partition 0", txn.produce(12, 0, 0)
    yield "EndTxn v5 commits and bumps the epoch", txn.end(5, True, txn.epoch)


def test_a_downgraded_transaction_version_leaves_the_request_versions_in_charge(wire_pair: WirePair) -> None:
    """Kafka 4.3.1 keeps serving Produce v12 and EndTxn v5 as transaction version 2 when the finalized level is
    1: the level tells clients which versions to send (the Java producer then sends v11 and v4)."""
    names = {"topic": unique_name("tv1"), "txn": unique_name("tv1-txn"), "group": unique_name("tv1-group")}
    wire_pair.create_topics(names["topic"], partitions=1)
    try:
        wire_pair.assert_same(57, 1, _update([("transaction.version", 1, SAFE_DOWNGRADE)], validate_only=False))
        runs = wire_pair.on_both(lambda bootstrap: list(short_tv2_sequence(bootstrap, names)))
    finally:
        wire_pair.assert_same(57, 1, _update([("transaction.version", 2, UPGRADE)], validate_only=False))
    assert_same_steps(runs)
    assert runs["kafkapy"][-1][1]["producer_epoch"] == 1
