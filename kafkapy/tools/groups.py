"""``kafkapy groups list|describe``, printing like Kafka 4.3.1's kafka-consumer-groups.sh, for classic and
KIP-848 consumer groups alike (and listing share and streams groups too).

``list`` prints the group ids; ``--type`` and ``--state`` add those columns and, given values
(comma-separated, any case), keep only the groups of those types or states (ListGroups v5 filters).
``describe GROUP`` prints the committed offsets with lag and the member owning each partition;
``--state`` the coordinator, assignor, state and member count (for a consumer group also its group
epoch and target assignment epoch); ``--members`` each member (``--verbose``: its member epoch and
its current and target assignments). A classic group is read with DescribeGroups, a consumer group
with ConsumerGroupDescribe.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass

from kafkapy.client.wire import WireClient
from kafkapy.protocol.specs import ApiKey
from kafkapy.tools import ToolError
from kafkapy.tools.admin import assignment_partitions, check, log_end_offsets, print_table

# kafka-consumer-groups.sh --describe columns.
OFFSET_COLUMNS = (
    "GROUP",
    "TOPIC",
    "PARTITION",
    "CURRENT-OFFSET",
    "LOG-END-OFFSET",
    "LAG",
    "CONSUMER-ID",
    "HOST",
    "CLIENT-ID",
)
# The kinds kafka-consumer-groups.sh describes; share and streams groups have their own tools.
DESCRIBED_TYPES = ("classic", "consumer")


def _filter(values: str | None) -> list[str]:
    """``--type`` / ``--state`` values as ListGroups filters (absent or bare: no filter)."""
    return [v.strip() for v in (values or "").split(",") if v.strip()]


def _listed(client: WireClient, states: Iterable[str] = (), types: Iterable[str] = ()) -> list:
    response = client.request(ApiKey.LIST_GROUPS, 5, {"states_filter": list(states), "types_filter": list(types)})
    check(response.error_code)
    return sorted(response.groups, key=lambda g: g.group_id)


def groups_list(client: WireClient, args: argparse.Namespace) -> None:
    groups = _listed(client, _filter(args.state), _filter(args.type))
    if args.state is None and args.type is None:
        for group in groups:
            print(group.group_id)
        return
    header = ["GROUP"] + ["TYPE"] * (args.type is not None) + ["STATE"] * (args.state is not None)
    rows = [
        (group.group_id,)
        + ((group.group_type.capitalize(),) if args.type is not None else ())
        + ((group.group_state,) if args.state is not None else ())
        for group in groups
    ]
    print_table([tuple(header), *rows])


@dataclass
class Member:
    """One member as the describe views print it, whatever the group's protocol."""

    member_id: str
    instance_id: str | None
    host: str
    client_id: str
    assigned: list[tuple[str, int]]
    # KIP-848 only: the member's epoch and the partitions the group's target assignment gives it.
    epoch: int | None = None
    target: list[tuple[str, int]] | None = None


@dataclass
class Description:
    group_id: str
    group_type: str
    state: str
    assignor: str
    members: list[Member]
    # KIP-848 only.
    group_epoch: int | None = None
    assignment_epoch: int | None = None


def _describe_classic(client: WireClient, group_id: str) -> Description:
    group = client.request(ApiKey.DESCRIBE_GROUPS, 5, {"groups": [group_id]}).groups[0]
    check(group.error_code, group_id)
    members = [
        Member(m.member_id, m.group_instance_id, m.client_host, m.client_id,
               assignment_partitions(bytes(m.member_assignment)))
        for m in group.members
    ]  # fmt: skip
    return Description(group_id, "classic", group.group_state, group.protocol_data, members)


def _partitions(assignment: object) -> list[tuple[str, int]]:
    return sorted((t.topic_name, p) for t in assignment.topic_partitions for p in t.partitions)  # type: ignore[attr-defined]


def _describe_consumer(client: WireClient, group_id: str) -> Description:
    body = {"group_ids": [group_id], "include_authorized_operations": False}
    group = client.request(ApiKey.CONSUMER_GROUP_DESCRIBE, 1, body).groups[0]
    check(group.error_code, group.error_message or group_id)
    members = [
        Member(m.member_id, m.instance_id, m.client_host, m.client_id, _partitions(m.assignment), m.member_epoch,
               _partitions(m.target_assignment))
        for m in group.members
    ]  # fmt: skip
    return Description(
        group_id, "consumer", group.group_state, group.assignor_name, members, group.group_epoch,
        group.assignment_epoch,
    )  # fmt: skip


