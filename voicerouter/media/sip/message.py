"""SIP requests and responses as values, and their canonical wire form (RFC 3261 §7).

A message is a start line, a `Headers` block and a body; `to_bytes()` always writes a correct
Content-Length. Parsing lives in `parser.py`; this module never reads bytes from a peer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicerouter.media.sip.fields import CSeq, NameAddr, Via, parse_cseq, parse_name_addr, parse_via
from voicerouter.media.sip.headers import Headers
from voicerouter.media.sip.uri import SipUri

SIP_VERSION = "SIP/2.0"
ENCODING = "utf-8"
ERRORS = "surrogateescape"  # header bytes that are not UTF-8 survive a parse/print round trip

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    603: "Decline",
}

# Headers a response copies from its request (RFC 3261 §8.2.6.2).
_COPIED_TO_RESPONSE = ("Via", "From", "Call-ID", "CSeq")


@dataclass(eq=True, slots=True, kw_only=True)
class _Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self.headers.get("CSeq") or "")

    @property
    def from_addr(self) -> NameAddr:
        return parse_name_addr(self.headers.get("From") or "", "From")

    @property
    def to_addr(self) -> NameAddr:
        return parse_name_addr(self.headers.get("To") or "", "To")

    @property
    def vias(self) -> list[Via]:
        return [parse_via(value) for value in self.headers.values("Via")]

    @property
    def top_via(self) -> Via:
        values = self.headers.values("Via")
        if not values:
            raise ValueError("message has no Via header")
        return parse_via(values[0])

    @property
    def contact(self) -> NameAddr | None:
        values = self.headers.values("Contact")
        if not values or values[0] == "*":
            return None
        return parse_name_addr(values[0], "Contact")

    @property
    def content_type(self) -> str:
        """The media type alone, lower-cased (`application/sdp`), without parameters."""
        value = self.headers.get("Content-Type") or ""
        return value.split(";", 1)[0].strip().lower()

    def _head_lines(self, start_line: str) -> list[str]:
        lines = [start_line]
        wrote_length = False
        for name, value in self.headers:
            if name == "Content-Length":
                if wrote_length:
                    continue
                value, wrote_length = str(len(self.body)), True
            lines.append(f"{name}: {value}")
        if not wrote_length:
            lines.append(f"Content-Length: {len(self.body)}")
        return lines

    def _encode(self, start_line: str) -> bytes:
        head = "\r\n".join(self._head_lines(start_line)) + "\r\n\r\n"
        return head.encode(ENCODING, ERRORS) + self.body


@dataclass(eq=True, slots=True, kw_only=True)
class SipRequest(_Message):
    method: str
    uri: SipUri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def to_bytes(self) -> bytes:
        return self._encode(self.start_line())

    def __str__(self) -> str:
        return f"{self.method} {self.uri} (Call-ID {self.call_id})"


@dataclass(eq=True, slots=True, kw_only=True)
class SipResponse(_Message):
    status: int
    reason: str = ""

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason or reason_phrase(self.status)}"

    def to_bytes(self) -> bytes:
        return self._encode(self.start_line())

    @property
    def provisional(self) -> bool:
        return self.status < 200

    @property
    def success(self) -> bool:
        return 200 <= self.status < 300

    def __str__(self) -> str:
        return f"{self.status} {self.reason} (Call-ID {self.call_id})"


SipMessage = SipRequest | SipResponse


def reason_phrase(status: int) -> str:
    return REASON_PHRASES.get(status, "Unknown")


def response_to_headers(
    request_headers: Headers, status: int, reason: str | None = None, to_tag: str | None = None
) -> SipResponse:
    """A response built from a request's raw headers (they need not parse: used to answer garbage)."""
    headers = Headers()
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request_headers.get_all(name):
            if name == "To" and to_tag is not None and ";tag=" not in value.replace(" ", "").lower():
                value = f"{value};tag={to_tag}"  # appended, so the peer sees its own To text again
            headers.add(name, value)
    if status == 100 and "Timestamp" in request_headers:
        headers.add("Timestamp", request_headers.get("Timestamp") or "")
    return SipResponse(headers=headers, status=status, reason=reason or reason_phrase(status))


def make_response(
    request: SipRequest, status: int, reason: str | None = None, to_tag: str | None = None
) -> SipResponse:
    """The response skeleton of §8.2.6: Via/From/To/Call-ID/CSeq copied, a To tag added when given."""
    if status == 100:
        to_tag = None  # §8.2.6.2: 100 Trying never carries a To tag it was not sent
    return response_to_headers(request.headers, status, reason, to_tag)


def has_mandatory_headers(headers: Headers) -> bool:
    return all(name in headers for name in (*_COPIED_TO_RESPONSE, "To"))
