"""Structured header values: name-addr (From/To/Contact/Route), Via and CSeq, parsed and printed.

Each parser takes one header element (already split from a comma list) and raises `FieldError` saying which
header and what is wrong; none of them touches the transaction or dialog state the values feed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from voicerouter.media.sip.params import Params, parse_params, quote, unquote
from voicerouter.media.sip.uri import SipUri, parse_uri

BRANCH_MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7: branches starting with it are unique per transaction
MAX_CSEQ = 2**31 - 1

_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_VIA_PROTOCOL = re.compile(r"^\s*([^\s/]+)\s*/\s*([^\s/]+)\s*/\s*([^\s/]+)\s+(.*)$", re.DOTALL)


class FieldError(ValueError):
    def __init__(self, header: str, value: str, what: str) -> None:
        super().__init__(f"{header} {value!r}: {what}")
        self.header = header


@dataclass(frozen=True, slots=True)
class NameAddr:
    """`"Display" <uri>;params`: the URI is kept as text (it may be tel: in From/To)."""

    uri: str
    display_name: str | None = None
    params: Params = field(default_factory=Params)

    def __str__(self) -> str:
        name = f"{quote(self.display_name)} " if self.display_name is not None else ""
        return f"{name}<{self.uri}>{self.params}"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        return NameAddr(self.uri, self.display_name, self.params.with_param("tag", tag))

    def without_tag(self) -> NameAddr:
        return NameAddr(self.uri, self.display_name, self.params.without("tag"))

    def sip_uri(self) -> SipUri:
        """The URI parsed; `UriError` (or `UnsupportedUriScheme`) when it is not a usable SIP URI."""
        return parse_uri(self.uri)


def parse_name_addr(value: str, header: str = "name-addr") -> NameAddr:
    """Parse name-addr or addr-spec; in the addr-spec form ';params' belong to the header (§20.10)."""
    text = value.strip()
    if not text:
        raise FieldError(header, value, "empty")
    display: str | None = None
    if text.startswith('"'):
        end = _closing_quote(text)
        if end == -1:
            raise FieldError(header, value, "unterminated display name")
        display = unquote(text[: end + 1])
        text = text[end + 1 :].lstrip()
        if not text.startswith("<"):
            raise FieldError(header, value, "quoted display name without <uri>")
    if "<" in text:
        start = text.index("<")
        if display is None and text[:start].strip():
            display = " ".join(text[:start].split())
        end = text.find(">", start)
        if end == -1:
            raise FieldError(header, value, "missing '>'")
        uri, rest = text[start + 1 : end].strip(), text[end + 1 :]
    else:
        uri, semi, rest = text.partition(";")
        rest = semi + rest
        if " " in uri.strip():
            raise FieldError(header, value, "spaces in a URI without <...>")
    if ":" not in uri:
        raise FieldError(header, value, "URI has no scheme")
    try:
        params = parse_params(rest)
    except ValueError as exc:
        raise FieldError(header, value, str(exc)) from None
    return NameAddr(uri.strip(), display, params)


def _closing_quote(text: str) -> int:
    escaped = False
    for i, char in enumerate(text[1:], start=1):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return i
    return -1


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=Params)
    protocol: str = "SIP/2.0"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {host}{port}{self.params}"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host.lower()}:{self.port or 5060}"

    @property
    def rfc3261_branch(self) -> bool:
        return bool(self.branch and self.branch.startswith(BRANCH_MAGIC_COOKIE))

    def with_params(self, **values: str | None) -> Via:
        params = self.params
        for name, param_value in values.items():
            params = params.with_param(name, param_value)
        return Via(self.transport, self.host, self.port, params, self.protocol)


def parse_via(value: str) -> Via:
    match = _VIA_PROTOCOL.match(value)
    if not match:
        raise FieldError("Via", value, "expected SIP/2.0/<transport> <host>")
    name, version, transport, rest = match.groups()
    if not (_TOKEN.match(name) and _TOKEN.match(version) and _TOKEN.match(transport)):
        raise FieldError("Via", value, "bad sent-protocol")
    hostport, semi, param_text = rest.partition(";")
    hostport = hostport.strip()
    try:
        probe = parse_uri(f"sip:{hostport}")
        params = parse_params(semi + param_text)
    except ValueError as exc:
        raise FieldError("Via", value, str(exc)) from None
    if probe.user is not None or len(probe.params) or probe.headers:
        raise FieldError("Via", value, f"bad sent-by {hostport!r}")
    return Via(transport.upper(), probe.host, probe.port, params, f"{name.upper()}/{version}")


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not _TOKEN.match(parts[1]):
        raise FieldError("CSeq", value, "expected '<number> <method>'")
    number = int(parts[0])
    if number > MAX_CSEQ:
        raise FieldError("CSeq", value, "number above 2**31-1")
    return CSeq(number, parts[1])


def is_token(text: str) -> bool:
    return bool(_TOKEN.match(text))
