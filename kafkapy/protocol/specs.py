"""Parse protocol_specs/*.kspec into spec objects (the format is described in protocol_specs/README.md)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache
from importlib import resources
from pathlib import Path

from kafkapy.protocol.errors import ErrorCode

PRIMITIVES = frozenset(
    {"int8", "int16", "int32", "int64", "uint16", "uint32", "float64", "bool", "string", "bytes", "records", "uuid"}
)
_RANGE = re.compile(r"^(\d+)(\+|-(\d+))?$")


class SpecError(ValueError):
    """A .kspec file does not follow the format."""


def find_spec_dir() -> Path:
    """protocol_specs/ of this kafkapy: package data in an installed wheel (setup.py maps the repository's
    protocol_specs/ to ``kafkapy/protocol_specs``), else the source checkout's, next to the package."""
    packaged = resources.files("kafkapy") / "protocol_specs"
    checkout = Path(__file__).resolve().parents[2] / "protocol_specs"
    for spec_dir in (packaged, checkout):
        # A wheel installs as plain files, so the package data is a Path (not a zip member).
        if isinstance(spec_dir, Path) and (spec_dir / "headers.kspec").is_file():
            return spec_dir
    # Without the specs no API decodes; say so instead of failing on the first request's api key.
    raise FileNotFoundError(f"kafkapy's protocol_specs not found in {packaged} or {checkout}: a broken install")


SPEC_DIR = find_spec_dir()


@dataclass(frozen=True)
class VersionRange:
    """Inclusive range of versions; ``high`` is None for an open range (``3+``)."""

    low: int
    high: int | None = None

    def __contains__(self, version: int) -> bool:
        return self.low <= version and (self.high is None or version <= self.high)

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        match = _RANGE.match(text)
        if not match:
            raise SpecError(f"bad version range {text!r}")
        low = int(match.group(1))
        if match.group(2) == "+":
            return cls(low)
        if match.group(3) is not None:
            return cls(low, int(match.group(3)))
        return cls(low, low)

    def __str__(self) -> str:
        if self.high is None:
            return f"{self.low}+"
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


NONE = VersionRange(1, 0)  # the empty range
UNSET = object()  # a field without ``default=``: its type's zero value


@dataclass
class FieldSpec:
    """One field of a message or struct."""

    name: str
    type: str  # a primitive, "array" or "struct"
    versions: VersionRange
    item_type: str | None = None  # arrays: a primitive or "struct"
    fields: list[FieldSpec] = field(default_factory=list)
    nullable: VersionRange = NONE
    tag: int | None = None
    default: object = UNSET
    noncompact: bool = False
    # Response fields: the request fields an error response copies this one from, when their names
    # differ (Produce's ``responses`` from ``topic_data``); None (``mirrors=none``) for a field the error
    # response leaves at its default although the request has one of its name (JoinGroup's member_id);
    # see kafkapy.protocol.error_response.
    mirrors: tuple[str, ...] | None = ()

    @property
    def has_struct(self) -> bool:
        return self.type == "struct" or self.item_type == "struct"


@dataclass
class MessageSpec:
    """A request, a response or a header: versioned fields."""

    name: str
    versions: VersionRange
    flexible: VersionRange
    fields: list[FieldSpec]

    def is_flexible(self, version: int) -> bool:
        return version in self.flexible


@dataclass(frozen=True)
class ErrorMapping:
    """An ``error`` line: ``error`` is sent as is in ``versions`` and as ``fallback`` (with ``message``, when
    the line gives one) in the API's other versions, whose clients do not know it (Kafka's KafkaApis maps
    PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for EndTxn v0-1)."""

    error: ErrorCode
    versions: VersionRange
    fallback: ErrorCode
    message: str | None = None


# What the door writes instead of an error a version cannot carry: the error, and its message if any.
Replacement = tuple[ErrorCode, str | None]


