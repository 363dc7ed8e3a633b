"""Several listeners at once: each serves, and tells its clients its own address (issue #14)."""

from __future__ import annotations

from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer

from kafkapy.client.wire import WireClient
from kafkapy.protocol.specs import ApiKey
from kafkapy.testing import KafkaBroker
from tests.broker_process import BrokerProcess

TWO_LISTENERS = (
    "--override",
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
    "--listener",
    "PLAINTEXT://127.0.0.1:0",
    "--listener",
    "INTERNAL://:0",
)


def _advertised(address: str) -> list[tuple[str, int]]:
    """What Metadata, FindCoordinator and DescribeCluster tell a client connected to ``address``."""
    with WireClient.connect(address) as client:
        meta = client.request(ApiKey.METADATA, 12, {"topics": None, "allow_auto_topic_creation": False})
        coordinator = client.request(ApiKey.FIND_COORDINATOR, 4, {"key_type": 0, "coordinator_keys": ["g"]})
        cluster = client.request(ApiKey.DESCRIBE_CLUSTER, 0, {"include_cluster_authorized_operations": False})
    return [
        (meta.brokers[0].host, meta.brokers[0].port),
        (coordinator.coordinators[0].host, coordinator.coordinators[0].port),
        (cluster.brokers[0].host, cluster.brokers[0].port),
    ]


def test_each_listener_advertises_itself(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(extra_args=TWO_LISTENERS)
    assert set(broker.listeners) == {"PLAINTEXT", "INTERNAL"}
    plaintext, internal = broker.listeners["PLAINTEXT"], broker.listeners["INTERNAL"]
    assert plaintext == broker.bootstrap and plaintext != internal
    for address in (plaintext, internal):
        host, port = address.rsplit(":", 1)
        assert _advertised(address) == [(host, int(port))] * 3


def test_advertised_listeners_per_listener(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = broker_factory(
        extra_args=(*TWO_LISTENERS, "--override", "advertised.listeners=INTERNAL://internal.example:19093")
    )
    assert _advertised(broker.listeners["INTERNAL"]) == [("internal.example", 19093)] * 3
    host, port = broker.bootstrap.rsplit(":", 1)
    assert _advertised(broker.bootstrap)[0] == (host, int(port))


def test_a_client_of_the_second_listener_stays_on_it() -> None:
    properties = {
        "listeners": "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
        # The first listener tells clients a port nobody listens on: a client bootstrapped on
        # INTERNAL that followed it would never get its records through.
        "advertised.listeners": "PLAINTEXT://127.0.0.1:1",
    }
    for in_process in (True, False):
        with KafkaBroker(config=properties, in_process=in_process, storage="memory") as kafka:
            internal = kafka.listener_bootstrap_servers("internal")
            producer = KafkaProducer(bootstrap_servers=internal, request_timeout_ms=20000)
            producer.send("t", b"over internal").get(timeout=30)
            producer.close()
            consumer = KafkaConsumer(
                "t", bootstrap_servers=internal, auto_offset_reset="earliest", consumer_timeout_ms=20000
            )
            assert [record.value for record in consumer] [:1] == [b"over internal"]
            consumer.close()
