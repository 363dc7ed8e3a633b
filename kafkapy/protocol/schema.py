"""construct schemas built from protocol_specs, one compiled pair per (api, version).

Every struct field is wrapped in ``Default`` so handlers may leave out whatever keeps its default.
Tagged fields are read into and written from the same object as ordinary fields: a flexible struct
parses its tagged section into a dict and merges it into the result, and the tagged-section builder
reads its values from the struct being built (its context is the struct's input object).
Structs compile to our own lean code (``_Struct``); construct's uncompiled classes remain the
reference the tests compare it with, byte for byte.

construct internals this module relies on (none is public API; pyproject.toml pins
``construct==2.10.70`` for them, and a new construct version must be checked against this list and
tests/unit/test_codec*.py before the pin moves):

- the compiler hooks ``Construct._emitparse`` / ``_emitbuild``, overridden by ``_Prim``, ``_Array``,
  ``_NullableStruct``, ``_Struct`` and ``_Default``, and the helpers they call: ``_compileparse``,
  ``_compilebuild``, ``_compileinstance`` and the code generator's ``append`` / ``allocateId``;
- the names construct's generated functions use: ``io``, ``this``, ``obj``, ``Container`` and
  ``linkedinstances[id(construct)]`` (an uncompiled instance linked into compiled code);
- ``Compiled.parsefunc`` / ``buildfunc``, called directly by ``parse_stream`` / ``build_stream`` with
  a context of construct's private keys (``_params``, ``_root``, ``_parsing``, ``_building``,
  ``_sizing``, ``_io``, ``_index``) so that a decoded message holds no reference cycle;
- the uncompiled path's ``_parse`` / ``_build`` / ``_parsereport`` and the attributes ``Struct.subcons``,
  ``Renamed.name`` / ``subcon`` and ``Default.value``.
"""

from __future__ import annotations

import io
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import construct as c

from kafkapy.protocol import _wire
from kafkapy.protocol.common import ZERO_UUID
from kafkapy.protocol.specs import UNSET, ApiKey, ApiSpec, FieldSpec, MessageSpec, api_specs, header_specs

_WIRE_IMPORT = "from kafkapy.protocol._wire import *"


class Region(Protocol):
    """A byte range of a file that the sender splices into the response (os.sendfile)."""

    position: int
    length: int

    def opened(self) -> AbstractContextManager[int | None]:
        """The file's OS fd (None if it has none), kept open until the block ends."""
        ...

    def read_bytes(self) -> bytes: ...


class ResponseWriter(io.BytesIO):
    """Output stream that remembers where file regions go, so the bytes around them can be sent
    as they are and the regions with sendfile."""

    def __init__(self) -> None:
        super().__init__()
        self.regions: list[tuple[int, Region]] = []

    def add_region(self, region: Region) -> None:
        self.regions.append((self.tell(), region))

    def chunks(self) -> list[bytes | Region]:
        """The encoded message as bytes and regions, in order."""
        data = self.getbuffer()
        out: list[bytes | Region] = []
        start = 0
        for pos, region in self.regions:
            out.append(bytes(data[start:pos]))
            out.append(region)
            start = pos
        out.append(bytes(data[start:]))
        del data
        return out


class _Prim(c.Construct):
    """A variable-length Kafka primitive read and written by a function of ``_wire``.

    ``field`` names the field to a reader that rejects nulls, for its error message.
    """

    def __init__(self, reader: str, writer: str, field: str | None = None) -> None:
        super().__init__()
        self.reader = getattr(_wire, reader)
        self.writer = getattr(_wire, writer)
        self.reader_name, self.writer_name = reader, writer
        self.field = field

    def _parse(self, stream, context, path):
        return self.reader(stream) if self.field is None else self.reader(stream, self.field)

    def _build(self, obj, stream, context, path):
        self.writer(stream, obj)
        return obj

    def _emitparse(self, code):
        code.append(_WIRE_IMPORT)
        return f"{self.reader_name}(io)" if self.field is None else f"{self.reader_name}(io, {self.field!r})"

    def _emitbuild(self, code):
        code.append(_WIRE_IMPORT)
        return f"({self.writer_name}(io, obj), obj)[1]"


