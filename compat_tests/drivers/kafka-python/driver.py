"""kafka-python driver: scenario steps become KafkaProducer / KafkaConsumer / KafkaAdminClient calls."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pydriver import ClientError, Driver, Message, codec, messages, serve, start_offsets  # noqa: E402

TIMEOUT_MS = 15000


class KafkaPythonDriver(Driver):
    client = "kafka-python"
    version = kafka.__version__

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap)
        self.producers: dict[tuple[Any, ...], KafkaProducer] = {}
        self._admin: KafkaAdminClient | None = None
        self._lookup: KafkaConsumer | None = None

    def admin(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=TIMEOUT_MS)
        return self._admin

    def lookup(self) -> KafkaConsumer:
        """A consumer kept for offset queries; it is never assigned."""
        if self._lookup is None:
            self._lookup = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        return self._lookup

    def producer(self, request: dict[str, Any]) -> KafkaProducer:
        name = codec(request)
        acks = request.get("acks", "all")
        settings: dict[str, Any] = {
            "compression_type": None if name == "none" else name,
            "acks": "all" if acks == "all" else int(acks),
            "enable_idempotence": bool(request.get("idempotent", False)),
            "linger_ms": 5,
            "max_block_ms": 10000,
            "request_timeout_ms": TIMEOUT_MS,
            "delivery_timeout_ms": 20000,
        }
        if request.get("max_request_bytes"):
            settings["max_request_size"] = int(request["max_request_bytes"])
        key = tuple(sorted(settings.items()))
        if key not in self.producers:
            self.producers[key] = KafkaProducer(bootstrap_servers=self.bootstrap, **settings)
        return self.producers[key]

    def op_produce(self, request: dict[str, Any]) -> dict[str, Any]:
        producer = self.producer(request)
        try:
            futures = [
                producer.send(
                    request["topic"],
                    value=m.value,
                    key=m.key,
                    headers=list(m.headers),
                    partition=m.partition,
                    timestamp_ms=m.timestamp,
                )
                for m in messages(request)
            ]
        except ValueError as exc:  # kafka-python checks names and partitions itself, before any request
            if "Unrecognized partition" in str(exc):
                raise ClientError("UNKNOWN_TOPIC_OR_PARTITION", str(exc)) from exc
            if "Topic name" in str(exc):
                raise ClientError("INVALID_TOPIC_EXCEPTION", str(exc)) from exc
            raise
        producer.flush(timeout=30)
        results = []
        for f in futures:
            md = f.get(timeout=30)
            results.append({"partition": md.partition, "offset": md.offset})
        return {"results": results}

    def partitions(self, topic: str) -> list[int]:
        found = self.lookup().partitions_for_topic(topic)
        if not found:
            raise ClientError("UNKNOWN_TOPIC_OR_PARTITION", f"no partitions for {topic}")
        return sorted(found)

    def op_consume(self, request: dict[str, Any]) -> dict[str, Any]:
        topic, count = request["topic"], int(request["count"])
        parts = request.get("partitions") or self.partitions(topic)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
        try:
            tps = {p: TopicPartition(topic, p) for p in parts}
            consumer.assign(list(tps.values()))
            for p, start in start_offsets(request, parts).items():
                if start == "earliest":
                    consumer.seek_to_beginning(tps[p])
                elif start == "latest":
                    consumer.seek_to_end(tps[p])
                else:
                    consumer.seek(tps[p], int(start))
            got: list[dict[str, Any]] = []
            deadline = time.monotonic() + int(request.get("timeout_ms", 10000)) / 1000
            while len(got) < count and (left := deadline - time.monotonic()) > 0:
                batches = consumer.poll(timeout_ms=int(min(left, 0.5) * 1000), max_records=count - len(got))
                for records in batches.values():
                    got.extend(
                        Message(
                            key=r.key,
                            value=r.value,
                            headers=tuple(r.headers or ()),
                            timestamp=r.timestamp,
                            partition=r.partition,
                            offset=r.offset,
                        ).to_wire()
                        for r in records
                    )
            return {"messages": got}
        finally:
            consumer.close()

    def op_watermarks(self, request: dict[str, Any]) -> dict[str, Any]:
        tp = TopicPartition(request["topic"], int(request["partition"]))
        low = self.lookup().beginning_offsets([tp], timeout_ms=TIMEOUT_MS)[tp]
        high = self.lookup().end_offsets([tp], timeout_ms=TIMEOUT_MS)[tp]
        return {"low": low, "high": high}

    def op_offsets_for_times(self, request: dict[str, Any]) -> dict[str, Any]:
        tp = TopicPartition(request["topic"], int(request["partition"]))
        found = self.lookup().offsets_for_times({tp: int(request["timestamp"])}, timeout_ms=TIMEOUT_MS)[tp]
        return {"offset": -1 if found is None else found.offset}

    def op_metadata(self, request: dict[str, Any]) -> dict[str, Any]:
        cluster = self.admin().describe_cluster()
        brokers = [{"id": b["broker_id"], "host": b["host"], "port": b["port"]} for b in cluster["brokers"]]
        names = request.get("topics") or self.admin().list_topics()
        topics: dict[str, Any] = {}
        for t in self.admin().describe_topics(names):
            entry: dict[str, Any] = {"partitions": len(t["partitions"])}
            if t["error_code"]:
                entry["error"] = kafka.errors.for_code(t["error_code"]).message
            topics[t["name"]] = entry
        return {"brokers": brokers, "topics": topics}

    def op_create_topic(self, request: dict[str, Any]) -> dict[str, Any]:
        new = NewTopic(
            request["topic"],
            num_partitions=int(request.get("partitions", 1)),
            replication_factor=int(request.get("replication_factor", 1)),
            topic_configs=dict(request.get("configs") or {}),
        )
        self.admin().create_topics([new], timeout_ms=TIMEOUT_MS, raise_errors=True)
        return {}

    def close(self) -> None:
        for p in self.producers.values():
            p.close(timeout=5)
        for c in (self._lookup, self._admin):
            if c is not None:
                c.close()


if __name__ == "__main__":
    serve(KafkaPythonDriver)
