"""Helpers for testing against kafkapy (and any Kafka): a raw wire client."""