@dataclass
class ApiSpec:
    """An API key with its request and response messages."""

    key: int
    name: str
    versions: VersionRange
    request: MessageSpec
    response: MessageSpec
    error_mappings: tuple[ErrorMapping, ...] = ()

    def error_map(self, version: int) -> dict[int, Replacement]:
        """The errors ``version`` cannot carry, each to what Kafka sends instead (empty for most)."""
        return {m.error: (m.fallback, m.message) for m in self.error_mappings if version not in m.versions}


def _parse_default(text: str) -> object:
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise SpecError(f"bad default {text!r}") from exc


def _parse_field(tokens: list[str], parent: VersionRange, where: str) -> FieldSpec:
    name, type_text, *attrs = tokens
    if type_text == "[]":
        ftype, item = "array", "struct"
    elif type_text == "{}":
        ftype, item = "struct", None
    elif type_text.startswith("[]") and type_text[2:] in PRIMITIVES:
        ftype, item = "array", type_text[2:]
    elif type_text in PRIMITIVES:
        ftype, item = type_text, None
    else:
        raise SpecError(f"{where}: unknown type {type_text!r}")
    spec = FieldSpec(name=name, type=ftype, item_type=item, versions=parent)
    for attr in attrs:
        key, _, value = attr.partition("=")
        if _RANGE.match(attr):
            rng = VersionRange.parse(attr)
            spec.versions = VersionRange(rng.low, rng.high if rng.high is not None else parent.high)
        elif key == "nullable":
            spec.nullable = VersionRange.parse(value) if value else VersionRange(0)
        elif key == "tag":
            spec.tag = int(value)
        elif key == "default":
            spec.default = _parse_default(value)
        elif attr == "noncompact":
            spec.noncompact = True
        elif key == "mirrors" and value:
            spec.mirrors = None if value == "none" else tuple(value.split(","))
        else:
            raise SpecError(f"{where}: unknown attribute {attr!r}")
    return spec


def _parse_fields(lines: list[tuple[int, int, str]], versions: VersionRange, path: Path) -> list[FieldSpec]:
    """Build the field tree from (line number, indent, text) lines of one section."""
    root: list[FieldSpec] = []
    stack: list[tuple[int, list[FieldSpec], VersionRange]] = [(-1, root, versions)]
    last: FieldSpec | None = None
    last_indent = -1
    for lineno, indent, text in lines:
        where = f"{path.name}:{lineno}"
        if indent % 2:
            raise SpecError(f"{where}: indent by two spaces")
        if indent > last_indent and last is not None and indent != last_indent + 2:
            raise SpecError(f"{where}: indented too far")
        if indent > last_indent and last is not None:
            if not last.has_struct:
                raise SpecError(f"{where}: only [] and {{}} fields have children")
            stack.append((last_indent, last.fields, last.versions))
        while stack[-1][0] >= indent:
            stack.pop()
        _, siblings, parent_versions = stack[-1]
        last = _parse_field(text.split(), parent_versions, where)
        siblings.append(last)
        last_indent = indent
    return root


def _sections(path: Path) -> list[tuple[str, list[str], list[tuple[int, int, str]]]]:
    """Split a file into (keyword, arguments, field lines) sections."""
    sections: list[tuple[str, list[str], list[tuple[int, int, str]]]] = []
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        text = raw.split("#", 1)[0].rstrip()
        if not text:
            continue
        indent = len(text) - len(text.lstrip(" "))
        if indent == 0:
            word, *args = text.split()
            sections.append((word, args, []))
        elif not sections:
            raise SpecError(f"{path.name}:{lineno}: field before any section")
        else:
            sections[-1][2].append((lineno, indent - 2, text.strip()))
    return sections


def _message(name: str, settings: dict[str, list[str]], lines: list, path: Path) -> MessageSpec:
    versions = VersionRange.parse(settings["versions"][0])
    flex = settings.get("flexible", ["none"])[0]
    flexible = NONE if flex == "none" else VersionRange.parse(flex)
    return MessageSpec(name, versions, flexible, _parse_fields(lines, versions, path))


def _error_code(name: str, where: str) -> ErrorCode:
    try:
        return ErrorCode[name]
    except KeyError:
        raise SpecError(f"{where}: unknown error {name!r}") from None


