"""``kafkapy topics ...``, printing like kafka-topics.sh, and helpers of the other tools (kafkapy.tools.groups)."""

from __future__ import annotations

import argparse
import struct

from kafkapy import __version__
from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.specs import ApiKey
from kafkapy.storage.log_manager import uuid_to_kafka_string
from kafkapy.tools import ToolError
from kafkapy.topic_configs import ConfigResourceType, ConfigSource

_ALL = None
def check(code: int, message: str | None = None) -> None:
    if code != ErrorCode.NONE:
        raise KafkaError(ErrorCode(code), message)


def _metadata(client: WireClient, topics: list[str] | None) -> list:
    wanted = None if topics is None else [{"name": t} for t in topics]
    body = {"topics": wanted, "allow_auto_topic_creation": False}
    return list(client.request(ApiKey.METADATA, 12, body).topics)


def topics_list(client: WireClient, args: argparse.Namespace) -> None:
    for topic in sorted(_metadata(client, _ALL), key=lambda t: t.name):
        if args.exclude_internal and topic.is_internal:
            continue
        print(topic.name)


def describe_broker(client: WireClient, address: str) -> str:
    """One line saying which broker answered ApiVersions and Metadata at ``address`` (``kafkapy health``)."""
    body = {"client_software_name": "kafkapy-cli", "client_software_version": __version__}
    versions = client.request(ApiKey.API_VERSIONS, 3, body)
    check(versions.error_code)
    meta = client.request(ApiKey.METADATA, 12, {"topics": [], "allow_auto_topic_creation": False})
    return (
        f"broker {meta.controller_id if not meta.brokers else meta.brokers[0].node_id} of cluster {meta.cluster_id}"
        f" answered at {address} ({len(versions.api_keys)} APIs)"
    )


def _topic_configs(values: list[str]) -> list[dict[str, str]]:
    """``--config NAME=VALUE`` arguments as CreateTopics configs; ToolError for one without ``=``."""
    configs = []
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ToolError(f"invalid --config {item}: expected NAME=VALUE, like retention.ms=60000")
        configs.append({"name": name.strip(), "value": value.strip()})
    return configs


def topics_create(client: WireClient, args: argparse.Namespace) -> None:
    topic = {
        "name": args.topic,
        "num_partitions": args.partitions,
        "replication_factor": args.replication_factor,
        "configs": _topic_configs(args.config),
    }
    result = client.request(ApiKey.CREATE_TOPICS, 7, {"topics": [topic], "timeout_ms": 30000}).topics[0]
    if args.if_not_exists and result.error_code == ErrorCode.TOPIC_ALREADY_EXISTS:
        return
    check(result.error_code, result.error_message)
    print(f"Created topic {args.topic}.")


def topics_delete(client: WireClient, args: argparse.Namespace) -> None:
    result = client.request(ApiKey.DELETE_TOPICS, 6, {"topics": [{"name": args.topic}], "timeout_ms": 30000}).responses[
        0
    ]
    if args.if_exists and result.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
        return
    check(result.error_code, result.error_message)
    print(f"Deleted topic {args.topic}.")


def _overrides(client: WireClient, topic: str) -> str:
    """``name=value,...`` of the topic's configs that are not Kafka's defaults, as kafka-topics.sh prints them."""
    resource = {"resource_type": ConfigResourceType.TOPIC, "resource_name": topic, "configuration_keys": None}
    body = {"resources": [resource], "include_synonyms": False, "include_documentation": False}
    result = client.request(ApiKey.DESCRIBE_CONFIGS, 4, body).results[0]
    check(result.error_code, result.error_message)
    shown = (c for c in result.configs if c.config_source != ConfigSource.DEFAULT_CONFIG and not c.is_sensitive)
    return ",".join(f"{c.name}={c.value}" for c in shown)


def topics_describe(client: WireClient, args: argparse.Namespace) -> None:
    for topic in _metadata(client, [args.topic] if args.topic else _ALL):
        if topic.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
            raise ToolError(f"topic '{topic.name}' does not exist")
        check(topic.error_code, topic.name)
        replicas = len(topic.partitions[0].replica_nodes) if topic.partitions else 0
        topic_id = uuid_to_kafka_string(topic.topic_id)
        print(
            f"Topic: {topic.name}\tTopicId: {topic_id}\tPartitionCount: {len(topic.partitions)}"
            f"\tReplicationFactor: {replicas}\tConfigs: {_overrides(client, topic.name)}"
        )
        for p in sorted(topic.partitions, key=lambda p: p.partition_index):
            nodes = ",".join(map(str, p.replica_nodes))
            isr = ",".join(map(str, p.isr_nodes))
            print(
                f"\tTopic: {topic.name}\tPartition: {p.partition_index}\tLeader: {p.leader_id}"
                f"\tReplicas: {nodes}\tIsr: {isr}"
            )


def assignment_partitions(assignment: bytes) -> list[tuple[str, int]]:
    """Topic partitions in a consumer protocol assignment (ConsumerProtocolAssignment v0+)."""
    if len(assignment) < 6:
        return []
    pos = 2
    (topics,) = struct.unpack_from(">i", assignment, pos)
    pos += 4
    out = []
    for _ in range(max(topics, 0)):
        (size,) = struct.unpack_from(">h", assignment, pos)
        name = assignment[pos + 2 : pos + 2 + size].decode()
        pos += 2 + size
        (count,) = struct.unpack_from(">i", assignment, pos)
        pos += 4
        for _ in range(count):
            out.append((name, struct.unpack_from(">i", assignment, pos)[0]))
            pos += 4
    return out


def log_end_offsets(client: WireClient, topic: str, partitions: list[int]) -> dict[int, int]:
    parts = [{"partition_index": p, "timestamp": -1} for p in partitions]
    body = {"replica_id": -1, "topics": [{"name": topic, "partitions": parts}]}
    response = client.request(ApiKey.LIST_OFFSETS, 7, body)
    return {p.partition_index: p.offset for t in response.topics for p in t.partitions if p.error_code == 0}


def print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(" ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
