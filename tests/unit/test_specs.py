"""Checks on protocol_specs/: every file is well formed, and (when the reference is present) every API
matches Apache Kafka's own message definitions version by version."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from kafkapy.protocol.specs import (
    NONE,
    PRIMITIVES,
    SPEC_DIR,
    UNSET,
    ApiKey,
    ApiSpec,
    FieldSpec,
    MessageSpec,
    VersionRange,
    header_specs,
    parse_api_file,
)

REFERENCE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "kafka-protocol"
OLD_REF, NEW_REF = "kafka-4.0-dev", "kafka-4.3"
# Kafka 4.3.1's complete set (kafka-clients jar): the one truth for an API kafka-4.3/ lacks (share groups,
# whose early-access versions in 4.0-dev Kafka 4.3.1 no longer serves).
FULL_REF = "kafka-4.3.1"

# The APIs the broker speaks, by key.
EXPECTED_APIS: dict[int, str] = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
    20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 28: "TxnOffsetCommit", 29: "DescribeAcls",
    30: "CreateAcls", 31: "DeleteAcls",
    32: "DescribeConfigs", 33: "AlterConfigs", 34: "AlterReplicaLogDirs", 35: "DescribeLogDirs", 36: "SaslAuthenticate",
    37: "CreatePartitions", 42: "DeleteGroups", 43: "ElectLeaders", 44: "IncrementalAlterConfigs",
    45: "AlterPartitionReassignments", 46: "ListPartitionReassignments",
    47: "OffsetDelete", 48: "DescribeClientQuotas", 49: "AlterClientQuotas", 50: "DescribeUserScramCredentials",
    51: "AlterUserScramCredentials", 55: "DescribeQuorum", 57: "UpdateFeatures", 60: "DescribeCluster",
    61: "DescribeProducers", 65: "DescribeTransactions",
    66: "ListTransactions", 68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe",
    74: "ListConfigResources", 75: "DescribeTopicPartitions",
    76: "ShareGroupHeartbeat", 77: "ShareGroupDescribe",
    78: "ShareFetch", 79: "ShareAcknowledge",
    88: "StreamsGroupHeartbeat", 89: "StreamsGroupDescribe",
    90: "DescribeShareGroupOffsets", 91: "AlterShareGroupOffsets", 92: "DeleteShareGroupOffsets",
}  # fmt: skip

NULLABLE_TYPES = frozenset({"string", "bytes", "records", "array", "struct"})
API_FILES = sorted(p for p in SPEC_DIR.glob("*.kspec") if p.name != "headers.kspec")

# A field as seen in one version: (name, type, nullable, tag, default, noncompact, children).
Shape = tuple[str, str, bool, int | None, Any, bool, tuple]
NO_DEFAULT = "<no default>"


def snake_case(name: str) -> str:
    """Kafka's CamelCase field name in snake_case (``ThrottleTimeMs`` -> ``throttle_time_ms``)."""
    name = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


# ---------------------------------------------------------------------------------------------------
# (a) well-formedness


def _walk(fields: list[FieldSpec], path: str = "") -> list[tuple[str, list[FieldSpec]]]:
    """Every struct level as (path, fields), depth first."""
    levels = [(path or "<top>", fields)]
    for f in fields:
        if f.has_struct:
            levels += _walk(f.fields, f"{path}.{f.name}" if path else f.name)
    return levels


def _bounded(rng: VersionRange, top: VersionRange) -> range:
    """The versions of ``rng`` that lie inside ``top`` (which is bounded)."""
    high = rng.high if rng.high is not None else top.high
    assert top.high is not None
    return range(max(rng.low, top.low), min(high, top.high) + 1)


def _nonempty(rng: VersionRange) -> bool:
    return rng.high is None or rng.low <= rng.high


def _check_message(msg: MessageSpec, where: str) -> None:
    """Names and tags unique per level, nullable only on nullable types, tags only when flexible."""
    for path, fields in _walk(msg.fields):
        names = [f.name for f in fields]
        dupes = {n for n in names if names.count(n) > 1}
        assert not dupes, f"{where} {path}: duplicate field names {sorted(dupes)}"
        tags = [f.tag for f in fields if f.tag is not None]
        dupes_t = {t for t in tags if tags.count(t) > 1}
        assert not dupes_t, f"{where} {path}: duplicate tags {sorted(dupes_t)}"
        for f in fields:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", f.name), f"{where} {path}.{f.name}: not snake_case"
            if _nonempty(f.nullable):
                assert f.type in NULLABLE_TYPES, f"{where} {path}.{f.name}: {f.type} cannot be nullable"
            if f.tag is not None:
                unflexible = [v for v in _bounded(f.versions, msg.versions) if not msg.is_flexible(v)]
                assert not unflexible, (
                    f"{where} {path}.{f.name}: tagged in non-flexible versions {unflexible}"
                )
            assert not (f.noncompact and f.type not in ("string", "bytes", "records", "array")), (
                f"{where} {path}.{f.name}: noncompact on a type without a compact form"
            )


