"""The broker's data directory: every partition's log plus the broker's identity files.

It lives in a FileSystem (kafkapy.storage.fs): on disk, or in memory for ``--storage memory``.

Layout (Kafka's, so the directory looks familiar to Kafka tooling):

- ``meta.properties``: ``cluster.id``, ``node.id`` and ``version=1``, written on first start.
- ``<topic>-<partition>/``: one Log per partition, with a ``partition.metadata`` file holding
  the topic id exactly as Kafka writes it.
- ``topic-configs.json``: kafkapy's own file for topic config overrides
  (``{"topic": {"retention.ms": "1000"}}``); Kafka keeps these in its metadata log instead.
  Only topics with overrides appear in it.
- ``log-start-offset-checkpoint``: log start offsets that DeleteRecords moved inside a segment.
- ``pending-partitions.json``: kafkapy's own, present only while CreateTopics or CreatePartitions
  makes directories (``{"topic": first new partition}``). Kafka creates a topic with one metadata
  record; here a crash halfway is undone at start-up, so a topic is there whole or not at all.
- ``<topic>-<partition>.<id>-delete/``: a deleted partition, removed after file.delete.delay.ms
  (its open files keep serving fetches already under way); leftovers go at start-up.

Any other directory (a name that is not ``<topic>-<partition>``, one holding neither
partition.metadata nor a segment, an unreadable one) is stray: logged once at start-up and left
alone, never turned into partitions.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from kafkapy.clock import SYSTEM_CLOCK, Clock
from kafkapy.kafka_properties import parse_properties
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.checkpoint import LOG_START_OFFSET_CHECKPOINT, read_checkpoint, write_checkpoint
from kafkapy.storage.fs import DISK, FileSystem
from kafkapy.storage.log import Log, LogOffsetsListener
from kafkapy.storage.log_config import LogConfig
from kafkapy.storage.producer_state import PRODUCER_ID_EXPIRATION_MS
from kafkapy.storage.segment import LOG_FILE_SUFFIX

logger = logging.getLogger("kafkapy.storage")

META_PROPERTIES = "meta.properties"
PARTITION_METADATA = "partition.metadata"
TOPIC_CONFIGS = "topic-configs.json"
PENDING_PARTITIONS = "pending-partitions.json"

# Kafka's Topic.MAX_NAME_LENGTH and legal characters.
MAX_TOPIC_NAME_LENGTH = 249
_LEGAL_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_PARTITION_DIR = re.compile(r"([a-zA-Z0-9._-]+)-(\d+)")
DELETED_DIR_SUFFIX = "-delete"
# kafkapy.max.broker.partitions: Kafka has no per-broker cap (KIP-578 proposed max.broker.partitions);
# past a few tens of thousands a test broker is more likely misused than needed.
DEFAULT_MAX_BROKER_PARTITIONS = 50_000
MAX_BROKER_PARTITIONS_CONFIG = "kafkapy.max.broker.partitions"


def uuid_to_kafka_string(value: uuid.UUID) -> str:
    """Kafka's Uuid.toString: URL-safe base64 of the 16 bytes, without padding (22 chars)."""
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")


def kafka_string_to_uuid(text: str) -> uuid.UUID:
    """Kafka's Uuid.fromString."""
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def random_kafka_uuid() -> uuid.UUID:
    """Kafka's Uuid.randomUuid: skips the reserved ids (zero, one, ...) and strings starting '-'."""
    while True:
        value = uuid.uuid4()
        if value.int > 100 and not uuid_to_kafka_string(value).startswith("-"):
            return value


def validate_topic_name(name: str) -> None:
    """Kafka's Topic.validate, with its messages; raises KafkaError(INVALID_TOPIC_EXCEPTION)."""
    if not name:
        problem = "the empty string is not allowed"
    elif name in (".", ".."):
        problem = f"'{name}' is not allowed"
    elif len(name) > MAX_TOPIC_NAME_LENGTH:
        problem = f"the length of '{name}' is longer than the max allowed length {MAX_TOPIC_NAME_LENGTH}"
    elif not _LEGAL_TOPIC_NAME.fullmatch(name):
        problem = f"'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
    else:
        return
    raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Topic name is invalid: {problem}")


