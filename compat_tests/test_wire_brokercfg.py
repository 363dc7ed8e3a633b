"""DescribeConfigs of the broker (and of topics' broker synonyms) as Apache Kafka 4.3.1 answers it.

The broker cases compare the reference with a kafkapy started with the reference's own server.properties
(ReferenceKafka.server_properties, its ports kafkapy's), so every STATIC_BROKER_CONFIG entry can
match. What legitimately differs is masked by config name, each with its reason below; every other entry
is compared field by field: value, source, type, read-only, sensitive, synonyms, documentation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka_tools import run_tool
from reference_kafka import ReferenceKafka, free_port
from wire_diff import WirePair, differences, normalize, plain, unique_name

from kafkapy.client.wire import WireClient
from kafkapy.topic_configs import ConfigSource
from tests.broker_process import BrokerProcess

BROKER, TOPIC = 4, 2
DEFAULT_CONFIG = 5

# Both brokers listen on free ports: values compared with the port numbers masked.
PORT_VALUES = frozenset({"listeners", "advertised.listeners", "controller.quorum.bootstrap.servers"})
# Each broker has its own temporary data dir.
PATH_VALUES = frozenset({"log.dirs"})
# kafkapy's deliberate defaults (kafkapy/broker_config.py says why): group.initial.rebalance.delay.ms
# 0 (Kafka 3000), one partition for each internal topic (Kafka 50), it listens on 127.0.0.1:9092 unless
# told (Kafka on every address) and keeps its data in ./kafkapy-data (log.dir; Kafka /tmp/kafka-logs):
# the DEFAULT_CONFIG values differ.
KAFKAPY_DEFAULTS = frozenset(
    {"group.initial.rebalance.delay.ms", "offsets.topic.num.partitions", "transaction.state.log.num.partitions",
     "share.coordinator.state.topic.num.partitions", "listeners", "log.dir"}
)
_PORT = re.compile(r":\d+")


def _mask(value: str | None, name: str, source: int) -> str | None:
    if value is None:
        return None
    if name in PATH_VALUES:
        return "<dir>"
    if name in KAFKAPY_DEFAULTS and source == DEFAULT_CONFIG:
        return "<kafkapy default>"
    return _PORT.sub(":<port>", value) if name in PORT_VALUES else value


def _masked_configs(ours: list[dict], theirs: list[dict]) -> tuple[dict, dict]:
    """Both config lists by name, the legitimate differences masked."""
    by_name = [{c["name"]: c for c in configs} for configs in (ours, theirs)]
    for configs in by_name:
        for name, entry in configs.items():
            masked = [{**s, "value": _mask(s["value"], name, s["source"])} for s in entry.get("synonyms") or []]
            configs[name] = {**entry, "value": _mask(entry["value"], name, entry["config_source"]), "synonyms": masked}
    return by_name[0], by_name[1]


def assert_same_configs(pair: WirePair, version: int, body: dict) -> dict:
    """DescribeConfigs to both; every result compared, its configs by name modulo the masks above."""
    responses = pair.request(32, version, body)
    ours, theirs = (normalize(responses[name]) for name in ("kafkapy", "reference"))
    lines = []
    for mine, reference in zip(ours["results"], theirs["results"], strict=True):
        configs = _masked_configs(mine.pop("configs"), reference.pop("configs"))
        lines += differences(mine, reference, ".result")
        lines += differences(*configs, ".configs")
    lines += differences({**ours, "results": None}, {**theirs, "results": None})
    assert not lines, f"DescribeConfigs v{version} differs from Kafka 4.3.1:\n" + "\n".join(lines)
    return responses["kafkapy"]


def _body(kind: int, name: str, keys: list[str] | None = None, *, synonyms: bool = True, docs: bool = True) -> dict:
    return {
        "resources": [{"resource_type": kind, "resource_name": name, "configuration_keys": keys}],
        "include_synonyms": synonyms,
        "include_documentation": docs,
    }


@pytest.fixture(scope="module")
def mirrored(wire_pair: WirePair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WirePair]:
    """A kafkapy with the reference's server.properties, beside the session's reference Kafka."""
    base: Path = tmp_path_factory.mktemp("brokercfg")
    port = free_port()
    settings = ReferenceKafka(base).server_properties(port, free_port())
    settings["log.dirs"] = str(base / "data")
    overrides = tuple(arg for name, value in settings.items() for arg in ("--override", f"{name}={value}"))
    ours = BrokerProcess(base / "data", log_path=base / "kafkapy.log", extra_args=overrides)
    ours.start(port)
    try:
        yield WirePair(ours.bootstrap, wire_pair.bootstraps["reference"])
    finally:
        ours.close()


@pytest.mark.parametrize(
    ("version", "synonyms", "docs"),
    # No v0: Kafka 4 removed it (KIP-896) and closes the connection; kafkapy still serves it.
    [(1, False, False), (1, True, False), (2, True, False), (3, True, True), (4, True, True)],
)
def test_broker_configs_are_kafkas(mirrored: WirePair, version: int, synonyms: bool, docs: bool) -> None:
    """All 340 entries of BROKER "1" (main: 61, typed by guess, all read-only, synonyms of one)."""
    response = assert_same_configs(mirrored, version, _body(BROKER, "1", synonyms=synonyms, docs=docs))
    assert len(response["results"][0]["configs"]) == 340


def test_v0_is_v1_without_sources(mirrored: WirePair) -> None:
    """Kafka 4 no longer serves v0 (KIP-896), so kafkapy's v0 is checked against the reference's v1: the
    same entries, is_default exactly where Kafka's source is DEFAULT_CONFIG (as Kafka 3 answered v0)."""
    with WireClient.connect(mirrored.bootstraps["kafkapy"], timeout=30.0) as client:
        v0 = plain(client.request(32, 0, _body(BROKER, "1")))
    v1 = mirrored.request(32, 1, _body(BROKER, "1", synonyms=False))["reference"]
    fields = ("name", "read_only", "is_sensitive")
    mine = {c["name"]: ({f: c[f] for f in fields}, c["is_default"]) for c in v0["results"][0]["configs"]}
    kafka = {
        c["name"]: ({f: c[f] for f in fields}, c["config_source"] == DEFAULT_CONFIG)
        for c in v1["results"][0]["configs"]
    }
    assert mine == kafka


