"""GROUP config resources over the wire: IncrementalAlterConfigs / AlterConfigs set a group's overrides,
DescribeConfigs shows them over the broker's group.* configs (server.properties bounds included), and they
are kept in the data dir across a restart and kill -9; Broker.reset forgets them."""

from __future__ import annotations

import json
from collections.abc import Callable

from kafkapy.client.wire import WireClient
from kafkapy.coordinator.group_config_store import FILE_NAME
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import incremental_alter_configs

TIMEOUT = 15
GROUP = 32
SET, DELETE = 0, 1


def alter_group(bootstrap: str, group: str, *changes: tuple[str, int, str | None]) -> dict:
    return incremental_alter_configs(bootstrap, GROUP, group, *changes, timeout=TIMEOUT)


def described(bootstrap: str, group: str) -> dict[str, tuple[str, int]]:
    body = {
        "resources": [{"resource_type": GROUP, "resource_name": group, "configuration_keys": None}],
        "include_synonyms": True,
        "include_documentation": False,
    }
    with WireClient.connect(bootstrap, timeout=TIMEOUT) as client:
        (result,) = client.request(32, 4, body)["results"]
    assert result["error_code"] == 0, result
    return {e["name"]: (e["value"], e["config_source"]) for e in result["configs"]}


def test_group_configs_survive_restart_and_kill9(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory()
    assert alter_group(b.bootstrap, "g", ("consumer.session.timeout.ms", SET, "50000"))["error_code"] == 0
    assert alter_group(b.bootstrap, "h", ("share.auto.offset.reset", SET, "earliest"))["error_code"] == 0
    for crash in (False, True):
        b.restart(crash=crash)
        assert described(b.bootstrap, "g")["consumer.session.timeout.ms"] == ("50000", 8), crash
        assert described(b.bootstrap, "h")["share.auto.offset.reset"] == ("earliest", 8), crash
    assert json.loads((b.data_dir / FILE_NAME).read_text())["groups"] == {
        "g": {"consumer.session.timeout.ms": "50000"},
        "h": {"share.auto.offset.reset": "earliest"},
    }


def test_bounds_follow_server_properties(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory(
        extra_args=(
            "--override", "group.consumer.min.session.timeout.ms=2000",
            "--override", "group.consumer.session.timeout.ms=10000",
        )
    )  # fmt: skip
    refused = alter_group(b.bootstrap, "g", ("consumer.session.timeout.ms", SET, "1000"))
    assert refused["error_code"] == 40 and "group.consumer.min.session.timeout.ms" in refused["error_message"]
    # A session timeout at or below the heartbeat interval (Kafka's default 5000) is refused too.
    refused = alter_group(b.bootstrap, "g", ("consumer.session.timeout.ms", SET, "5000"))
    assert refused["error_message"] == "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"
    assert alter_group(b.bootstrap, "g", ("consumer.session.timeout.ms", SET, "6000"))["error_code"] == 0
    configs = described(b.bootstrap, "g")
    assert configs["consumer.session.timeout.ms"] == ("6000", 8)
    # A broker config server.properties sets is the STATIC_BROKER_CONFIG synonym.
    assert described(b.bootstrap, "other")["consumer.session.timeout.ms"] == ("10000", 4)
    assert alter_group(b.bootstrap, "g", ("consumer.session.timeout.ms", DELETE, None))["error_code"] == 0
    assert described(b.bootstrap, "g")["consumer.session.timeout.ms"] == ("10000", 4)


def test_reset_forgets_group_configs(broker: BrokerProcess) -> None:
    assert alter_group(broker.bootstrap, "g", ("consumer.session.timeout.ms", SET, "50000"))["error_code"] == 0
    broker.reset()
    assert described(broker.bootstrap, "g")["consumer.session.timeout.ms"] == ("45000", 5)


def test_an_override_takes_effect_on_the_next_heartbeat(broker: BrokerProcess) -> None:
    """consumer.heartbeat.interval.ms set on the GROUP resource is what the coordinator tells the
    group's members (ConsumerGroupHeartbeat's heartbeat_interval_ms), from the next heartbeat on."""
    with WireClient.connect(broker.bootstrap, timeout=TIMEOUT) as client:
        body = {"topics": [{"name": "t", "num_partitions": 1, "replication_factor": 1, "assignments": [],
                            "configs": []}], "timeout_ms": 10000, "validate_only": False}
        assert client.request(19, 5, body).topics[0].error_code == 0

        def heartbeat(epoch: int) -> tuple[int, int]:
            request = {"group_id": "g", "member_id": "m" * 22, "member_epoch": epoch, "rebalance_timeout_ms": 30000,
                       "subscribed_topic_names": ["t"] if epoch == 0 else None,
                       "topic_partitions": [] if epoch == 0 else None}
            response = client.request(68, 1, request)
            assert response.error_code == 0, response
            return response.member_epoch, response.heartbeat_interval_ms

        epoch, interval = heartbeat(0)
        assert interval == 5000  # Kafka's group.consumer.heartbeat.interval.ms
        assert alter_group(broker.bootstrap, "g", ("consumer.heartbeat.interval.ms", SET, "6000"))["error_code"] == 0
        assert heartbeat(epoch)[1] == 6000
