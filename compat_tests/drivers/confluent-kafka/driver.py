"""confluent-kafka (librdkafka) driver: scenario steps become Producer / Consumer / AdminClient calls."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    ThrottleEvent,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pydriver import (  # noqa: E402
    ClientConfig,
    ClientError,
    Driver,
    LiveMembers,
    Message,
    ShareDeliveries,
    Unsupported,
    codec,
    group_protocol,
    instance_ids,
    isolation_level,
    messages,
    run_group,
    run_share,
    send_offsets,
    serve,
    start_offsets,
)

REQUEST_TIMEOUT_S = 15.0


# The last authentication failure librdkafka reported through error_cb (see `client_error`).
AUTHENTICATION_ERRORS: list[KafkaError] = []


def remember_authentication_error(err: KafkaError) -> None:
    """error_cb: librdkafka reports a failed SASL/SSL authentication here, as a client error event."""
    if err.code() == KafkaError._AUTHENTICATION:
        AUTHENTICATION_ERRORS[:] = [err]


def client_error(err: KafkaError) -> ClientError:
    """A KafkaError as a ClientError. A request that failed for want of a broker connection (_TRANSPORT)
    right after an authentication failure failed because of it: that error is what the user sees."""
    if err.code() == KafkaError._TRANSPORT and AUTHENTICATION_ERRORS:
        err = AUTHENTICATION_ERRORS[0]
    return ClientError(err.name(), err.str())


def unwrap(exc: KafkaException) -> ClientError:
    """The KafkaError inside a KafkaException, as a ClientError."""
    err = exc.args[0] if exc.args else None
    return client_error(err) if isinstance(err, KafkaError) else ClientError(type(exc).__name__, str(exc))


def wait(future: Any) -> Any:
    """An admin future's result, its KafkaException as a ClientError."""
    try:
        return future.result(timeout=REQUEST_TIMEOUT_S + 5)
    except KafkaException as exc:
        raise unwrap(exc) from exc


def to_message(msg: Any) -> Message:
    """A consumed confluent_kafka.Message, or its error raised."""
    if msg.error() is not None:
        raise client_error(msg.error())
    return Message(
        key=msg.key(),
        value=msg.value(),
        headers=tuple(msg.headers() or ()),
        timestamp=msg.timestamp()[1],
        partition=msg.partition(),
        offset=msg.offset(),
    )


def assign_only_noise(msg: Any) -> bool:
    """An error event that does not concern a consume by assign(): confluent-kafka insists on a group.id,
    so librdkafka looks up its coordinator and reports a principal without access to that group
    (GROUP_AUTHORIZATION_FAILED) though the consume never uses it."""
    err = msg.error()
    return err is not None and err.code() == KafkaError.GROUP_AUTHORIZATION_FAILED


