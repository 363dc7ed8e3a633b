"""Side-by-side wire diff: the same request to kafkapy and to the reference Apache Kafka 4.3.1, and the
two responses compared field by field, modulo what legitimately differs (ports, cluster and topic ids,
producer ids, timestamps, throttle times).

Every fidelity difference becomes one test case (compat_tests/test_wire_*.py):

    def test_unknown_topic(wire_pair: WirePair) -> None:
        wire_pair.assert_same(3, 12, {"topics": [{"name": "nope"}], "allow_auto_topic_creation": False, ...})

Requests and responses go through kafkapy's own codec (kafkapy.client.wire), so a response Kafka sends
that our specs cannot decode fails the test too. State both brokers need (topics, records, groups) is
set up on each with `on_both` or `create_topics`; names are shared, so responses naming them compare.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import construct as c

from kafkapy.client.wire import WireClient

T = TypeVar("T")

# Fields whose values differ between two healthy brokers: replaced by "<name>" unless they hold a
# sentinel (-1, 0, null, the zero uuid), which must match.
VOLATILE_FIELDS = frozenset(
    {
        "throttle_time_ms",
        "cluster_id",
        "port",
        "topic_id",
        "producer_id",
        "log_append_time_ms",
        "timestamp",
        "max_timestamp",
        "last_timestamp",
        "transaction_start_time_ms",
        "session_id",
    }
)
_SENTINELS = (None, -1, 0, "", "AAAAAAAAAAAAAAAAAAAAAA", str(uuid.UUID(int=0)), b"\x00" * 16)


def plain(value: Any) -> Any:
    """A decoded response as plain dicts, lists, ints, strings and bytes (construct's `_io` dropped)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(value, list | tuple | c.ListContainer):
        return [plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def normalize(value: Any, ignore: Iterable[str] = (), unordered: Iterable[str] = ()) -> Any:
    """Replace volatile and ignored fields by placeholders; sort the lists named in ``unordered``."""
    ignored = VOLATILE_FIELDS | frozenset(ignore)
    sort_fields = frozenset(unordered)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, item in node.items():
                if key in ignored and not _is_sentinel(item):
                    out[key] = f"<{key}>"
                    continue
                item = walk(item)
                if key in sort_fields and isinstance(item, list):
                    item = sorted(item, key=repr)
                out[key] = item
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(plain(value))


def _is_sentinel(value: Any) -> bool:
    return any(value == s and type(value) is type(s) for s in _SENTINELS if s is not None) or value is None


def differences(kafkapy: Any, reference: Any, path: str = "") -> list[str]:
    """Every path where the two normalized responses differ, as `path: kafkapy=... reference=...` lines."""
    if isinstance(kafkapy, dict) and isinstance(reference, dict):
        lines = []
        for key in list(reference) + [k for k in kafkapy if k not in reference]:
            lines += differences(kafkapy.get(key, "<absent>"), reference.get(key, "<absent>"), f"{path}.{key}")
        return lines
    if isinstance(kafkapy, list) and isinstance(reference, list):
        if len(kafkapy) != len(reference):
            counts = f"kafkapy has {len(kafkapy)} items, reference {len(reference)}"
            return [f"{path}: {counts}: {kafkapy!r} / {reference!r}"]
        lines = []
        for index, (a, b) in enumerate(zip(kafkapy, reference, strict=True)):
            lines += differences(a, b, f"{path}[{index}]")
        return lines
    if kafkapy != reference:
        return [f"{path or '.'}: kafkapy={kafkapy!r} reference={reference!r}"]
    return []


class WirePair:
    """kafkapy and the reference Kafka side by side; one fresh connection per request."""

    def __init__(self, kafkapy: str, reference: str) -> None:
        self.bootstraps = {"kafkapy": kafkapy, "reference": reference}

    def on_both(self, fn: Callable[[str], T]) -> dict[str, T]:
        """Run ``fn(bootstrap)`` against each broker (set-up: topics, records, groups)."""
        return {name: fn(bootstrap) for name, bootstrap in self.bootstraps.items()}

    def request(self, api_key: int, version: int, body: dict) -> dict[str, dict]:
        """The same request to both; the plain (not normalized) responses by broker name."""

        def send(bootstrap: str) -> dict:
            with WireClient.connect(bootstrap, timeout=30.0) as client:
                return plain(client.request(api_key, version, body))

        return self.on_both(send)

    def assert_same(
        self,
        api_key: int,
        version: int,
        body: dict,
        *,
        ignore: Iterable[str] = (),
        unordered: Iterable[str] = (),
    ) -> dict:
        """Send to both and fail with every differing field unless the normalized responses are equal;
        return kafkapy's plain response for further checks."""
        responses = self.request(api_key, version, body)
        ours = normalize(responses["kafkapy"], ignore, unordered)
        theirs = normalize(responses["reference"], ignore, unordered)
        lines = differences(ours, theirs)
        assert not lines, f"api {api_key} v{version} differs from Kafka 4.3.1:\n" + "\n".join(lines)
        return responses["kafkapy"]

    def create_topics(self, *names: str, partitions: int = 1, configs: dict[str, str] | None = None) -> None:
        """Create the topics on both brokers (CreateTopics v7), failing on any error."""
        body = {
            "topics": [
                {
                    "name": name,
                    "num_partitions": partitions,
                    "replication_factor": 1,
                    "assignments": [],
                    "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()],
                }
                for name in names
            ],
            "timeout_ms": 30000,
            "validate_only": False,
        }
        for broker, response in self.request(19, 7, body).items():
            errors = [(t["name"], t["error_code"], t["error_message"]) for t in response["topics"] if t["error_code"]]
            assert not errors, f"CreateTopics on {broker}: {errors}"
        self.wait_for_leaders(*names)

    def wait_for_leaders(self, *names: str, timeout: float = 30.0) -> None:
        """Block until every partition of the topics has a leader on both brokers: Kafka answers
        NOT_LEADER_OR_FOLLOWER for a few milliseconds after CreateTopics, which is not what a diff tests."""
        body = {
            "topics": [{"name": name, "topic_id": None} for name in names],
            "allow_auto_topic_creation": False,
            "include_topic_authorized_operations": False,
        }
        deadline = time.monotonic() + timeout
        while not self._led(body):
            assert time.monotonic() < deadline, f"no leaders for {names} within {timeout}s"
            time.sleep(0.05)

    def _led(self, metadata_request: dict) -> bool:
        """Whether Metadata shows a leader for every partition and each leader answers ListOffsets (Kafka's
        metadata cache can name a leader a moment before its replica manager serves the partition)."""
        for response in self.request(3, 12, metadata_request).values():
            for topic in response["topics"]:
                if topic["error_code"] or not topic["partitions"]:
                    return False
                if any(p["leader_id"] < 0 for p in topic["partitions"]):
                    return False
        offsets_request = {
            "replica_id": -1,
            "topics": [
                {
                    "name": t["name"],
                    "partitions": [{"partition_index": p["partition_index"], "timestamp": -1} for p in t["partitions"]],
                }
                for t in response["topics"]
            ],
        }
        return all(
            p["error_code"] == 0
            for response in self.request(2, 1, offsets_request).values()
            for t in response["topics"]
            for p in t["partitions"]
        )


def unique_name(prefix: str) -> str:
    """A topic/group name no other test uses (both brokers are shared by the whole session)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
