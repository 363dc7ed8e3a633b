"""kafka-python driver: scenario steps become KafkaProducer / KafkaConsumer / KafkaAdminClient calls."""

from __future__ import annotations

import faulthandler
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import kafka
from kafka import ConsumerGroupMetadata, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import AlterConfigOp, ConfigResource, KafkaAdminClient, NewPartitions, NewTopic
from kafka.structs import OffsetAndMetadata

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from group_member import ASSIGNORS, MemberProcess, to_message  # noqa: E402
from pydriver import (  # noqa: E402
    ClientConfig,
    ClientError,
    Driver,
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


def throttle_time_max(producer: KafkaProducer) -> int:
    """The producer's `throttle-time-max` metric (ms, any broker): the max over the sensor's recent
    samples (30 s windows), so this produce's throttling, as the driver keeps one producer per
    settings and the quota cell is its user's only producer. -inf (no sample yet) is no throttling."""
    found = [
        value
        for group in producer.metrics().values()
        for name, value in group.items()
        if name == "throttle-time-max" and isinstance(value, float) and math.isfinite(value)
    ]
    return round(max(found, default=0.0))


class KafkaPythonDriver(Driver):
    client = "kafka-python"
    version = kafka.__version__

    def __init__(self, bootstrap: str, client_config: ClientConfig) -> None:
        super().__init__(bootstrap, client_config)
        # Every client's connection settings: the broker and the --client-config security ones.
        self.common: dict[str, Any] = {"bootstrap_servers": bootstrap, **self.security}
        self.producers: dict[tuple[Any, ...], KafkaProducer] = {}
        self.txn_producers: dict[str, KafkaProducer] = {}
        self._admin: KafkaAdminClient | None = None
        self._lookup: KafkaConsumer | None = None

    def security_settings(self, config: ClientConfig) -> dict[str, Any]:
        """kafka-python's names; it has no OAUTHBEARER token source without code, so PLAIN and SCRAM only."""
        settings: dict[str, Any] = {"security_protocol": config.security_protocol}
        settings |= config.python_sasl(("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"))
        if config.ssl:
            settings |= {
                "ssl_cafile": config.ssl_ca_location,
                "ssl_certfile": config.ssl_certificate_location,
                "ssl_keyfile": config.ssl_key_location,
            }
        return settings

    def admin(self, bootstrap_timeout_ms: int = TIMEOUT_MS) -> KafkaAdminClient:
        """The driver's admin client; `bootstrap_timeout_ms` applies when this call creates it."""
        if self._admin is None:
            self._admin = KafkaAdminClient(
                **self.common, request_timeout_ms=TIMEOUT_MS, bootstrap_timeout_ms=bootstrap_timeout_ms
            )
        return self._admin

    def lookup(self) -> KafkaConsumer:
        """A consumer kept for offset queries; it is never assigned."""
        if self._lookup is None:
            self._lookup = KafkaConsumer(**self.common, enable_auto_commit=False)
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
        if request.get("batch_bytes"):
            settings["batch_size"] = int(request["batch_bytes"])
        key = tuple(sorted(settings.items()))
        if key not in self.producers:
            self.producers[key] = KafkaProducer(**self.common, **settings)
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
        return {"results": results, "throttle_time_ms": throttle_time_max(producer)}

    def partitions(self, topic: str) -> list[int]:
        found = self.lookup().partitions_for_topic(topic)
        if not found:
            raise ClientError("UNKNOWN_TOPIC_OR_PARTITION", f"no partitions for {topic}")
        return sorted(found)

    def op_consume(self, request: dict[str, Any]) -> dict[str, Any]:
        topic, count = request["topic"], int(request["count"])
        parts = request.get("partitions") or self.partitions(topic)
        consumer = KafkaConsumer(
            **self.common,
            enable_auto_commit=False,
            group_id=None,
            isolation_level=isolation_level(request),
        )
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
                    got.extend(to_message(r).to_wire() for r in records)
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
        cluster = self.admin(int(request.get("timeout_ms") or TIMEOUT_MS)).describe_cluster()
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

    def op_txn_produce(self, request: dict[str, Any]) -> dict[str, Any]:
        """begin, send, send_offsets_to_transaction (optional), commit or abort (KIP-98)."""
        tid = request["transactional_id"]
        if tid not in self.txn_producers:
            producer = KafkaProducer(**self.common, transactional_id=tid, linger_ms=5)
            producer.init_transactions()
            self.txn_producers[tid] = producer
        producer = self.txn_producers[tid]
        producer.begin_transaction()
        futures = [
            producer.send(request["topic"], value=m.value, key=m.key, headers=list(m.headers), partition=m.partition)
            for m in messages(request)
        ]
        producer.flush(timeout=30)
        results = [{"partition": md.partition, "offset": md.offset} for md in (f.get(timeout=30) for f in futures)]
        if (offsets := send_offsets(request)) is not None:
            group, topic, positions = offsets
            tps = {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in positions.items()}
            producer.send_offsets_to_transaction(tps, ConsumerGroupMetadata(group))
        if request.get("end", "commit") == "commit":
            producer.commit_transaction()
        else:
            producer.abort_transaction()
        return {"results": results}

    def op_group_consume(self, request: dict[str, Any]) -> dict[str, Any]:
        """pydriver.run_group over members that each run in a child process (group_member.py says why)."""
        classic_group_only(request, "kafka-python")
        assignor = request.get("assignor")
        if assignor and assignor not in ASSIGNORS:
            raise Unsupported(f"assignor {assignor!r}")
        config: dict[str, Any] = {
            **self.common,
            "group_id": request["group"],
            "auto_offset_reset": "earliest",
            "enable_auto_commit": False,
            "session_timeout_ms": int(request.get("session_timeout_ms", 6000)),
            "heartbeat_interval_ms": 500,
            "request_timeout_ms": 10000,
            "topic": request["topic"],
            "assignor": assignor,
        }
        # Every call to a member ends by the op's deadline (a little after run_group's own, which
        # reports what the members saw); a member that misses it is killed, and none outlives the op.
        op_seconds = int(request.get("timeout_ms", 30000)) / 1000 + 2
        members: list[MemberProcess] = []
        try:
            for i, instance in enumerate(instance_ids(request)):
                members.append(MemberProcess(f"member {i}", {**config, "group_instance_id": instance}, op_seconds))
            for m in members:
                m.ready()
            deadline = time.monotonic() + op_seconds
            for m in members:
                m.deadline = deadline
            return self.run(run_group(request, members))
        finally:
            for m in members:
                m.kill()

    def op_delete_topic(self, request: dict[str, Any]) -> dict[str, Any]:
        self.admin().delete_topics([request["topic"]], timeout_ms=TIMEOUT_MS, raise_errors=True)
        return {}

    def op_create_partitions(self, request: dict[str, Any]) -> dict[str, Any]:
        new = {request["topic"]: NewPartitions(int(request["count"]))}
        self.admin().create_partitions(new, timeout_ms=TIMEOUT_MS, raise_errors=True)
        return {}

    def op_describe_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        resource = ConfigResource("TOPIC", request["topic"])
        found = self.admin().describe_configs([resource], config_filter="all")
        [configs] = [c for by_name in found.values() for c in by_name.values()]
        return {"configs": {name: c["value"] for name, c in configs.items()}}

    def op_alter_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        ops: dict[str, Any] = {n: (AlterConfigOp.SET, str(v)) for n, v in request["set"].items()}
        ops |= {n: (AlterConfigOp.DELETE, None) for n in request.get("delete", [])}
        found = self.admin().alter_configs([ConfigResource("TOPIC", request["topic"], ops)], incremental=True)
        for result in (r for by_name in found.values() for r in by_name.values()):
            if isinstance(result, Exception):
                raise result
        return {}

    def op_delete_records(self, request: dict[str, Any]) -> dict[str, Any]:
        offsets = {TopicPartition(request["topic"], int(p)): int(o) for p, o in request["offsets"].items()}
        found = self.admin().delete_records(offsets, timeout_ms=TIMEOUT_MS)
        return {"low_watermarks": {str(tp.partition): md["low_watermark"] for tp, md in found.items()}}

    def op_list_groups(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"groups": sorted(g["group_id"] for g in self.admin().list_groups())}

    def op_describe_group(self, request: dict[str, Any]) -> dict[str, Any]:
        desc = self.admin().describe_groups([request["group"]])[request["group"]]
        members = [
            {"member_id": m["member_id"], "instance_id": m.get("group_instance_id"), "assigned": []}
            for m in desc["members"]
        ]
        return {"state": desc["group_state"], "members": members}

    def op_delete_group(self, request: dict[str, Any]) -> dict[str, Any]:
        # {group: "OK" or the error's class name}
        result = self.admin().delete_groups([request["group"]])[request["group"]]
        if result != "OK":
            raise ClientError(getattr(kafka.errors, result).message, result)
        return {}

    def close(self) -> None:
        for p in [*self.producers.values(), *self.txn_producers.values()]:
            p.close(timeout=5)
        for c in (self._lookup, self._admin):
            if c is not None:
                c.close()


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <driver pid>` prints every thread's stack to the log
    serve(KafkaPythonDriver)