class Member:
    """One subscribed consumer of a group_consume run (see pydriver.run_group)."""

    def __init__(self, conf: dict[str, Any], subscription: str) -> None:
        # A name starting with "^" is a regex (librdkafka's): with group.protocol=consumer the broker
        # matches it (KIP-848, RE2/J syntax), with the classic protocol librdkafka does.
        self.consumer = Consumer(conf)
        self.consumer.subscribe([subscription])

    def poll(self, timeout_s: float) -> list[Message]:
        return [to_message(m) for m in self.consumer.consume(num_messages=100, timeout=timeout_s)]

    def assignment(self) -> list[int]:
        return [tp.partition for tp in self.consumer.assignment()]

    def commit(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            raise unwrap(exc) from exc

    def positions(self) -> dict[int, int]:
        """Where it reads next on each partition it owns: its position, else (nothing read yet) the
        committed offset it starts from; partitions with neither are left out."""
        owned = self.consumer.assignment()
        found = {tp.partition: tp.offset for tp in self.consumer.position(owned) if tp.offset >= 0}
        missing = [tp for tp in owned if tp.partition not in found]
        if missing:
            committed = self.consumer.committed(missing, timeout=10)
            found.update((tp.partition, tp.offset) for tp in committed if tp.offset >= 0)
        return found

    def close(self) -> None:
        self.consumer.close()


class ConfluentDriver(Driver):
    client = "confluent-kafka"
    version = confluent_kafka.__version__

    def __init__(self, bootstrap: str, client_config: ClientConfig) -> None:
        super().__init__(bootstrap, client_config)
        self.conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "broker.address.family": "v4",
            "error_cb": remember_authentication_error,
            **self.security,
        }
        # The longest throttle time (ms) a broker reported to a producer during the current produce.
        self.throttle_ms = 0
        self.live = LiveMembers()
        self.producers: dict[tuple[Any, ...], Producer] = {}
        self.txn_producers: dict[str, Producer] = {}
        self._admin: AdminClient | None = None
        self._lookup: Consumer | None = None

    def security_settings(self, config: ClientConfig) -> dict[str, Any]:
        return config.librdkafka()

    def throttled(self, event: ThrottleEvent) -> None:
        """librdkafka's throttle_cb (served by poll/flush): a broker's throttle_time_ms in a response."""
        self.throttle_ms = max(self.throttle_ms, round(event.throttle_time * 1000))

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
            "throttle_cb": self.throttled,
        }
        if request.get("max_request_bytes"):
            settings["message.max.bytes"] = int(request["max_request_bytes"])
        if request.get("batch_bytes"):
            settings["batch.size"] = int(request["batch_bytes"])
        key = tuple(sorted(settings.items(), key=lambda kv: kv[0]))
        if key not in self.producers:
            self.producers[key] = Producer({**self.conf, **settings})
        return self.producers[key]

    def op_produce(self, request: dict[str, Any]) -> dict[str, Any]:
        self.throttle_ms = 0
        results = self.send(self.producer(request), request["topic"], messages(request))
        return {"results": results, "throttle_time_ms": self.throttle_ms}

    def send(self, producer: Producer, topic: str, msgs: list[Message]) -> list[dict[str, Any] | None]:
        """Produce and flush; (partition, offset) per message in order."""
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
                    topic,
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
        return results

    def op_txn_produce(self, request: dict[str, Any]) -> dict[str, Any]:
        """begin, produce, send_offsets_to_transaction (optional), commit or abort (KIP-98)."""
        tid = request["transactional_id"]
        try:
            if tid not in self.txn_producers:
                producer = Producer({**self.conf, "transactional.id": tid, "linger.ms": 5})
                producer.init_transactions(REQUEST_TIMEOUT_S)
                self.txn_producers[tid] = producer
            producer = self.txn_producers[tid]
            producer.begin_transaction()
            results = self.send(producer, request["topic"], messages(request))
            if (offsets := send_offsets(request)) is not None:
                group, topic, positions = offsets
                # The group's metadata (KIP-447) from a consumer that never subscribes.
                holder = Consumer({**self.conf, "group.id": group})
                meta = holder.consumer_group_metadata()
                holder.close()
                tps = [TopicPartition(topic, p, o) for p, o in positions.items()]
                producer.send_offsets_to_transaction(tps, meta, REQUEST_TIMEOUT_S)
            if request.get("end", "commit") == "commit":
                producer.commit_transaction(REQUEST_TIMEOUT_S)
            else:
                producer.abort_transaction(REQUEST_TIMEOUT_S)
        except KafkaException as exc:
            raise unwrap(exc) from exc
        return {"results": results}

    async def op_group_consume(self, request: dict[str, Any]) -> dict[str, Any]:
        conf = {
            **self.conf,
            "group.id": request["group"],
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
        if group_protocol(request) == "consumer":
            # KIP-848: the broker owns the session timeout, heartbeat interval and assignor (librdkafka
            # refuses the classic settings with this protocol); a named assignor is the broker's.
            conf["group.protocol"] = "consumer"
            if request.get("assignor"):
                conf["group.remote.assignor"] = request["assignor"]
        else:
            conf["session.timeout.ms"] = int(request.get("session_timeout_ms", 6000))
            conf["heartbeat.interval.ms"] = 500
            if request.get("assignor"):
                conf["partition.assignment.strategy"] = request["assignor"]
        regex = request.get("topic_regex")
        if regex is not None and not regex.startswith("^"):
            raise Unsupported("librdkafka takes a regex subscription only as a pattern starting with '^'")
        members = []
        for instance in instance_ids(request):
            settings = {**conf, **({"group.instance.id": instance} if instance else {})}
            members.append(Member(settings, regex or request["topic"]))
        return await run_group(request, members)

    async def op_member_start(self, request: dict[str, Any]) -> dict[str, Any]:
        protocol = request.get("group_protocol", "classic")
        conf = {
            **self.conf,
            "group.id": request["group"],
            "client.id": f"compat-{request['name']}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "group.protocol": protocol,
        }
        if protocol == "classic":
            # The consumer protocol refuses these: the broker's group configs rule there.
            conf["session.timeout.ms"] = int(request.get("session_timeout_ms", 6000))
            conf["heartbeat.interval.ms"] = 500
            if request.get("assignor") == "cooperative-sticky":
                # librdkafka's sticky assignor puts user data in the leader's assignments, which Kafka 4.3.1
                # refuses to carry into a consumer group ("an unsupported custom assignor is in use"): such
                # a group cannot be upgraded on Apache Kafka either (it did only when the member joined
                # before the leader's assignment carried the data).
                raise Unsupported("librdkafka's cooperative-sticky assignments carry user data: no online upgrade")
            if request.get("assignor"):
                conf["partition.assignment.strategy"] = request["assignor"]
        return self.live.start(request["name"], Member(conf, request["topic"]))

    async def op_members_await(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.live.wait(request)

    async def op_member_commit(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.live.commit(request["name"])

    async def op_member_stop(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.live.stop(request["name"])

    def op_share_consume(self, request: dict[str, Any]) -> dict[str, Any]:
        """`share_consume` with librdkafka's ShareConsumer (KIP-932, explicit acknowledgement); this
        client's admin has no listShareGroupOffsets, so `offsets` is null."""
        conf = {**self.conf, "group.id": request["group"], "share.acknowledgement.mode": "explicit"}
        conf.pop("error_cb", None)
        acks = {name: getattr(confluent_kafka.AcknowledgeType, name) for name in ("ACCEPT", "RELEASE", "REJECT")}

        def member(index: int) -> Any:
            def loop(seen: ShareDeliveries, stop: Any) -> None:
                consumer = confluent_kafka.ShareConsumer(conf)
                try:
                    consumer.subscribe([request["topic"]])
                    while not stop.is_set():
                        polled = list(consumer.poll(0.2))
                        for m in polled:
                            consumer.acknowledge(m, acks[seen.ack(index, to_message(m), m.delivery_count())])
                        if polled:
                            consumer.commit_sync()
                finally:
                    consumer.close()

            return loop

        reply = run_share(request, [member(i) for i in range(int(request.get("members", 1)))])
        return {**reply, "offsets": None}

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
        consumer = Consumer(
            {
                **self.conf,
                "group.id": "compat-unused",
                "enable.auto.commit": False,
                "isolation.level": isolation_level(request),  # librdkafka defaults to read_committed
            }
        )
        try:
            consumer.assign([TopicPartition(topic, p, positions.get(o, o)) for p, o in starts.items()])  # type: ignore[arg-type]
            got: list[dict[str, Any]] = []
            deadline = time.monotonic() + int(request.get("timeout_ms", 10000)) / 1000
            while len(got) < count and (left := deadline - time.monotonic()) > 0:
                msg = consumer.poll(min(left, 0.5))
                if msg is None or assign_only_noise(msg):
                    continue
                got.append(to_message(msg).to_wire())
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
        try:
            md = self.admin().list_topics(timeout=int(request.get("timeout_ms") or REQUEST_TIMEOUT_S * 1000) / 1000)
        except KafkaException as exc:
            self.admin().poll(0)  # serves error_cb: an authentication failure behind this one
            raise unwrap(exc) from exc
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

    def op_delete_topic(self, request: dict[str, Any]) -> dict[str, Any]:
        wait(self.admin().delete_topics([request["topic"]], operation_timeout=REQUEST_TIMEOUT_S)[request["topic"]])
        return {}

    def op_create_partitions(self, request: dict[str, Any]) -> dict[str, Any]:
        new = NewPartitions(request["topic"], int(request["count"]))
        wait(self.admin().create_partitions([new], operation_timeout=REQUEST_TIMEOUT_S)[request["topic"]])
        return {}

    def op_describe_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        resource = ConfigResource(ResourceType.TOPIC, request["topic"])
        entries = wait(self.admin().describe_configs([resource])[resource])
        return {"configs": {name: e.value for name, e in entries.items()}}

    def op_alter_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        ops = [ConfigEntry(n, str(v), incremental_operation=AlterConfigOpType.SET) for n, v in request["set"].items()]
        ops += [ConfigEntry(n, None, incremental_operation=AlterConfigOpType.DELETE) for n in request.get("delete", [])]
        resource = ConfigResource(ResourceType.TOPIC, request["topic"], incremental_configs=ops)
        wait(self.admin().incremental_alter_configs([resource])[resource])
        return {}

    def op_delete_records(self, request: dict[str, Any]) -> dict[str, Any]:
        tps = [TopicPartition(request["topic"], int(p), int(o)) for p, o in request["offsets"].items()]
        found = self.admin().delete_records(tps, operation_timeout=REQUEST_TIMEOUT_S)
        return {"low_watermarks": {str(tp.partition): wait(f).low_watermark for tp, f in found.items()}}

    def op_list_groups(self, request: dict[str, Any]) -> dict[str, Any]:
        listed = wait(self.admin().list_consumer_groups(request_timeout=REQUEST_TIMEOUT_S))
        return {"groups": sorted(g.group_id for g in listed.valid)}

    def op_describe_group(self, request: dict[str, Any]) -> dict[str, Any]:
        group = request["group"]
        desc = wait(self.admin().describe_consumer_groups([group], request_timeout=REQUEST_TIMEOUT_S)[group])
        members = [
            {
                "member_id": m.member_id,
                "instance_id": m.group_instance_id,
                "assigned": [[tp.topic, tp.partition] for tp in m.assignment.topic_partitions] if m.assignment else [],
            }
            for m in desc.members
        ]
        return {"state": desc.state.name, "members": members}

    def op_delete_group(self, request: dict[str, Any]) -> dict[str, Any]:
        group = request["group"]
        wait(self.admin().delete_consumer_groups([group], request_timeout=REQUEST_TIMEOUT_S)[group])
        return {}

    def close(self) -> None:
        for p in self.producers.values():
            p.flush(5)
        if self._lookup is not None:
            self._lookup.close()


if __name__ == "__main__":
    serve(ConfluentDriver)
