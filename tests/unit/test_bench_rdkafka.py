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
