"""Bytes to SIP messages: one UDP datagram, or a TCP byte stream framed by Content-Length (RFC 3261 §18.3).

Every way a message can be wrong ends in a `SipParseError` carrying the status to answer (or None: drop
it); the parser never raises anything else on peer input and never holds more than the size limits allow.
"""

from __future__ import annotations

import re

from voicerouter.media.sip.fields import FieldError, is_token, parse_cseq, parse_name_addr, parse_via
from voicerouter.media.sip.headers import Headers
from voicerouter.media.sip.message import (
    ENCODING,
    ERRORS,
    SIP_VERSION,
    SipMessage,
    SipRequest,
    SipResponse,
    has_mandatory_headers,
    response_to_headers,
)
from voicerouter.media.sip.uri import UnsupportedUriScheme, UriError, parse_uri, uri_scheme

MAX_MESSAGE_BYTES = 65_536
MAX_HEADERS = 128
MAX_LINE_BYTES = 8_192  # one header after unfolding; STIR/SHAKEN Identity headers are ~1-2 KiB

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE_SPLIT = re.compile(r"\r?\n")
_HEADER_NAME = re.compile(r"^([^\s:]+)[ \t]*:(.*)$", re.DOTALL)
_VERSION = re.compile(r"^SIP/\d+\.\d+$", re.IGNORECASE)
_SINGLE_HEADERS = ("Call-ID", "CSeq", "From", "To", "Content-Length", "Max-Forwards", "Content-Type")


