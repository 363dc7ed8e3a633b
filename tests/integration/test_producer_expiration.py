"""producer.id.expiration.ms: an idle producer id leaves each partition's producer state (Kafka 3+).

The broker runs with a 2 s expiration checked every 200 ms; each test polls DescribeProducers for
the producer to go (or to stay) with generous deadlines. Before this, producer ids stayed forever:
DescribeProducers kept listing them and a retried batch was deduplicated however old.
"""

from __future__ import annotations

from collections.abc import Callable

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess
from tests.integration.clientutil import create_topic_wire, produce_wire, unique_topic
from tests.integration.grouputil import wait_until
from tests.integration.test_transactions_wire import add_partitions, end, init, produce_txn

EXPIRATION_MS = 2000
SETTLE_S = 30.0


def expiring_broker(broker_factory: Callable[..., BrokerProcess]) -> BrokerProcess:
    return broker_factory(
        extra_args=(
            "--override",
            f"producer.id.expiration.ms={EXPIRATION_MS}",
            "--override",
            "producer.id.expiration.check.interval.ms=200",
        )
    )


def producers(client: WireClient, topic: str) -> list[int]:
    """The producer ids DescribeProducers lists for partition 0."""
    body = {"topics": [{"name": topic, "partition_indexes": [0]}]}
    partition = client.request(ApiKey.DESCRIBE_PRODUCERS, 0, body).topics[0].partitions[0]
    assert partition.error_code == ErrorCode.NONE
    return sorted(p.producer_id for p in partition.active_producers)


def test_an_idle_producer_expires_and_a_restart_does_not_bring_it_back(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    broker = expiring_broker(broker_factory)
    topic = unique_topic("pid-expiry")
    with WireClient.connect(broker.bootstrap) as client:
        # Segments of one batch each: the second append rolls, and the roll snapshots the producer state.
        create_topic_wire(client, topic, **{"segment.bytes": "1024"})
        pid, epoch = init(client, None)
        first = build_batch([(None, b"a" * 600, [], None)], producer_id=pid, producer_epoch=epoch, base_sequence=0)
        assert produce_wire(client, topic, first) == 0
        assert produce_wire(client, topic, first) == 0  # a retry, deduplicated while the producer is known
        assert producers(client, topic) == [pid]
        assert produce_wire(client, topic, build_batch([(None, b"b" * 600, [], None)])) == 1
        wait_until(lambda: producers(client, topic) == [], SETTLE_S, f"producer {pid} expired")
    # Killed: no clean-shutdown snapshot; the roll's snapshot still holds the producer.
    broker.restart(crash=True)
    with WireClient.connect(broker.bootstrap) as client:
        assert producers(client, topic) == []
        # Forgotten: the old batch is no longer a duplicate (as in Kafka).
        assert produce_wire(client, topic, first) == 2


def test_a_producer_in_a_transaction_does_not_expire(broker_factory: Callable[..., BrokerProcess]) -> None:
    broker = expiring_broker(broker_factory)
    topic, txn_id = unique_topic("pid-txn"), unique_topic("txn")
    with WireClient.connect(broker.bootstrap) as client:
        create_topic_wire(client, topic)
        pid, epoch = init(client, txn_id)
        assert add_partitions(client, txn_id, pid, epoch, topic, [0]) == {0: ErrorCode.NONE}
        assert produce_txn(client, txn_id, pid, epoch, topic, 0, [b"x"]).error_code == ErrorCode.NONE
        idle, idle_epoch = init(client, None)
        idle_batch = build_batch([(None, b"y", [], None)], producer_id=idle, producer_epoch=idle_epoch, base_sequence=0)
        produce_wire(client, topic, idle_batch)
        # The transactional producer wrote first, so it has been idle longer: only its open transaction keeps it.
        wait_until(lambda: producers(client, topic) == [pid], SETTLE_S, f"idle producer {idle} expired")
        assert end(client, txn_id, pid, epoch, True).error_code == ErrorCode.NONE
        wait_until(lambda: producers(client, topic) == [], SETTLE_S, f"producer {pid} expired after its commit")


def test_a_dynamic_producer_id_expiration_takes_effect_at_once(broker_factory: Callable[..., BrokerProcess]) -> None:
    """producer.id.expiration.ms is one of Kafka's dynamic broker configs: lowered on the cluster default,
    it expires a producer the static setting (1 day) would have kept."""
    broker = broker_factory(extra_args=("--override", "producer.id.expiration.check.interval.ms=200"))
    topic = unique_topic("pid-dynamic")
    with WireClient.connect(broker.bootstrap) as client:
        create_topic_wire(client, topic)
        pid, epoch = init(client, None)
        batch = build_batch([(None, b"a", [], None)], producer_id=pid, producer_epoch=epoch, base_sequence=0)
        assert produce_wire(client, topic, batch) == 0
        assert producers(client, topic) == [pid]
        change = {
            "resources": [
                {
                    "resource_type": 4,
                    "resource_name": "",
                    "configs": [{"name": "producer.id.expiration.ms", "config_operation": 0, "value": "1"}],
                }
            ],
            "validate_only": False,
        }
        result = client.request(ApiKey.INCREMENTAL_ALTER_CONFIGS, 1, change).responses[0]
        assert result.error_code == ErrorCode.NONE, result.error_message
        wait_until(lambda: producers(client, topic) == [], SETTLE_S, f"producer {pid} expired")
