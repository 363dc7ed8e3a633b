"""Dynamic broker configs through confluent-kafka's AdminClient: a change on the BROKER resource ("1", or
"" for the cluster default) takes effect on every topic without its own override at once, is persisted in
the data dir and survives a restart and kill -9."""

from __future__ import annotations

import json
from collections.abc import Callable

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from kafkapy.client.wire import WireClient
from kafkapy.dynamic_broker_config import FILE_NAME
from kafkapy.protocol.errors import ErrorCode
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import (
    Deadline,
    base_conf,
    consumer,
    incremental_alter_configs,
    produce_confluent,
    producer,
    unique_topic,
)

TIMEOUT = 15
# Kafka's log.retention.check.interval.ms is 5 minutes; retention must run within the test.
FAST_HOUSEKEEPING = ("--override", "log.retention.check.interval.ms=200")


def alter_broker(bootstrap: str, name: str, *entries: tuple[str, int, str | None], kind: int = 4) -> None:
    """IncrementalAlterConfigs v1 on BROKER ``name`` ("" is the cluster default, which librdkafka's admin
    client cannot name) or another ``kind`` through kafkapy's wire client, failing on any error."""
    result = incremental_alter_configs(bootstrap, kind, name, *entries, timeout=TIMEOUT)
    assert result["error_code"] == 0, result


def set_entry(name: str, value: str) -> tuple[str, int, str | None]:
    return name, AlterConfigOpType.SET.value, value


def delete_entry(name: str) -> tuple[str, int, str | None]:
    return name, AlterConfigOpType.DELETE.value, None


def produce_errors(bootstrap: str, topic: str, size: int) -> list[str]:
    """The delivery errors of one record of ``size`` bytes (none retried: a size error is final)."""
    p = producer(bootstrap, retries=0, **{"message.timeout.ms": 10000})
    return produce_confluent(p, topic, [(0, {"value": b"x" * size})]).errors


def create_topics(bootstrap: str, *topics: NewTopic) -> None:
    admin = AdminClient(base_conf(bootstrap))
    for future in admin.create_topics(list(topics)).values():
        future.result(timeout=TIMEOUT)


