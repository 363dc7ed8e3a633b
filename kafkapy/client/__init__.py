"""Clients of a Kafka broker built on kafkapy's own codec: ``wire.WireClient``, one blocking connection
that sends exact requests (used by kafkapy's tools, its testing package and its tests)."""