class _Array(c.Construct):
    """A classic (int32 count) or compact (uvarint count + 1) array; count -1 means null, which only a
    nullable array may be (``field`` names a non-nullable one)."""

    def __init__(self, subcon: c.Construct, compact: bool, field: str | None = None) -> None:
        super().__init__()
        self.subcon = subcon
        self.compact = compact
        self.field = field
        prefix = "compact_" if compact else ""
        self.read_len = f"read_{prefix}array_length"
        self.write_len = f"write_{prefix}array_length"

    def _parse(self, stream, context, path):
        n = getattr(_wire, self.read_len)(stream)
        if n < 0:
            if self.field is not None:
                raise _wire.null_value(self.field)
            return None
        return [self.subcon._parsereport(stream, context, path) for _ in range(n)]

    def _build(self, obj, stream, context, path):
        getattr(_wire, self.write_len)(stream, None if obj is None else len(obj))
        for item in obj or ():
            self.subcon._build(item, stream, context, path)
        return obj

    def _emitparse(self, code):
        code.append(_WIRE_IMPORT)
        fname = f"parse_karray_{code.allocateId()}"
        on_null = "return None" if self.field is None else f"raise null_value({self.field!r})"
        code.append(f"""
            def {fname}(io, this):
                n = {self.read_len}(io)
                if n < 0:
                    {on_null}
                return [{self.subcon._compileparse(code)} for _ in range(n)]
        """)
        return f"{fname}(io, this)"

    def _emitbuild(self, code):
        code.append(_WIRE_IMPORT)
        fname = f"build_karray_{code.allocateId()}"
        code.append(f"""
            def {fname}(obj, io, this):
                if obj is None:
                    {self.write_len}(io, None)
                    return obj
                {self.write_len}(io, len(obj))
                items = obj
                for obj in items:
                    {self.subcon._compilebuild(code)}
                return items
        """)
        return f"{fname}(obj, io, this)"


class _NullableStruct(c.Construct):
    """A nullable struct field: int8 -1 for null, else 1 followed by the struct (Kafka's encoding)."""

    def __init__(self, subcon: c.Construct) -> None:
        super().__init__()
        self.subcon = subcon
        self.flagbuildnone = True

    def _parse(self, stream, context, path):
        if _wire.read_exact(stream, 1)[0] >= 0x80:
            return None
        return self.subcon._parsereport(stream, context, path)

    def _build(self, obj, stream, context, path):
        stream.write(b"\xff" if obj is None else b"\x01")
        if obj is not None:
            self.subcon._build(obj, stream, context, path)
        return obj

    def _emitparse(self, code):
        code.append(_WIRE_IMPORT)
        fname = f"parse_knullable_{code.allocateId()}"
        code.append(f"""
            def {fname}(io, this):
                if read_exact(io, 1)[0] >= 0x80:
                    return None
                return {self.subcon._compileparse(code)}
        """)
        return f"{fname}(io, this)"

    def _emitbuild(self, code):
        fname = f"build_knullable_{code.allocateId()}"
        code.append(f"""
            def {fname}(obj, io, this):
                io.write(b"\\xff" if obj is None else b"\\x01")
                if obj is not None:
                    {self.subcon._compilebuild(code)}
                return obj
        """)
        return f"{fname}(obj, io, this)"


@dataclass
class _Tagged:
    name: str
    subcon: c.Construct
    default: Any
    _compiled: c.Compiled | None = None

    def parse(self, data: bytes) -> Any:
        return parse_stream(self.compiled(), io.BytesIO(data))

    def build(self, value: Any) -> bytes:
        out = io.BytesIO()
        build_stream(self.compiled(), value, out)
        return out.getvalue()

    def compiled(self) -> c.Compiled:
        """Compiled on first use: most tagged fields are never sent."""
        if self._compiled is None:
            self._compiled = self.subcon.compile()
        return self._compiled


class _TaggedFields(c.Construct):
    """The tagged-field section that ends every struct in flexible versions.

    Tagged fields are rare and small, so this part runs uncompiled (construct links it in).
    """

    def __init__(self, tagged: dict[int, _Tagged]) -> None:
        super().__init__()
        self.flagbuildnone = True
        self.tagged = tagged
        self._in_tag_order = sorted(tagged.items())

    def _parse(self, stream, context, path):
        return self.parse_section(_wire.read_exact(stream, 1), stream)

    def parse_section(self, first: bytes, stream: Any) -> dict[str, Any]:
        """The section's values by field name; ``first`` is its first byte, already read."""
        values: dict[str, Any] = {}
        count = _wire.read_uvarint_from(first, stream)
        if not count:
            return values
        for _ in range(count):
            tag = _wire.read_uvarint(stream)
            data = _wire.read_exact(stream, _wire.read_uvarint(stream))
            field = self.tagged.get(tag)
            if field is None:
                values.setdefault("_unknown_tagged_fields", {})[tag] = data
            else:
                values[field.name] = field.parse(data)
        return values

    def _build(self, obj, stream, context, path):
        present = []
        for tag, field in self._in_tag_order:
            value = context.get(field.name)
            if value is None or value == field.default or value == []:
                continue
            present.append((tag, field.build(value)))
        if not present:
            stream.write(b"\x00")
            return obj
        stream.write(_wire.uvarint_bytes(len(present)))
        for tag, data in present:
            stream.write(_wire.uvarint_bytes(tag))
            stream.write(_wire.uvarint_bytes(len(data)))
            stream.write(data)
        return obj


