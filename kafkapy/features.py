"""Finalized features (KIP-584): the cluster-wide levels ApiVersions reports and UpdateFeatures changes.

kafkapy supports a feature only up to the level it implements (``FEATURES``); the levels a fresh data
dir gets are those ``kafka-storage format`` writes for Kafka 4.3.1 where kafkapy supports them. They
are kept in ``finalized-features.json`` in the data dir (Kafka keeps them in its metadata log), written
at first start and replaced whole (write, fsync, rename) on every change, in the broker's storage
FileSystem. A damaged file is logged and replaced by the defaults, so the broker always starts.
The epoch counts the changes, as Kafka's (the metadata log offset of the last change) only grows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.fs import FileSystem

log = logging.getLogger("kafkapy.features")

FILE_NAME = "finalized-features.json"
METADATA_VERSION = "metadata.version"
TRANSACTION_VERSION = "transaction.version"
KRAFT_VERSION = "kraft.version"

# UpdateFeatures upgrade types (Kafka's FeatureUpdate.UpgradeType).
UPGRADE = 1
SAFE_DOWNGRADE = 2
UNSAFE_DOWNGRADE = 3


@dataclass(frozen=True)
class Feature:
    """One feature: the levels this broker supports and the level a fresh data dir finalizes."""

    name: str
    min_level: int
    max_level: int
    default_level: int


# The node id Kafka's messages name as "Local controller N": a single combined node answers.
# metadata.version: 7 (3.3-IV3) is Kafka 4's lowest; 30 (4.3-IV0) is Kafka 4.3.1's, whose client APIs
# and versions kafkapy serves (the level gates metadata-log records and inter-broker RPCs, which a
# single node without a metadata log does not have, so every level kafkapy answers as 4.3.1 does).
FEATURES: tuple[Feature, ...] = (
    Feature(METADATA_VERSION, 7, 30, 30),
    # KIP-890: 1 flexible transaction log records, 2 implicit AddPartitionsToTxn and an epoch per transaction.
    Feature(TRANSACTION_VERSION, 0, 2, 2),
    # KIP-853 dynamic quorums (AddRaftVoter/RemoveRaftVoter): not served, so level 0 (static quorum).
    Feature(KRAFT_VERSION, 0, 0, 0),
    # KIP-848 consumer groups, KIP-932 share groups, KIP-1071 streams groups: issue #16 raises these.
    Feature("group.version", 0, 1, 1),
    # KIP-932 share groups (ShareGroupHeartbeat ...): served, so 1 as Kafka 4.3.1 finalizes it.
    Feature("share.version", 0, 1, 1),
    Feature("streams.version", 0, 1, 1),
    # KIP-966 eligible leader replicas: one replica per partition, nothing to elect from.
    Feature("eligible.leader.replicas.version", 0, 0, 0),
)
_BY_NAME = {f.name: f for f in FEATURES}


@dataclass
class FeatureUpdate:
    """One UpdateFeatures entry, as the controller reads it."""

    name: str
    level: int
    upgrade_type: int


class FeatureStore:
    """The finalized levels of every feature, persisted in the data dir."""

    def __init__(self, data_dir: Path, fs: FileSystem, node_id: int) -> None:
        self._path = data_dir / FILE_NAME
        self._fs = fs
        self.node_id = node_id
        self.epoch = 0
        self.levels = {f.name: f.default_level for f in FEATURES}

    @classmethod
    def open(cls, data_dir: Path, fs: FileSystem, node_id: int) -> FeatureStore:
        """Load the levels, writing the defaults on first start or over a damaged file."""
        store = cls(data_dir, fs, node_id)
        try:
            store._load(json.loads(fs.read_text(store._path)))
            return store
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning(
                "finalized features file is damaged; using the defaults",
                extra={"path": str(store._path), "error": str(exc)},
            )
            store = cls(data_dir, fs, node_id)
        store._save(store.epoch, store.levels)
        return store

    def _load(self, data: dict) -> None:
        """Levels outside what this broker supports (a newer kafkapy wrote them) fall back to defaults."""
        epoch = int(data["epoch"])
        levels = dict(self.levels)
        for name, level in data["levels"].items():
            feature = _BY_NAME.get(name)
            if feature is not None and isinstance(level, int) and self._supports(feature, level):
                levels[name] = level
            else:
                log.warning("ignoring an unsupported finalized feature level", extra={"feature": name, "level": level})
        self.epoch, self.levels = epoch, levels

    def _save(self, epoch: int, levels: dict[str, int]) -> None:
        self._fs.makedirs(self._path.parent)
        self._fs.write_text(self._path, json.dumps({"epoch": epoch, "levels": levels}, sort_keys=True))

    @staticmethod
    def _supports(feature: Feature, level: int) -> bool:
        return feature.min_level <= level <= feature.max_level

    def level(self, name: str) -> int:
        return self.levels.get(name, 0)

    @property
    def transaction_version(self) -> int:
        return self.level(TRANSACTION_VERSION)

    def supported(self) -> list[Feature]:
        """The features this broker can enable (Kafka leaves out those whose highest level is 0)."""
        return [f for f in FEATURES if f.max_level > 0]

    def finalized(self) -> dict[str, int]:
        """Features finalized above level 0 (Kafka removes a feature set to 0), metadata.version always."""
        return {name: level for name, level in self.levels.items() if level > 0 or name == METADATA_VERSION}

    def update(self, updates: Iterable[FeatureUpdate], validate_only: bool) -> None:
        """Kafka's FeatureControlManager.updateFeatures: all updates or none (nothing when ``validate_only``).

        Raises KafkaError (INVALID_UPDATE_VERSION) with the first refused update's message.
        """
        changes = {}
        for update in updates:
            changes[update.name] = self._check(update)
        if validate_only or not changes:
            return
        self._replace({**self.levels, **changes})
        log.info("finalized features updated", extra={"levels": changes, "epoch": self.epoch})

    def reset(self) -> None:
        """Back to a fresh data dir's levels (KafkaBroker.reset); the epoch still grows."""
        self._replace({f.name: f.default_level for f in FEATURES})

    def _replace(self, levels: dict[str, int]) -> None:
        """Write ``levels`` under the next epoch, then serve them: a failed write changes nothing."""
        self._save(self.epoch + 1, levels)
        self.epoch, self.levels = self.epoch + 1, levels

    def _check(self, update: FeatureUpdate) -> int:
        """The level ``update`` sets; KafkaError with Kafka's message when the controller refuses it."""
        name, level = update.name, update.level
        if update.upgrade_type not in (UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE):
            raise self._invalid(update, "The controller does not support the given upgrade type.")
        if level < 0:
            raise self._invalid(update, "A feature version cannot be less than 0.")
        feature = _BY_NAME.get(name)
        if feature is None or not self._supports(feature, level):
            raise self._invalid(update, self._not_supported(feature, name, level))
        current = self.level(name)
        if level < current and update.upgrade_type == UPGRADE:
            raise self._invalid(
                update,
                "Can't downgrade the version of this feature without setting the upgrade type to either safe or "
                "unsafe downgrade.",
            )
        if level > current and update.upgrade_type != UPGRADE:
            raise self._invalid(update, "Can't downgrade to a newer version.")
        if name == METADATA_VERSION and level < current:
            # Every metadata.version step of Kafka 4.3.1 changed the metadata: it refuses the downgrade.
            reason = (
                "Unsafe metadata downgrade is not supported in this version."
                if update.upgrade_type == UNSAFE_DOWNGRADE
                else "Refusing to perform the requested downgrade because it might delete metadata information."
            )
            raise _refused(f"Unsupported metadata.version downgrade from {current} to {level}. {reason}")
        return level

    def _not_supported(self, feature: Feature | None, name: str, level: int) -> str:
        """Kafka's QuorumFeatures.reasonNotSupported for this (the local) controller."""
        if feature is None and level == 0:
            return f"Feature {name} not found."
        if feature is None or feature.max_level == 0:
            return f"Local controller {self.node_id} does not support this feature."
        return f"Local controller {self.node_id} only supports versions {feature.min_level}-{feature.max_level}"

    @staticmethod
    def _invalid(update: FeatureUpdate, reason: str) -> KafkaError:
        return _refused(f"Invalid update version {update.level} for feature {update.name}. {reason}")


def _refused(message: str) -> KafkaError:
    """An update Kafka's controller refuses: INVALID_UPDATE_VERSION with its message."""
    return KafkaError(ErrorCode.INVALID_UPDATE_VERSION, message)
