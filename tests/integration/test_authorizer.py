"""ACLs with Kafka's StandardAuthorizer, through stock clients on PLAINTEXT (principal User:ANONYMOUS).

Each broker runs with authorizer.class.name set and allow.everyone.if.no.acl.found false unless a
test says otherwise. ``secured`` first starts it with User:ANONYMOUS as super user to grant it ALL on
the cluster (so it may create, describe and delete ACLs), then restarts it without super users: the
grant that makes the rest possible is itself an ACL that survived a restart. Topics and groups then
have no ACL, so using them is denied until a test creates one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.records import build_batch
from kafkapy.protocol.specs import ApiKey
from tests.broker_process import BrokerProcess, BrokerStartError
from tests.integration.clientutil import Deadline, base_conf, unique_topic

TIMEOUT = 15
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ME = "User:ANONYMOUS"
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


def _args(*properties: str) -> tuple[str, ...]:
    args = []
    for prop in (f"authorizer.class.name={STANDARD_AUTHORIZER}", *properties):
        args += ["--override", prop]
    return tuple(args)


def acl(
    resource_type: ResourceType,
    name: str,
    operation: AclOperation,
    permission: AclPermissionType = ALLOW,
    pattern: ResourcePatternType = LITERAL,
    principal: str = ME,
    host: str = "*",
) -> AclBinding:
    return AclBinding(resource_type, name, pattern, principal, host, operation, permission)


def create_acls(bootstrap: str, *bindings: AclBinding) -> None:
    admin = AdminClient(base_conf(bootstrap))
    for future in admin.create_acls(list(bindings), request_timeout=TIMEOUT).values():
        future.result(timeout=TIMEOUT)


def delete_acls(bootstrap: str, acl_filter: AclBindingFilter) -> list[AclBinding]:
    admin = AdminClient(base_conf(bootstrap))
    (future,) = admin.delete_acls([acl_filter], request_timeout=TIMEOUT).values()
    return future.result(timeout=TIMEOUT)


def describe_acls(bootstrap: str, acl_filter: AclBindingFilter) -> list[AclBinding]:
    admin = AdminClient(base_conf(bootstrap))
    return admin.describe_acls(acl_filter, request_timeout=TIMEOUT).result(timeout=TIMEOUT)


def acl_filter(
    resource_type: ResourceType = ResourceType.ANY,
    name: str | None = None,
    pattern: ResourcePatternType = ResourcePatternType.ANY,
    principal: str | None = None,
    host: str | None = None,
    operation: AclOperation = AclOperation.ANY,
    permission: AclPermissionType = AclPermissionType.ANY,
) -> AclBindingFilter:
    return AclBindingFilter(resource_type, name, pattern, principal, host, operation, permission)


@pytest.fixture
def start_secured(broker_factory: Callable[..., BrokerProcess]) -> Callable[..., BrokerProcess]:
    """Start an authorizing broker whose User:ANONYMOUS may do ALL on the cluster (and nothing else)."""

    def start(*properties: str) -> BrokerProcess:
        broker = broker_factory(extra_args=_args(f"super.users={ME}", *properties))
        create_acls(broker.bootstrap, acl(ResourceType.BROKER, "kafka-cluster", AclOperation.ALL))
        broker.close()
        broker.extra_args = _args(*properties)
        return broker.start()

    return start


@pytest.fixture
def secured(start_secured: Callable[..., BrokerProcess]) -> BrokerProcess:
    return start_secured()


def produce(bootstrap: str, topic: str, value: bytes = b"value", **conf: object) -> KafkaError | None:
    """Produce one record with confluent-kafka (``conf`` added to its settings); the delivery error,
    or None when it was written."""
    producer = Producer({**base_conf(bootstrap), "message.timeout.ms": 10_000, **conf})
    outcome: list[KafkaError | None] = []
    producer.produce(topic, value, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(TIMEOUT)
    assert outcome, "no delivery report"
    return outcome[0]


def consume_in_group(bootstrap: str, topic: str, group: str, **conf: object) -> KafkaError | bytes:
    """Join ``group`` and read ``topic`` from the start; the first error or the first value."""
    consumer = Consumer({**base_conf(bootstrap), "group.id": group, "auto.offset.reset": "earliest", **conf})
    try:
        consumer.subscribe([topic])
        deadline = Deadline(TIMEOUT, f"consume {topic} in {group}")
        while True:
            deadline.check()
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                return msg.error()
            return msg.value()
    finally:
        consumer.close()


def test_a_denied_topic_then_create_acls_then_delete_acls(secured: BrokerProcess) -> None:
    """confluent-kafka: TOPIC_AUTHORIZATION_FAILED without an ACL, delivered with one, refused once deleted."""
    bootstrap, topic = secured.bootstrap, unique_topic("acl")
    error = produce(bootstrap, topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    create_acls(bootstrap, acl(ResourceType.TOPIC, topic, AclOperation.WRITE))
    assert produce(bootstrap, topic) is None
    removed = delete_acls(bootstrap, acl_filter(ResourceType.TOPIC, topic))
    assert [(b.name, b.operation) for b in removed] == [(topic, AclOperation.WRITE)]
    error = produce(bootstrap, topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_denied_group_then_create_acls(secured: BrokerProcess) -> None:
    bootstrap, topic, group = secured.bootstrap, unique_topic("acl"), unique_topic("group")
    create_acls(bootstrap, acl(ResourceType.TOPIC, topic, AclOperation.ALL))
    assert produce(bootstrap, topic) is None
    error = consume_in_group(bootstrap, topic, group)
    assert isinstance(error, KafkaError) and error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    create_acls(bootstrap, acl(ResourceType.GROUP, group, AclOperation.READ))
    assert consume_in_group(bootstrap, topic, group) == b"value"


def test_kafka_python_sees_its_authorization_errors(secured: BrokerProcess) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

    bootstrap, topic, group = secured.bootstrap, unique_topic("acl"), unique_topic("group")
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=10_000, request_timeout_ms=10_000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(topic, b"denied").get(timeout=TIMEOUT)
        create_acls(bootstrap, acl(ResourceType.TOPIC, topic, AclOperation.ALL))
        producer.send(topic, b"allowed").get(timeout=TIMEOUT)
    finally:
        producer.close(timeout=5)
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", request_timeout_ms=10_000
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            deadline = Deadline(TIMEOUT, "GroupAuthorizationFailedError")
            while True:
                deadline.check()
                consumer.poll(timeout_ms=500)
    finally:
        consumer.close()


def test_a_topic_the_principal_may_not_describe_looks_unknown_in_metadata(secured: BrokerProcess) -> None:
    """Metadata lists only describable topics and answers a named one TOPIC_AUTHORIZATION_FAILED; a
    DESCRIBE implied by READ is enough."""
    bootstrap, hidden, visible = secured.bootstrap, unique_topic("hidden"), unique_topic("visible")
    create_acls(bootstrap, acl(ResourceType.TOPIC, visible, AclOperation.READ))
    admin = AdminClient(base_conf(bootstrap))
    for future in admin.create_topics([_new_topic(hidden), _new_topic(visible)]).values():
        future.result(timeout=TIMEOUT)
    assert set(admin.list_topics(timeout=TIMEOUT).topics) == {visible}
    with WireClient.connect(bootstrap) as client:
        body = {"topics": [{"name": hidden}, {"name": visible}], "allow_auto_topic_creation": False}
        body |= {"include_cluster_authorized_operations": True, "include_topic_authorized_operations": True}
        response = client.request(ApiKey.METADATA, 10, body)
    assert [(t.name, t.error_code) for t in response.topics] == [
        (hidden, ErrorCode.TOPIC_AUTHORIZATION_FAILED), (visible, ErrorCode.NONE)
    ]  # fmt: skip
    # READ (bit 3) and the DESCRIBE it implies (bit 8); the cluster: all of its seven operations (ALL).
    assert [t.topic_authorized_operations for t in response.topics] == [-(2**31), (1 << 3) | (1 << 8)]
    assert response.cluster_authorized_operations == 8096


def _new_topic(name: str) -> Any:
    from confluent_kafka.admin import NewTopic

    return NewTopic(name, num_partitions=1, replication_factor=1)


def _produce_wire(client: WireClient, topic: str) -> int:
    batch = build_batch([(None, b"wire", [], 1_700_000_000_000)])
    body = {
        "transactional_id": None,
        "acks": 1,
        "timeout_ms": 5000,
        "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch}]}],
    }
    response = client.request(ApiKey.PRODUCE, 9, body)
    return response.responses[0].partition_responses[0].error_code


def test_prefixed_acls_and_deny_wins_over_allow(secured: BrokerProcess) -> None:
    bootstrap = secured.bootstrap
    prefix = unique_topic("team")
    create_acls(bootstrap, acl(ResourceType.TOPIC, prefix, AclOperation.WRITE, pattern=PREFIXED))
    assert produce(bootstrap, f"{prefix}.orders") is None
    assert produce(bootstrap, f"{prefix}.payments") is None
    error = produce(bootstrap, f"x{prefix}")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    create_acls(bootstrap, acl(ResourceType.TOPIC, f"{prefix}.payments", AclOperation.WRITE, DENY))
    assert produce(bootstrap, f"{prefix}.orders") is None
    error = produce(bootstrap, f"{prefix}.payments")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_host_filters(secured: BrokerProcess) -> None:
    """An ACL for host 127.0.0.2 lets only the client connecting from it write (raw wire client)."""
    bootstrap, topic = secured.bootstrap, unique_topic("host")
    create_acls(bootstrap, acl(ResourceType.TOPIC, topic, AclOperation.WRITE, host="127.0.0.2"))
    with WireClient.connect(bootstrap) as client:
        assert _produce_wire(client, topic) == ErrorCode.TOPIC_AUTHORIZATION_FAILED
    with WireClient.connect(bootstrap, source_host="127.0.0.2") as client:
        assert _produce_wire(client, topic) == ErrorCode.NONE


def test_super_users_may_do_what_acls_deny(start_secured: Callable[..., BrokerProcess]) -> None:
    broker = start_secured()
    topic = unique_topic("super")
    create_acls(broker.bootstrap, acl(ResourceType.TOPIC, topic, AclOperation.ALL, DENY))
    error = produce(broker.bootstrap, topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    broker.close()
    broker.extra_args = _args(f"super.users=User:admin;{ME}")
    broker.start()
    assert produce(broker.bootstrap, topic) is None


def test_allow_everyone_if_no_acl_found(start_secured: Callable[..., BrokerProcess]) -> None:
    """Topics no ACL names are open; one with an ACL for someone else is not."""
    broker = start_secured("allow.everyone.if.no.acl.found=true")
    bootstrap, open_topic, owned = broker.bootstrap, unique_topic("open"), unique_topic("owned")
    create_acls(bootstrap, acl(ResourceType.TOPIC, owned, AclOperation.WRITE, principal="User:alice"))
    assert produce(bootstrap, open_topic) is None
    error = produce(bootstrap, owned)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_acls_survive_a_crash(secured: BrokerProcess) -> None:
    topic = unique_topic("crash")
    create_acls(secured.bootstrap, acl(ResourceType.TOPIC, topic, AclOperation.WRITE))
    # One line per change, naming the ACL and who made it.
    line = next(line for line in secured.stderr_tail().splitlines() if "ACL created" in line and topic in line)
    assert f"name={topic}," in line and "operation=WRITE" in line and ME in line
    secured.restart(crash=True)
    assert produce(secured.bootstrap, topic) is None
    assert [b.name for b in describe_acls(secured.bootstrap, acl_filter(ResourceType.TOPIC, topic))] == [topic]


def test_describe_and_delete_acls_filters(secured: BrokerProcess) -> None:
    bootstrap = secured.bootstrap
    name = unique_topic("filter")
    bindings = [
        acl(ResourceType.TOPIC, name, AclOperation.READ),
        acl(ResourceType.TOPIC, name[:8], AclOperation.WRITE, pattern=PREFIXED, principal="User:bob"),
        acl(ResourceType.GROUP, name, AclOperation.READ, DENY, host="10.0.0.1"),
    ]
    create_acls(bootstrap, *bindings)

    def names(acl_filter: AclBindingFilter) -> set[tuple[str, AclOperation]]:
        return {(b.name, b.operation) for b in describe_acls(bootstrap, acl_filter) if b.name != "kafka-cluster"}

    everything = {(name, AclOperation.READ), (name[:8], AclOperation.WRITE)}
    assert names(acl_filter()) == everything
    assert names(acl_filter(ResourceType.TOPIC, name, ResourcePatternType.MATCH)) == everything
    assert names(acl_filter(ResourceType.TOPIC, name, LITERAL)) == {(name, AclOperation.READ)}
    assert names(acl_filter(principal="User:bob")) == {(name[:8], AclOperation.WRITE)}
    assert names(acl_filter(host="10.0.0.1")) == {(name, AclOperation.READ)}
    assert names(acl_filter(permission=DENY)) == {(name, AclOperation.READ)}
    removed = delete_acls(bootstrap, acl_filter(ResourceType.ANY, name, ResourcePatternType.MATCH, principal=ME))
    assert {(b.restype, b.name) for b in removed} == {(ResourceType.TOPIC, name), (ResourceType.GROUP, name)}
    assert names(acl_filter()) == {(name[:8], AclOperation.WRITE)}


def test_create_acls_validation_errors(secured: BrokerProcess) -> None:
    """Kafka 4.3.1's answers: INVALID_REQUEST per bad creation, the good ones created."""
    creation = {
        "resource_type": 2,
        "resource_name": "t",
        "resource_pattern_type": 3,
        "principal": ME,
        "host": "*",
        "operation": 3,
        "permission_type": 3,
    }
    with WireClient.connect(secured.bootstrap) as client:
        bad = [{"principal": "alice"}, {"resource_name": ""}, {"resource_type": 4, "resource_name": "c"}, {}]
        response = client.request(ApiKey.CREATE_ACLS, 3, {"creations": [{**creation, **b} for b in bad]})
        assert [(r.error_code, r.error_message) for r in response.results] == [
            (ErrorCode.INVALID_REQUEST, "Could not parse principal from `alice` (no colon is present separating the"
             " principal type from the principal name)"),
            (ErrorCode.INVALID_REQUEST, "Invalid empty resource name"),
            (ErrorCode.INVALID_REQUEST, "The only valid name for the CLUSTER resource is kafka-cluster"),
            (ErrorCode.NONE, ""),
        ]  # fmt: skip
        # ANY (1) in a creation fails the whole request, as Kafka's ResourcePattern refuses it.
        response = client.request(ApiKey.CREATE_ACLS, 3, {"creations": [creation, {**creation, "operation": 1}]})
        assert [r.error_code for r in response.results] == [ErrorCode.UNKNOWN_SERVER_ERROR] * 2