def _merge_tagged(result: c.Container) -> c.Container:
    tagged = result.pop("_tagged")
    if tagged:
        result.update(tagged)
    return result


class _Struct(c.Struct):
    """A struct of named fields, compiled to lean code: one plain function per struct.

    construct's own compiled Struct gives every struct a context Container linked to its parent, copies
    the input into it and assigns every field twice; Kafka's schemas never refer to other fields, so
    none of that is needed, and it was half the cost of a produce request's codec. The one reader of a
    context is the tagged section's builder, which gets the struct's input object as its context.
    Without compilation (``parse``/``build`` of an uncompiled schema) construct's generic Struct runs.
    The build hands its parent the input object, never a context that would link back to it.
    """

    def _emitparse(self, code):
        fname = f"parse_struct_{code.allocateId()}"
        lines = [f"def {fname}(io, this):", "    result = Container()"]
        for sc in self.subcons:
            if isinstance(sc.subcon, _TaggedFields):
                # Tagged fields are merged into the result; most sections are one zero byte.
                sc.subcon._compileinstance(code)
                lines += [
                    "    first = io.read(1)",
                    "    if first != b'\\x00':",
                    f"        result.update(linkedinstances[{id(sc.subcon)}].parse_section(first, io))",
                ]
            else:
                lines.append(f"    result[{sc.name!r}] = {sc._compileparse(code)}")
        lines.append("    return result")
        code.append("\n".join(lines) + "\n")
        return f"{fname}(io, this)"

    def _emitbuild(self, code):
        fname = f"build_struct_{code.allocateId()}"
        lines = [f"def {fname}(obj, io, this):", "    this = objdict = obj"]
        for sc in self.subcons:
            if isinstance(sc.subcon, _TaggedFields) and not sc.subcon.tagged:
                lines.append("    io.write(b'\\x00')")  # a struct without tagged fields: an empty section
            else:
                lines += [f"    obj = objdict.get({sc.name!r})", f"    {sc._compilebuild(code)}"]
        lines.append("    return objdict")
        code.append("\n".join(lines) + "\n")
        return f"{fname}(obj, io, this)"


class _FlexStruct(_Struct):
    """A struct of a flexible version: its last subcon ``_tagged`` is merged into the result."""

    def _parse(self, stream, context, path):
        return _merge_tagged(super()._parse(stream, context, path))


# Defaults that compiled code can spell as literals; others are read from the linked instance.
_LITERAL_TYPES = (bool, int, float, str, bytes, type(None))


class _Default(c.Default):
    """construct's Default (None builds as the default), compiled without a lambda per field."""

    def _emitbuild(self, code):
        value = self.value
        if isinstance(value, _LITERAL_TYPES) or value in ([], {}):
            default = repr(value)
        else:
            self._compileinstance(code)
            default = f"linkedinstances[{id(self)}].value"
        return f"(obj := {default} if obj is None else obj, {self.subcon._compilebuild(code)})[1]"


_FIXED = {
    "int8": c.Int8sb,
    "int16": c.Int16sb,
    "int32": c.Int32sb,
    "int64": c.Int64sb,
    "uint16": c.Int16ub,
    "uint32": c.Int32ub,
    "float64": c.Float64b,
    "bool": c.Flag,
}
# A non-nullable records field (ShareFetch v1+) left out is empty, as Kafka writes MemoryRecords.EMPTY.
_ZERO = {"bool": False, "string": "", "bytes": b"", "records": b"", "uuid": ZERO_UUID}


def _primitive(ptype: str, compact: bool, field: str | None) -> c.Construct:
    """The construct of a primitive; ``field`` names a non-nullable one (None: nulls are allowed)."""
    if ptype in _FIXED:
        return _FIXED[ptype]
    if ptype == "uuid":
        return _Prim("read_uuid", "write_uuid")
    prefix = "compact_" if compact else ""
    reader = f"read_{prefix}{ptype}" if field is not None else f"read_nullable_{prefix}{ptype}"
    return _Prim(reader, f"write_{prefix}{ptype}", field)


