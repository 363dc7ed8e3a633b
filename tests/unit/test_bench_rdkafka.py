"""The parsers of bench/rdkafka_perf.py, on `-u` table output captured from rdkafka_performance
(librdkafka 2.0.2, Debian) run against kafkapy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
import rdkafka_perf  # noqa: E402  (bench/ is a folder of scripts, not a package)

PRODUCER = """\
% Sending 400000 messages of size 1024 bytes
% 274 backpressures for 400000 produce calls: 0.068% backpressure rate
|    elapsed |       msgs |      bytes |        rtt |         dr |     dr_m/s |    dr_MB/s |     dr_err |     tx_err |       outq |     offset 
|        471 |     400000 |  409600000 |          0 |     400000 |     848095 |     868.45 |          0 |        274 |          0 |     399999 
"""  # noqa: E501, W291

CONSUMER = """\
|    elapsed |       msgs |      bytes |        rtt |        m/s |       MB/s |     rx_err |     offset 
|          0 |          0 |          0 |          0 |          0 |       0.00 |          0 |          0 
|        318 |     400000 |  409600000 |          0 |    1256498 |    1286.65 |          0 |     399999 
% Average application fetch latency: 2us
"""  # noqa: E501, W291


def test_producer_summary_counts_delivered_messages() -> None:
    s = rdkafka_perf.parse_producer(PRODUCER)
    assert (s.messages, s.bytes, s.elapsed_ms, s.errors) == (400000, 409600000, 471, 0)
    assert s.seconds == pytest.approx(0.471)


def test_consumer_summary_is_the_last_row() -> None:
    s = rdkafka_perf.parse_consumer(CONSUMER)
    assert (s.messages, s.bytes, s.elapsed_ms, s.errors) == (400000, 409600000, 318, 0)


def test_output_without_a_table_is_an_error() -> None:
    with pytest.raises(rdkafka_perf.loadgen.LoadgenError):
        rdkafka_perf.parse_producer("% ERROR: broker transport failure\n")


# librdkafka 2.16's `debug=fetch` log of a consume from Tansu (lines cut): the first response held
# 579233 records, so the tool's own clock started 1.3 s after the first Fetch request.
FETCH_LOG = """\
%7|1796606604.696|INIT|rdkafka#consumer-1| [thrd:app]: librdkafka v2.16.0 (0x21000ff) rdkafka#consumer-1 initialized
%7|1796606605.199|FETCH|rdkafka#consumer-1| [thrd:127.0.0.1:48065/111]: 127.0.0.1:48065/111: Topic t [0] in state active at offset 0
%7|1796606605.200|FETCH|rdkafka#consumer-1| [thrd:127.0.0.1:48065/111]: 127.0.0.1:48065/111: Fetch topic t [0] at offset 0 (leader epoch 0)
%7|1796606605.200|FETCH|rdkafka#consumer-1| [thrd:127.0.0.1:48065/111]: 127.0.0.1:48065/111: Fetch 1/1/1 toppar(s)
%7|1796606606.529|FETCH|rdkafka#consumer-1| [thrd:127.0.0.1:48065/111]: 127.0.0.1:48065/111: Fetch topic t [0] at offset 579233 (leader epoch 0)
%7|1796606607.385|DESTROY|rdkafka#consumer-1| [thrd:app]: Terminating instance (destroy flags none (0x0))
%7|1796606607.385|DESTROY|rdkafka#consumer-1| [thrd:main]: Destroy internal
"""  # noqa: E501


def test_consume_rate_is_timed_from_the_first_fetch_request() -> None:
    s = rdkafka_perf.parse_consumer(CONSUMER, FETCH_LOG)
    assert (s.elapsed_ms, s.fetch_ms) == (318, 2185)
    assert s.seconds == pytest.approx(2.185)


def test_a_log_without_fetch_requests_is_an_error() -> None:
    with pytest.raises(rdkafka_perf.loadgen.LoadgenError):
        rdkafka_perf.fetch_window_ms(FETCH_LOG.replace("Fetch topic", "Fetched"))


def test_the_log_filter_keeps_what_the_fetch_window_needs() -> None:
    keep = rdkafka_perf.FetchLogFilter()
    kept = "".join(line for line in FETCH_LOG.splitlines(keepends=True) if keep(line))
    assert kept.count("Fetch topic") == 1 and kept.count("\n") == 2
    assert rdkafka_perf.fetch_window_ms(kept) == 2185
    assert keep("% ERROR: broker transport failure\n")
