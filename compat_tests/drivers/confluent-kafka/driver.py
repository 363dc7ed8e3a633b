"""confluent-kafka (librdkafka) driver: scenario steps become Producer / Consumer / AdminClient calls."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pydriver import ClientError, Driver, Message, codec, messages, serve, start_offsets  # noqa: E402

REQUEST_TIMEOUT_S = 15.0


def client_error(err: KafkaError) -> ClientError:
    return ClientError(err.name(), err.str())


def unwrap(exc: KafkaException) -> ClientError:
    """The KafkaError inside a KafkaException, as a ClientError."""
    err = exc.args[0] if exc.args else None
    return client_error(err) if isinstance(err, KafkaError) else ClientError(type(exc).__name__, str(exc))


class ConfluentDriver(Driver):
    client = "confluent-kafka"
    version = confluent_kafka.__version__

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap)
        self.conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "broker.address.family": "v4"}
        self.producers: dict[tuple[Any, ...], Producer] = {}
        self._admin: AdminClient | None = None
        self._lookup: Consumer | None = None

    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self.conf)
        return self._admin

    def lookup(self) -> Consumer:
        """A consumer kept for offset queries (watermarks, offsets for times); it never subscribes."""
        if self._lookup is None:
            self._lookup = Consumer({**self.conf, "group.id": "compat-lookup", "enable.auto.commit": False})
        return self._lookup

    def producer(self, request: dict[str, Any]) -> Producer:
        settings = {
            "compression.type": codec(request),
            "acks": str(request.get("acks", "all")),
            "enable.idempotence": bool(request.get("idempotent", False)),
            "message.timeout.ms": 20000,
            "linger.ms": 5,
        }
        if request.get("max_request_bytes"):
            settings["message.max.bytes"] = int(request["max_request_bytes"])
        key = tuple(sorted(settings.items()))
        if key not in self.producers:
            self.producers[key] = Producer({**self.conf, **settings})
        return self.producers[key]

    def op_produce(self, request: dict[str, Any]) -> dict[str, Any]:
        producer = self.producer(request)
        msgs = messages(request)
        results: list[dict[str, Any] | None] = [None] * len(msgs)
        errors: list[KafkaError] = []

        def delivered(index: int) -> Any:
            def callback(err: KafkaError | None, msg: Any) -> None:
                if err is not None:
                    errors.append(err)
                else:
                    results[index] = {"partition": msg.partition(), "offset": msg.offset()}

            return callback

        for i, m in enumerate(msgs):
            try:
                producer.produce(
                    request["topic"],
                    value=m.value,
                    key=m.key,
                    headers=list(m.headers),
                    partition=-1 if m.partition is None else m.partition,
                    timestamp=m.timestamp or 0,
                    on_delivery=delivered(i),
                )
            except KafkaException as exc:
                raise unwrap(exc) from exc
            producer.poll(0)
        remaining = producer.flush(30)
        if errors:
            raise client_error(errors[0])
        if remaining:
            raise ClientError("Timeout", f"{remaining} messages not delivered in 30s")
        return {"results": results}

    def partitions(self, topic: str) -> list[int]:
        md = self.admin().list_topics(topic, timeout=REQUEST_TIMEOUT_S).topics[topic]
        if md.error is not None:
            raise client_error(md.error)
        return sorted(md.partitions)

    def op_consume(self, request: dict[str, Any]) -> dict[str, Any]:
        topic, count = request["topic"], int(request["count"])
        parts = request.get("partitions") or self.partitions(topic)
        positions = {"earliest": OFFSET_BEGINNING, "latest": OFFSET_END}
        starts = start_offsets(request, parts)
        consumer = Consumer({**self.conf, "group.id": "compat-unused", "enable.auto.commit": False})
        try:
            consumer.assign([TopicPartition(topic, p, positions.get(o, o)) for p, o in starts.items()])  # type: ignore[arg-type]
            got: list[dict[str, Any]] = []
            deadline = time.monotonic() + int(request.get("timeout_ms", 10000)) / 1000
            while len(got) < count and (left := deadline - time.monotonic()) > 0:
                msg = consumer.poll(min(left, 0.5))
                if msg is None:
                    continue
                if msg.error() is not None:
                    raise client_error(msg.error())
                got.append(
                    Message(
                        key=msg.key(),
                        value=msg.value(),
                        headers=tuple(msg.headers() or ()),
                        timestamp=msg.timestamp()[1],
                        partition=msg.partition(),
                        offset=msg.offset(),
                    ).to_wire()
                )
            return {"messages": got}
        finally:
            consumer.close()

    def op_watermarks(self, request: dict[str, Any]) -> dict[str, Any]:
        tp = TopicPartition(request["topic"], int(request["partition"]))
        try:
            low, high = self.lookup().get_watermark_offsets(tp, timeout=REQUEST_TIMEOUT_S, cached=False)
        except KafkaException as exc:
            raise unwrap(exc) from exc
        return {"low": low, "high": high}

    def op_offsets_for_times(self, request: dict[str, Any]) -> dict[str, Any]:
        tp = TopicPartition(request["topic"], int(request["partition"]), int(request["timestamp"]))
        try:
            [found] = self.lookup().offsets_for_times([tp], timeout=REQUEST_TIMEOUT_S)
        except KafkaException as exc:
            raise unwrap(exc) from exc
        if found.error is not None:
            raise client_error(found.error)
        return {"offset": found.offset if found.offset >= 0 else -1}

    def op_metadata(self, request: dict[str, Any]) -> dict[str, Any]:
        md = self.admin().list_topics(timeout=REQUEST_TIMEOUT_S)
        names = request.get("topics")
        topics: dict[str, Any] = {}
        for name in md.topics if names is None else names:
            t = md.topics.get(name)
            if t is None:
                topics[name] = {"partitions": 0, "error": "UNKNOWN_TOPIC_OR_PARTITION"}
            elif t.error is not None:
                topics[name] = {"partitions": len(t.partitions), "error": client_error(t.error).error}
            else:
                topics[name] = {"partitions": len(t.partitions)}
        brokers = [{"id": b.id, "host": b.host, "port": b.port} for b in md.brokers.values()]
        return {"brokers": brokers, "topics": topics}

    def op_create_topic(self, request: dict[str, Any]) -> dict[str, Any]:
        new = NewTopic(
            request["topic"],
            num_partitions=int(request.get("partitions", 1)),
            replication_factor=int(request.get("replication_factor", 1)),
            config=dict(request.get("configs") or {}),
        )
        future = self.admin().create_topics([new], operation_timeout=REQUEST_TIMEOUT_S)[request["topic"]]
        try:
            future.result(timeout=REQUEST_TIMEOUT_S + 5)
        except KafkaException as exc:
            raise unwrap(exc) from exc
        return {}

    def close(self) -> None:
        for p in self.producers.values():
            p.flush(5)
        if self._lookup is not None:
            self._lookup.close()


if __name__ == "__main__":
    serve(ConfluentDriver)