@pytest.fixture
def memory_broker(broker_factory: Callable[..., BrokerProcess]) -> Iterator[BrokerProcess]:
    yield broker_factory(extra_args=(*_args(f"super.users={ME}"), "--storage", "memory"))


def test_acls_in_memory_storage(memory_broker: BrokerProcess) -> None:
    topic = unique_topic("mem")
    create_acls(memory_broker.bootstrap, acl(ResourceType.TOPIC, topic, AclOperation.WRITE))
    assert [b.name for b in describe_acls(memory_broker.bootstrap, acl_filter())] == [topic]
    assert not (memory_broker.data_dir / "acls.json").exists()


def test_kafka_acls_without_an_authorizer_stay_security_disabled(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    broker = broker_factory()
    with pytest.raises(KafkaException) as failed:
        create_acls(broker.bootstrap, acl(ResourceType.TOPIC, "t", AclOperation.READ))
    assert failed.value.args[0].code() == ErrorCode.SECURITY_DISABLED


def test_kafka_4_3_1s_answers_around_cluster_acls(secured: BrokerProcess) -> None:
    """Answers read off Kafka 4.3.1 with the same ACLs (ALL on the cluster but DESCRIBE and
    IDEMPOTENT_WRITE; nothing on the topic or group): cluster-wide rights and Kafka's messages."""
    bootstrap, topic = secured.bootstrap, unique_topic("cluster")
    create_acls(
        bootstrap,
        acl(ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE, DENY),
        acl(ResourceType.BROKER, "kafka-cluster", AclOperation.IDEMPOTENT_WRITE, DENY),
    )
    idempotent = {"transactional_id": None, "transaction_timeout_ms": 1000, "producer_id": -1, "producer_epoch": -1}
    with WireClient.connect(bootstrap) as client:
        created = {"name": topic, "num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": []}
        answer = client.request(ApiKey.CREATE_TOPICS, 4, {"topics": [created], "timeout_ms": 5000})
        assert answer.topics[0].error_code == ErrorCode.NONE
        # Without DESCRIBE on the cluster: no error, no operations.
        described = client.request(ApiKey.DESCRIBE_CLUSTER, 1, {"include_cluster_authorized_operations": True})
        assert (described.error_code, described.cluster_authorized_operations) == (ErrorCode.NONE, 0)
        # CLUSTER_ACTION on the cluster answers for every topic.
        epoch = {"partition": 0, "current_leader_epoch": -1, "leader_epoch": 0}
        body = {"replica_id": -1, "topics": [{"topic": topic, "partitions": [epoch]}]}
        answer = client.request(ApiKey.OFFSET_FOR_LEADER_EPOCH, 4, body)
        assert answer.topics[0].partitions[0].error_code == ErrorCode.NONE
        configs = [
            {"resource_type": 2, "resource_name": topic, "configuration_keys": None},
            {"resource_type": 32, "resource_name": "a-group", "configuration_keys": None},
        ]
        body = {"resources": configs, "include_synonyms": False, "include_documentation": False}
        results = client.request(ApiKey.DESCRIBE_CONFIGS, 4, body).results
        assert [(r.error_code, r.error_message) for r in results] == [
            (ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed."),
            (ErrorCode.GROUP_AUTHORIZATION_FAILED, "Group authorization failed."),
        ]
        found = client.request(ApiKey.FIND_COORDINATOR, 3, {"key": "a-group", "key_type": 0})
        assert (found.error_code, found.error_message) == (
            ErrorCode.GROUP_AUTHORIZATION_FAILED, "Group authorization failed."
        )  # fmt: skip
        body = {"topics": [{"name": topic, "count": 2, "assignments": None}], "timeout_ms": 5000, "validate_only": True}
        grown = client.request(ApiKey.CREATE_PARTITIONS, 3, body).results[0]
        assert (grown.error_code, grown.error_message) == (ErrorCode.TOPIC_AUTHORIZATION_FAILED, None)
        body = {"topics": [{"name": topic, "partition_indexes": [0]}]}
        producers = client.request(ApiKey.DESCRIBE_PRODUCERS, 0, body).topics[0].partitions[0]
        assert (producers.error_code, producers.error_message) == (
            ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed."
        )  # fmt: skip
        # An idempotent producer needs IDEMPOTENT_WRITE on the cluster, or WRITE on some topic.
        answer = client.request(ApiKey.INIT_PRODUCER_ID, 4, idempotent)
        assert answer.error_code == ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        create_acls(bootstrap, acl(ResourceType.TOPIC, "some-", AclOperation.WRITE, pattern=PREFIXED))
        assert client.request(ApiKey.INIT_PRODUCER_ID, 4, idempotent).error_code == ErrorCode.NONE
        # DELETE on the cluster deletes any topic.
        deleted = client.request(ApiKey.DELETE_TOPICS, 5, {"topic_names": [topic], "timeout_ms": 5000})
        assert deleted.responses[0].error_code == ErrorCode.NONE


def test_a_damaged_acl_file_is_set_aside_and_the_broker_starts_closed(secured: BrokerProcess) -> None:
    """Fail closed: the broker starts with no ACLs, so only super users may do anything, and says why."""
    secured.close()
    (secured.data_dir / "acls.json").write_bytes(b'{"version": 1, "acls": [{"resource_')
    secured.start()
    assert "ACL file unreadable" in secured.stderr_tail()
    assert (secured.data_dir / "acls.json.damaged").exists()
    with WireClient.connect(secured.bootstrap) as client:
        assert _produce_wire(client, unique_topic("closed")) == ErrorCode.TOPIC_AUTHORIZATION_FAILED


def _join(client: WireClient, group: str) -> int:
    """JoinGroup v3 (no MEMBER_ID_REQUIRED round): the group then has a member."""
    join = {
        "group_id": group,
        "session_timeout_ms": 30_000,
        "rebalance_timeout_ms": 10_000,
        "member_id": "",
        "protocol_type": "consumer",
        "protocols": [{"name": "range", "metadata": b""}],
    }
    return client.request(ApiKey.JOIN_GROUP, 3, join).error_code


def test_list_groups_shows_only_describable_groups(secured: BrokerProcess) -> None:
    """Without DESCRIBE on the cluster, ListGroups lists the groups the principal may describe."""
    bootstrap = secured.bootstrap
    visible, hidden = unique_topic("visible"), unique_topic("hidden")
    create_acls(
        bootstrap,
        acl(ResourceType.GROUP, visible, AclOperation.READ),
        acl(ResourceType.GROUP, hidden, AclOperation.READ),
    )
    with WireClient.connect(bootstrap) as client:
        assert (_join(client, visible), _join(client, hidden)) == (ErrorCode.NONE, ErrorCode.NONE)
    admin = AdminClient(base_conf(bootstrap))

    def listed() -> set[str]:
        groups = admin.list_consumer_groups(request_timeout=TIMEOUT).result(timeout=TIMEOUT).valid
        return {g.group_id for g in groups} & {visible, hidden}

    assert listed() == {visible, hidden}
    delete_acls(bootstrap, acl_filter(ResourceType.GROUP, hidden))
    assert listed() == {visible, hidden}  # DESCRIBE on the cluster shows every group
    create_acls(bootstrap, acl(ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE, DENY))
    assert listed() == {visible}


def test_a_super_users_authorized_operations_are_kafkas(memory_broker: BrokerProcess) -> None:
    """The bits Kafka 4.3.1 answers a super user: every operation each resource type has."""
    topic, group = unique_topic("ops"), unique_topic("ops-group")
    with WireClient.connect(memory_broker.bootstrap) as client:
        body = {"topics": [{"name": topic}], "allow_auto_topic_creation": True}
        body |= {"include_cluster_authorized_operations": True, "include_topic_authorized_operations": True}
        metadata = client.request(ApiKey.METADATA, 10, body)
        assert (metadata.cluster_authorized_operations, metadata.topics[0].topic_authorized_operations) == (8096, 3576)
        body = {"topics": [{"name": topic}], "response_partition_limit": 10}
        assert client.request(ApiKey.DESCRIBE_TOPIC_PARTITIONS, 0, body).topics[0].topic_authorized_operations == 3576
        described = client.request(ApiKey.DESCRIBE_CLUSTER, 1, {"include_cluster_authorized_operations": True})
        assert described.cluster_authorized_operations == 8096
        assert _join(client, group) == ErrorCode.NONE
        body = {"groups": [group], "include_authorized_operations": True}
        assert client.request(ApiKey.DESCRIBE_GROUPS, 5, body).groups[0].authorized_operations == 3400
        body["include_authorized_operations"] = False
        assert client.request(ApiKey.DESCRIBE_GROUPS, 5, body).groups[0].authorized_operations == -(2**31)


def test_kafka_python_admin_creates_describes_and_deletes_acls(secured: BrokerProcess) -> None:
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        KafkaAdminClient,
        ResourcePattern,
        ResourcePatternFilter,
    )
    from kafka.admin import ACLResourcePatternType as PatternType
    from kafka.admin import ResourceType as KpResourceType

    topic = unique_topic("kp-acl")
    admin = KafkaAdminClient(bootstrap_servers=secured.bootstrap, request_timeout_ms=15000)
    try:
        pattern = ResourcePattern(KpResourceType.TOPIC, topic, PatternType.LITERAL)
        created = admin.create_acls([ACL(ME, "*", ACLOperation.WRITE, ACLPermissionType.ALLOW, pattern)])
        assert not created["failed"] and len(created["succeeded"]) == 1
        assert produce(secured.bootstrap, topic) is None
        wanted = ResourcePatternFilter(KpResourceType.TOPIC, topic, PatternType.MATCH)
        acl_filter = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY, wanted)
        acls, error = admin.describe_acls(acl_filter)
        assert error.errno == 0
        assert [(a.principal, a.operation, a.resource_pattern.resource_name) for a in acls] == [
            (ME, ACLOperation.WRITE, topic)
        ]
        ((_, deleted, error),) = admin.delete_acls([acl_filter])
        assert error.errno == 0 and len(deleted) == 1
    finally:
        admin.close()
    error = produce(secured.bootstrap, topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_transactional_producer_needs_write_on_its_transactional_id(secured: BrokerProcess) -> None:
    bootstrap, topic, txn_id = secured.bootstrap, unique_topic("txn"), unique_topic("txn-id")
    create_acls(bootstrap, acl(ResourceType.TOPIC, topic, AclOperation.WRITE))
    conf = {**base_conf(bootstrap), "transactional.id": txn_id, "transaction.timeout.ms": 10_000}
    with pytest.raises(KafkaException) as failed:
        Producer(conf).init_transactions(TIMEOUT)
    assert failed.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    create_acls(bootstrap, acl(ResourceType.TRANSACTIONAL_ID, txn_id, AclOperation.WRITE))
    producer = Producer(conf)
    producer.init_transactions(TIMEOUT)
    producer.begin_transaction()
    producer.produce(topic, b"in a transaction")
    producer.commit_transaction(TIMEOUT)


def test_a_reset_deletes_every_acl() -> None:
    """KafkaBroker.reset gives a test a fresh broker: no ACLs left by the previous test."""
    from kafkapy.testing import KafkaBroker

    config = {"authorizer.class.name": STANDARD_AUTHORIZER, "super.users": ME}
    with KafkaBroker(config=config) as kafka:
        create_acls(kafka.bootstrap_servers, acl(ResourceType.TOPIC, "t", AclOperation.READ))
        assert len(describe_acls(kafka.bootstrap_servers, acl_filter())) == 1
        kafka.reset()
        assert describe_acls(kafka.bootstrap_servers, acl_filter()) == []


def _sasl_conf(user: str) -> dict[str, object]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": f"{user}-secret",
    }