def test_api_files_exist() -> None:
    """Every API the broker speaks has exactly one spec file, named after its key and name."""
    keys: dict[int, str] = {}
    for path in API_FILES:
        spec = parse_api_file(path)
        assert spec.key not in keys, f"API key {spec.key} in {keys.get(spec.key)} and {path.name}"
        keys[spec.key] = path.name
        assert path.name == f"{spec.key:02d}_{snake_case(spec.name)}.kspec", path.name
    missing = {k: n for k, n in EXPECTED_APIS.items() if k not in keys}
    assert not missing, f"missing spec files for {missing}"


@pytest.mark.parametrize("path", API_FILES, ids=lambda p: p.name)
def test_api_file_well_formed(path: Path) -> None:
    """The file parses and its request and response obey the format's rules."""
    spec = parse_api_file(path)
    assert spec.versions.high is not None, f"{path.name}: open API version range"
    assert spec.request.versions == spec.response.versions
    if spec.key in EXPECTED_APIS:
        assert spec.name == EXPECTED_APIS[spec.key]
    _check_message(spec.request, f"{path.name} request")
    _check_message(spec.response, f"{path.name} response")


def test_headers_well_formed() -> None:
    """headers.kspec parses and obeys the same rules."""
    headers = header_specs(SPEC_DIR)
    assert set(headers) == {"RequestHeader", "ResponseHeader"}
    for name, msg in headers.items():
        _check_message(msg, name)


# ---------------------------------------------------------------------------------------------------
# (b) cross-check against Apache Kafka's message definitions


def _parse_range(text: str) -> VersionRange | None:
    """A Kafka version range (``0+``, ``3-7``, ``5``, ``none``); None for ``none``."""
    return None if text == "none" else VersionRange.parse(text)


def _in(text: str | None, version: int) -> bool:
    rng = _parse_range(text) if text else None
    return rng is not None and version in rng


@cache
def _load_reference(folder: str, name: str) -> dict[str, Any] | None:
    """One reference JSON file (comments stripped), or None if that snapshot lacks it."""
    path = REFERENCE_DIR / folder / f"{name}.json"
    if not path.exists():
        return None
    text = re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M)
    return json.loads(text)


def _ref_default(ftype: str, raw: Any) -> Any:
    """A reference ``default`` as the Python value our parser yields."""
    if not isinstance(raw, str):
        return raw
    if raw == "null":
        return None
    if ftype == "bool":
        return raw == "true"
    if ftype in ("int8", "int16", "int32", "int64", "uint16", "uint32"):
        return int(raw, 0)
    if ftype == "float64":
        return float(raw)
    return raw


def _ref_shape(
    fields: list[dict[str, Any]], version: int, structs: dict[str, list[dict[str, Any]]]
) -> tuple[Shape, ...]:
    """The reference's fields that exist in ``version``, normalized to :data:`Shape`."""
    out: list[Shape] = []
    for f in fields:
        if not _in(f["versions"], version):
            continue
        ftype: str = f["type"]
        children: tuple = ()
        base = ftype[2:] if ftype.startswith("[]") else ftype
        if base in PRIMITIVES:
            norm = ftype
        else:
            norm = "[]" if ftype.startswith("[]") else "{}"
            sub = f.get("fields")
            if sub is None:
                sub = structs[base]
            else:
                structs.setdefault(base, sub)
            children = _ref_shape(sub, version, structs)
        tag = f.get("tag") if _in(f.get("taggedVersions"), version) else None
        default = _ref_default(ftype, f["default"]) if "default" in f else NO_DEFAULT
        noncompact = f.get("flexibleVersions") == "none"
        out.append(
            (snake_case(f["name"]), norm, _in(f.get("nullableVersions"), version), tag, default, noncompact,
             children)
        )  # fmt: skip
    return tuple(out)


def _our_shape(fields: list[FieldSpec], version: int) -> tuple[Shape, ...]:
    """Our fields that exist in ``version``, normalized to :data:`Shape`."""
    out: list[Shape] = []
    for f in fields:
        if version not in f.versions:
            continue
        if f.type == "array":
            norm = "[]" if f.item_type == "struct" else f"[]{f.item_type}"
        elif f.type == "struct":
            norm = "{}"
        else:
            norm = f.type
        default = NO_DEFAULT if f.default is UNSET else f.default
        out.append(
            (f.name, norm, version in f.nullable, f.tag, default, f.noncompact, _our_shape(f.fields, version))
        )
    return tuple(out)


def _diff(ours: tuple[Shape, ...], ref: tuple[Shape, ...], path: str = "") -> list[str]:
    """Human-readable differences between two field lists."""
    problems: list[str] = []
    our_names = [s[0] for s in ours]
    ref_names = [s[0] for s in ref]
    if our_names != ref_names:
        return [f"{path or '<top>'}: fields {our_names} != reference {ref_names}"]
    labels = ("name", "type", "nullable", "tag", "default", "noncompact")
    for mine, theirs in zip(ours, ref, strict=True):
        where = f"{path}.{mine[0]}" if path else mine[0]
        for label, a, b in zip(labels, mine[:6], theirs[:6], strict=True):
            if a != b or type(a) is not type(b):
                problems.append(f"{where}: {label} {a!r} != reference {b!r}")
        problems += _diff(mine[6], theirs[6], where)
    return problems


