"""Client quota enforcement as Kafka's ClientQuotaManager does it: measure, and answer with a throttle time.

Each quota type (produce bytes, fetch bytes, request time) keeps a ``Rate`` per quota entity the
client falls under, over ``quota.window.num`` windows of ``quota.window.size.seconds`` (Kafka's
SampledStat and Rate.windowSize). Which stored quota applies to a (user, client-id), and which
clients share its rate, follow Kafka's order of the eight user/client-id combinations
(DefaultQuotaCallback.quotaMetricTags). A request that takes a rate over its bound gets Kafka's
throttle time, ``(rate - bound) / bound * window``, in its response, and its connection is muted
that long after the response is sent (kafkapy/apis/dispatch.py asks, kafkapy/server mutes).

controller_mutation_rate and connection_creation_rate are stored and described but not enforced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kafkapy.protocol.specs import ApiKey
from kafkapy.security.quotas.store import (
    CLIENT_ID,
    CONSUMER_BYTE_RATE,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    USER,
    ClientQuotaStore,
)

if TYPE_CHECKING:
    from kafkapy.broker_config import BrokerConfig
    from kafkapy.clock import Clock
    from kafkapy.protocol.connection import Request

ENFORCED_KEYS = (PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE)
# A stored entity's place in the lookup: the name of a type, DEFAULT for its <default>, ABSENT
# when the entity has no such type.
DEFAULT = ("<default>",)
ABSENT = ("<absent>",)
# Kafka drops a client's sensors after an hour without requests; kafkapy prunes idle rates once this
# many clients are tracked, so a client inventing a client id per request cannot grow memory.
MAX_TRACKED = 10_000

# throttle_time_ms is an int32: a byte rate of 1 B/s and a 100 MB request would overflow it.
MAX_THROTTLE_MS = 2**31 - 1

# (user, client-id) of a rate: the names Kafka's metric tags hold, "" for a type the quota ignores.
RateKey = tuple[str, str]


class Rate:
    """Kafka's Rate over a WindowedSum: the sum of ``samples`` windows of ``window_ms``, per second."""

    __slots__ = ("samples", "window_ms", "starts", "values", "current")

    def __init__(self, samples: int, window_ms: int) -> None:
        self.samples = samples
        self.window_ms = window_ms
        self.starts: list[int] = []
        self.values: list[float] = []
        self.current = 0

    def record(self, value: float, now_ms: int) -> None:
        """Add ``value`` to the current window, moving on to the next one once it is complete."""
        if not self.starts:
            self.starts.append(now_ms)
            self.values.append(0.0)
        elif now_ms - self.starts[self.current] >= self.window_ms:
            self.current = (self.current + 1) % self.samples
            if self.current >= len(self.starts):
                self.starts.append(now_ms)
                self.values.append(0.0)
            else:
                self.starts[self.current], self.values[self.current] = now_ms, 0.0
        self.values[self.current] += value

    def _purge(self, now_ms: int) -> None:
        """Reset the windows older than all the windows together (Kafka's purgeObsoleteSamples)."""
        expire_ms = self.samples * self.window_ms
        for i, start in enumerate(self.starts):
            if now_ms - start >= expire_ms:
                self.starts[i], self.values[i] = now_ms, 0.0

    def window_size_ms(self, now_ms: int) -> int:
        """Kafka's Rate.windowSize: the time the windows span, counted as at least ``samples - 1`` full windows."""
        self._purge(now_ms)
        elapsed = now_ms - min(self.starts, default=now_ms)
        full_windows = elapsed // self.window_ms
        if full_windows < self.samples - 1:
            elapsed += (self.samples - 1 - full_windows) * self.window_ms
        return max(elapsed, 1)

    def measure(self, now_ms: int) -> float:
        """The rate per second: every window's sum over the time they span."""
        window_ms = self.window_size_ms(now_ms)
        return sum(self.values) / (window_ms / 1000)

    def last_record_ms(self) -> int:
        return max(self.starts, default=0)