def test_two_sasl_users_with_different_rights() -> None:
    """alice may write the topic, bob may read it in his group; admin (a super user) grants both.
    The principal is the SASL user's (User:alice), and PLAINTEXT's User:ANONYMOUS gets nothing."""
    from kafkapy.testing import KafkaBroker

    users = {name: f"{name}-secret" for name in ("admin", "alice", "bob")}
    config = {"authorizer.class.name": STANDARD_AUTHORIZER, "super.users": "User:admin"}
    topic, group = unique_topic("sasl-acl"), unique_topic("bob-group")
    with KafkaBroker(sasl=("PLAIN", users), config=config) as kafka:
        sasl = kafka.listener_bootstrap_servers("SASL_PLAINTEXT")
        admin = AdminClient({**base_conf(sasl), **_sasl_conf("admin")})
        grants = [
            acl(ResourceType.TOPIC, topic, AclOperation.WRITE, principal="User:alice"),
            acl(ResourceType.TOPIC, topic, AclOperation.READ, principal="User:bob"),
            acl(ResourceType.GROUP, group, AclOperation.READ, principal="User:bob"),
        ]
        for future in admin.create_acls(grants, request_timeout=TIMEOUT).values():
            future.result(timeout=TIMEOUT)
        # Nobody but admin may create it (a Metadata auto-creation needs CREATE).
        admin.create_topics([_new_topic(topic)])[topic].result(timeout=TIMEOUT)

        def send(user: str) -> KafkaError | None:
            return produce(sasl, topic, b"from " + user.encode(), **_sasl_conf(user))

        def read(user: str) -> KafkaError | bytes:
            return consume_in_group(sasl, topic, group, **_sasl_conf(user))

        assert send("alice") is None
        denied = send("bob")
        assert denied is not None and denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        assert read("bob") == b"from alice"
        denied_group = read("alice")
        assert isinstance(denied_group, KafkaError) and denied_group.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
        anonymous = produce(kafka.listener_bootstrap_servers("PLAINTEXT"), topic)
        assert anonymous is not None and anonymous.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_produce_creates_a_topic_only_for_a_principal_who_may_create_it(
    start_secured: Callable[..., BrokerProcess],
) -> None:
    """kafkapy's Produce auto-creates as Metadata does: CREATE on the cluster or the topic, else the
    topic stays unknown (before, WRITE alone created it)."""
    broker = start_secured()
    bootstrap, topic, other = broker.bootstrap, unique_topic("auto"), unique_topic("auto")
    create_acls(
        bootstrap,
        acl(ResourceType.BROKER, "kafka-cluster", AclOperation.CREATE, DENY),
        acl(ResourceType.TOPIC, topic, AclOperation.WRITE),
        acl(ResourceType.TOPIC, other, AclOperation.WRITE),
        acl(ResourceType.TOPIC, other, AclOperation.CREATE),
    )
    with WireClient.connect(bootstrap) as client:
        assert _produce_wire(client, topic) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert _produce_wire(client, other) == ErrorCode.NONE