def _describe(client: WireClient, group_id: str) -> Description:
    listed = {g.group_id: g for g in _listed(client)}
    group = listed.get(group_id)
    if group is None:
        raise ToolError(f"consumer group '{group_id}' does not exist")
    if group.group_type not in DESCRIBED_TYPES:
        raise ToolError(f"group '{group_id}' is a {group.group_type} group, not a consumer group")
    if group.group_type == "consumer":
        return _describe_consumer(client, group_id)
    return _describe_classic(client, group_id)


def groups_describe(client: WireClient, args: argparse.Namespace) -> None:
    group = _describe(client, args.group)
    if args.state:
        _print_state(client, group)
    elif args.members:
        _print_members(group, args.verbose)
    else:
        _print_offsets(client, group)


def _print_state(client: WireClient, group: Description) -> None:
    found = client.request(ApiKey.FIND_COORDINATOR, 4, {"key_type": 0, "coordinator_keys": [group.group_id]})
    coordinator = found.coordinators[0]
    check(coordinator.error_code, coordinator.error_message)
    header: tuple = ("GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS")
    row: tuple = (group.group_id, f"{coordinator.host}:{coordinator.port} ({coordinator.node_id})",
                  group.assignor or "-", group.state, len(group.members))  # fmt: skip
    if group.group_epoch is not None:
        # The KIP-848 epochs (kafka-consumer-groups.sh does not print them; kafkapy does).
        header += ("GROUP-EPOCH", "ASSIGNMENT-EPOCH")
        row += (group.group_epoch, group.assignment_epoch)
    print_table([header, row])


def _assignment_text(partitions: list[tuple[str, int]]) -> str:
    """Kafka's CURRENT-ASSIGNMENT form: topic:p1,p2 per topic, topics separated by ';'."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(partitions):
        by_topic.setdefault(topic, []).append(partition)
    return ";".join(f"{t}:{','.join(map(str, ps))}" for t, ps in by_topic.items()) or "-"


def _print_members(group: Description, verbose: bool) -> None:
    header: tuple = ("GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
    if verbose:
        header += ("CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT")
    rows = []
    for m in sorted(group.members, key=lambda m: m.member_id):
        row: tuple = (group.group_id, m.member_id, m.instance_id or "-", m.host, m.client_id, len(m.assigned))
        if verbose:
            target = "-" if m.target is None else _assignment_text(m.target)
            row += (_dash(m.epoch), _assignment_text(m.assigned), _dash(group.assignment_epoch), target)
        rows.append(row)
    if not rows:
        print(f"Consumer group '{group.group_id}' has no active members.")
        return
    print_table([header, *rows])


def _dash(value: int | None) -> object:
    return "-" if value is None else value


def _print_offsets(client: WireClient, group: Description) -> None:
    owners = {tp: member for member in group.members for tp in member.assigned}
    body = {"groups": [{"group_id": group.group_id, "topics": None}]}
    fetched = client.request(ApiKey.OFFSET_FETCH, 8, body).groups[0]
    check(fetched.error_code, group.group_id)
    committed = {(t.name, p.partition_index): p.committed_offset for t in fetched.topics for p in t.partitions}
    # Kafka prints every partition with a committed offset or an owner ("-" for what it lacks).
    partitions = sorted(set(committed) | set(owners))
    ends: dict[tuple[str, int], int] = {}
    for topic in sorted({t for t, _ in partitions}):
        found = log_end_offsets(client, topic, [p for t, p in partitions if t == topic])
        ends.update(((topic, p), offset) for p, offset in found.items())
    rows = []
    for tp in partitions:
        member, offset, end = owners.get(tp), committed.get(tp, -1), ends.get(tp, -1)
        lag = end - offset if offset >= 0 and end >= 0 else "-"
        rows.append(
            (group.group_id, tp[0], tp[1], offset if offset >= 0 else "-", end, lag,
             member.member_id if member else "-", member.host if member else "-", member.client_id if member else "-")
        )  # fmt: skip
    if not rows:
        print(f"Consumer group '{group.group_id}' has no committed offsets; it is {group.state}.")
        return
    print_table([OFFSET_COLUMNS, *rows])
