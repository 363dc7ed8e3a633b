"""The cost of a steady KIP-848 ConsumerGroupHeartbeat in the coordinator, in process (no network).

A group of MEMBERS members subscribed to one topic of PARTITIONS partitions is joined and reconciled
until Stable, then HEARTBEATS heartbeats (each member in turn, nothing changed) are timed: what every
member costs the broker every group.consumer.heartbeat.interval.ms. Storage is in memory, so the
records appended to __consumer_offsets cost no disk writes.

    PYTHONPATH=. python3 bench/consumer_group_heartbeat.py [members] [partitions] [heartbeats]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import trio

from kafkapy.broker import Broker
from kafkapy.broker_config import BrokerConfig
from kafkapy.coordinator.assignors import Assignment
from kafkapy.coordinator.consumer_group_coordinator import ConsumerGroupCoordinator, HeartbeatRequest

GROUP, TOPIC = "bench-group", "bench-topic"


def _heartbeat(coordinator: ConsumerGroupCoordinator, member: str, epoch: int, owned: Assignment | None) -> tuple:
    join = epoch == 0
    request = HeartbeatRequest(
        GROUP, member, epoch, None, None, 30000 if join else -1, [TOPIC] if join else None, None, None, owned
    )
    result = coordinator.heartbeat(request)
    return result.member_epoch, result.assignment


async def main(members: int, partitions: int, heartbeats: int) -> None:
    config = BrokerConfig()
    config.storage = "memory"
    config.data_dir = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    broker = Broker.open(config)
    broker.logs.create_topic(TOPIC, partitions)
    coordinator = broker.consumer_groups
    # Assign at every heartbeat: the set-up reconciles at once instead of waiting out the interval.
    coordinator.configs.overrides[GROUP] = {"consumer.assignment.interval.ms": "0"}
    ids = [f"member-{i}" for i in range(members)]
    epochs: dict[str, int] = dict.fromkeys(ids, 0)
    owned: dict[str, Assignment] = dict.fromkeys(ids, {})
    for _ in range(50):
        for member in ids:
            epochs[member], assignment = _heartbeat(coordinator, member, epochs[member], owned[member])
            owned[member] = assignment if assignment is not None else owned[member]
        if coordinator.groups[GROUP].state().value == "Stable":
            break
    state = coordinator.groups[GROUP].state().value
    started = time.perf_counter()
    for i in range(heartbeats):
        member = ids[i % members]
        _heartbeat(coordinator, member, epochs[member], None)
    took = time.perf_counter() - started
    print(
        f"{members} members, {partitions} partitions, group {state}: {heartbeats} steady heartbeats in "
        f"{took:.2f} s, {heartbeats / took:.0f}/s, {took / heartbeats * 1e6:.0f} us each"
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    trio.run(main, *(args + [100, 200, 2000][len(args) :]))
