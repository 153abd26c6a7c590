"""SDP session descriptions (RFC 4566): parse into values, print back in the RFC's line order.

Lines this module does not interpret (i=, u=, b=, k=, ...) are kept and printed back unchanged; errors name
the line. Choosing codecs is `offer_answer.py`'s job: nothing here decides what a call will use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(r"^([a-z])=(.*)$")
_SESSION_ORDER = "vosiuepcbtrzka"  # RFC 4566 §5: the order session-level lines must appear in
_MEDIA_ORDER = "micbka"


class SdpError(ValueError):
    """A session description that does not parse: which line, and what is wrong with it."""

    def __init__(self, what: str, line_number: int | None = None, line: str = "") -> None:
        where = f"sdp line {line_number} ({line[:40]!r}): " if line_number is not None else "sdp: "
        super().__init__(where + what)


@dataclass(frozen=True, slots=True)
class Origin:
    username: str = "-"
    session_id: str = "0"
    session_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"

    @property
    def is_hold(self) -> bool:
        """RFC 2543 hold: the unspecified address says "do not send me media" (RFC 3264 §8.4)."""
        return self.address in ("0.0.0.0", "::")


Attribute = tuple[str, str | None]


@dataclass(slots=True)
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: Connection | None = None
    attributes: list[Attribute] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)  # i=, b=, k= lines, in order

    def attribute(self, name: str) -> str | None:
        for attr_name, value in self.attributes:
            if attr_name == name:
                return value if value is not None else ""
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [value or "" for attr_name, value in self.attributes if attr_name == name]

    def rtpmap(self) -> dict[str, tuple[str, int, int]]:
        """payload type → (encoding name, clock rate, channels), from the a=rtpmap lines."""
        out: dict[str, tuple[str, int, int]] = {}
        for value in self.attribute_values("rtpmap"):
            pt, _, rest = value.partition(" ")
            encoding, _, clock = rest.strip().partition("/")
            rate, _, channels = clock.partition("/")
            if rate.isdigit():
                out[pt] = (encoding, int(rate), int(channels) if channels.isdigit() else 1)
        return out

    def fmtp(self, payload_type: str) -> str | None:
        for value in self.attribute_values("fmtp"):
            pt, _, params = value.partition(" ")
            if pt == payload_type:
                return params.strip()
        return None

    def lines(self) -> list[str]:
        ports = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        out = [f"m={self.media} {ports} {self.proto} {' '.join(self.formats)}"]
        extras = {kind: [v for k, v in self.other if k == kind] for kind in _MEDIA_ORDER}
        for kind in _MEDIA_ORDER:
            if kind == "c" and self.connection is not None:
                out.append(f"c={self.connection}")
            elif kind == "a":
                out += [f"a={n}" if v is None else f"a={n}:{v}" for n, v in self.attributes]
            else:
                out += [f"{kind}={value}" for value in extras[kind]]
        return out


@dataclass(slots=True)
class SessionDescription:
    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timing: str = "0 0"
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)  # i=, u=, e=, p=, b=, r=, z=, k= lines
    version: int = 0

    def attribute(self, name: str) -> str | None:
        for attr_name, value in self.attributes:
            if attr_name == name:
                return value if value is not None else ""
        return None

    def to_text(self) -> str:
        lines: list[str] = []
        extras = {kind: [v for k, v in self.other if k == kind] for kind in _SESSION_ORDER}
        for kind in _SESSION_ORDER:
            if kind == "v":
                lines.append(f"v={self.version}")
            elif kind == "o":
                lines.append(f"o={self.origin}")
            elif kind == "s":
                lines.append(f"s={self.session_name}")
            elif kind == "c" and self.connection is not None:
                lines.append(f"c={self.connection}")
            elif kind == "t":
                lines.append(f"t={self.timing}")
            elif kind == "a":
                lines += [f"a={n}" if v is None else f"a={n}:{v}" for n, v in self.attributes]
            else:
                lines += [f"{kind}={value}" for value in extras[kind]]
        for media in self.media:
            lines += media.lines()
        return "\r\n".join(lines) + "\r\n"

    def to_bytes(self) -> bytes:
        return self.to_text().encode("utf-8")


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse a session description; `SdpError` names the first line that is wrong."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SdpError("not UTF-8 text") from None
    lines = [line for line in re.split(r"\r?\n", data) if line.strip()]
    if not lines:
        raise SdpError("empty session description")
    parsed: list[tuple[int, str, str, str]] = []
    for number, line in enumerate(lines, start=1):
        match = _LINE.match(line.rstrip())
        if not match:
            raise SdpError("expected '<letter>=<value>'", number, line)
        parsed.append((number, line, match.group(1), match.group(2)))
    if parsed[0][2] != "v" or parsed[0][3].strip() != "0":
        raise SdpError("the first line must be v=0", 1, lines[0])
    origin: Origin | None = None
    session = SessionDescription(origin=Origin())
    current: MediaDescription | None = None
    seen_name = False
    for number, line, kind, value in parsed[1:]:
        if kind == "m":
            current = _parse_media(value, number, line)
            session.media.append(current)
        elif kind == "a":
            name, colon, attr_value = value.partition(":")
            attribute: Attribute = (name.strip(), attr_value.strip() if colon else None)
            (current.attributes if current else session.attributes).append(attribute)
        elif kind == "c":
            connection = _parse_connection(value, number, line)
            if current is None:
                session.connection = connection
            else:
                current.connection = connection
        elif current is not None:
            current.other.append((kind, value))
        elif kind == "o":
            origin = _parse_origin(value, number, line)
        elif kind == "s":
            session.session_name, seen_name = value, True
        elif kind == "t":
            session.timing = value.strip()
        else:
            session.other.append((kind, value))
    if origin is None:
        raise SdpError("missing o= line")
    if not seen_name:
        raise SdpError("missing s= line")
    session.origin = origin
    return session


def _parse_origin(value: str, number: int, line: str) -> Origin:
    parts = value.split()
    if len(parts) != 6 or not parts[2].isdigit():
        raise SdpError("o= needs '<user> <id> <version> IN <IP4|IP6> <address>'", number, line)
    return Origin(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5])


def _parse_connection(value: str, number: int, line: str) -> Connection:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError("c= needs 'IN <IP4|IP6> <address>'", number, line)
    return Connection(parts[2].split("/", 1)[0], parts[1], parts[0])


def _parse_media(value: str, number: int, line: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError("m= needs '<media> <port> <proto> <fmt> ...'", number, line)
    port_text, _, count_text = parts[1].partition("/")
    if not port_text.isdigit() or int(port_text) > 65535 or (count_text and not count_text.isdigit()):
        raise SdpError(f"bad port {parts[1]!r}", number, line)
    return MediaDescription(
        media=parts[0],
        port=int(port_text),
        proto=parts[2],
        formats=parts[3:],
        port_count=int(count_text) if count_text else None,
    )
