"""SIP messages as real peers send them, for the SIP tests: a trunk's INVITE with SDP and its follow-ups.

Addresses are documentation ranges (RFC 5737); helpers write CRLF line ends and a correct Content-Length
unless a test asks for a wrong one.
"""

from __future__ import annotations

TRUNK_HOST = "192.0.2.10"
TRUNK_PORT = 5060
OUR_HOST = "127.0.0.1"

TRUNK_SDP = (
    "v=0\r\n"
    "o=root 1891207612 1891207612 IN IP4 192.0.2.20\r\n"
    "s=Trunk\r\n"
    "c=IN IP4 192.0.2.20\r\n"
    "t=0 0\r\n"
    "m=audio 16044 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=maxptime:150\r\n"
    "a=sendrecv\r\n"
)


def message(start_line: str, headers: list[str], body: str = "", content_length: int | None = None) -> bytes:
    """A message with CRLF line ends; Content-Length is the body's unless one is forced."""
    length = len(body.encode()) if content_length is None else content_length
    head = "\r\n".join([start_line, *headers, f"Content-Length: {length}"])
    return (head + "\r\n\r\n" + body).encode()


def invite_headers(
    *,
    call_id: str = "3f2b9a1e5c7d4e8f@192.0.2.10",
    branch: str = "z9hG4bK0a1b2c3d",
    from_tag: str = "8877665",
    cseq: int = 101,
    host: str = TRUNK_HOST,
    port: int = TRUNK_PORT,
    to_tag: str | None = None,
    method: str = "INVITE",
    extra: list[str] | None = None,
) -> list[str]:
    to = f"<sip:clinic@{OUR_HOST}>" + (f";tag={to_tag}" if to_tag else "")
    return [
        f"Via: SIP/2.0/UDP {host}:{port};branch={branch};rport",
        "Max-Forwards: 69",
        f'From: "+15551234567" <sip:+15551234567@{host}>;tag={from_tag}',
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:+15551234567@{host}:{port};transport=udp>",
        "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY",
        "User-Agent: Trunk/1.0",
        *(extra or []),
    ]


def trunk_invite(
    sdp: str | None = TRUNK_SDP,
    user: str = "clinic",
    *,
    call_id: str = "3f2b9a1e5c7d4e8f@192.0.2.10",
    branch: str = "z9hG4bK0a1b2c3d",
    from_tag: str = "8877665",
    host: str = TRUNK_HOST,
    extra: list[str] | None = None,
) -> bytes:
    headers = invite_headers(call_id=call_id, branch=branch, from_tag=from_tag, host=host, extra=extra)
    start_line = f"INVITE sip:{user}@{OUR_HOST}:5060 SIP/2.0"
    if sdp is None:
        return message(start_line, headers)
    return message(start_line, [*headers, "Content-Type: application/sdp"], sdp)


def in_dialog(
    method: str,
    *,
    to_tag: str,
    cseq: int,
    branch: str,
    call_id: str = "3f2b9a1e5c7d4e8f@192.0.2.10",
    body: str = "",
    content_type: str | None = None,
    extra: list[str] | None = None,
    from_tag: str = "8877665",
) -> bytes:
    headers = invite_headers(
        call_id=call_id,
        branch=branch,
        cseq=cseq,
        to_tag=to_tag,
        method=method,
        extra=extra,
        from_tag=from_tag,
    )
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    return message(f"{method} sip:voicerouter@{OUR_HOST}:5060 SIP/2.0", headers, body)


def sdp_offer(
    *,
    address: str = "192.0.2.20",
    port: int = 16044,
    formats: str = "0 8 101",
    direction: str = "sendrecv",
    version: int = 1891207612,
) -> str:
    return (
        TRUNK_SDP.replace("c=IN IP4 192.0.2.20", f"c=IN IP4 {address}")
        .replace("m=audio 16044 RTP/AVP 0 8 101", f"m=audio {port} RTP/AVP {formats}")
        .replace("a=sendrecv", f"a={direction}")
        .replace("1891207612 1891207612", f"1891207612 {version}")
    )