def topic_name_error(name: str) -> KafkaError | None:
    """The INVALID_TOPIC_EXCEPTION error of a name no topic can have; None for a valid name."""
    try:
        validate_topic_name(name)
    except KafkaError as exc:
        return exc
    return None


@dataclass
class TopicState:
    """A topic as storage knows it: its id, partition logs and config overrides."""

    name: str
    topic_id: uuid.UUID
    partitions: list[Log]
    # Overrides by Kafka config name, as given at creation.
    configs: dict[str, str] = field(default_factory=dict)
    # The default config with ``configs`` applied.
    log_config: LogConfig = field(default_factory=LogConfig)


class LogManager:
    """All partitions of all topics in one data directory (Kafka's LogManager)."""

    def __init__(
        self,
        data_dir: Path,
        default_config: LogConfig,
        *,
        node_id: int = 1,
        now_ms: int | None = None,
        fs: FileSystem = DISK,
        max_partitions: int = DEFAULT_MAX_BROKER_PARTITIONS,
        clock: Clock = SYSTEM_CLOCK,
        producer_id_expiration_ms: int = PRODUCER_ID_EXPIRATION_MS,
    ) -> None:
        """Load or initialise ``data_dir`` in ``fs``: identity files first, then every partition's Log.

        ``max_partitions`` caps the partitions of all topics together (kafkapy.max.broker.partitions);
        ``producer_id_expiration_ms`` is producer.id.expiration.ms, handed to every Log.
        Raises ValueError when meta.properties names a different node id, as Kafka refuses
        to start on another broker's directory.
        """
        self.data_dir = Path(data_dir)
        self.default_config = default_config
        self.node_id = node_id
        self.max_partitions = max_partitions
        self.producer_id_expiration_ms = producer_id_expiration_ms
        # Partitions of all live topics, kept as a count: summing per creation is quadratic.
        self.partition_count = 0
        self.fs = fs
        self.clock = clock
        # The fd limit may have changed since the file system was made (it is a per-process singleton on disk).
        fs.open_files.capacity = fs.max_open_files()
        fs.makedirs(self.data_dir)
        self.cluster_id = self._load_meta_properties()
        self.topics: dict[str, TopicState] = {}
        self._topics_by_id: dict[uuid.UUID, TopicState] = {}
        # Logs of deleted topics, with the wall-clock ms their renamed directory may go.
        self._deleted_logs: list[tuple[int, Log, Path]] = []
        self._offsets_listener: LogOffsetsListener | None = None
        self._load_topics(now_ms)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        default_config: LogConfig,
        node_id: int = 1,
        *,
        now_ms: int | None = None,
        fs: FileSystem = DISK,
        max_partitions: int = DEFAULT_MAX_BROKER_PARTITIONS,
        clock: Clock = SYSTEM_CLOCK,
        producer_id_expiration_ms: int = PRODUCER_ID_EXPIRATION_MS,
    ) -> LogManager:
        """Scan ``data_dir`` in ``fs`` and recover every partition's log."""
        return cls(
            data_dir,
            default_config,
            node_id=node_id,
            now_ms=now_ms,
            fs=fs,
            max_partitions=max_partitions,
            clock=clock,
            producer_id_expiration_ms=producer_id_expiration_ms,
        )

    def _load_meta_properties(self) -> str:
        """The stored cluster id; the file is (re)written when missing or damaged, keeping a readable cluster id."""
        path = self.data_dir / META_PROPERTIES
        properties: dict[str, str] = {}
        if self.fs.exists(path):
            stored_node_id: int | None = None
            try:
                properties = parse_properties(self.fs.read_text(path))
                stored_node_id = int(properties.get("node.id", self.node_id))
            except ValueError as exc:  # not UTF-8, or node.id not a number
                logger.warning("damaged; writing it again", extra={"path": path, "error": exc})
            if stored_node_id is not None and stored_node_id != self.node_id:
                raise ValueError(
                    f"{path}: stored node.id {stored_node_id} does not match configured node id {self.node_id}"
                )
            if stored_node_id is not None and properties.get("cluster.id"):
                return properties["cluster.id"]
        cluster_id = properties.get("cluster.id") or uuid_to_kafka_string(random_kafka_uuid())
        # The layout of java.util.Properties.store: a comment line, a date line, then entries.
        stamp = time.strftime("%a %b %d %H:%M:%S %Z %Y", time.localtime(self.clock.wall_ms() // 1000))
        self.fs.write_text(path, f"#\n#{stamp}\ncluster.id={cluster_id}\nnode.id={self.node_id}\nversion=1\n")
        return cluster_id

    def _load_topics(self, now_ms: int | None) -> None:
        overrides = self._read_topic_configs()
        interrupted = self._undo_pending_partitions()
        # A topic whose creation was undone leaves no overrides for a later one of the same name.
        forgotten = [name for name, first in interrupted.items() if first == 0 and overrides.pop(name, None)]
        start_offsets = read_checkpoint(self.fs, self.data_dir / LOG_START_OFFSET_CHECKPOINT)
        partition_dirs: dict[str, dict[int, Path]] = {}
        for name in sorted(self.fs.listdir(self.data_dir)):
            path = self.data_dir / name
            if not self.fs.is_dir(path):
                continue
            if name.endswith(DELETED_DIR_SUFFIX):
                self.fs.rmtree(path)
                continue
            match = _PARTITION_DIR.fullmatch(name)
            problem = "not <topic>-<partition>" if match is None else self._partition_dir_problem(path, match)
            if problem is not None:
                logger.warning("stray directory; ignored", extra={"path": path, "problem": problem})
                continue
            assert match is not None
            partition_dirs.setdefault(match.group(1), {})[int(match.group(2))] = path
        for name, dirs in sorted(partition_dirs.items()):
            configs = overrides.get(name, {})
            try:
                log_config = self.default_config.with_overrides(configs)
            except KafkaError as exc:
                logger.warning(
                    "stored config overrides are invalid; using the defaults", extra={"topic": name, "error": exc}
                )
                configs, log_config = {}, self.default_config
            topic_id = self._load_topic_id(name, dirs)
            count = max(dirs) + 1
            if len(dirs) != count:
                logger.warning("partition directories missing; recreating them empty", extra={"topic": name})
            partitions = []
            for partition in range(count):
                directory = dirs.get(partition, self.data_dir / f"{name}-{partition}")
                start = start_offsets.get((name, partition), 0)
                log = Log.open(
                    directory,
                    log_config,
                    fs=self.fs,
                    now_ms=now_ms,
                    log_start_offset=start,
                    clock=self.clock,
                    producer_id_expiration_ms=self.producer_id_expiration_ms,
                )
                self._write_partition_metadata(directory, topic_id)
                partitions.append(log)
            self._add_topic(TopicState(name, topic_id, partitions, dict(configs), log_config))
        if forgotten:
            self._save_topic_configs()
        if self.partition_count > self.max_partitions:
            logger.warning(
                "more partitions loaded than the broker's limit: no more can be created",
                extra={"partitions": self.partition_count, MAX_BROKER_PARTITIONS_CONFIG: self.max_partitions},
            )

    def _undo_pending_partitions(self) -> dict[str, int]:
        """Remove the directories of a CreateTopics or CreatePartitions that a crash cut short.

        Returns pending-partitions.json's ``{topic: first new partition}``; an unreadable file
        is logged and dropped (it is written before any directory is made, so none were).
        """
        path = self.data_dir / PENDING_PARTITIONS
        if not self.fs.exists(path):
            return {}
        pending = read_json_object(self.fs, path, "ignored")
        pending = {name: first for name, first in pending.items() if isinstance(first, int) and first >= 0}
        for entry in self.fs.listdir(self.data_dir) if pending else ():
            match = _PARTITION_DIR.fullmatch(entry)
            if match is None or match.group(1) not in pending or int(match.group(2)) < pending[match.group(1)]:
                continue
            if self.fs.is_dir(self.data_dir / entry):
                self.fs.rmtree(self.data_dir / entry)
        for name, first in pending.items():
            logger.warning(
                "creating partitions was interrupted; removed them", extra={"topic": name, "first_partition": first}
            )
        self.fs.unlink(path)
        return pending

    def _partition_dir_problem(self, path: Path, match: re.Match[str]) -> str | None:
        """Why a ``<topic>-<partition>`` directory is not a partition of ours, or None if it is."""
        try:
            validate_topic_name(match.group(1))
        except KafkaError:
            return "illegal topic name"
        if int(match.group(2)) >= self.max_partitions:
            return f"partition number not below {MAX_BROKER_PARTITIONS_CONFIG} {self.max_partitions}"
        try:
            names = self.fs.listdir(path)
        except OSError as exc:
            return f"unreadable: {exc}"
        if PARTITION_METADATA not in names and not any(name.endswith(LOG_FILE_SUFFIX) for name in names):
            return "neither partition.metadata nor a segment"
        return None

    def _load_topic_id(self, name: str, dirs: dict[int, Path]) -> uuid.UUID:
        """The topic id from partition.metadata (partition 0's wins); new if none is stored."""
        found: uuid.UUID | None = None
        for partition, directory in sorted(dirs.items()):
            path = directory / PARTITION_METADATA
            if not self.fs.exists(path):
                continue
            stored = _parse_partition_metadata(path, self.fs.read_bytes(path).decode("utf-8", "replace"))
            if stored is None:
                continue
            if found is None:
                found = stored
            elif stored != found:
                logger.warning(
                    "topic id differs from the lowest partition's; using that one",
                    extra={"topic": name, "partition": partition, "topic_id": stored, "used": found},
                )
        return found if found is not None else random_kafka_uuid()

    def _write_partition_metadata(self, directory: Path, topic_id: uuid.UUID) -> None:
        """Kafka's PartitionMetadataFile, rewritten only when it differs."""
        path = directory / PARTITION_METADATA
        text = f"version: 0\ntopic_id: {uuid_to_kafka_string(topic_id)}\n"
        if not self.fs.exists(path) or self.fs.read_bytes(path) != text.encode():
            self.fs.write_text(path, text)

    def _read_topic_configs(self) -> dict[str, dict[str, str]]:
        """The stored overrides; a damaged file (or topic entry) is logged and ignored, not fatal."""
        path = self.data_dir / TOPIC_CONFIGS
        if not self.fs.exists(path):
            return {}
        stored = read_json_object(self.fs, path, "topics keep the default configs")
        return {name: configs for name, configs in stored.items() if _is_overrides(path, name, configs)}

    def _write_topic_configs(self, overrides: dict[str, dict[str, str]]) -> None:
        self.fs.write_text(self.data_dir / TOPIC_CONFIGS, json.dumps(overrides, indent=2, sort_keys=True) + "\n")

    def _save_topic_configs(self, extra: TopicState | None = None) -> None:
        overrides = {name: topic.configs for name, topic in self.topics.items() if topic.configs}
        if extra is not None and extra.configs:
            overrides[extra.name] = extra.configs
        self._write_topic_configs(overrides)

    def _add_topic(self, topic: TopicState) -> None:
        self.topics[topic.name] = topic
        self._topics_by_id[topic.topic_id] = topic
        self.partition_count += len(topic.partitions)

    def check_partition_limit(self, additional: int) -> None:
        """KafkaError(POLICY_VIOLATION) when ``additional`` more partitions would pass kafkapy.max.broker.partitions."""
        total = self.partition_count + additional
        if total > self.max_partitions:
            raise KafkaError(
                ErrorCode.POLICY_VIOLATION,
                f"Cannot add {additional} partition(s): the broker would hold {total}, above "
                f"{MAX_BROKER_PARTITIONS_CONFIG}={self.max_partitions}.",
            )

    def create_topic(
        self,
        name: str,
        num_partitions: int,
        configs: dict[str, str] | None = None,
        *,
        now_ms: int | None = None,
    ) -> TopicState:
        """Create a topic's partition directories, partition.metadata and config overrides.

        Raises KafkaError: INVALID_TOPIC_EXCEPTION (bad name, or it collides with an existing
        topic once '.' and '_' are treated alike, as in Kafka), TOPIC_ALREADY_EXISTS,
        INVALID_PARTITIONS, INVALID_CONFIG, POLICY_VIOLATION (kafkapy.max.broker.partitions),
        KAFKA_STORAGE_ERROR (the files could not be made; whatever was made is removed again).
        """
        validate_topic_name(name)
        if name in self.topics:
            raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        collision_key = name.replace(".", "_")
        for existing in self.topics:
            if existing.replace(".", "_") == collision_key:
                raise KafkaError(
                    ErrorCode.INVALID_TOPIC_EXCEPTION,
                    f"Topic '{name}' collides with existing topic: {existing}",
                )
        if num_partitions <= 0:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
        self.check_partition_limit(num_partitions)
        configs = dict(configs or {})
        log_config = self.default_config.with_overrides(configs)
        topic_id = random_kafka_uuid()
        while topic_id in self._topics_by_id:
            topic_id = random_kafka_uuid()
        topic = TopicState(name, topic_id, [], configs, log_config)
        try:
            # Overrides first: a crash before the directories exist leaves only an unused entry.
            if configs:
                self._save_topic_configs(extra=topic)
            self._open_partitions(topic, num_partitions, now_ms)
        except KafkaError:
            if configs:
                self._forget_topic_configs(name)
            raise
        self._add_topic(topic)
        return topic

    def _open_partitions(self, topic: TopicState, count: int, now_ms: int | None) -> None:
        """Create partition directories (with partition.metadata) until the topic has ``count``.

        All or nothing: when a file cannot be made (disk full, no fds, a file in the way), the
        partitions created here are removed again and KafkaError(KAFKA_STORAGE_ERROR) is raised;
        pending-partitions.json has start-up do the same after a crash.
        """
        first = len(topic.partitions)
        pending = self.data_dir / PENDING_PARTITIONS
        directory = self.data_dir / f"{topic.name}-{first}"
        try:
            self.fs.write_text(pending, json.dumps({topic.name: first}) + "\n")
            for partition in range(first, count):
                directory = self.data_dir / f"{topic.name}-{partition}"
                log = Log.open(
                    directory,
                    topic.log_config,
                    fs=self.fs,
                    now_ms=now_ms,
                    clock=self.clock,
                    producer_id_expiration_ms=self.producer_id_expiration_ms,
                )
                log.offsets_listener = self._offsets_listener
                topic.partitions.append(log)
                self._write_partition_metadata(directory, topic.topic_id)
            self.fs.unlink(pending)
        except OSError as exc:
            self._remove_partitions(topic, first, directory)
            with suppress(OSError):
                self.fs.unlink(pending, missing_ok=True)
            logger.warning(
                "creating partitions failed",
                extra={"topic": topic.name, "first_partition": first, "last_partition": count - 1, "error": exc},
            )
            raise KafkaError(
                ErrorCode.KAFKA_STORAGE_ERROR,
                f"Could not create partition {directory.name.rpartition('-')[2]} of topic '{topic.name}': {exc}",
            ) from exc

    def _remove_partitions(self, topic: TopicState, first: int, failed: Path) -> None:
        """Undo ``_open_partitions``: close and remove partitions ``first`` on, and the directory that failed."""
        for log in topic.partitions[first:]:
            with suppress(OSError):
                log.close()
            self.fs.rmtree(log.dir)
        del topic.partitions[first:]
        if self.fs.is_dir(failed):
            self.fs.rmtree(failed)

    def _forget_topic_configs(self, name: str) -> None:
        """Rewrite topic-configs.json without ``name`` (its creation failed)."""
        try:
            self._save_topic_configs()
        except OSError as exc:
            logger.warning(
                "could not drop the overrides of a topic", extra={"path": TOPIC_CONFIGS, "topic": name, "error": exc}
            )

    def add_partitions(self, name: str, count: int, *, now_ms: int | None = None) -> None:
        """CreatePartitions: grow a topic to ``count`` partitions (the caller checked count is larger).

        Raises KafkaError POLICY_VIOLATION (kafkapy.max.broker.partitions) or KAFKA_STORAGE_ERROR
        (nothing was added).
        """
        topic = self.topics[name]
        self.check_partition_limit(count - len(topic.partitions))
        before = len(topic.partitions)
        self._open_partitions(topic, count, now_ms)
        self.partition_count += count - before

    def alter_topic_configs(self, name: str, configs: dict[str, str], *, validate_only: bool = False) -> LogConfig:
        """Replace a topic's overrides (validated: KafkaError INVALID_CONFIG), persist them and apply them."""
        topic = self.topics[name]
        log_config = self.default_config.with_overrides(configs)
        if not validate_only:
            topic.configs = dict(configs)
            topic.log_config = log_config
            self._save_topic_configs()
            for log in topic.partitions:
                log.update_config(log_config)
        return log_config

    def set_default_config(self, default_config: LogConfig) -> None:
        """New broker-level defaults (dynamic broker configs): every topic follows them at once where it has
        no override of its own, from its next append, roll, retention check or cleaning."""
        if default_config == self.default_config:
            return
        self.default_config = default_config
        for topic in self.topics.values():
            try:
                log_config = default_config.with_overrides(topic.configs)
            except KafkaError as exc:
                # Its overrides conflict with the new defaults (min > max compaction lag): keep its settings.
                logger.warning("topic keeps its settings under new defaults", extra={"topic": topic.name,
                                                                                     "error": exc})
                continue
            if log_config != topic.log_config:
                topic.log_config = log_config
                for log in topic.partitions:
                    log.update_config(log_config)

    def set_producer_id_expiration_ms(self, expiration_ms: int) -> None:
        """A new producer.id.expiration.ms (a dynamic broker config): every log's next expiration check uses it."""
        if expiration_ms == self.producer_id_expiration_ms:
            return
        self.producer_id_expiration_ms = expiration_ms
        for _, _, log in self.logs():
            log.producer_id_expiration_ms = expiration_ms

    def delete_topic(self, name: str, *, now_ms: int | None = None) -> TopicState:
        """Forget a topic at once (its name is free again) and rename its partition directories for deletion.

        The logs stay open until file.delete.delay.ms has passed (``purge_deleted``), so fetches
        already sending from them finish; their directories are then removed.
        Raises KafkaError(UNKNOWN_TOPIC_OR_PARTITION).
        """
        topic = self.topics.pop(name, None)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"unknown topic {name!r}")
        del self._topics_by_id[topic.topic_id]
        self.partition_count -= len(topic.partitions)
        if topic.configs:
            self._save_topic_configs()
        now_ms = self.clock.wall_ms() if now_ms is None else now_ms
        marker = uuid.uuid4().hex
        for log in topic.partitions:
            renamed = log.dir.with_name(f"{log.dir.name}.{marker}{DELETED_DIR_SUFFIX}")
            try:
                self.fs.replace(log.dir, renamed)
                log.moved_to(renamed)
            except OSError as exc:
                logger.warning("could not rename for deletion", extra={"path": log.dir, "error": exc})
                renamed = log.dir
            self._deleted_logs.append((now_ms + log.config.file_delete_delay_ms, log, renamed))
        self.checkpoint_log_start_offsets()
        return topic

    def purge_deleted(self, now_ms: int | None = None) -> None:
        """Remove the files of deleted segments and topics whose delay is over (everything if now_ms is None)."""
        for _, _, log in self.logs():
            log.purge_deleted(now_ms)
        keep = []
        for due, log, path in self._deleted_logs:
            if now_ms is None or due <= now_ms:
                self._remove_deleted(log, path)
            else:
                keep.append((due, log, path))
        self._deleted_logs = keep

    def _remove_deleted(self, log: Log, path: Path) -> None:
        """Close a deleted topic's log and remove its files; files already gone are logged, not raised.

        Nothing in them is kept, so one that someone else removed (an operator, a second process on
        the data dir) must not take the retention task, and with it the broker, down.
        """
        try:
            log.close()
            if self.fs.exists(path):
                self.fs.rmtree(path)
        except OSError as exc:
            logger.warning("could not remove deleted log", extra={"path": path, "error": exc})

    def checkpoint_log_start_offsets(self) -> None:
        """Write log-start-offset-checkpoint: every log start offset above its first segment's base offset."""
        entries = {
            (topic, partition): log.log_start_offset
            for topic, partition, log in self.logs()
            if log.log_start_offset > log.segments[0].base_offset
        }
        write_checkpoint(self.fs, self.data_dir / LOG_START_OFFSET_CHECKPOINT, entries)

    def set_offsets_listener(self, listener: LogOffsetsListener) -> None:
        """Tell ``listener`` of the appends to every log, those open now and those created later."""
        self._offsets_listener = listener
        for _, _, log in self.logs():
            log.offsets_listener = listener

    def get_log(self, topic: str, partition: int) -> Log | None:
        state = self.topics.get(topic)
        if state is None or not 0 <= partition < len(state.partitions):
            return None
        return state.partitions[partition]

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicState | None:
        return self._topics_by_id.get(topic_id)

    def logs(self) -> Iterator[tuple[str, int, Log]]:
        """Every (topic, partition, log), e.g. for a flush or retention scheduler."""
        for topic in self.topics.values():
            for partition, log in enumerate(topic.partitions):
                yield topic.name, partition, log

    def remove_expired_producers(self, now_ms: int) -> int:
        """Kafka's LogManager producer expiration check: every log forgets its expired producers; how many went."""
        expired = 0
        for topic, partition, log in self.logs():
            removed = log.remove_expired_producers(now_ms)
            if removed:
                expired += len(removed)
                logger.debug("expired producer ids", extra={"topic": topic, "partition": partition, "ids": removed})
        return expired

    def flush_all(self) -> None:
        """fsync every log (blocking: run it in a worker thread from trio)."""
        for _, _, log in self.logs():
            log.flush()

    def close(self) -> None:
        """Flush and close every log, as Kafka does on a clean shutdown; pending deletions complete."""
        self.checkpoint_log_start_offsets()
        for _, _, log in self.logs():
            log.flush()
            log.close()
        self.purge_deleted()


def _is_overrides(path: Path, name: str, configs: object) -> bool:
    """Whether a topic-configs.json entry is a string-to-string map; logged when it is not."""
    if isinstance(configs, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in configs.items()):
        return True
    logger.warning("entry is not a map of strings; ignoring it", extra={"path": path, "topic": name})
    return False


def _parse_partition_metadata(path: Path, text: str) -> uuid.UUID | None:
    """Parse Kafka's ``version: 0`` / ``topic_id: <id>`` file (``path`` for the warning); None if unreadable."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    try:
        return kafka_string_to_uuid(fields["topic_id"])
    except (KeyError, ValueError):
        logger.warning("no readable topic_id", extra={"path": path})
        return None


def read_json_object(fs: FileSystem, path: Path, otherwise: str) -> dict:
    """One of kafkapy's own JSON files; damaged or not an object, it is logged and read as {}."""
    try:
        stored = json.loads(fs.read_text(path))
    # JSONDecodeError, UnicodeDecodeError and a number past int's 4,300 digits are ValueErrors;
    # deep nesting ("[[[[...") exhausts the JSON decoder's recursion.
    except (ValueError, RecursionError) as exc:
        logger.warning(f"unreadable; {otherwise}", extra={"path": path, "error": exc})
        return {}
    if not isinstance(stored, dict):
        logger.warning(f"not a JSON object; {otherwise}", extra={"path": path})
        return {}
    return stored
