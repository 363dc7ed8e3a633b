"""The raw wire client, kept here for code that imports it from kafkapy.testing: it lives in
kafkapy.client.wire."""

from kafkapy.client.wire import WireClient

__all__ = ["WireClient"]
