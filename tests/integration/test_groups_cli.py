"""``kafkapy groups list|describe`` on a KIP-848 consumer group (a confluent-kafka consumer with
group.protocol=consumer) beside a classic one: types and states listed and filtered, the consumer
group's offsets, state with its epochs, and members with their epochs and assignments."""

from __future__ import annotations

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.broker_process import BrokerProcess
from tests.integration.clientutil import Deadline, base_conf, create_topic, producer, unique_topic
from tests.integration.test_tools import kafkapy


def _rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()]


def test_groups_of_both_protocols(broker: BrokerProcess) -> None:
    b = ("-b", broker.bootstrap)
    topic = unique_topic("cli-groups")
    create_topic(broker.bootstrap, topic, 2)
    p = producer(broker.bootstrap)
    for partition in (0, 1):
        p.produce(topic, value=b"v", partition=partition)
    p.flush(30)
    consumer = Consumer(
        {**base_conf(broker.bootstrap), "group.id": "kip848", "group.protocol": "consumer",
         "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    )  # fmt: skip
    try:
        consumer.subscribe([topic])
        deadline = Deadline(30, "the consumer read both records")
        seen = 0
        while seen < 2:
            deadline.check()
            msg = consumer.poll(0.2)
            seen += msg is not None and msg.error() is None
        consumer.commit(asynchronous=False)
        # A classic group that only has committed offsets (the admin kept: a dropped one never answers).
        admin = AdminClient(base_conf(broker.bootstrap))
        offsets = ConsumerGroupTopicPartitions("classic-one", [TopicPartition(topic, 0, 1)])
        admin.alter_consumer_group_offsets([offsets])["classic-one"].result(30)
        listed = _rows(kafkapy("groups", "list", "--type", "--state", *b).stdout)
        want = [["GROUP", "TYPE", "STATE"], ["classic-one", "Classic", "Empty"], ["kip848", "Consumer", "Stable"]]
        assert listed == want, listed
        assert _rows(kafkapy("groups", "list", *b).stdout) == [["classic-one"], ["kip848"]]
        assert _rows(kafkapy("groups", "list", "--type", "consumer", *b).stdout) == [["GROUP", "TYPE"],
                                                                                    ["kip848", "Consumer"]]
        offsets = _rows(kafkapy("groups", "describe", "kip848", *b).stdout)
        assert offsets[0][:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
        assert sorted(row[:6] for row in offsets[1:]) == [["kip848", topic, "0", "1", "1", "0"],
                                                          ["kip848", topic, "1", "1", "1", "0"]]
        state = _rows(kafkapy("groups", "describe", "kip848", "--state", *b).stdout)
        assert state[0][-2:] == ["GROUP-EPOCH", "ASSIGNMENT-EPOCH"] and state[1][4:6] == ["Stable", "1"], state
        assert int(state[1][-2]) >= 1 and state[1][-1] == state[1][-2], state
        members = _rows(kafkapy("groups", "describe", "kip848", "--members", "--verbose", *b).stdout)
        assert members[0][-4:] == ["CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"]
        [member] = members[1:]
        assert member[5] == "2" and member[-3] == member[-1] == f"{topic}:0,1", member
    finally:
        consumer.close()
