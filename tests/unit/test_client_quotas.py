"""Client quotas without a broker: Kafka's rate window, throttle formula and precedence order, the store's
checks and its file. The numbers are worked by hand from Kafka's Rate.windowSize and QuotaUtils.throttleTime."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kafkapy.broker_config import BrokerConfig
from kafkapy.clock import ManualClock
from kafkapy.security.quotas.store import FILE_NAME, ClientQuotaStore
from kafkapy.security.quotas.throttle import ClientQuotaManager, QuotaType, Rate
from kafkapy.storage.fs import MemoryFS

USER_ALICE = [("user", "alice")]


def test_a_first_burst_is_measured_over_the_windows_kafka_assumes() -> None:
    """At the first record Kafka counts samples - 1 full windows (10 s): 2000 bytes is 200 B/s, twice a
    100 B/s quota, and the throttle is (200 - 100) / 100 * 10 s."""
    produce = QuotaType("producer_byte_rate", samples=11, window_ms=1000)
    produce.bounds = {("alice", ("<absent>",)): 100.0}
    assert produce.record("alice", "any", 1000, now_ms=0) == 0  # exactly 100 B/s is within the quota
    assert produce.record("alice", "any", 1000, now_ms=0) == 10_000


def test_a_throttle_time_fits_its_int32_field() -> None:
    produce = QuotaType("producer_byte_rate", samples=11, window_ms=1000)
    produce.bounds = {(("<absent>",), ("<default>",)): 1.0}
    assert produce.record("u", "c", 100_000_000, now_ms=0) == 2**31 - 1


def test_rate_window_grows_with_time_and_old_windows_expire() -> None:
    rate = Rate(samples=11, window_ms=1000)
    rate.record(500, 0)
    assert rate.window_size_ms(0) == 10_000
    assert rate.window_size_ms(10_500) == 10_500  # ten full windows and a half
    rate.record(500, 10_500)
    assert rate.measure(10_500) == pytest.approx(1000 / 10.5)
    # Once a window is older than all the windows together it is reset (to start now), and the window
    # counts from the oldest one left, still as at least ten full windows.
    assert rate.measure(11_000) == pytest.approx(500 / 10.5)


def test_request_time_throttles_are_bounded_by_one_window() -> None:
    config = BrokerConfig()
    manager = ClientQuotaManager(config, _store_with(Path("/nonexistent")), ManualClock())
    assert manager.request.max_throttle_ms == 1000
    assert manager.produce.max_throttle_ms is None


def _store_with(data_dir: Path) -> ClientQuotaStore:
    fs = MemoryFS()
    fs.makedirs(data_dir)
    return ClientQuotaStore(data_dir, fs)


# The eight user/client-id quotas in Kafka's order, each with the (user, client-id) its clients share a rate by.
PRECEDENCE = [
    ([("user", "alice"), ("client-id", "c1")], ("alice", "c1")),
    ([("user", "alice"), ("client-id", None)], ("alice", "c1")),
    ([("user", "alice")], ("alice", "")),
    ([("user", None), ("client-id", "c1")], ("alice", "c1")),
    ([("user", None), ("client-id", None)], ("alice", "c1")),
    ([("user", None)], ("alice", "")),
    ([("client-id", "c1")], ("", "c1")),
    ([("client-id", None)], ("", "c1")),
]


def test_the_eight_quotas_apply_in_kafkas_order() -> None:
    """Each stored quota wins over those below it; removing it uncovers the next."""
    store = _store_with(Path("data"))
    manager = ClientQuotaManager(BrokerConfig(), store, ManualClock())
    entities = [entity for entity, _ in PRECEDENCE]
    store.alter([(entity, [("producer_byte_rate", 1000.0 + i)]) for i, entity in enumerate(entities)], False)
    assert manager.enabled
    for i, (entity, rate_key) in enumerate(PRECEDENCE):
        assert manager.produce.quota("alice", "c1") == (rate_key, 1000.0 + i)
        store.alter([(entity, [("producer_byte_rate", None)])], False)
    assert manager.produce.quota("alice", "c1") is None
    assert not manager.enabled


def test_store_checks_as_kafkas_controller() -> None:
    """Kafka 4.3.1's answers (checked with compat_tests/reference_kafka.py); a host name is valid when the
    handler found it resolves (in ``hosts``)."""
    store = _store_with(Path("data"))
    alterations = [
        ([("user", "a")], [("producer_byte_rate", 1024.0), ("request_percentage", 12.5)]),
        ([("group", "g")], [("producer_byte_rate", 1.0)]),
        ([("user", "a")], [("producer_byte_rate", 5.0)]),  # a second alteration of an entity is refused
        ([("user", "b")], [("nope", 1.0)]),
        ([("user", "b2")], [("producer_byte_rate", 0.0)]),
        ([("client-id", "c")], [("consumer_byte_rate", 1.5)]),
        ([("client-id", "c2")], [("consumer_byte_rate", 1e19)]),
        ([("ip", "10.0.0.1"), ("user", "x")], [("connection_creation_rate", 1.0)]),
        ([("ip", "not-an-ip")], [("connection_creation_rate", 1.0)]),
        ([("ip", None)], [("producer_byte_rate", 1.0)]),
        ([("ip", "10.0.0.1")], [("connection_creation_rate", 10.0)]),
        ([("user", "")], [("producer_byte_rate", 1.0)]),
        ([], [("producer_byte_rate", 1.0)]),
        ([("user", "d")], [("producer_byte_rate", 1.0), ("producer_byte_rate", 2.0)]),
    ]
    assert store.alter(alterations, validate_only=False) == [
        "Ignoring duplicate entity ClientQuotaEntity(entries={user=a})",
        "Unhandled client quota entity type: group",
        "Ignoring duplicate entity ClientQuotaEntity(entries={user=a})",
        "Invalid configuration key nope",
        "Quota producer_byte_rate must be greater than 0",
        "consumer_byte_rate cannot be a fractional value.",
        "Proposed value for consumer_byte_rate is too large for a LONG.",
        "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
        "not-an-ip is not a valid IP or resolvable host.",
        "Invalid configuration key producer_byte_rate",
        None,
        "Empty user not supported",
        "Invalid empty client quota entity",
        "Ignoring duplicate entity ClientQuotaEntity(entries={user=d})",
    ]
    assert store.alter([([("ip", "db.example")], [("connection_creation_rate", 2.0)])], False, {"db.example"}) == [None]
    assert store.quotas == {
        (("ip", "db.example"),): {"connection_creation_rate": 2.0},
        (("user", "a"),): {"producer_byte_rate": 1024.0, "request_percentage": 12.5},
        (("ip", "10.0.0.1"),): {"connection_creation_rate": 10.0},
    }


def test_validate_only_changes_nothing() -> None:
    store = _store_with(Path("data"))
    assert store.alter([(USER_ALICE, [("producer_byte_rate", 1024.0)])], validate_only=True) == [None]
    assert store.quotas == {}


def test_quotas_are_kept_in_the_data_dir(tmp_path: Path) -> None:
    store = ClientQuotaStore(tmp_path)
    store.alter([([("user", None), ("client-id", "c")], [("consumer_byte_rate", 2048.0)])], False)
    store.alter([([("ip", "db.example")], [("connection_creation_rate", 2.0)])], False, {"db.example"})
    again = ClientQuotaStore(tmp_path)
    assert again.quotas == {
        (("client-id", "c"), ("user", None)): {"consumer_byte_rate": 2048.0},
        (("ip", "db.example"),): {"connection_creation_rate": 2.0},
    }
    assert json.loads((tmp_path / FILE_NAME).read_text())["version"] == 1


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\xff\xfe", b'{"version": 1, "quotas": [{"entity": [["user", "a"]], "values": {"x": 1}}]}'],
    ids=["not-json", "not-utf8", "unknown-key"],
)
def test_a_damaged_file_is_logged_and_the_broker_starts_without_quotas(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="kafkapy.quota"):
        store = ClientQuotaStore(tmp_path)
    assert store.quotas == {}
    assert "client quotas file damaged" in caplog.text


def test_a_request_percentage_stored_while_a_handler_runs_does_not_charge_the_whole_thread_time() -> None:
    """Without a request_percentage as the handler starts, no start time is read (0): a quota stored
    meanwhile must not count the thread's whole CPU time since it started as this handler's."""
    from kafkapy.protocol.connection import Request

    store = _store_with(Path("data"))
    manager = ClientQuotaManager(BrokerConfig(), store, ManualClock())
    store.alter([([("client-id", "other")], [("producer_byte_rate", 1000.0)])], False)
    request = Request(api_key=3, api_version=12, correlation_id=1, client_id="c", size=30, body={"topics": None})
    cpu_started = manager.before_handler("User:ANONYMOUS", request)
    assert cpu_started == 0.0
    store.alter([([("client-id", "c")], [("request_percentage", 0.001)])], False)
    assert manager.throttle_ms("User:ANONYMOUS", request, {"topics": []}, cpu_started) == 0
    assert manager.request.rates == {}