def test_an_idempotent_producer_needs_only_write_on_its_topic(secured: BrokerProcess) -> None:
    """KIP-679: without IDEMPOTENT_WRITE on the cluster, WRITE on a topic gets the producer its id."""
    bootstrap, topic = secured.bootstrap, unique_topic("idempotent")
    create_acls(
        bootstrap,
        acl(ResourceType.BROKER, "kafka-cluster", AclOperation.IDEMPOTENT_WRITE, DENY),
        acl(ResourceType.TOPIC, topic, AclOperation.WRITE),
    )
    assert produce(bootstrap, topic, **{"enable.idempotence": True}) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "kafka.security.authorizer.AclAuthorizer",
            f"was removed with ZooKeeper in Kafka 4.0: use {STANDARD_AUTHORIZER}",
        ),
        ("com.example.Authorizer", f"is not supported: kafkapy implements {STANDARD_AUTHORIZER}"),
    ],
)
def test_an_authorizer_kafkapy_does_not_implement_stops_the_start(
    broker_factory: Callable[..., BrokerProcess], value: str, message: str
) -> None:
    """Fail closed: the broker does not start unprotected, and says why in one line."""
    with pytest.raises(BrokerStartError) as failed:
        broker_factory(extra_args=("--override", f"authorizer.class.name={value}"))
    assert f"authorizer.class.name={value} {message}" in str(failed.value)
