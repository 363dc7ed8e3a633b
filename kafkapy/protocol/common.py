"""Names every layer shares, as Kafka's org.apache.kafka.common defines them.

Here rather than in a handler or the storage so that protocol, storage, coordinators and handlers
import one definition. (RecordBatch.NO_PRODUCER_ID lives with the batch format, in records.py.)
"""

from __future__ import annotations

import uuid

# Kafka's Uuid.ZERO_UUID: "no topic id" in requests and responses.
ZERO_UUID = uuid.UUID(int=0)

# Kafka's TopicPartition, as a (topic, partition) tuple: hashable and cheap to build per request.
TopicPartition = tuple[str, int]