def test_selected_broker_keys(mirrored: WirePair) -> None:
    """Kafka's synonym rules: log.retention.ms and log.flush.interval.ms unset show none (their synonyms'
    defaults are cut), log.retention.hours its default; passwords are null; unknown names are left out."""
    keys = [
        "log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.flush.interval.ms",
        "log.roll.jitter.ms", "node.id", "broker.id", "process.roles", "message.max.bytes", "num.io.threads",
        "ssl.keystore.password", "sasl.jaas.config", "broker.rack", "log.dir", "min.insync.replicas", "nope",
    ]
    assert_same_configs(mirrored, 4, _body(BROKER, "1", keys))


@pytest.mark.parametrize("kind", [BROKER, TOPIC])
def test_empty_key_list_is_every_config(wire_pair: WirePair, kind: int) -> None:
    """configuration_keys [] lists every config, as null does (main: none)."""
    topic = unique_name("keys")
    wire_pair.create_topics(topic)
    response = wire_pair.request(32, 4, _body(kind, topic if kind == TOPIC else "1", [], synonyms=False, docs=False))
    counts = {name: len(r["results"][0]["configs"]) for name, r in response.items()}
    assert counts["kafkapy"] == counts["reference"] == (33 if kind == TOPIC else 340)


@pytest.mark.parametrize("name", ["2", "-1", "abc", " 1", "1_0", "+1"])
def test_other_broker_resources(wire_pair: WirePair, name: str) -> None:
    """Another node or a name that is no id: INVALID_REQUEST with Kafka's message (main: "abc" got the
    other-node message). Names are read as Java's Integer.parseInt reads them: " 1" and "1_0" are no
    id, "+1" is this node."""
    wire_pair.assert_same(32, 4, _body(BROKER, name, ["log.retention.hours"]))


def test_cluster_default_resource(mirrored: WirePair) -> None:
    """Resource "" lists the dynamic cluster defaults alone, error_message "" (main: null)."""
    assert_same_configs(mirrored, 4, _body(BROKER, "", ["log.retention.ms", "message.max.bytes"]))
    ours = mirrored.request(32, 4, _body(BROKER, ""))["kafkapy"]
    # min.insync.replicas' cluster default, seeded at a data dir's first start as Kafka's format writes it.
    assert ours["results"][0]["configs"]
    assert_same_configs(mirrored, 4, _body(BROKER, ""))


def test_topic_override_shows_no_unset_broker_synonyms(wire_pair: WirePair) -> None:
    """retention.ms overridden while log.retention.ms is unset: [retention.ms DYNAMIC_TOPIC_CONFIG] only
    (main added log.retention.hours DEFAULT_CONFIG)."""
    topic = unique_name("configured")
    wire_pair.create_topics(topic, configs={"retention.ms": "123456", "cleanup.policy": "compact"})
    body = _body(TOPIC, topic, ["retention.ms", "cleanup.policy"], docs=False)
    wire_pair.assert_same(32, 4, body, unordered=("configs",))


