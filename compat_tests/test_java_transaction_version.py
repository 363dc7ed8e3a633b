"""The Java producer (kafka-clients 4.3.1, compat_tests/drivers/java) uses transaction version 2 on kafkapy
when it is finalized, and version 1 once kafka-features downgrades it: both generations commit and abort.

Transaction version 2 is visible in the producer epoch: EndTxn v5 bumps it at every transaction end, so
after N transactions of one producer DescribeTransactions shows epoch N; under version 1 the epoch stays
at InitProducerId's. The offsets sent to a committed transaction (TxnOffsetCommit v5 adds the offsets
partition by itself under version 2, AddOffsetsToTxn before it under version 1) reach the group.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka_tools import run_tool
from matrix import Client, DriverBroken, Unavailable, load_manifests
from pydriver import Message
from wire_diff import WirePair, plain, unique_name

from kafkapy.client.wire import WireClient

ENDS = ["commit", "abort", "commit"]


def java_client(bootstrap: str, log_dir: Path) -> Client:
    client = Client(load_manifests()["java"], bootstrap, log_dir)
    try:
        client.start()
    except (Unavailable, DriverBroken) as exc:
        pytest.skip(f"no Java driver: {exc}")
    return client


def request(bootstrap: str, api_key: int, version: int, body: dict) -> dict:
    with WireClient.connect(bootstrap, timeout=30.0) as client:
        return plain(client.request(api_key, version, body))


def run_transactions(client: Client, bootstrap: str, tag: str) -> tuple[int, list[bytes], int]:
    """Three transactions (commit, abort, commit, each sending offsets) from one Java producer:
    (its producer epoch, the values read_committed sees, the group's committed offset)."""
    topic, source, txn_id, group = f"{tag}-sink", f"{tag}-source", f"{tag}-txn", f"{tag}-group"
    client.create_topic(topic, 1)
    client.create_topic(source, 1)
    sent = []
    for n, end in enumerate(ENDS):
        msg = Message(b"k", f"{tag} {n} {end}".encode(), partition=0)
        offsets = {"group": group, "topic": source, "offsets": {"0": n + 1}}
        client.call("txn_produce", topic=topic, transactional_id=txn_id, end=end, messages=[msg.to_wire()],
                    send_offsets=offsets)  # fmt: skip
        sent.append(msg)
    state = request(bootstrap, 65, 0, {"transactional_ids": [txn_id]})["transaction_states"][0]
    committed = client.consume(topic, count=len(sent) + 1, timeout_ms=3000, isolation_level="read_committed")
    fetched = request(bootstrap, 9, 7, {"group_id": group, "topics": [{"name": source, "partition_indexes": [0]}]})
    offset = fetched["topics"][0]["partitions"][0]["committed_offset"]
    return state["producer_epoch"], [m.value for m in committed], offset


def features(bootstrap: str, *args: str) -> None:
    result = run_tool("kafka-features", "--bootstrap-server", bootstrap, *args)
    assert result.returncode == 0, result.output


def test_java_producer_uses_transaction_version_2_and_1(wire_pair: WirePair, tmp_path: Path) -> None:
    """On the wire diffs' kafkapy (its transaction.version put back to 2 afterwards)."""
    bootstrap = wire_pair.bootstraps["kafkapy"]
    expected = [b"tv 0 commit", b"tv 2 commit"]
    tag = unique_name("tv")

    client = java_client(bootstrap, tmp_path)
    try:
        epoch, values, offset = run_transactions(client, bootstrap, f"{tag}-2")
    finally:
        client.close()
    assert (epoch, values, offset) == (len(ENDS), [v.replace(b"tv", f"{tag}-2".encode()) for v in expected], 3)

    features(bootstrap, "downgrade", "--feature", "transaction.version=1")
    client = java_client(bootstrap, tmp_path)
    try:
        epoch, values, offset = run_transactions(client, bootstrap, f"{tag}-1")
    finally:
        client.close()
        features(bootstrap, "upgrade", "--feature", "transaction.version=2")
    assert (epoch, values, offset) == (0, [v.replace(b"tv", f"{tag}-1".encode()) for v in expected], 3)
