"""__share_group_state records: Kafka's ShareSnapshot/ShareUpdate layouts, written and replayed; the
duration syntax of share.auto.offset.reset=by_duration."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import pytest

from kafkapy.coordinator.internal_topics import SHARE_GROUP_STATE_TOPIC
from kafkapy.coordinator.share_partition import RecordState, StateBatch
from kafkapy.coordinator.share_partitions import parse_duration_ms
from kafkapy.coordinator.share_state import (
    SNAPSHOT_TYPE,
    UPDATE_TYPE,
    PersistedState,
    ShareStateTopic,
    _schema,
    coordinator_key,
    replay,
    snapshot_record,
)
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.log_manager import LogManager

TOPIC = uuid.UUID("12345678-1234-5678-1234-567812345678")
KEY = ("g", TOPIC, 3)


def test_snapshot_layout_and_replay() -> None:
    batches = [
        StateBatch(5, 9, RecordState.ACKNOWLEDGED, 1),
        StateBatch(10, 12, RecordState.ACQUIRED, 2),
        StateBatch(13, 13, RecordState.ARCHIVED, 3),
    ]
    key, value = snapshot_record(KEY, PersistedState(5, batches, snapshot_epoch=7, create_timestamp=11), 99)
    # The key: record type 0, then GroupId (int16 length + bytes), TopicId, Partition.
    assert key == struct.pack(">hh", SNAPSHOT_TYPE, 1) + b"g" + TOPIC.bytes + struct.pack(">i", 3)
    assert value is not None and value[:2] == b"\x00\x00"
    decoded = _schema("ShareSnapshotValue").parse(value[2:])
    assert (decoded.snapshot_epoch, decoded.start_offset, decoded.write_timestamp) == (7, 5, 99)
    assert decoded.delivery_complete_count == 6
    found: dict = {}
    replay(found, key, value)
    # The acquisition is not persisted: the range comes back available with the count before it.
    assert found[KEY].start_offset == 5
    assert found[KEY].state_batches == [
        StateBatch(5, 9, RecordState.ACKNOWLEDGED, 1),
        StateBatch(10, 12, RecordState.AVAILABLE, 1),
        StateBatch(13, 13, RecordState.ARCHIVED, 3),
    ]
    tombstone_key, tombstone = snapshot_record(KEY, None, 100)
    replay(found, tombstone_key, tombstone)
    assert found == {}


def test_updates_written_by_kafka_apply_over_the_snapshot() -> None:
    found: dict = {}
    replay(found, *snapshot_record(KEY, PersistedState(0, [StateBatch(0, 9, RecordState.AVAILABLE, 1)]), 1))
    update_key = struct.pack(">h", UPDATE_TYPE) + _schema("ShareUpdateKey").build(
        {"group_id": "g", "topic_id": TOPIC, "partition": 3}
    )
    update = b"\x00\x00" + _schema("ShareUpdateValue").build(
        {
            "snapshot_epoch": 0,
            "leader_epoch": 0,
            "start_offset": -1,
            "state_batches": [{"first_offset": 4, "last_offset": 5, "delivery_state": 2, "delivery_count": 1}],
        }
    )
    replay(found, update_key, update)
    assert found[KEY].start_offset == 0
    assert found[KEY].state_batches == [
        StateBatch(0, 3, RecordState.AVAILABLE, 1),
        StateBatch(4, 5, RecordState.ACKNOWLEDGED, 1),
        StateBatch(6, 9, RecordState.AVAILABLE, 1),
    ]


def test_coordinator_key_is_kafkas() -> None:
    # Kafka's Uuid.toString is URL-safe base64 without padding.
    assert coordinator_key(KEY) == "g:EjRWeBI0VngSNFZ4EjRWeA:3"


@pytest.mark.parametrize(
    ("text", "ms"),
    [("PT1H", 3_600_000), ("P1D", 86_400_000), ("PT1M30.5S", 90_500), ("PT0S", 0), ("-PT2S", -2000), ("pt10s", 10_000)],
)
def test_by_duration_reads_javas_duration_syntax(text: str, ms: int) -> None:
    """share.auto.offset.reset=by_duration:<duration> takes Java's Duration.parse syntax."""
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["1h", "P", "PT", "P1DT", "", "PT1X"])
def test_by_duration_refuses_what_java_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(text)


def test_pruning_keeps_each_share_partitions_last_snapshot(tmp_path: Path) -> None:
    """The topic is pruned up to the oldest last snapshot (Kafka's DeleteRecords pruning), and what is left
    loads to the same states, after a reopen too; a deleted share partition holds nothing back."""
    logs = LogManager.open(tmp_path, LogConfig())
    store = ShareStateTopic(logs, 1)
    other = ("g", TOPIC, 4)
    for start in range(5):
        store.write(KEY, PersistedState(start, [StateBatch(start, start, RecordState.ARCHIVED, 1)]), 1)
    store.write(other, PersistedState(7), 1)  # offset 5
    store.write(KEY, PersistedState(9), 1)  # offset 6
    store.prune()
    partition = logs.topics[SHARE_GROUP_STATE_TOPIC].partitions[0]
    assert partition.log_start_offset == 5
    assert {k: s.start_offset for k, s in store.load().items()} == {KEY: 9, other: 7}
    store.write(other, None, 1)  # offset 7, a tombstone
    store.prune()
    assert partition.log_start_offset == 6
    logs.close()
    reopened = ShareStateTopic(LogManager.open(tmp_path, LogConfig()), 1)
    assert {k: s.start_offset for k, s in reopened.load().items()} == {KEY: 9}
    reopened.prune()  # the reload found where KEY's snapshot lies
    assert reopened._logs.topics[SHARE_GROUP_STATE_TOPIC].partitions[0].log_start_offset == 6