class QuotaType:
    """One kind of client quota (a stored key): its rates by entity, and the lookup of which applies."""

    def __init__(self, key: str, samples: int, window_ms: int, max_throttle_ms: int | None = None) -> None:
        self.key = key
        self.samples = samples
        self.window_ms = window_ms
        # Kafka bounds request-time throttles by one window (ClientRequestQuotaManager), not byte rates.
        self.max_throttle_ms = max_throttle_ms
        self.bounds: dict[tuple[object, object], float] = {}
        self._resolved: dict[tuple[str, str], tuple[RateKey, float] | None] = {}
        self.rates: dict[RateKey, Rate] = {}

    def load(self, store: ClientQuotaStore) -> None:
        """Take this type's bounds from the stored quotas, by (user, client-id) place."""
        self.bounds = {}
        for entity, values in store.quotas.items():
            if self.key in values:
                names = dict(entity)
                place = (_place(names, USER), _place(names, CLIENT_ID))
                self.bounds[place] = values[self.key]
        self._resolved.clear()

    def quota(self, user: str, client_id: str) -> tuple[RateKey, float] | None:
        """The rate a client's requests count in and its bound, or None when no quota applies."""
        found = self._resolved.get((user, client_id), ABSENT)
        if found is ABSENT:
            if len(self._resolved) >= MAX_TRACKED:
                self._resolved.clear()
            found = self._resolved[(user, client_id)] = _lookup(self.bounds, user, client_id)
        return found  # type: ignore[return-value]

    def record(self, user: str, client_id: str, value: float, now_ms: int) -> int:
        """Record ``value`` against the client's quota; the throttle time in ms (0 within the quota)."""
        found = self.quota(user, client_id)
        if found is None:
            return 0
        key, bound = found
        rate = self.rates.get(key)
        if rate is None:
            if len(self.rates) >= MAX_TRACKED:
                self._prune(now_ms)
            rate = self.rates[key] = Rate(self.samples, self.window_ms)
        rate.record(value, now_ms)
        measured = rate.measure(now_ms)
        if measured <= bound:
            return 0
        # Kafka's QuotaUtils.throttleTime, over the window the rate was measured on.
        throttle_ms = round((measured - bound) / bound * rate.window_size_ms(now_ms))
        return min(throttle_ms, self.max_throttle_ms or MAX_THROTTLE_MS)

    def unrecord(self, user: str, client_id: str, value: float, now_ms: int) -> None:
        """Take back a recorded ``value`` (Kafka's unrecordQuotaSensor, for a fetch answered empty)."""
        found = self.quota(user, client_id)
        if found is not None and found[0] in self.rates:
            self.rates[found[0]].record(-value, now_ms)

    def max_bytes_in_window(self, user: str, client_id: str) -> float | None:
        """Kafka's getMaxValueInQuotaWindow: what ``samples - 1`` windows allow, None without a quota."""
        found = self.quota(user, client_id)
        if found is None:
            return None
        return found[1] * (self.samples - 1) * self.window_ms / 1000

    def _prune(self, now_ms: int) -> None:
        """Drop the rates of clients idle for all the windows together (they measure zero anyway)."""
        idle_ms = self.samples * self.window_ms
        for key in [key for key, rate in self.rates.items() if now_ms - rate.last_record_ms() >= idle_ms]:
            del self.rates[key]


def _place(names: dict[str, str | None], kind: str) -> object:
    if kind not in names:
        return ABSENT
    name = names[kind]
    return DEFAULT if name is None else name


def _candidates(user: str, client_id: str) -> Iterator[tuple[tuple[object, object], RateKey]]:
    """Kafka's precedence of the eight user/client-id quotas, each with the rate key its clients share."""
    yield (user, client_id), (user, client_id)
    yield (user, DEFAULT), (user, client_id)
    yield (user, ABSENT), (user, "")
    yield (DEFAULT, client_id), (user, client_id)
    yield (DEFAULT, DEFAULT), (user, client_id)
    yield (DEFAULT, ABSENT), (user, "")
    yield (ABSENT, client_id), ("", client_id)
    yield (ABSENT, DEFAULT), ("", client_id)


def _lookup(bounds: dict[tuple[object, object], float], user: str, client_id: str) -> tuple[RateKey, float] | None:
    if not bounds:
        return None
    for place, key in _candidates(user, client_id):
        bound = bounds.get(place)
        if bound is not None:
            return key, bound
    return None


