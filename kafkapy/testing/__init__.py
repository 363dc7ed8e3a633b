"""Testing with kafkapy: a real broker per test session (KafkaBroker), a pytest plugin, a wire client, helpers."""

from kafkapy.server.startup import StartupError
from kafkapy.testing.broker import KafkaBroker, open_kafka_broker
from kafkapy.testing.helpers import (
    ConsumedRecord,
    GroupDescription,
    WaitTimeout,
    beginning_offsets,
    committed_offsets,
    consume,
    describe_group,
    end_offsets,
    group_lag,
    produce,
    single_record,
    topic_configs,
    wait_for_group,
)

__all__ = [
    "ConsumedRecord",
    "GroupDescription",
    "KafkaBroker",
    "StartupError",
    "WaitTimeout",
    "beginning_offsets",
    "committed_offsets",
    "consume",
    "describe_group",
    "end_offsets",
    "group_lag",
    "open_kafka_broker",
    "produce",
    "single_record",
    "topic_configs",
    "wait_for_group",
]