def test_message_max_bytes_lowered_at_the_cluster_default_applies_at_once(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    b = broker_factory()
    plain, own = unique_topic("dyn-mmb"), unique_topic("dyn-mmb-own")
    create_topics(b.bootstrap, NewTopic(plain, 1, 1), NewTopic(own, 1, 1, config={"max.message.bytes": "100000"}))
    assert produce_errors(b.bootstrap, plain, 5000) == []
    alter_broker(b.bootstrap, "", set_entry("message.max.bytes", "2000"))
    errors = produce_errors(b.bootstrap, plain, 5000)
    assert len(errors) == 1 and "MSG_SIZE_TOO_LARGE" in errors[0], errors
    # A topic's own override still wins over the broker default.
    assert produce_errors(b.bootstrap, own, 5000) == []
    # The per-broker value wins over the cluster default (here through librdkafka's admin client).
    admin = AdminClient(base_conf(b.bootstrap))
    entry = ConfigEntry("message.max.bytes", "9000", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[entry])
    admin.incremental_alter_configs([resource])[resource].result(timeout=TIMEOUT)
    assert produce_errors(b.bootstrap, plain, 5000) == []
    alter_broker(b.bootstrap, "1", delete_entry("message.max.bytes"))
    alter_broker(b.bootstrap, "", delete_entry("message.max.bytes"))
    assert produce_errors(b.bootstrap, plain, 5000) == []


def log_start_offset(bootstrap: str, topic: str) -> int:
    c = consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[0]
    finally:
        c.close()


def test_log_retention_ms_lowered_dynamically_deletes_old_segments(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    b = broker_factory(extra_args=FAST_HOUSEKEEPING)
    topic = unique_topic("dyn-retention")
    configs = {"segment.bytes": "2000", "file.delete.delay.ms": "100"}
    create_topics(b.bootstrap, NewTopic(topic, 1, 1, config=configs))
    p = producer(b.bootstrap)
    for i in range(8):  # one record per batch (each is flushed), several segments
        assert not produce_confluent(p, topic, [(i, {"value": b"v" * 900})]).errors
    assert log_start_offset(b.bootstrap, topic) == 0
    alter_broker(b.bootstrap, "1", set_entry("log.retention.ms", "1"))
    deadline = Deadline(20, "segments past log.retention.ms deleted")
    while log_start_offset(b.bootstrap, topic) == 0:
        deadline.check()
    assert log_start_offset(b.bootstrap, topic) > 0


def test_dynamic_configs_survive_restart_and_kill9(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory()
    topic = unique_topic("dyn-durable")
    create_topics(b.bootstrap, NewTopic(topic, 1, 1))
    alter_broker(b.bootstrap, "1", set_entry("message.max.bytes", "2000"), set_entry("custom.setting", "kept"))
    alter_broker(b.bootstrap, "", set_entry("log.retention.ms", "86400000"))
    for crash in (False, True):
        b.restart(crash=crash)
        errors = produce_errors(b.bootstrap, topic, 5000)
        assert len(errors) == 1 and "MSG_SIZE_TOO_LARGE" in errors[0], (crash, errors)
    stored = json.loads((b.data_dir / FILE_NAME).read_text())
    assert stored["per_broker"] == {"message.max.bytes": "2000", "custom.setting": "kept"}
    # min.insync.replicas is the cluster default written at the first start (KIP-966).
    assert stored["cluster_default"] == {"log.retention.ms": "86400000", "min.insync.replicas": "1"}


def test_a_damaged_dynamic_config_file_is_logged_and_the_broker_starts_without(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    b = broker_factory()
    alter_broker(b.bootstrap, "1", set_entry("message.max.bytes", "2000"))
    b.terminate()
    (b.data_dir / FILE_NAME).write_text('{"per_broker": {"message.max.bytes": ')
    b.start()
    topic = unique_topic("dyn-damaged")
    create_topics(b.bootstrap, NewTopic(topic, 1, 1))
    assert produce_errors(b.bootstrap, topic, 5000) == []
    assert "dynamic broker configs file damaged" in b.stderr_text()


def set_log_level(bootstrap: str, logger: str, level: str) -> None:
    """IncrementalAlterConfigs on this node's BROKER_LOGGER resource (8; librdkafka's admin has no such type)."""
    alter_broker(bootstrap, "1", set_entry(logger, level), kind=8)


def auto_create(bootstrap: str, topic: str) -> None:
    """Metadata v12 that auto-creates ``topic`` (the broker logs "auto-created topic" at INFO)."""
    body = {"topics": [{"name": topic, "topic_id": None}], "allow_auto_topic_creation": True,
            "include_topic_authorized_operations": False}
    with WireClient.connect(bootstrap, timeout=TIMEOUT) as client:
        client.request(3, 12, body)


def test_broker_logger_levels_change_at_run_time(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory()
    quiet, loud = unique_topic("dyn-quiet"), unique_topic("dyn-loud")
    set_log_level(b.bootstrap, "root", "WARN")
    auto_create(b.bootstrap, quiet)
    set_log_level(b.bootstrap, "root", "INFO")
    auto_create(b.bootstrap, loud)
    deadline = Deadline(10, "the INFO line of the second creation")
    while loud not in b.stderr_text():
        deadline.check()
    assert quiet not in b.stderr_text()


def test_altering_broker_configs_needs_alter_configs_on_the_cluster(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    from confluent_kafka.admin import AclOperation, AclPermissionType, ResourceType

    from tests.integration.test_authorizer import ME, _args, acl, create_acls

    # As a super user: ALL on the cluster but ALTER_CONFIGS; then restarted as an ordinary principal.
    b = broker_factory(extra_args=_args(f"super.users={ME}"))
    create_acls(
        b.bootstrap,
        acl(ResourceType.BROKER, "kafka-cluster", AclOperation.ALL),
        acl(ResourceType.BROKER, "kafka-cluster", AclOperation.ALTER_CONFIGS, AclPermissionType.DENY),
    )
    b.close()
    b.extra_args = _args()
    b.start()
    change = {"name": "log.retention.ms", "config_operation": 0, "value": "1000"}
    targets = ((4, "1"), (4, ""), (8, "1"))
    resources = [{"resource_type": kind, "resource_name": name, "configs": [change]} for kind, name in targets]
    with WireClient.connect(b.bootstrap, timeout=TIMEOUT) as client:
        answer = client.request(44, 1, {"resources": resources, "validate_only": False})
        legacy = [{**r, "configs": [{"name": "log.retention.ms", "value": "1000"}]} for r in resources[:2]]
        replaced = client.request(33, 2, {"resources": legacy, "validate_only": False})
    errors = [(r["error_code"], r["error_message"]) for r in [*answer["responses"], *replaced["responses"]]]
    assert errors == [(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed.")] * 5
    assert json.loads((b.data_dir / FILE_NAME).read_text())["per_broker"] == {}


def test_max_connections_per_ip_changes_for_new_connections(broker_factory: Callable[..., BrokerProcess]) -> None:
    from tests.integration.test_connections import answered

    b = broker_factory()

    def both_admitted() -> bool:
        """Two new connections both answered (the broker may not yet have counted out closed ones), and a
        third closed at once while the limit is 2, answered once it is gone."""
        with WireClient.connect(b.bootstrap) as first, WireClient.connect(b.bootstrap) as second:
            if not (answered(first, TIMEOUT) and answered(second, TIMEOUT)):
                return False
            with WireClient.connect(b.bootstrap) as third:
                return third.is_closed_by_peer(timeout=TIMEOUT) if limit else answered(third, TIMEOUT)

    for limit in ("2", None):
        deadline = Deadline(TIMEOUT, f"max.connections.per.ip={limit}")
        while True:  # the alter's own connection counts too until the broker sees it closed
            try:
                alter_broker(b.bootstrap, "", set_entry("max.connections.per.ip", limit) if limit else
                             delete_entry("max.connections.per.ip"))
                break
            except ConnectionError:
                deadline.check()
        while not both_admitted():
            deadline.check()
    assert "rejected connection" in b.stderr_text()
