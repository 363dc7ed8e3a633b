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
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import for_code
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import OffsetAndMetadata

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pydriver import (  # noqa: E402
    ClientConfig,
    ClientError,
    Driver,
    Message,
    Unsupported,
    classic_group_only,
    codec,
    instance_ids,
    isolation_level,
    messages,
    run_group,
    send_offsets,
    serve,
    start_offsets,
)

TIMEOUT_MS = 15000
# aiokafka has no cooperative-sticky assignor (no KIP-429).
ASSIGNORS = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}


def to_message(r: Any) -> Message:
    return Message(r.key, r.value, tuple(r.headers or ()), r.timestamp, r.partition, r.offset)


class Member:
    """One subscribed AIOKafkaConsumer of a group_consume run (see pydriver.run_group)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer

    async def poll(self, timeout_s: float) -> list[Message]:
        batches = await self.consumer.getmany(timeout_ms=int(timeout_s * 1000))
        return [to_message(r) for records in batches.values() for r in records]

    async def assignment(self) -> list[int]:
        return [tp.partition for tp in self.consumer.assignment()]

    async def commit(self) -> None:
        await self.consumer.commit()

    async def close(self) -> None:
        await self.consumer.stop()


def kafka_error(code: int, message: str | None = None) -> ClientError:
    cls = for_code(code)
    return ClientError(cls.message, message or cls.description)


class AiokafkaDriver(Driver):
    client = "aiokafka"
    version = aiokafka.__version__

    def __init__(self, bootstrap: str, client_config: ClientConfig) -> None:
        super().__init__(bootstrap, client_config)
        # Every client's connection settings: the broker and the --client-config security ones.
        self.common: dict[str, Any] = {"bootstrap_servers": bootstrap, **self.security}
        self.producers: dict[tuple[Any, ...], AIOKafkaProducer] = {}
        self.txn_producers: dict[str, AIOKafkaProducer] = {}
        self._admin: AIOKafkaAdminClient | None = None
        self._lookup: AIOKafkaConsumer | None = None

    def security_settings(self, config: ClientConfig) -> dict[str, Any]:
        """aiokafka's names; TLS through an SSLContext (aiokafka takes no CA/cert file paths)."""
        settings: dict[str, Any] = {"security_protocol": config.security_protocol}
        settings |= config.python_sasl(("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"))
        if config.ssl:
            settings["ssl_context"] = create_ssl_context(
                cafile=config.ssl_ca_location, certfile=config.ssl_certificate_location, keyfile=config.ssl_key_location
            )
        return settings

    async def admin(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(**self.common, request_timeout_ms=TIMEOUT_MS)
            await admin.start()
            self._admin = admin
        return self._admin

    async def consumer(self, isolation: str = "read_uncommitted") -> AIOKafkaConsumer:
        c = AIOKafkaConsumer(
            **self.common, enable_auto_commit=False, group_id=None, isolation_level=isolation
        )
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
        if request.get("batch_bytes"):
            settings["max_batch_size"] = int(request["batch_bytes"])
        key = tuple(sorted(settings.items()))
        if key not in self.producers:
            producer = AIOKafkaProducer(**self.common, **settings)
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
        results = [{"partition": md.partition, "offset": md.offset} for md in sent]
        return {"results": results, "throttle_time_ms": None}  # aiokafka exposes no throttle time

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
        consumer = await self.consumer(isolation_level(request))
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
                    got.extend(to_message(r).to_wire() for r in records)
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

    async def op_txn_produce(self, request: dict[str, Any]) -> dict[str, Any]:
        """begin, send, send_offsets_to_transaction (optional), commit or abort (KIP-98)."""
        tid = request["transactional_id"]
        if tid not in self.txn_producers:
            producer = AIOKafkaProducer(**self.common, transactional_id=tid, linger_ms=5)
            await producer.start()  # InitProducerId
            self.txn_producers[tid] = producer
        producer = self.txn_producers[tid]
        await producer.begin_transaction()
        futures = [
            await producer.send(request["topic"], value=m.value, key=m.key, headers=list(m.headers),
                                partition=m.partition)  # fmt: skip
            for m in messages(request)
        ]
        sent = await asyncio.wait_for(asyncio.gather(*futures), timeout=30)
        if (offsets := send_offsets(request)) is not None:
            group, topic, positions = offsets
            tps = {TopicPartition(topic, p): OffsetAndMetadata(o, "") for p, o in positions.items()}
            await producer.send_offsets_to_transaction(tps, group)
        if request.get("end", "commit") == "commit":
            await producer.commit_transaction()
        else:
            await producer.abort_transaction()
        return {"results": [{"partition": md.partition, "offset": md.offset} for md in sent]}

    async def op_group_consume(self, request: dict[str, Any]) -> dict[str, Any]:
        classic_group_only(request, "aiokafka")
        settings: dict[str, Any] = {
            **self.common,
            "group_id": request["group"],
            "auto_offset_reset": "earliest",
            "enable_auto_commit": False,
            "session_timeout_ms": int(request.get("session_timeout_ms", 6000)),
            "heartbeat_interval_ms": 500,
        }
        if request.get("assignor"):
            if request["assignor"] not in ASSIGNORS:
                raise Unsupported(f"aiokafka has no {request['assignor']} assignor")
            settings["partition_assignment_strategy"] = (ASSIGNORS[request["assignor"]],)
        members = []
        for instance in instance_ids(request):
            consumer = AIOKafkaConsumer(request["topic"], group_instance_id=instance, **settings)
            await consumer.start()
            members.append(Member(consumer))
        return await run_group(request, members)

    async def op_delete_topic(self, request: dict[str, Any]) -> dict[str, Any]:
        response = await (await self.admin()).delete_topics([request["topic"]], timeout_ms=TIMEOUT_MS)
        for _name, code, *_ in response.topic_error_codes:
            if code:
                raise kafka_error(code)
        return {}

    async def op_create_partitions(self, request: dict[str, Any]) -> dict[str, Any]:
        new = {request["topic"]: NewPartitions(int(request["count"]))}
        response = await (await self.admin()).create_partitions(new, timeout_ms=TIMEOUT_MS)
        for _name, code, message, *_ in response.topic_errors:
            if code:
                raise kafka_error(code, message)
        return {}

    async def op_describe_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        resource = ConfigResource(ConfigResourceType.TOPIC, request["topic"])
        [response] = await (await self.admin()).describe_configs([resource])
        [(code, message, _type, _name, entries, *_)] = response.resources
        if code:
            raise kafka_error(code, message)
        return {"configs": {name: value for name, value, *_ in entries}}

    async def op_alter_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        # AIOKafkaAdminClient.alter_configs sends AlterConfigs, which replaces the whole set of
        # dynamic configs; there is no IncrementalAlterConfigs (KIP-339) in aiokafka.
        raise Unsupported("aiokafka has no incremental alter configs")

    async def op_delete_records(self, request: dict[str, Any]) -> dict[str, Any]:
        topic = request["topic"]
        offsets = {TopicPartition(topic, int(p)): RecordsToDelete(int(o)) for p, o in request["offsets"].items()}
        found = await (await self.admin()).delete_records(offsets, timeout_ms=TIMEOUT_MS)
        return {"low_watermarks": {str(tp.partition): low for tp, low in found.items()}}

    async def op_list_groups(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"groups": sorted(g[0] for g in await (await self.admin()).list_consumer_groups())}

    async def op_describe_group(self, request: dict[str, Any]) -> dict[str, Any]:
        [response] = await (await self.admin()).describe_consumer_groups([request["group"]])
        [group] = response.groups
        code, _gid, state, _ptype, _protocol, members, *_ = group
        if code:
            raise kafka_error(code)
        return {"state": state, "members": [{"member_id": m[0], "assigned": []} for m in members]}

    async def close(self) -> None:
        for p in [*self.producers.values(), *self.txn_producers.values()]:
            await p.stop()
        if self._lookup is not None:
            await self._lookup.stop()
        if self._admin is not None:
            await self._admin.close()


if __name__ == "__main__":
    serve(AiokafkaDriver)
