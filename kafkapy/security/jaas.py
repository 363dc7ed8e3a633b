"""Kafka's ``sasl.jaas.config`` value parsed as Kafka's JaasConfig parses it.

    org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" user_alice="alice-secret";

One login module, its control flag, then ``key=value`` options up to the ``;``. Kafka reads it with
java.io.StreamTokenizer: values are words (letters, digits, ``. - _ $``) or strings quoted with ``"`` or
``'`` (backslash escapes), and ``//``, ``/* */`` and a lone ``/`` start comments. Anything else is a
ValueError whose message is Kafka's (the caller names the property).
"""

from __future__ import annotations

from dataclasses import dataclass

FLAGS = ("required", "requisite", "sufficient", "optional")
# StreamTokenizer's escapes inside a quoted string (others stand for the character itself).
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_QUOTES = "\"'"


@dataclass(frozen=True)
class JaasEntry:
    """One JAAS login module entry: ``login_module flag key=value ...;``."""

    login_module: str
    flag: str
    options: dict[str, str]


def parse_jaas(text: str) -> JaasEntry:
    """The single login module entry of a ``sasl.jaas.config`` value; ValueError if it is malformed."""
    tokens = _tokens(text)
    if not tokens:
        raise ValueError("Login module not specified in JAAS config")
    entries = []
    while tokens:
        entries.append(_entry(tokens))
    if len(entries) != 1:
        # Kafka's JaasContext.load refuses a property naming several modules.
        raise ValueError(f"JAAS config property contains {len(entries)} login modules, should be 1 module")
    return entries[0]


def parse_jaas_file(text: str) -> dict[str, list[JaasEntry]]:
    """The sections of a static JAAS file (``java.security.auth.login.config``): name -> its entries.

        KafkaServer {
            org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";
        };

    Read with the same tokenizer as ``sasl.jaas.config``; ValueError (one line) if it is malformed.
    """
    tokens = _tokens(text)
    sections: dict[str, list[JaasEntry]] = {}
    while tokens:
        kind, name = tokens.pop(0)
        if kind not in ("word", "string") or not tokens or tokens.pop(0) != ("char", "{"):
            raise ValueError("JAAS file: expected a section, like KafkaServer { ... };")
        entries = []
        while tokens and tokens[0] != ("char", "}"):
            entries.append(_entry(tokens))
        if not tokens:
            raise ValueError(f"JAAS file: section {name} not closed by }}")
        tokens.pop(0)
        if tokens and tokens[0] == ("char", ";"):
            tokens.pop(0)
        sections[name] = entries
    return sections


def format_jaas(entry: JaasEntry) -> str:
    """``entry`` as one ``sasl.jaas.config`` line that ``parse_jaas`` reads back as ``entry``."""
    options = "".join(f' {key}="{_quote(value)}"' for key, value in entry.options.items())
    return f"{entry.login_module} {entry.flag}{options};"


def _quote(value: str) -> str:
    """``value`` inside a double-quoted StreamTokenizer string: backslash, quote and line ends escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")


# A token: ("word", text), ("string", text), ("number", text) or ("char", c).
Token = tuple[str, str]


def _entry(tokens: list[Token]) -> JaasEntry:
    """Consume one ``module flag options... ;`` entry from the front of ``tokens``."""
    kind, login_module = tokens.pop(0)
    if kind not in ("word", "string"):
        raise ValueError("Login module not specified in JAAS config")
    if not tokens:
        raise ValueError("Login module control flag not specified in JAAS config")
    kind, flag = tokens.pop(0)
    if kind not in ("word", "string") or flag.lower() not in FLAGS:
        shown = flag if kind in ("word", "string") else None
        raise ValueError(f"Invalid login module control flag '{shown}' in JAAS config")
    options: dict[str, str] = {}
    while tokens and tokens[0] != ("char", ";"):
        kind, key = tokens.pop(0)
        shown_key = key if kind in ("word", "string") else None
        if not tokens or tokens.pop(0) != ("char", "=") or not tokens or tokens[0][0] not in ("word", "string"):
            raise ValueError(f"Value not specified for key '{shown_key}' in JAAS config")
        options[key] = tokens.pop(0)[1]
    if not tokens:
        raise ValueError("JAAS config entry not terminated by semi-colon")
    tokens.pop(0)
    return JaasEntry(login_module, flag.lower(), options)


def _is_word_start(c: str) -> bool:
    # StreamTokenizer's alphabetic characters, plus the - _ $ Kafka adds.
    return c.isascii() and c.isalpha() or c in "-_$" or ord(c) >= 0xA0


def _is_word_part(c: str) -> bool:
    return _is_word_start(c) or c.isascii() and c.isdigit() or c == "."


def _tokens(text: str) -> list[Token]:
    """Split ``text`` into StreamTokenizer's tokens, dropping whitespace and comments."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c <= " ":
            i += 1
        elif c == "/":
            i = _skip_comment(text, i)
        elif c in _QUOTES:
            value, i = _quoted(text, i)
            tokens.append(("string", value))
        elif _is_word_start(c):
            start = i
            while i < n and _is_word_part(text[i]):
                i += 1
            tokens.append(("word", text[start:i]))
        elif c.isascii() and c.isdigit() or c == ".":
            start = i
            while i < n and (text[i].isascii() and text[i].isdigit() or text[i] == "."):
                i += 1
            tokens.append(("number", text[start:i]))
        else:
            tokens.append(("char", c))
            i += 1
    return tokens


def _skip_comment(text: str, i: int) -> int:
    """The index after the comment starting at ``text[i] == "/"``: ``/* ... */`` or to the end of the line."""
    if text.startswith("/*", i):
        end = text.find("*/", i + 2)
        return len(text) if end < 0 else end + 2
    end = text.find("\n", i)
    return len(text) if end < 0 else end + 1


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The string quoted at ``text[i]`` and the index after it; it ends at its quote, a line end or the end."""
    quote, out, i, n = text[i], [], i + 1, len(text)
    while i < n and text[i] not in (quote, "\n", "\r"):
        c = text[i]
        i += 1
        if c == "\\" and i < n:
            c, i = _escape(text, i)
        out.append(c)
    if i < n and text[i] == quote:
        i += 1
    return "".join(out), i


def _escape(text: str, i: int) -> tuple[str, int]:
    """The character a backslash escape at ``text[i]`` stands for (octal up to \\377) and the index after it."""
    c = text[i]
    if "0" <= c <= "7":
        digits = 1
        limit = 3 if c <= "3" else 2
        while digits < limit and i + digits < len(text) and "0" <= text[i + digits] <= "7":
            digits += 1
        return chr(int(text[i : i + digits], 8)), i + digits
    return _ESCAPES.get(c, c), i + 1
