"""The server-side assignors of KIP-848 consumer groups: ``uniform`` and ``range`` (Kafka's
UniformAssignor and RangeAssignor of the group coordinator).

An assignor sees each member's subscribed topics and its current target assignment, and the
partition counts of the subscribed topics; it returns the new target assignment of every member.
The coordinator reconciles members towards it (consumer_group.py), so an assignor need not care
who owns a partition right now: revocation before reassignment is the reconciliation's job.

``uniform`` is sticky and balanced: a member keeps the partitions it had while they stay within
its fair share, and no member has two partitions more than another that could take one (Kafka's
UniformHomogeneousAssignmentBuilder when every member subscribes to the same topics, its
UniformHeterogeneousAssignmentBuilder otherwise: balance among the members that can take a
partition). ``range`` co-partitions: for each topic, the subscribers in member id order get
consecutive ranges, the first ``partitions % members`` one partition more (Kafka's RangeAssignor).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

# A member's partitions by topic id.
Assignment = dict[uuid.UUID, frozenset[int]]


@dataclass(frozen=True)
class MemberSpec:
    """What an assignor knows of one member: its subscribed topic ids and its current target."""

    subscribed: frozenset[uuid.UUID]
    assignment: Assignment


class Assignor(Protocol):
    name: str

    def assign(self, members: Mapping[str, MemberSpec], partitions: Mapping[uuid.UUID, int]) -> dict[str, Assignment]:
        """The new target assignment of every member (``partitions``: count by subscribed topic id)."""
        ...


def _freeze(owned: dict[str, dict[uuid.UUID, set[int]]]) -> dict[str, Assignment]:
    return {m: {t: frozenset(ps) for t, ps in sorted(by_topic.items()) if ps} for m, by_topic in owned.items()}


class UniformAssignor:
    """Kafka's UniformAssignor (``uniform``, the default): sticky, then balanced."""

    name = "uniform"

    def assign(self, members: Mapping[str, MemberSpec], partitions: Mapping[uuid.UUID, int]) -> dict[str, Assignment]:
        owned: dict[str, dict[uuid.UUID, set[int]]] = {m: {} for m in members}
        counts = dict.fromkeys(members, 0)
        taken: set[tuple[uuid.UUID, int]] = set()
        quotas = self._quotas(members, partitions)
        # Stickiness: a member keeps what it still subscribes to, up to its fair share.
        for member_id in sorted(members):
            spec = members[member_id]
            for topic_id, parts in sorted(spec.assignment.items()):
                if topic_id not in spec.subscribed:
                    continue
                for p in sorted(parts):
                    valid = p < partitions.get(topic_id, 0) and (topic_id, p) not in taken
                    if valid and counts[member_id] < quotas[member_id]:
                        owned[member_id].setdefault(topic_id, set()).add(p)
                        taken.add((topic_id, p))
                        counts[member_id] += 1
        # The rest goes, partition by partition, to the least loaded member that subscribes to it.
        for topic_id in sorted(partitions):
            eligible = sorted(m for m, spec in members.items() if topic_id in spec.subscribed)
            if not eligible:
                continue
            for p in range(partitions[topic_id]):
                if (topic_id, p) in taken:
                    continue
                member_id = min(eligible, key=lambda m: (counts[m] >= quotas[m], counts[m], m))
                owned[member_id].setdefault(topic_id, set()).add(p)
                counts[member_id] += 1
        self._balance(members, owned, counts)
        return _freeze(owned)

    @staticmethod
    def _quotas(members: Mapping[str, MemberSpec], partitions: Mapping[uuid.UUID, int]) -> dict[str, int]:
        """Each member's fair share when all subscribe alike (the homogeneous case); otherwise no cap
        here, and the balancing pass evens the members out."""
        subscriptions = {spec.subscribed for spec in members.values()}
        if len(subscriptions) != 1 or not members:
            return dict.fromkeys(members, 1 << 31)
        total = sum(partitions.get(t, 0) for t in next(iter(subscriptions)))
        base, extra = divmod(total, len(members))
        # Members that already hold more than the base share keep the extra partitions first (stickiness).
        by_holding = sorted(members, key=lambda m: (-sum(len(p) for p in members[m].assignment.values()), m))
        return {m: base + (1 if i < extra else 0) for i, m in enumerate(by_holding)}

    @staticmethod
    def _balance(
        members: Mapping[str, MemberSpec], owned: dict[str, dict[uuid.UUID, set[int]]], counts: dict[str, int]
    ) -> None:
        """Move partitions from a member to one with two fewer that subscribes to the topic, until none can move."""
        total = sum(counts.values())
        for _ in range(total * max(1, len(members))):
            moved = False
            for giver in sorted(members, key=lambda m: (-counts[m], m)):
                for topic_id in sorted(owned[giver]):
                    takers = [
                        m for m, s in members.items() if topic_id in s.subscribed and counts[m] + 1 < counts[giver]
                    ]
                    if not takers or not owned[giver][topic_id]:
                        continue
                    taker = min(takers, key=lambda m: (counts[m], m))
                    p = max(owned[giver][topic_id])
                    owned[giver][topic_id].discard(p)
                    owned[taker].setdefault(topic_id, set()).add(p)
                    counts[giver] -= 1
                    counts[taker] += 1
                    moved = True
                    break
                if moved:
                    break
            if not moved:
                return


class RangeAssignor:
    """Kafka's RangeAssignor (``range``): per topic, consecutive ranges in member id order."""

    name = "range"

    def assign(self, members: Mapping[str, MemberSpec], partitions: Mapping[uuid.UUID, int]) -> dict[str, Assignment]:
        owned: dict[str, dict[uuid.UUID, set[int]]] = {m: {} for m in members}
        for topic_id, count in sorted(partitions.items()):
            subscribers = sorted(m for m, spec in members.items() if topic_id in spec.subscribed)
            if not subscribers:
                continue
            base, extra = divmod(count, len(subscribers))
            start = 0
            for i, member_id in enumerate(subscribers):
                size = base + (1 if i < extra else 0)
                if size:
                    owned[member_id][topic_id] = set(range(start, start + size))
                start += size
        return _freeze(owned)


# Kafka's group.consumer.assignors names.
ASSIGNORS: dict[str, Assignor] = {a.name: a for a in (UniformAssignor(), RangeAssignor())}
