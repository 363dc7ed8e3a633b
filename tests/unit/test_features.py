"""Finalized features (kafkapy/features.py): Kafka 4.3.1's defaults, persistence, and the controller's checks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kafkapy.features import (
    FILE_NAME,
    SAFE_DOWNGRADE,
    UNSAFE_DOWNGRADE,
    UPGRADE,
    FeatureStore,
    FeatureUpdate,
)
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.fs import DISK, MemoryFS


def open_store(tmp_path: Path) -> FeatureStore:
    return FeatureStore.open(tmp_path, DISK, node_id=1)


def test_a_fresh_data_dir_gets_kafkas_format_levels_and_keeps_them(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store.finalized() == {
        "metadata.version": 30,
        "transaction.version": 2,
        "group.version": 1,
        "share.version": 1,
        "streams.version": 1,
    }
    assert (tmp_path / FILE_NAME).exists()
    assert [(f.name, f.min_level, f.max_level) for f in store.supported()] == [
        ("metadata.version", 7, 30),
        ("transaction.version", 0, 2),
        ("group.version", 0, 1),
        ("share.version", 0, 1),
        ("streams.version", 0, 1),
    ]
    store.update([FeatureUpdate("transaction.version", 1, SAFE_DOWNGRADE)], validate_only=False)
    reopened = open_store(tmp_path)
    assert reopened.transaction_version == 1
    assert reopened.epoch == store.epoch == 1


def test_validate_only_changes_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.update([FeatureUpdate("transaction.version", 0, UNSAFE_DOWNGRADE)], validate_only=True)
    assert store.transaction_version == 2 and store.epoch == 0
    assert open_store(tmp_path).transaction_version == 2


def test_a_level_0_feature_is_no_longer_finalized(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.update([FeatureUpdate("transaction.version", 0, SAFE_DOWNGRADE)], validate_only=False)
    assert store.finalized() == {
        "metadata.version": 30, "group.version": 1, "share.version": 1, "streams.version": 1
    }


@pytest.mark.parametrize("content", ["{not json", '{"epoch": "x", "levels": {}}', "[]", ""])
def test_a_damaged_file_is_logged_and_replaced_by_the_defaults(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_text(content)
    with caplog.at_level(logging.WARNING, "kafkapy.features"):
        store = open_store(tmp_path)
    assert store.transaction_version == 2
    assert any("damaged" in r.message for r in caplog.records)
    assert json.loads((tmp_path / FILE_NAME).read_text())["levels"]["transaction.version"] == 2


def test_a_level_this_broker_does_not_support_falls_back_to_the_default(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text(json.dumps({"epoch": 3, "levels": {"transaction.version": 9, "x.version": 1}}))
    store = open_store(tmp_path)
    assert store.transaction_version == 2 and store.epoch == 3
    assert "x.version" not in store.finalized()


def test_memory_storage_writes_nothing_to_disk(tmp_path: Path) -> None:
    store = FeatureStore.open(tmp_path, MemoryFS(), node_id=1)
    assert store.transaction_version == 2
    assert not (tmp_path / FILE_NAME).exists()


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (("transaction.version", 3, UPGRADE), "Invalid update version 3 for feature transaction.version. "
         "Local controller 1 only supports versions 0-2"),
        (("transaction.version", 1, UPGRADE), "Invalid update version 1 for feature transaction.version. "
         "Can't downgrade the version of this feature without setting the upgrade type to either safe or "
         "unsafe downgrade."),
        (("transaction.version", -1, SAFE_DOWNGRADE), "Invalid update version -1 for feature transaction.version. "
         "A feature version cannot be less than 0."),
        (("transaction.version", 2, 4), "Invalid update version 2 for feature transaction.version. "
         "The controller does not support the given upgrade type."),
        (("nope.version", 1, UPGRADE), "Invalid update version 1 for feature nope.version. "
         "Local controller 1 does not support this feature."),
        (("nope.version", 0, SAFE_DOWNGRADE), "Invalid update version 0 for feature nope.version. "
         "Feature nope.version not found."),
        (("group.version", 2, UPGRADE), "Invalid update version 2 for feature group.version. "
         "Local controller 1 only supports versions 0-1"),
        (("metadata.version", 29, SAFE_DOWNGRADE), "Unsupported metadata.version downgrade from 30 to 29. "
         "Refusing to perform the requested downgrade because it might delete metadata information."),
        (("metadata.version", 29, UNSAFE_DOWNGRADE), "Unsupported metadata.version downgrade from 30 to 29. "
         "Unsafe metadata downgrade is not supported in this version."),
        (("metadata.version", 6, SAFE_DOWNGRADE), "Invalid update version 6 for feature metadata.version. "
         "Local controller 1 only supports versions 7-30"),
    ],
)  # fmt: skip
def test_refused_updates_get_kafkas_message_and_change_nothing(
    tmp_path: Path, update: tuple[str, int, int], message: str
) -> None:
    store = open_store(tmp_path)
    valid = FeatureUpdate("transaction.version", 1, SAFE_DOWNGRADE)
    with pytest.raises(KafkaError) as raised:
        store.update([valid, FeatureUpdate(*update)], validate_only=False)
    assert raised.value.code == ErrorCode.INVALID_UPDATE_VERSION
    assert raised.value.message == message
    assert store.transaction_version == 2 and store.epoch == 0


def test_an_upgrade_type_must_match_the_direction(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.update([FeatureUpdate("transaction.version", 0, SAFE_DOWNGRADE)], validate_only=False)
    with pytest.raises(KafkaError, match="Can't downgrade to a newer version."):
        store.update([FeatureUpdate("transaction.version", 2, SAFE_DOWNGRADE)], validate_only=False)
    store.update([FeatureUpdate("transaction.version", 2, UPGRADE)], validate_only=False)
    assert store.transaction_version == 2 and store.epoch == 2


def test_reset_finalizes_the_first_levels_again_under_a_newer_epoch(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.update([FeatureUpdate("transaction.version", 0, SAFE_DOWNGRADE)], validate_only=False)
    store.reset()
    assert (store.transaction_version, store.epoch) == (2, 2)
    assert open_store(tmp_path).transaction_version == 2


def test_a_failed_write_changes_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    (tmp_path / FILE_NAME).unlink()
    (tmp_path / FILE_NAME).mkdir()  # the new file cannot be renamed over a directory
    with pytest.raises(OSError):
        store.update([FeatureUpdate("transaction.version", 1, SAFE_DOWNGRADE)], validate_only=False)
    assert (store.transaction_version, store.epoch) == (2, 0)