def _default(field: FieldSpec, version: int) -> Any:
    """The value a handler gets when it leaves the field out (see protocol_specs/README.md)."""
    if field.default is not UNSET:
        if field.type == "uuid" and isinstance(field.default, str):
            return ZERO_UUID
        return field.default
    if version in field.nullable:
        return None
    if field.type == "array":
        return []
    if field.type == "struct":
        return {}
    return _ZERO.get(field.type, 0)


def _field_construct(field: FieldSpec, version: int, flexible: bool) -> c.Construct:
    """The field's construct; a null is parsed only where the spec says the field is nullable."""
    compact = flexible and not field.noncompact
    non_null = None if version in field.nullable else field.name
    if field.type == "struct":
        struct = _struct(field.fields, version, flexible)
        return struct if non_null else _NullableStruct(struct)
    if field.type == "array":
        if field.item_type == "struct":
            item = _struct(field.fields, version, flexible)
        else:
            item = _primitive(field.item_type or "", compact, field.name)  # array items are never null
        return _Array(item, compact, non_null)
    return _primitive(field.type, compact, non_null)


def _struct(fields: list[FieldSpec], version: int, flexible: bool) -> c.Construct:
    subcons = []
    tagged: dict[int, _Tagged] = {}
    for field in fields:
        if version not in field.versions:
            continue
        sub = _field_construct(field, version, flexible)
        if field.tag is not None:
            if flexible:
                tagged[field.tag] = _Tagged(field.name, sub, _default(field, version))
            continue
        subcons.append(field.name / _Default(sub, _default(field, version)))
    if not flexible:
        return _Struct(*subcons)
    return _FlexStruct(*subcons, "_tagged" / _TaggedFields(tagged))


def message_construct(message: MessageSpec, version: int) -> c.Construct:
    """The uncompiled construct of one version of a message."""
    return _struct(message.fields, version, message.is_flexible(version))


def _context(stream: Any, *, parsing: bool) -> c.Container:
    """A top-level context for compiled code, without the self-references that construct's own
    ``parse_stream``/``build_stream`` put in it (``_params`` and ``_root`` pointing back at the
    context): with them every decoded message is cyclic garbage, freed only by the cyclic GC."""
    return c.Container(
        _params={}, _root=None, _parsing=parsing, _building=not parsing, _sizing=False, _io=stream, _index=None
    )


def parse_stream(compiled: c.Compiled, stream: Any) -> c.Container:
    """Decode one message from ``stream`` with a compiled schema, leaving no reference cycles."""
    return compiled.parsefunc(stream, _context(stream, parsing=True))


def build_stream(compiled: c.Compiled, obj: dict, stream: Any) -> None:
    """Encode ``obj`` into ``stream`` with a compiled schema, leaving no reference cycles."""
    compiled.buildfunc(obj, stream, _context(stream, parsing=False))


@dataclass
class Codec:
    """Compiled request and response schemas of one (api, version)."""

    api_key: int
    version: int
    request: c.Construct
    response: c.Construct
    request_header_version: int
    response_header_version: int

    def decode_request(self, data: bytes | memoryview) -> c.Container:
        return parse_stream(self.request, io.BytesIO(data))

    def encode_request(self, obj: dict) -> bytes:
        return self.request.build(obj)

    def decode_response(self, data: bytes | memoryview) -> c.Container:
        return parse_stream(self.response, io.BytesIO(data))

    def encode_response(self, obj: dict, out: ResponseWriter | None = None) -> ResponseWriter:
        out = out if out is not None else ResponseWriter()
        build_stream(self.response, obj, out)
        return out


def header_versions(spec: ApiSpec, version: int) -> tuple[int, int]:
    """(request header, response header) versions for an API version."""
    flexible = spec.request.is_flexible(version)
    response = 1 if flexible else 0
    if spec.key == ApiKey.API_VERSIONS:
        # ApiVersions responses always use header v0, so a client can read the answer even
        # when the broker does not support the version it asked with.
        response = 0
    return (2 if flexible else 1), response


@cache
def codec(api_key: int, version: int) -> Codec:
    """Compiled schemas for (api, version); KeyError when the specs do not cover it."""
    spec = api_specs()[api_key]
    if version not in spec.versions:
        raise KeyError((api_key, version))
    request = message_construct(spec.request, version).compile()
    response = message_construct(spec.response, version).compile()
    req_hv, resp_hv = header_versions(spec, version)
    return Codec(api_key, version, request, response, req_hv, resp_hv)


@cache
def header_construct(name: str, version: int) -> c.Construct:
    return message_construct(header_specs()[name], version).compile()
