"""Medians, ratios and the markdown tables of bench/compare.py.

Input is compare.py's `rounds`: {broker kind: [one dict of figures per round]}, where a figure is a
dict of numbers or {"error": reason}. Every figure is summarized as the median of each number over
the rounds where it succeeded, with the count of failed rounds and their reasons; a figure that
failed in every round shows as "failed: <reason>" in the tables.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

Figure = Mapping[str, object]
Summary = dict[str, Any]
Report = Mapping[str, Any]
KAFKAPY_KINDS = ("kafkapy-disk", "kafkapy-memory")
OTHER_KINDS = ("tansu", "kafka", "kafkapy-baseline")
# Over TLS: kafkapy against Kafka, both through SSL; and each through SSL against itself through PLAINTEXT.
SSL_PAIRS = (("kafkapy-disk-ssl", "kafka-ssl"), ("kafkapy-disk-ssl", "kafkapy-disk"), ("kafka-ssl", "kafka"))
MIB = 1024


def aggregate(figures: Iterable[Figure | None]) -> Summary:
    """{"runs_ok", "runs_failed", "median": {number field: median over ok runs}, "errors": [...]}."""
    ok: list[Figure] = []
    errors: list[str] = []
    for f in figures:
        if f is None:
            continue
        if "error" in f:
            errors.append(str(f["error"]))
        else:
            ok.append(f)
    fields = sorted({k for f in ok for k, v in f.items() if isinstance(v, int | float) and not isinstance(v, bool)})
    median = {}
    for k in fields:
        values = [float(f[k]) for f in ok if isinstance(f.get(k), int | float)]
        if values:
            median[k] = round(statistics.median(values), 4)
    return {"runs_ok": len(ok), "runs_failed": len(errors), "median": median, "errors": errors}


def _get(round_: Mapping[str, object], *path: str) -> Figure | None:
    """A figure at `path` in one round; a round whose broker did not start yields its start failure."""
    node: object = round_
    for p in path:
        if not isinstance(node, Mapping) or p not in node:
            startup = round_.get("startup")
            if isinstance(startup, Mapping) and "error" in startup:
                return startup
            return None
        node = node[p]
    return node if isinstance(node, Mapping) else None


def summarize(rounds: Mapping[str, list[Mapping[str, object]]], workload_keys: list[str]) -> dict[str, Summary]:
    """Per broker kind: startup, throughput per workload and phase, latency, e2e, python client, RSS."""
    out: dict[str, Summary] = {}
    for kind, rs in rounds.items():
        tput = {
            key: {phase: aggregate(_get(r, "throughput", key, phase) for r in rs) for phase in ("produce", "consume")}
            for key in workload_keys
        }
        rss_after = [r.get("rss_after_load_kib") for r in rs]
        rss_values = [float(v) for v in rss_after if isinstance(v, int | float)]
        out[kind] = {
            "startup": aggregate(_get(r, "startup") for r in rs),
            "throughput": tput,
            "latency": aggregate(_get(r, "latency") for r in rs),
            "e2e": aggregate(_get(r, "e2e") for r in rs),
            "python_client": {p: aggregate(_get(r, "python_client", p) for r in rs) for p in ("produce", "consume")},
            "rss_after_load_kib": statistics.median(rss_values) if rss_values else None,
        }
    return out


def _median(summary: Mapping[str, object], field: str) -> float | None:
    median = summary.get("median")
    if isinstance(median, Mapping) and summary.get("runs_ok"):
        value = median.get(field)
        return float(value) if isinstance(value, int | float) else None
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def ratio_pairs(kinds: Iterable[str]) -> list[tuple[str, str]]:
    """The (numerator, denominator) brokers of the ratios, of those measured: each kafkapy kind against
    Tansu, Kafka and the baseline, and the SSL_PAIRS."""
    measured = set(kinds)
    pairs = [*((k, o) for k in KAFKAPY_KINDS for o in OTHER_KINDS), *SSL_PAIRS]
    return [(a, b) for a, b in pairs if a in measured and b in measured]


def ratios(summary: Mapping[str, Summary], workload_keys: list[str]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Throughput (msgs/s) of each pair of ratio_pairs, first ÷ second, per workload and phase."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    pairs = ratio_pairs(summary)
    for key in [*workload_keys, "python_client"]:
        out[key] = {}
        for phase in ("produce", "consume"):
            cell: dict[str, float | None] = {}
            for k, o in pairs:
                a = _phase_summary(summary[k], key, phase)
                b = _phase_summary(summary[o], key, phase)
                cell[f"{k}/{o}"] = _ratio(_median(a, "msgs_per_s"), _median(b, "msgs_per_s"))
            out[key][phase] = cell
    return out


def _phase_summary(broker: Mapping[str, object], key: str, phase: str) -> Mapping[str, object]:
    node = broker.get("python_client") if key == "python_client" else broker.get("throughput", {}).get(key)
    return node.get(phase, {}) if isinstance(node, Mapping) else {}


def raw_fractions(
    summary: Mapping[str, Summary], raw: Mapping[str, object], plain_keys_by_size: Mapping[int, str]
) -> dict[str, object]:
    """kafkapy's produce MB/s (1 MiB batches, the largest plain record size) as a fraction of loopback TCP
    into a file, and its consume MB/s as a fraction of sendfile over loopback."""
    if not plain_keys_by_size:
        return {}
    size = max(plain_keys_by_size)
    key = plain_keys_by_size[size]
    out: dict[str, object] = {"workload": key}
    tcp_file, sendfile = raw.get("tcp_to_file_mb_s"), raw.get("sendfile_mb_s")
    for kind in KAFKAPY_KINDS:
        if kind not in summary:
            continue
        produce = _median(_phase_summary(summary[kind], key, "produce"), "mb_per_s")
        consume = _median(_phase_summary(summary[kind], key, "consume"), "mb_per_s")
        out[kind] = {
            "produce_mb_s": produce,
            "produce_fraction_of_tcp_to_file": _ratio(produce, tcp_file if isinstance(tcp_file, float) else None),
            "consume_mb_s": consume,
            "consume_fraction_of_sendfile": _ratio(consume, sendfile if isinstance(sendfile, float) else None),
        }
    return out


# --- markdown ------------------------------------------------------------------------------------------------


def _failed_cell(s: Mapping[str, object]) -> str:
    errors = s.get("errors")
    if not errors:
        return "–"  # not measured (skipped by an option)
    reason = " ".join(str(errors[0]).split())
    return "failed: " + (reason[:120] + "…" if len(reason) > 120 else reason).replace("|", "/")


def _note(s: Mapping[str, object]) -> str:
    failed = s.get("runs_failed") or 0
    total = int(s.get("runs_ok") or 0) + int(failed)
    return f" ({failed}/{total} runs failed)" if failed else ""


def _rate_cell(s: Mapping[str, object]) -> str:
    mb, msgs = _median(s, "mb_per_s"), _median(s, "msgs_per_s")
    if mb is None or msgs is None:
        return _failed_cell(s)
    return f"{mb:.1f} MB/s · {_count(msgs)} msg/s{_note(s)}"


def _count(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k" if n >= 1e4 else f"{n / 1e3:.1f}k"
    return f"{n:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _throughput_tables(report: Report, kinds: list[str], keys: list[str]) -> list[str]:
    summary: Mapping[str, Summary] = report["medians"]
    ratios_: Mapping[str, Mapping[str, Mapping[str, float | None]]] = report["ratios"]
    rows, ratio_rows, cpu_rows = [], [], []
    ratio_cols = [f"{k}/{o}" for k, o in ratio_pairs(kinds)]
    for key in keys:
        for phase in ("produce", "consume"):
            cells = [_phase_summary(summary[k], key, phase) for k in kinds]
            rows.append([key, phase, *(_rate_cell(c) for c in cells)])
            cpu_rows.append([key, phase, *(_cpu_cell(c) for c in cells)])
            r = ratios_.get(key, {}).get(phase, {})
            ratio_rows.append([key, phase, *(_x(r.get(col)) for col in ratio_cols)])
    lines = ["### Throughput (median; MB = 10^6 bytes of record values)", ""]
    lines += _table(["workload", "phase", *kinds], rows)
    if ratio_cols:
        lines += ["", "### Ratios (first broker ÷ second, throughput; > 1 means the first is faster)", ""]
        lines += _table(["workload", "phase", *(c.replace("/", " ÷ ") for c in ratio_cols)], ratio_rows)
    lines += ["", "### Broker CPU seconds per GB of record values moved (median; lower is better)", ""]
    lines += _table(["workload", "phase", *kinds], cpu_rows)
    return lines


def _x(v: float | None) -> str:
    return f"{v:.2f}×" if v is not None else "–"


def _cpu_cell(s: Mapping[str, object]) -> str:
    v = _median(s, "cpu_s_per_gb")
    return f"{v:.1f}" if v is not None else ("–" if _median(s, "mb_per_s") is not None else _failed_cell(s))


def _latency_table(report: Report, kinds: list[str]) -> list[str]:
    summary: Mapping[str, Summary] = report["medians"]
    lat = report["settings"]["latency"]
    rows = []
    for k in kinds:
        p, e = summary[k]["latency"], summary[k]["e2e"]
        prod = _ms_cell(p, ("p50_ms", "p99_ms", "p999_ms"))
        e2e = _ms_cell(e, ("avg_ms", "p50_ms", "p99_ms", "p999_ms"))
        rows.append([k, prod, e2e])
    head = f"produce p50 / p99 / p99.9 at {lat['rate']} msg/s of {lat['size']} B, acks=1 (ms)"
    e2e_n = report["settings"]["e2e_records"]
    return [
        "### Latency (median)",
        "",
        *_table(["broker", head, f"end-to-end avg / p50 / p99 / p99.9, {e2e_n} round trips (ms)"], rows),
    ]


def _ms_cell(s: Mapping[str, object], fields: tuple[str, ...]) -> str:
    values = [_median(s, f) for f in fields]
    if any(v is None for v in values):
        return _failed_cell(s)
    text = " / ".join(f"{v:.1f}" if f == "avg_ms" else f"{v:.0f}" for f, v in zip(fields, values, strict=True))
    return text + _note(s)


def _startup_table(report: Report, kinds: list[str]) -> list[str]:
    summary: Mapping[str, Summary] = report["medians"]
    rows = []
    for k in kinds:
        s = summary[k]["startup"]
        secs = _median(s, "seconds")
        if secs is None:
            rows.append([k, _failed_cell(s), "", ""])
            continue
        fmt = _median(s, "format_seconds")
        start = f"{secs:.2f} s" + (f" (+ {fmt:.1f} s formatting the log dir)" if fmt is not None else "")
        idle = _median(s, "idle_rss_kib")
        after = summary[k].get("rss_after_load_kib")
        rows.append([k, start, _mib(idle), _mib(after)])
    lines = [
        "### Start-up and memory (median)",
        "",
        *_table(["broker", "process start → first Metadata answered", "idle RSS", "RSS after the load"], rows),
    ]
    return lines + _tls_lines(report, kinds)


def _tls_lines(report: Report, kinds: list[str]) -> list[str]:
    """What each SSL listener agreed with a Python ssl client, from the first round that asked."""
    lines = []
    for k in kinds:
        seen = [r["tls"] for r in report["rounds"].get(k, []) if isinstance(r.get("tls"), Mapping)]
        if seen:
            tls = seen[0]
            agreed = f"{tls.get('protocol')} {tls.get('cipher')} (client: {tls.get('client_openssl')})"
            text = tls.get("error") or agreed
            lines.append(f"{k}: SSL listener, {text}")
    return ["", *lines] if lines else []


def _mib(kib: float | None) -> str:
    return f"{kib / MIB:.0f} MiB" if isinstance(kib, int | float) else "–"


def _python_table(report: Report, kinds: list[str]) -> list[str]:
    summary: Mapping[str, Summary] = report["medians"]
    v = report["versions"]
    rows = [[k, *(_rate_cell(summary[k]["python_client"][p]) for p in ("produce", "consume"))] for k in kinds]
    client = f"confluent-kafka {v['confluent_kafka']} (librdkafka {v['librdkafka']})"
    title = f"### {client} in Python: 1 KiB, 1 partition, acks=1"
    return [title, "", *_table(["broker", "produce", "consume (assign, no group)"], rows)]


def _raw_table(report: Report) -> list[str]:
    raw: Mapping[str, object] = report["raw_limits"]
    frac: Mapping[str, object] = report["raw_fractions"]
    if "skipped" in raw:
        return ["### Raw machine limits", "", f"skipped: {raw['skipped']}"]
    kinds = [k for k in KAFKAPY_KINDS if k in frac]
    tcp, sf = raw.get("tcp_to_file_mb_s"), raw.get("sendfile_mb_s")

    def cell(kind: str, mb: str, fr: str) -> str:
        f = frac[kind]
        m, x = f.get(mb), f.get(fr)
        return f"{m:.0f} MB/s = {x:.1%}" if isinstance(m, float) and isinstance(x, float) else "–"

    rows = [
        [
            "loopback TCP → file (1 MiB writes)",
            _num(tcp),
            *(cell(k, "produce_mb_s", "produce_fraction_of_tcp_to_file") for k in kinds),
        ],
        [
            "sendfile → loopback TCP",
            _num(sf),
            *(cell(k, "consume_mb_s", "consume_fraction_of_sendfile") for k in kinds),
        ],
    ]
    head = ["raw limit", "MB/s", *(f"{k}, {frac.get('workload')}" for k in kinds)]
    return [
        "### kafkapy against the raw machine limits (produce vs TCP → file, consume vs sendfile)",
        "",
        *_table(head, rows),
    ]


def _num(v: object) -> str:
    return f"{v:.0f}" if isinstance(v, int | float) else "–"


def markdown(report: Report) -> str:
    """Every table of the report, as markdown ready to paste."""
    kinds: list[str] = report["brokers"]
    keys = [w["key"] for w in report["settings"]["workloads"]]
    s = report["settings"]
    m = report["machine"]
    head = (
        f"## kafkapy vs Tansu vs Apache Kafka — {report['when']}, {m['cores']} cores ({m['cpu_model']}), "
        f"kernel {m['kernel']}, median of {s['runs']} rounds, {s['records_bytes'] / 1e6:.0f} MB per produce phase"
    )
    lines = [head, ""]
    lines += _throughput_tables(report, kinds, keys) + [""]
    lines += _latency_table(report, kinds) + [""]
    lines += _startup_table(report, kinds) + [""]
    if s["python_client_bytes"]:
        lines += _python_table(report, kinds) + [""]
    lines += _raw_table(report)
    skipped = report.get("skipped_brokers") or {}
    for kind, reason in skipped.items():
        lines += ["", f"{kind}: not measured (install failed: {' '.join(str(reason).split())[:300]})"]
    return "\n".join(lines) + "\n"