class SipParseError(Exception):
    """Peer input that is not a usable SIP message.

    `status`/`reason` are what to answer (None: drop silently, as for any bad response); `headers` holds
    what parsed, so a response can still be addressed; `fatal` means a stream lost its framing.
    """

    def __init__(
        self,
        status: int | None,
        reason: str,
        detail: str,
        headers: Headers | None = None,
        *,
        fatal: bool = False,
    ) -> None:
        super().__init__(f"{status or 'drop'} {reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = headers
        self.fatal = fatal

    def response(self) -> SipResponse | None:
        """The error response to send back, or None when the request cannot be answered (or was one)."""
        if self.status is None or self.headers is None or not has_mandatory_headers(self.headers):
            return None
        try:  # the peer matches a response by its Via branch and CSeq: without them it is noise
            parse_via(self.headers.values("Via")[0])
            parse_cseq(self.headers.get("CSeq") or "")
        except (FieldError, IndexError):
            return None
        return response_to_headers(self.headers, self.status, self.reason)


def parse_datagram(data: bytes) -> SipMessage | None:
    """One UDP datagram → a message; None for a keep-alive (CRLFs only). Extra body bytes are cut."""
    if not data.strip(b"\r\n\t "):
        return None
    status: int | None = None if data[:4].upper() == b"SIP/" else 400  # never answer a response
    match = _HEADER_END.search(data)
    if match is None:
        _, headers = _parse_head(data[:MAX_MESSAGE_BYTES])
        raise SipParseError(status, "Bad Request", "header section not terminated by an empty line", headers)
    start_line, headers = _parse_head(data[: match.start()])
    body = data[match.end() :]
    if len(data) > MAX_MESSAGE_BYTES:
        detail = f"{len(data)} bytes > {MAX_MESSAGE_BYTES}"
        raise SipParseError(status and 513, "Message Too Large", detail, headers)
    length = _content_length(headers, start_line)
    if length is not None:
        if length > len(body):
            detail = f"Content-Length {length} but {len(body)} body bytes"
            raise SipParseError(status, "Bad Request", detail, headers)
        body = body[:length]
    return _build(start_line, headers, body)


class StreamBroken(Exception):
    """Fed after the stream lost its framing: the connection must be closed."""


class SipStreamParser:
    """Splits a TCP/TLS byte stream into messages; handles partial reads and pipelined messages.

    `feed()` returns the messages completed so far, `SipParseError`s for framed-but-bad messages (answer
    them and carry on), and for framing loss one fatal `SipParseError` after which the stream is broken.
    Bare CRLF keep-alives between messages are counted in `keepalives` (RFC 5626 pings to answer).
    """

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._max_message_bytes = max_message_bytes
        self.broken = False
        self.keepalives = 0

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[SipMessage | SipParseError]:
        if self.broken:
            raise StreamBroken("SIP stream lost its framing earlier; close the connection")
        self._buffer += data
        out: list[SipMessage | SipParseError] = []
        while True:
            self._skip_keepalives()
            item = self._next_message()
            if item is None:
                return out
            out.append(item)
            if isinstance(item, SipParseError) and item.fatal:
                self.broken = True
                self._buffer.clear()
                return out

    def _skip_keepalives(self) -> None:
        """Drop CR/LF between messages, counting CRLFCRLF pings; wait while a ping may be incomplete."""
        while self._buffer[:1] in (b"\r", b"\n"):
            if self._buffer[:4] == b"\r\n\r\n":
                self.keepalives += 1
                del self._buffer[:4]
            elif len(self._buffer) < 4 and b"\r\n\r\n".startswith(bytes(self._buffer)):
                return
            else:
                del self._buffer[:1]

    def _next_message(self) -> SipMessage | SipParseError | None:
        match = _HEADER_END.search(self._buffer, 0, self._max_message_bytes + 4)
        if match is None:
            if len(self._buffer) > self._max_message_bytes:
                return SipParseError(
                    513, "Message Too Large", "header section exceeds the message limit", fatal=True
                )
            return None
        head_bytes = bytes(self._buffer[: match.start()])
        try:
            start_line, headers = _parse_head(head_bytes)
        except SipParseError as exc:
            exc.fatal = True  # without headers there is no Content-Length to find the next message
            return exc
        try:
            length = _content_length(headers, start_line)
        except SipParseError as exc:
            exc.fatal = True
            return exc
        length = length or 0  # §18.3 demands Content-Length on streams; its absence means no body
        total = match.end() + length
        if total > self._max_message_bytes:
            detail = f"Content-Length {length} makes the message {total} bytes > {self._max_message_bytes}"
            status = None if start_line.upper().startswith("SIP/") else 413
            return SipParseError(status, "Request Entity Too Large", detail, headers, fatal=True)
        if len(self._buffer) < total:
            return None
        body = bytes(self._buffer[match.end() : total])
        del self._buffer[:total]
        try:
            return _build(start_line, headers, body)
        except SipParseError as exc:
            return exc


def _parse_head(head: bytes) -> tuple[str, Headers]:
    """Start line and unfolded headers; errors carry whatever headers did parse."""
    text = head.decode(ENCODING, ERRORS)
    raw_lines = _LINE_SPLIT.split(text)
    start_line = raw_lines[0].strip()
    status = None if start_line.upper().startswith("SIP/") else 400  # a bad response is dropped
    too_large = None if status is None else 513
    logical: list[str] = []
    for line in raw_lines[1:]:
        if line[:1] in (" ", "\t") and logical:
            logical[-1] = logical[-1].rstrip() + " " + line.strip()  # §7.3.1: LWS folding
        elif line.strip():
            logical.append(line)
        if logical and len(logical[-1]) > MAX_LINE_BYTES:
            detail = f"a header line over {MAX_LINE_BYTES} bytes"
            raise SipParseError(too_large, "Message Too Large", detail, _lenient_headers(logical[:-1]))
    if len(logical) > MAX_HEADERS:
        detail = f"{len(logical)} headers > {MAX_HEADERS}"
        raise SipParseError(too_large, "Message Too Large", detail, _lenient_headers(logical))
    if "\x00" in text:
        clean = [line for line in logical if "\x00" not in line]
        raise SipParseError(status, "Bad Request", "NUL byte in the header section", _lenient_headers(clean))
    headers = Headers()
    for line in logical:
        match = _HEADER_NAME.match(line)
        if not match or not is_token(match.group(1)):
            detail = f"malformed header line {line[:60]!r}"
            raise SipParseError(status, "Bad Request", detail, _lenient_headers(logical))
        headers.add(match.group(1), match.group(2))
    if not start_line:
        raise SipParseError(400, "Bad Request", "empty start line", headers)
    return start_line, headers


def _lenient_headers(lines: list[str]) -> Headers:
    headers = Headers()
    for line in lines[:MAX_HEADERS]:
        match = _HEADER_NAME.match(line)
        if match and is_token(match.group(1)):
            headers.add(match.group(1), match.group(2))
    return headers


def _content_length(headers: Headers, start_line: str) -> int | None:
    values = headers.get_all("Content-Length")
    if not values:
        return None
    status: int | None = None if start_line.upper().startswith("SIP/") else 400
    if len(set(values)) > 1 or not values[0].isdigit():
        raise SipParseError(status, "Bad Request", f"bad Content-Length {values!r}", headers)
    return int(values[0])


def _build(start_line: str, headers: Headers, body: bytes) -> SipMessage:
    if start_line.upper().startswith("SIP/"):
        return _build_response(start_line, headers, body)
    return _build_request(start_line, headers, body)


def _build_response(start_line: str, headers: Headers, body: bytes) -> SipResponse:
    version, _, rest = start_line.partition(" ")
    status_text, _, reason = rest.partition(" ")
    if version.upper() != SIP_VERSION:
        raise SipParseError(None, "Version Not Supported", f"response version {version!r}", headers)
    if len(status_text) != 3 or not status_text.isdigit() or not 100 <= int(status_text) <= 699:
        raise SipParseError(None, "Bad Response", f"bad status code {status_text!r}", headers)
    _check_common(headers, None)
    return SipResponse(headers=headers, body=body, status=int(status_text), reason=reason.strip())


def _build_request(start_line: str, headers: Headers, body: bytes) -> SipRequest:
    parts = start_line.split()
    if len(parts) != 3:
        raise SipParseError(400, "Bad Request", f"bad request line {start_line[:80]!r}", headers)
    method, uri_text, version = parts
    if not is_token(method):
        raise SipParseError(400, "Bad Request", f"bad method {method[:40]!r}", headers)
    if not _VERSION.match(version):
        raise SipParseError(400, "Bad Request", f"bad SIP version {version[:40]!r}", headers)
    if version.upper() != SIP_VERSION:
        raise SipParseError(505, "Version Not Supported", f"request version {version}", headers)
    try:
        uri = parse_uri(uri_text)
    except UnsupportedUriScheme as exc:
        raise SipParseError(416, "Unsupported URI Scheme", str(exc), headers) from None
    except UriError as exc:
        status = 400 if uri_scheme(uri_text) in ("sip", "sips", None) else 416
        raise SipParseError(status, "Bad Request", str(exc), headers) from None
    cseq_method = _check_common(headers, 400)
    if cseq_method != method:
        raise SipParseError(400, "Bad Request", f"CSeq method {cseq_method} for a {method}", headers)
    return SipRequest(headers=headers, body=body, method=method, uri=uri)


def _check_common(headers: Headers, status: int | None) -> str:
    """Mandatory headers present, parseable and not duplicated; returns the CSeq method."""
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if name not in headers:
            raise SipParseError(status, "Bad Request", f"missing {name} header", headers)
    for name in _SINGLE_HEADERS:
        if len(set(headers.get_all(name))) > 1:
            raise SipParseError(status, "Bad Request", f"several different {name} headers", headers)
    try:
        parse_via(headers.values("Via")[0])
        parse_name_addr(headers.get("From") or "", "From")
        parse_name_addr(headers.get("To") or "", "To")
        method = parse_cseq(headers.get("CSeq") or "").method
    except (FieldError, IndexError) as exc:
        raise SipParseError(status, "Bad Request", str(exc), headers) from None
    max_forwards = headers.get("Max-Forwards")
    if max_forwards is not None and not max_forwards.isdigit():
        raise SipParseError(status, "Bad Request", f"bad Max-Forwards {max_forwards!r}", headers)
    if not (headers.get("Call-ID") or "").strip():
        raise SipParseError(status, "Bad Request", "empty Call-ID", headers)
    return method