def _snapshots(name: str) -> tuple[str, ...]:
    """The reference folders for one message, oldest first: 4.0-dev and 4.3, or 4.3.1 alone for a message
    4.3 lacks and 4.3.1 has."""
    if _load_reference(NEW_REF, name) is None and _load_reference(FULL_REF, name) is not None:
        return (FULL_REF,)
    return (OLD_REF, NEW_REF)


def _pick(name: str, version: int) -> dict[str, Any] | None:
    """The reference definition for ``version``: 4.3's if it lists the version, else 4.0-dev's."""
    for folder in reversed(_snapshots(name)):
        ref = _load_reference(folder, name)
        if ref is not None and _in(ref["validVersions"], version):
            return ref
    return None


def _common(ref: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {s["name"]: s["fields"] for s in ref.get("commonStructs", [])}


def _expected_range(name: str) -> tuple[int, int]:
    """min = lowest version either snapshot lists; max = 4.3's (4.0-dev's if 4.3 lacks the API)."""
    lows, high = [], None
    for folder in _snapshots(name):
        ref = _load_reference(folder, name)
        if ref is None:
            continue
        rng = _parse_range(ref["validVersions"])
        assert rng is not None and rng.high is not None
        lows.append(rng.low)
        high = rng.high  # NEW_REF comes last and wins
    assert lows and high is not None, f"no reference for {name}"
    return min(lows), high


def _reference_or_skip() -> None:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"Kafka reference definitions not found at {REFERENCE_DIR}")


def _check_against_reference(msg: MessageSpec, ref_name: str) -> list[str]:
    """Every difference between one of our messages and the reference, version by version."""
    problems: list[str] = []
    low, high = _expected_range(ref_name)
    if (msg.versions.low, msg.versions.high) != (low, high):
        problems.append(f"{msg.name}: versions {msg.versions} != reference {low}-{high}")
    assert msg.versions.high is not None
    for version in range(msg.versions.low, msg.versions.high + 1):
        ref = _pick(ref_name, version)
        if ref is None:
            problems.append(f"{msg.name} v{version}: no reference lists this version")
            continue
        ref_flexible = _in(ref["flexibleVersions"], version)
        if msg.is_flexible(version) != ref_flexible:
            problems.append(f"{msg.name} v{version}: flexible {msg.is_flexible(version)} != {ref_flexible}")
        ours = _our_shape(msg.fields, version)
        theirs = _ref_shape(ref["fields"], version, _common(ref))
        problems += [f"{msg.name} v{version} {p}" for p in _diff(ours, theirs)]
    return problems


@pytest.mark.parametrize("path", API_FILES, ids=lambda p: p.name)
def test_api_matches_reference(path: Path) -> None:
    """Request and response match the reference in every version of our range."""
    _reference_or_skip()
    spec: ApiSpec = parse_api_file(path)
    problems: list[str] = []
    for msg, kind in ((spec.request, "Request"), (spec.response, "Response")):
        ref_name = f"{spec.name}{kind}"
        for folder in _snapshots(ref_name):
            ref = _load_reference(folder, ref_name)
            if ref is not None:
                assert ref["apiKey"] == spec.key, f"{ref_name} has key {ref['apiKey']}, not {spec.key}"
        problems += _check_against_reference(msg, ref_name)
    # Our flexible line must be open-ended exactly when the reference's is.
    newest = _pick(f"{spec.name}Request", spec.versions.high or 0)
    assert newest is not None
    ref_flex = _parse_range(newest["flexibleVersions"])
    if ref_flex is None:
        assert spec.request.flexible == NONE, f"flexible {spec.request.flexible} != reference none"
    else:
        assert (spec.request.flexible.high is None) == (ref_flex.high is None), (
            f"flexible {spec.request.flexible} != reference {ref_flex}"
        )
    assert not problems, "\n".join(problems)


def test_headers_match_reference() -> None:
    """headers.kspec matches the reference RequestHeader and ResponseHeader."""
    _reference_or_skip()
    problems: list[str] = []
    for name, msg in header_specs(SPEC_DIR).items():
        problems += _check_against_reference(msg, name)
    assert not problems, "\n".join(problems)


def test_api_key_enum_is_built_from_the_specs() -> None:
    """ApiKey has one member per spec file, named as Kafka's ApiKeys constants, equal to the wire key."""
    assert {int(k) for k in ApiKey} == set(EXPECTED_APIS)
    assert ApiKey.API_VERSIONS == 18 and ApiKey(75) is ApiKey.DESCRIBE_TOPIC_PARTITIONS
    assert ApiKey.OFFSET_FOR_LEADER_EPOCH == 23 and ApiKey.TXN_OFFSET_COMMIT == 28
    assert ApiKey.INIT_PRODUCER_ID == 22 and ApiKey.ADD_PARTITIONS_TO_TXN == 24
