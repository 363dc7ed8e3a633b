"""aiokafka driver: scenario steps become AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient calls.

The ops are coroutines; pydriver runs them on one event loop kept for the driver's lifetime, so the
producers cached between steps stay bound to the loop they were started on.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pydriver import ClientError, Driver, Message, codec, messages, serve, start_offsets  # noqa: E402

TIMEOUT_MS = 15000


def kafka_error(code: int, message: str | None = None) -> ClientError:
    cls = for_code(code)
    return ClientError(cls.message, message or cls.description)


class AiokafkaDriver(Driver):
    client = "aiokafka"
    version = aiokafka.__version__

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap)
        self.producers: dict[tuple[Any, ...], AIOKafkaProducer] = {}
        self._admin: AIOKafkaAdminClient | None = None
        self._lookup: AIOKafkaConsumer | None = None

    async def admin(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=TIMEOUT_MS)
            await admin.start()
            self._admin = admin
        return self._admin

    async def consumer(self) -> AIOKafkaConsumer:
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
        await c.start()
        return c

    async def lookup(self) -> AIOKafkaConsumer:
        """A consumer kept for offset and partition queries; it is never assigned."""
        if self._lookup is None:
            self._lookup = await self.consumer()
        return self._lookup

    async def producer(self, request: dict[str, Any]) -> AIOKafkaProducer:
        name = codec(request)
        acks = request.get("acks", "all")
        settings: dict[str, Any] = {
            "compression_type": None if name == "none" else name,
            "acks": "all" if acks == "all" else int(acks),
            "enable_idempotence": bool(request.get("idempotent", False)),
            "linger_ms": 5,
            "request_timeout_ms": TIMEOUT_MS,
        }
        if request.get("max_request_bytes"):
            settings["max_request_size"] = int(request["max_request_bytes"])
        key = tuple(sorted(settings.items()))
        if key not in self.producers:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **settings)
            await producer.start()
            self.producers[key] = producer
        return self.producers[key]

    async def op_produce(self, request: dict[str, Any]) -> dict[str, Any]:
        producer = await self.producer(request)
        futures = []
        for m in messages(request):
            if m.partition is not None and m.partition not in await self.partitions(request["topic"]):
                # aiokafka asserts on this; Kafka's answer for a partition the topic lacks is this error.
                raise ClientError("UNKNOWN_TOPIC_OR_PARTITION", f"partition {m.partition} not in metadata")
            futures.append(
                await producer.send(
                    request["topic"],
                    value=m.value,
                    key=m.key,
                    headers=list(m.headers),
                    partition=m.partition,
                    timestamp_ms=m.timestamp,
                )
            )
        sent = await asyncio.wait_for(asyncio.gather(*futures), timeout=30)
        return {"results": [{"partition": md.partition, "offset": md.offset} for md in sent]}

    async def describe(self, names: list[str] | None) -> dict[str, Any]:
        """Metadata per topic, asking only about existing ones: describe_topics would auto-create the rest."""
        admin = await self.admin()
        existing = set(await admin.list_topics())
        wanted = sorted(existing) if names is None else names
        known = [n for n in wanted if n in existing]
        found = {t["topic"]: t for t in await admin.describe_topics(known)} if known else {}
        missing = {"partitions": [], "error_code": for_code(3).errno}
        return {n: found.get(n, missing) for n in wanted}

    async def partitions(self, topic: str) -> list[int]:
        t = (await self.describe([topic]))[topic]
        if t["error_code"]:
            raise kafka_error(t["error_code"])
        return sorted(p["partition"] for p in t["partitions"])

    async def op_consume(self, request: dict[str, Any]) -> dict[str, Any]:
        topic, count = request["topic"], int(request["count"])
        parts = request.get("partitions") or await self.partitions(topic)
        consumer = await self.consumer()
        try:
            tps = {p: TopicPartition(topic, p) for p in parts}
            consumer.assign(list(tps.values()))
            for p, start in start_offsets(request, parts).items():
                if start == "earliest":
                    await consumer.seek_to_beginning(tps[p])
                elif start == "latest":
                    await consumer.seek_to_end(tps[p])
                else:
                    consumer.seek(tps[p], int(start))
            got: list[dict[str, Any]] = []
            deadline = time.monotonic() + int(request.get("timeout_ms", 10000)) / 1000
            while len(got) < count and (left := deadline - time.monotonic()) > 0:
                batches = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000), max_records=count - len(got))
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
            await consumer.stop()

    async def op_watermarks(self, request: dict[str, Any]) -> dict[str, Any]:
        tp = TopicPartition(request["topic"], int(request["partition"]))
        lookup = await self.lookup()
        low = (await lookup.beginning_offsets([tp]))[tp]
        high = (await lookup.end_offsets([tp]))[tp]
        return {"low": low, "high": high}

    async def op_offsets_for_times(self, request: dict[str, Any]) -> dict[str, Any]:
        tp = TopicPartition(request["topic"], int(request["partition"]))
        found = (await (await self.lookup()).offsets_for_times({tp: int(request["timestamp"])}))[tp]
        return {"offset": -1 if found is None else found.offset}

    async def op_metadata(self, request: dict[str, Any]) -> dict[str, Any]:
        admin = await self.admin()
        cluster = await admin.describe_cluster()
        brokers = [{"id": b["node_id"], "host": b["host"], "port": b["port"]} for b in cluster["brokers"]]
        topics: dict[str, Any] = {}
        for name, t in (await self.describe(request.get("topics"))).items():
            entry: dict[str, Any] = {"partitions": len(t["partitions"])}
            if t["error_code"]:
                entry["error"] = for_code(t["error_code"]).message
            topics[name] = entry
        return {"brokers": brokers, "topics": topics}

    async def op_create_topic(self, request: dict[str, Any]) -> dict[str, Any]:
        new = NewTopic(
            request["topic"],
            num_partitions=int(request.get("partitions", 1)),
            replication_factor=int(request.get("replication_factor", 1)),
            topic_configs=dict(request.get("configs") or {}),
        )
        response = await (await self.admin()).create_topics([new], timeout_ms=TIMEOUT_MS)
        for _name, code, *message in response.topic_errors:
            if code:
                raise kafka_error(code, message[0] if message else None)
        return {}

    async def close(self) -> None:
        for p in self.producers.values():
            await p.stop()
        if self._lookup is not None:
            await self._lookup.stop()
        if self._admin is not None:
            await self._admin.close()


if __name__ == "__main__":
    serve(AiokafkaDriver)
