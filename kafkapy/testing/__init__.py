"""Testing with kafkapy: a real broker per test session (KafkaBroker), a pytest plugin, a wire client."""

from kafkapy.testing.broker import KafkaBroker, open_kafka_broker

__all__ = ["KafkaBroker", "open_kafka_broker"]