def _parse_error_mapping(args: list[str], versions: VersionRange, where: str) -> ErrorMapping:
    """``error NAME RANGE else FALLBACK ["message"]``: NAME in the versions of RANGE (``none``: in no
    version), FALLBACK with the message in the others."""
    if len(args) < 4 or args[2] != "else":
        raise SpecError(f"{where}: an error line is 'error NAME VERSIONS else FALLBACK [\"message\"]'")
    error, fallback = _error_code(args[0], where), _error_code(args[3], where)
    carried = NONE if args[1] == "none" else VersionRange.parse(args[1])
    if carried != NONE and (carried.low not in versions or (carried.high is not None and carried.high not in versions)):
        raise SpecError(f"{where}: {args[1]} is outside the API's versions {versions}")
    if error == fallback:
        raise SpecError(f"{where}: {error.name} mapped to itself")
    message = None
    if len(args) > 4:
        text = " ".join(args[4:])
        message = _parse_default(text) if text.startswith('"') and text.endswith('"') else None
        if not isinstance(message, str):
            raise SpecError(f"{where}: the message after {fallback.name} is a double-quoted string")
    return ErrorMapping(error, carried, fallback, message)


def parse_api_file(path: Path) -> ApiSpec:
    """Parse one ``<key>_<name>.kspec`` file."""
    settings: dict[str, list[str]] = {}
    bodies: dict[str, list] = {}
    errors: list[list[str]] = []
    for word, args, lines in _sections(path):
        if word in ("request", "response"):
            bodies[word] = lines
        elif word == "error":
            errors.append(args)
        else:
            settings[word] = args
    try:
        key, name = int(settings["api"][0]), settings["api"][1]
        request = _message(f"{name}Request", settings, bodies["request"], path)
        response = _message(f"{name}Response", settings, bodies["response"], path)
    except (KeyError, IndexError) as exc:
        raise SpecError(f"{path.name}: missing {exc}") from exc
    mappings = tuple(_parse_error_mapping(args, request.versions, f"{path.name}: error") for args in errors)
    if len({m.error for m in mappings}) != len(mappings):
        raise SpecError(f"{path.name}: an error mapped twice")
    return ApiSpec(key, name, request.versions, request, response, mappings)


def parse_message_file(path: Path) -> dict[str, MessageSpec]:
    """Parse a file of ``message`` blocks (headers.kspec)."""
    messages: dict[str, MessageSpec] = {}
    name: str | None = None
    settings: dict[str, list[str]] = {}
    for word, args, lines in _sections(path):
        if word == "message":
            name, settings = args[0], {}
        elif word == "fields" and name is not None:
            messages[name] = _message(name, settings, lines, path)
        else:
            settings[word] = args
    return messages


@cache
def api_specs(spec_dir: Path = SPEC_DIR) -> dict[int, ApiSpec]:
    """Every API spec in the folder, by API key."""
    specs = [parse_api_file(p) for p in sorted(spec_dir.glob("*.kspec")) if p.name != "headers.kspec"]
    return {spec.key: spec for spec in specs}


@cache
def header_specs(spec_dir: Path = SPEC_DIR) -> dict[str, MessageSpec]:
    """RequestHeader and ResponseHeader."""
    return parse_message_file(spec_dir / "headers.kspec")


@cache
def internal_specs(name: str, spec_dir: Path = SPEC_DIR) -> dict[str, MessageSpec]:
    """Record layouts of an internal topic, from ``protocol_specs/internal/<name>.kspec``."""
    return parse_message_file(spec_dir / "internal" / f"{name}.kspec")


def _constant_name(name: str) -> str:
    """Kafka's ApiKeys constant for an API's name: ``ApiVersions`` -> ``API_VERSIONS``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


# Kafka's ApiKeys, built from the specs so protocol_specs/ stays the one source: a new .kspec file
# adds its key here. ``ApiKey.METADATA == 3``; an IntEnum, so it goes on the wire as the int.
ApiKey = IntEnum("ApiKey", {_constant_name(spec.name): key for key, spec in api_specs().items()}, module=__name__)
