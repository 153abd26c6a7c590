"""The SIP header block: an ordered multi-dict with case-insensitive names and RFC 3261 compact forms.

Names are stored in their canonical spelling (`v` and `VIA` both become `Via`) so that printing a message
is canonical; values are stored as received, unparsed. This module never interprets a header's meaning.
"""

from __future__ import annotations

from collections.abc import Iterator

from voicerouter.media.sip.params import split_outside_quotes

COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_SPELLING: dict[str, str] = {
    name.lower(): name
    for name in (
        *COMPACT_FORMS.values(),
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Authentication-Info",
        "Authorization",
        "CSeq",
        "Call-Info",
        "Content-Disposition",
        "Content-Language",
        "Date",
        "Error-Info",
        "Expires",
        "In-Reply-To",
        "MIME-Version",
        "Max-Forwards",
        "Min-Expires",
        "Min-SE",
        "Organization",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Priority",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Require",
        "RAck",
        "RSeq",
        "Reason",
        "Record-Route",
        "Reply-To",
        "Require",
        "Retry-After",
        "Route",
        "Server",
        "Subscription-State",
        "Timestamp",
        "Unsupported",
        "User-Agent",
        "WWW-Authenticate",
        "Warning",
    )
}

# Headers whose value is a comma-separated list (RFC 3261 §7.3.1): several may be folded into one line.
LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "In-Reply-To",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Require",
        "Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    )
)


def canonical_name(name: str) -> str:
    """`v` → `Via`, `call-id` → `Call-ID`; names this table does not know keep their spelling."""
    name = name.strip()
    if len(name) == 1:
        name = COMPACT_FORMS.get(name.lower(), name)
    return _SPELLING.get(name.lower(), name)


def split_list(value: str) -> list[str]:
    """The elements of a comma-separated header value (commas inside quotes or <...> do not split)."""
    return [part.strip() for part in split_outside_quotes(value, ",") if part.strip()]


class Headers:
    """Ordered (name, value) pairs; lookups ignore case and accept compact forms."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items or []:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value.strip()))

    def set(self, name: str, value: str) -> None:
        """Replace every header of that name by one, at the position of the first (or at the end)."""
        canonical = canonical_name(name)
        key = canonical.lower()
        for i, (item_name, _) in enumerate(self._items):
            if item_name.lower() == key:
                self._items[i] = (canonical, value.strip())
                self._items = [item for j, item in enumerate(self._items) if j <= i or item[0].lower() != key]
                return
        self._items.append((canonical, value.strip()))

    def insert_first(self, name: str, value: str) -> None:
        """Put a header before any other of its name (a new top Via, say), else at the end."""
        canonical = canonical_name(name)
        for i, (item_name, _) in enumerate(self._items):
            if item_name.lower() == canonical.lower():
                self._items.insert(i, (canonical, value.strip()))
                return
        self._items.append((canonical, value.strip()))

    def remove(self, name: str) -> None:
        key = canonical_name(name).lower()
        self._items = [item for item in self._items if item[0].lower() != key]

    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical_name(name).lower()
        for item_name, value in self._items:
            if item_name.lower() == key:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every header line of that name, in order, each value as received."""
        key = canonical_name(name).lower()
        return [value for item_name, value in self._items if item_name.lower() == key]

    def values(self, name: str) -> list[str]:
        """Every element of a list header across all its lines (`Via: a, b` + `Via: c` → a, b, c)."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(split_list(value) if canonical_name(name).lower() in LIST_HEADERS else [value])
        return out

    def count(self, name: str) -> int:
        return len(self.get_all(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        clone = Headers()
        clone._items = list(self._items)
        return clone
