"""`;name=value` parameter lists shared by URIs, Via, name-addr headers and Content-Type.

Names compare case-insensitively and keep their order; values are kept verbatim (quoted ones with their
quotes), so printing a parsed list gives the same text back. Nothing here knows what a parameter means.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_VALUE = re.compile(r'^(?:[^\s;,"<>]+|"(?:[^"\\]|\\.)*")$')


class Params:
    """An ordered, case-insensitive parameter list; immutable (`with_param` returns a new one)."""

    __slots__ = ("_items",)

    def __init__(self, items: tuple[tuple[str, str | None], ...] = ()) -> None:
        self._items = items

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.lower()
        for item_name, value in self._items:
            if item_name.lower() == key:
                return value
        return default

    def unquoted(self, name: str) -> str | None:
        value = self.get(name)
        return unquote(value) if value is not None else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Params):
            return NotImplemented
        return [(n.lower(), v) for n, v in self._items] == [(n.lower(), v) for n, v in other._items]

    def __hash__(self) -> int:
        return hash(tuple((n.lower(), v) for n, v in self._items))

    def __repr__(self) -> str:
        return f"Params({self._items!r})"

    def __str__(self) -> str:
        return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in self._items)

    def with_param(self, name: str, value: str | None) -> Params:
        """Set (replacing in place) or append a parameter; a flag parameter takes `value=None`."""
        key = name.lower()
        items = list(self._items)
        for i, (item_name, _) in enumerate(items):
            if item_name.lower() == key:
                items[i] = (item_name, value)
                return Params(tuple(items))
        return Params((*items, (name, value)))

    def without(self, name: str) -> Params:
        key = name.lower()
        return Params(tuple((n, v) for n, v in self._items if n.lower() != key))


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on `separator` except inside double quotes (with backslash escapes) and angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    angle_depth = 0
    for char in text:
        if escaped:
            escaped = False
        elif in_quotes and char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif not in_quotes and char == "<":
            angle_depth += 1
        elif not in_quotes and char == ">" and angle_depth:
            angle_depth -= 1
        elif char == separator and not in_quotes and not angle_depth:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if in_quotes:
        raise ValueError(f"unterminated quoted string in {text!r}")
    parts.append("".join(current))
    return parts


def parse_params(text: str) -> Params:
    """Parse `;a=b;flag;c="quoted"` (the leading ';' included); `ValueError` on bad syntax."""
    text = text.strip()
    if not text:
        return Params()
    if not text.startswith(";"):
        raise ValueError(f"parameters must start with ';': {text!r}")
    items: list[tuple[str, str | None]] = []
    for raw in split_outside_quotes(text[1:], ";"):
        name, eq, value = raw.partition("=")
        name, value = name.strip(), value.strip()
        if not _TOKEN.match(name):
            raise ValueError(f"bad parameter name {name!r}")
        if eq and not _VALUE.match(value):
            raise ValueError(f"bad value for parameter {name!r}: {value!r}")
        items.append((name, value if eq else None))
    return Params(tuple(items))


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text