class ClientQuotaManager:
    """The broker's quota types over one store; ``enabled`` is False while no enforced quota is stored,
    and then requests pay nothing for quotas."""

    def __init__(self, config: BrokerConfig, store: ClientQuotaStore, clock: Clock) -> None:
        self.store = store
        self._clock = clock
        samples, window_ms = config.quota_window_num, config.quota_window_size_seconds * 1000
        self.produce = QuotaType(PRODUCER_BYTE_RATE, samples, window_ms)
        self.fetch = QuotaType(CONSUMER_BYTE_RATE, samples, window_ms)
        self.request = QuotaType(REQUEST_PERCENTAGE, samples, window_ms, max_throttle_ms=window_ms)
        self.enabled = False
        store.listeners.append(self.reload)
        self.reload()

    def reload(self) -> None:
        """Take the stored quotas (at start and after each change)."""
        for quota_type in (self.produce, self.fetch, self.request):
            quota_type.load(self.store)
        self.enabled = any(quota_type.bounds for quota_type in (self.produce, self.fetch, self.request))

    def now_ms(self) -> int:
        return self._clock.monotonic_ns() // 1_000_000

    def before_handler(self, principal: str, request: Request) -> float:
        """The thread's CPU time as the handler starts (0 while no request_percentage is stored).

        A Fetch asks for no more than the consumer's quota allows over its windows (Kafka's
        fetchMaxBytes bound by getMaxValueInQuotaWindow), so one fetch cannot earn a throttle of minutes.
        """
        if request.api_key == ApiKey.FETCH:
            cap = self.fetch.max_bytes_in_window(user_name(principal), request.client_id or "")
            if cap is not None:
                request.body["max_bytes"] = max(1, min(request.body["max_bytes"], int(cap)))
        return time.thread_time() if self.request.bounds else 0.0

    def throttle_ms(self, principal: str, request: Request, body: dict | None, cpu_started: float) -> int:
        """Record an answered request against its client's quotas (Kafka's KafkaApis): Produce's request
        bytes, Fetch's response bytes, every request's handler time; the throttle time, 0 within them all.

        The body gets the throttle time; a throttled Fetch is answered empty and its bytes taken back,
        as Kafka does. An acks=0 Produce (no body) counts its bytes only.
        """
        user, client_id = user_name(principal), request.client_id or ""
        now_ms = self.now_ms()
        request_ms = 0
        # cpu_started is 0 when no request_percentage was stored as the handler started.
        if self.request.bounds and body is not None and cpu_started:
            # The handler's time as the thread's CPU time: a long-polling Fetch waiting for data costs
            # nothing, as in Kafka, where it waits in purgatory off the request threads. Kafka counts
            # it in percent of one thread: nanoseconds * 100 / 1e9 per second.
            cpu_s = time.thread_time() - cpu_started
            request_ms = self.request.record(user, client_id, cpu_s * 100, now_ms)
        bandwidth_ms = 0
        if request.api_key == ApiKey.PRODUCE:
            bandwidth_ms = self.produce.record(user, client_id, request.size, now_ms)
        elif request.api_key == ApiKey.FETCH and body is not None:
            size = fetched_bytes(body)
            bandwidth_ms = self.fetch.record(user, client_id, size, now_ms)
            if bandwidth_ms or request_ms:
                self.fetch.unrecord(user, client_id, size, now_ms)
                body["responses"] = []
        throttle_ms = max(request_ms, bandwidth_ms)
        if throttle_ms and body is not None:
            body["throttle_time_ms"] = throttle_ms
        return throttle_ms


def user_name(principal: str) -> str:
    """The user entity of a principal ("User:alice" -> "alice", User:ANONYMOUS -> "ANONYMOUS"), the
    principal's name as Kafka's Session.sanitizedUser holds it (sanitized only to be a metric tag)."""
    return principal.partition(":")[2]


def fetched_bytes(body: dict) -> int:
    """The record bytes of a Fetch response, what its size is made of (the rest is a few bytes a partition)."""
    total = 0
    for topic in body["responses"]:
        for partition in topic["partitions"]:
            records = partition.get("records")
            if records is not None:
                total += len(records) if isinstance(records, bytes | bytearray | memoryview) else records.length
    return total
