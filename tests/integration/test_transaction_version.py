"""Transaction version 2 and finalized features across kill -9, over raw Kafka requests to a real broker.

A transaction whose partitions Produce v12 added (no AddPartitionsToTxn) is in ``__transaction_state``
before the produce is acknowledged, so a crash keeps it ongoing, and EndTxn v5 then commits it with a
new epoch that survives the next crash (and a retry of that EndTxn still gets it). Finalized feature
levels set by UpdateFeatures survive a crash too; a damaged features file is logged and replaced by the
defaults.
"""

from __future__ import annotations

from collections.abc import Callable

from kafkapy.client.wire import WireClient
from kafkapy.features import FILE_NAME
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess
from tests.integration.test_transactions_wire import create, describe, end, init, produce_txn

TOPIC = "tv2"
TXN_ID = "tv2-txn"
TV2_PRODUCE = 12
TV2_END_TXN = 5


def produce(client: WireClient, partition: int, producer: tuple[int, int], sequence: int) -> int:
    """A one-record transactional batch by Produce v12 (which adds the partition); its error code."""
    values = [f"v{sequence}".encode()]
    return produce_txn(
        client, TXN_ID, *producer, TOPIC, sequence, values, partition=partition, version=TV2_PRODUCE
    ).error_code


def stable_offsets(client: WireClient) -> list[int]:
    """The last stable offset of each partition (ListOffsets latest, read_committed)."""
    partitions = [{"partition_index": p, "current_leader_epoch": -1, "timestamp": -1} for p in (0, 1)]
    body = {"replica_id": -1, "isolation_level": 1, "topics": [{"name": TOPIC, "partitions": partitions}]}
    return [p.offset for p in client.request(ApiKey.LIST_OFFSETS, 7, body).topics[0].partitions]


def test_a_transaction_version_2_transaction_survives_kill9(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory()
    with WireClient.connect(b.bootstrap) as client:
        create(client, TOPIC, partitions=2)
        producer_id, epoch = init(client, TXN_ID)
        assert [produce(client, p, (producer_id, epoch), 0) for p in (0, 1)] == [ErrorCode.NONE] * 2
    b.restart(crash=True)

    with WireClient.connect(b.bootstrap) as client:
        state = describe(client, TXN_ID)
        assert (state.transaction_state, state.producer_epoch) == ("Ongoing", epoch)
        assert sorted((t.topic, p) for t in state.topics for p in t.partitions) == [(TOPIC, 0), (TOPIC, 1)]
        assert stable_offsets(client) == [0, 0]
        ended = end(client, TXN_ID, producer_id, epoch, True, version=TV2_END_TXN)
        assert (ended.error_code, ended.producer_id, ended.producer_epoch) == (ErrorCode.NONE, producer_id, epoch + 1)
        assert stable_offsets(client) == [2, 2], "a record and a commit marker in each partition"
    b.restart(crash=True)

    with WireClient.connect(b.bootstrap) as client:
        state = describe(client, TXN_ID)
        assert (state.transaction_state, state.producer_epoch) == ("CompleteCommit", epoch + 1)
        assert stable_offsets(client) == [2, 2]
        retried = end(client, TXN_ID, producer_id, epoch, True, version=TV2_END_TXN)
        assert (retried.error_code, retried.producer_epoch) == (ErrorCode.NONE, epoch + 1), "a lost answer's retry"
        assert produce(client, 0, (producer_id, epoch), 1) == ErrorCode.INVALID_PRODUCER_EPOCH
        assert produce(client, 0, (producer_id, epoch + 1), 0) == ErrorCode.NONE
        assert describe(client, TXN_ID).transaction_state == "Ongoing"


def transaction_version(b: BrokerProcess) -> int | None:
    with WireClient.connect(b.bootstrap) as client:
        response = client.request(ApiKey.API_VERSIONS, 4, {"client_software_name": "t", "client_software_version": "1"})
    return next((f.max_version_level for f in response.finalized_features if f.name == "transaction.version"), None)


def test_finalized_levels_survive_kill9_and_a_damaged_file_gives_the_defaults(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    b = broker_factory()
    assert transaction_version(b) == 2
    downgrade = {"feature": "transaction.version", "max_version_level": 1, "upgrade_type": 2}
    with WireClient.connect(b.bootstrap) as client:
        body = {"timeout_ms": 60000, "feature_updates": [downgrade], "validate_only": False}
        updated = client.request(ApiKey.UPDATE_FEATURES, 2, body)
    assert (updated.error_code, updated.error_message) == (ErrorCode.NONE, None)
    b.restart(crash=True)
    assert transaction_version(b) == 1

    b.kill9()
    (b.data_dir / FILE_NAME).write_bytes(b"\x00garbage")
    b.start()
    assert transaction_version(b) == 2
    assert "finalized features file is damaged" in b.stderr_tail()