@pytest.mark.parametrize("version", [1, 3, 4])
def test_topic_configs_and_synonyms(wire_pair: WirePair, version: int) -> None:
    """Every config of a topic with overrides: values, sources, synonyms and (v3+) Kafka's documentation
    (main: kafkapy's own one-line docs, and synonyms Kafka does not list)."""
    topic = unique_name("overridden")
    wire_pair.create_topics(topic, configs={"segment.ms": "100000", "max.message.bytes": "2000"})
    assert_same_configs(wire_pair, version, _body(TOPIC, topic))


def _describe_lines(bootstrap: str) -> list[str]:
    """kafka-configs --describe --all of broker 1, its header and config lines."""
    result = run_tool(
        "kafka-configs", "--bootstrap-server", bootstrap, "--describe", "--entity-type", "brokers",
        "--entity-name", "1", "--all",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


_LINE = re.compile(
    r"(?P<name>[^=]+)=(?P<value>.*) sensitive=(?P<sensitive>true|false) synonyms=\{(?P<synonyms>.*)\}"
)
_SOURCES = {source.name: int(source) for source in ConfigSource}


def _line_key(line: str) -> tuple[str, Any]:
    """A config line as (name, (value, sensitive, synonyms)) with the masks applied; other lines as they are."""
    match = _LINE.fullmatch(line.strip())
    if match is None:
        return line, None
    name = match["name"]
    synonyms = []
    for synonym in filter(None, re.split(r", (?=[A-Z_]+:)", match["synonyms"])):
        source, _, setting = synonym.partition(":")
        synonym_name, _, value = setting.partition("=")
        synonyms.append((source, synonym_name, _mask(value, name, _SOURCES[source])))
    source = _SOURCES[synonyms[0][0]] if synonyms else DEFAULT_CONFIG
    return name, (_mask(match["value"], name, source), match["sensitive"], synonyms)


def test_kafka_configs_describe_all(mirrored: WirePair) -> None:
    """Kafka's own kafka-configs prints the same lines for both brokers, modulo the masks."""
    ours, theirs = (_describe_lines(mirrored.bootstraps[name]) for name in ("kafkapy", "reference"))
    assert len(ours) == len(theirs) == 341
    mine, reference = (dict(_line_key(line) for line in lines) for lines in (ours, theirs))
    assert mine == reference


def test_create_topics_reports_configs_as_describe_does(wire_pair: WirePair) -> None:
    """CreateTopics v5+ answers each new topic's configs with the same sources and synonym rules."""
    topic = unique_name("created")
    body = {
        "topics": [
            {
                "name": topic,
                "num_partitions": 1,
                "replication_factor": 1,
                "assignments": [],
                "configs": [{"name": "retention.ms", "value": "99999"}],
            }
        ],
        "timeout_ms": 30000,
        "validate_only": False,
    }
    responses = wire_pair.request(19, 7, body)
    ours, theirs = (normalize(responses[name]) for name in ("kafkapy", "reference"))
    configs = _masked_configs(ours["topics"][0].pop("configs"), theirs["topics"][0].pop("configs"))
    assert not differences(ours, theirs) + differences(*configs)


@pytest.mark.parametrize(
    "args",
    [
        ("--entity-type", "brokers", "--entity-name", "1"),
        ("--entity-type", "brokers", "--entity-default"),
    ],
)
def test_kafka_configs_describe_dynamic(mirrored: WirePair, args: tuple[str, ...]) -> None:
    """Without --all, kafka-configs prints the dynamic configs alone: none for broker 1 on both."""
    results = [
        run_tool("kafka-configs", "--bootstrap-server", mirrored.bootstraps[name], "--describe", *args)
        for name in ("kafkapy", "reference")
    ]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    ours, theirs = (r.stdout for r in results)
    assert ours == theirs


def test_kafka_configs_describe_topic(wire_pair: WirePair) -> None:
    """kafka-configs --describe --all of a topic with overrides prints the same lines for both."""
    topic = unique_name("described")
    wire_pair.create_topics(topic, configs={"retention.ms": "123456", "cleanup.policy": "compact"})
    results = [
        run_tool(
            "kafka-configs", "--bootstrap-server", wire_pair.bootstraps[name], "--describe", "--entity-type",
            "topics", "--entity-name", topic, "--all",
        )
        for name in ("kafkapy", "reference")
    ]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    ours, theirs = (sorted(r.stdout.splitlines()) for r in results)
    assert ours == theirs
