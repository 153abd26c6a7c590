"""SIP message parsing and printing: a corpus of real-looking messages, TCP framing, and malformed input."""

from __future__ import annotations

import pytest

from tests.sip_corpus import TRUNK_SDP, invite_headers, message, trunk_invite
from voicerouter.media.sip.fields import FieldError, parse_name_addr, parse_via
from voicerouter.media.sip.headers import Headers
from voicerouter.media.sip.message import SipRequest, SipResponse, make_response
from voicerouter.media.sip.parser import (
    MAX_HEADERS,
    SipParseError,
    SipStreamParser,
    StreamBroken,
    parse_datagram,
)
from voicerouter.media.sip.uri import UnsupportedUriScheme, UriError, parse_uri


def _request(data: bytes) -> SipRequest:
    parsed = parse_datagram(data)
    assert isinstance(parsed, SipRequest)
    return parsed


def test_trunk_invite_parses_into_its_parts() -> None:
    request = _request(trunk_invite())
    assert request.method == "INVITE"
    assert (request.uri.user, request.uri.host, request.uri.port) == ("clinic", "127.0.0.1", 5060)
    via = request.top_via
    assert (via.transport, via.host, via.port, via.branch) == ("UDP", "192.0.2.10", 5060, "z9hG4bK0a1b2c3d")
    assert "rport" in via.params and via.params.get("rport") is None
    assert request.from_addr.display_name == "+15551234567"
    assert request.from_addr.tag == "8877665"
    assert request.to_addr.tag is None
    assert request.call_id == "3f2b9a1e5c7d4e8f@192.0.2.10"
    assert (request.cseq.number, request.cseq.method) == (101, "INVITE")
    assert request.contact is not None and request.contact.sip_uri().transport == "UDP"
    assert request.content_type == "application/sdp"
    assert request.body == TRUNK_SDP.encode()


def test_compact_header_forms_expand_to_their_full_names() -> None:
    data = message(
        "INVITE sip:clinic@127.0.0.1 SIP/2.0",
        [
            "v: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcompact",
            "f: <sip:alice@192.0.2.10>;tag=a1",
            "t: <sip:clinic@127.0.0.1>",
            "i: compact-1@192.0.2.10",
            "CSeq: 1 INVITE",
            "m: <sip:alice@192.0.2.10>",
            "k: timer",
            "s: hello",
            "e: gzip",
            "c: application/sdp",
        ],
        TRUNK_SDP,
    ).replace(b"Content-Length:", b"l:")
    request = _request(data)
    names = [name for name, _ in request.headers]
    assert names == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Supported",
        "Subject",
        "Content-Encoding",
        "Content-Type",
        "Content-Length",
    ]
    assert request.call_id == "compact-1@192.0.2.10"
    assert request.headers.get("SUPPORTED") == "timer"
    assert request.body == TRUNK_SDP.encode()
    assert b"\r\nVia: SIP/2.0/UDP" in request.to_bytes() and b"\r\nv:" not in request.to_bytes()


def test_folded_header_lines_are_joined_with_one_space() -> None:
    headers = invite_headers()
    headers.append("Subject: the quick\r\n  brown fox\r\n\tjumps")
    headers[0] = "Via: SIP/2.0/UDP 192.0.2.10:5060\r\n ;branch=z9hG4bKfolded"
    request = _request(
        message("OPTIONS sip:clinic@127.0.0.1 SIP/2.0", headers).replace(b"101 INVITE", b"1 OPTIONS")
    )
    assert request.headers.get("Subject") == "the quick brown fox jumps"
    assert request.top_via.branch == "z9hG4bKfolded"


def test_several_via_headers_and_comma_separated_values_keep_their_order() -> None:
    headers = invite_headers()
    headers[0:1] = [
        "Via: SIP/2.0/UDP proxy1.example.com:5060;branch=z9hG4bKp1, "
        "SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKp2",
        "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKuac;received=198.51.100.7",
    ]
    request = _request(message("INVITE sip:clinic@127.0.0.1 SIP/2.0", headers))
    vias = request.vias
    assert [v.branch for v in vias] == ["z9hG4bKp1", "z9hG4bKp2", "z9hG4bKuac"]
    assert (vias[1].transport, vias[1].host, vias[1].port) == ("TCP", "2001:db8::1", 5070)
    assert vias[2].params.get("received") == "198.51.100.7"
    response = make_response(request, 200)
    assert response.headers.get_all("Via") == request.headers.get_all("Via")


@pytest.mark.parametrize(
    ("text", "display", "uri", "tag"),
    [
        (
            '"Alice Smith" <sip:alice@example.com;transport=tcp>;tag=x9',
            "Alice Smith",
            "sip:alice@example.com;transport=tcp",
            "x9",
        ),
        ("Bob <sip:bob@example.com>;tag=77", "Bob", "sip:bob@example.com", "77"),
        ("<sip:+15551234567@192.0.2.1;user=phone>", None, "sip:+15551234567@192.0.2.1;user=phone", None),
        ("sip:carol@example.com;tag=abc", None, "sip:carol@example.com", "abc"),
        (
            r'"Dave \"the\" Dude" <sips:dave@example.com>;tag=q',
            'Dave "the" Dude',
            "sips:dave@example.com",
            "q",
        ),
        ("<tel:+15551234567>;tag=t1", None, "tel:+15551234567", "t1"),
    ],
)
def test_name_addr_forms_parse_and_print_back_the_same(
    text: str, display: str | None, uri: str, tag: str | None
) -> None:
    parsed = parse_name_addr(text)
    assert (parsed.display_name, parsed.uri, parsed.tag) == (display, uri, tag)
    assert parse_name_addr(str(parsed)) == parsed


def test_addr_spec_parameters_belong_to_the_header_not_the_uri() -> None:
    contact = parse_name_addr("sip:alice@192.0.2.1:5080;expires=60")
    assert contact.params.get("expires") == "60"
    assert "expires" not in contact.sip_uri().params


def test_sip_uris_parse_user_password_ipv6_params_and_headers() -> None:
    uri = parse_uri("sips:alice:secret@[2001:db8::10]:5061;transport=tls;lr?subject=hi&priority=urgent")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips",
        "alice",
        "secret",
        "2001:db8::10",
        5061,
    )
    assert uri.transport == "TLS" and "lr" in uri.params
    assert uri.headers == "subject=hi&priority=urgent"
    assert parse_uri(str(uri)) == uri
    with pytest.raises(UnsupportedUriScheme):
        parse_uri("tel:+15551234567")
    for bad in ("sip:", "sip:alice@", "sip:host:99999", "sip:bad host", "nocolon"):
        with pytest.raises(UriError):
            parse_uri(bad)


def test_a_via_without_sent_by_is_a_field_error() -> None:
    with pytest.raises(FieldError):
        parse_via("SIP/2.0/UDP ;branch=z9hG4bKx")


def test_serialising_is_canonical_and_round_trips() -> None:
    original = _request(trunk_invite())
    again = _request(original.to_bytes())
    assert again == original
    response = make_response(original, 180, to_tag="srv1")
    parsed = parse_datagram(response.to_bytes())
    assert isinstance(parsed, SipResponse)
    assert parsed.to_bytes() == response.to_bytes()
    assert (parsed.status, parsed.reason, parsed.body) == (180, "Ringing", b"")
    assert parsed.to_addr.tag == "srv1"
    assert parsed.to_bytes().startswith(b"SIP/2.0 180 Ringing\r\n")


def test_content_length_is_rewritten_from_the_body_when_printing() -> None:
    request = _request(trunk_invite())
    request.body = b"v=0\r\n"
    assert b"Content-Length: 5\r\n" in request.to_bytes()
    bare = SipRequest(method="OPTIONS", uri=parse_uri("sip:a@b"), headers=Headers([("Call-ID", "x")]))
    assert bare.to_bytes().endswith(b"Content-Length: 0\r\n\r\n")


def test_udp_body_bytes_beyond_content_length_are_discarded() -> None:
    data = trunk_invite() + b"trailing junk"
    assert _request(data).body == TRUNK_SDP.encode()


def test_udp_message_without_content_length_takes_the_rest_as_body() -> None:
    data = trunk_invite().replace(f"Content-Length: {len(TRUNK_SDP)}\r\n".encode(), b"")
    assert _request(data).body == TRUNK_SDP.encode()


def test_crlf_keepalive_datagrams_are_not_messages() -> None:
    assert parse_datagram(b"\r\n\r\n") is None
    assert parse_datagram(b"\r\n") is None


def test_stream_parser_splits_pipelined_messages() -> None:
    first = trunk_invite()
    second = message("OPTIONS sip:clinic@127.0.0.1 SIP/2.0", invite_headers(cseq=7, method="OPTIONS"))
    parser = SipStreamParser()
    items = parser.feed(first + second)
    assert [type(i).__name__ for i in items] == ["SipRequest", "SipRequest"]
    assert [i.method for i in items if isinstance(i, SipRequest)] == ["INVITE", "OPTIONS"]
    assert parser.buffered_bytes == 0


def test_stream_parser_reassembles_messages_fed_byte_by_byte() -> None:
    data = trunk_invite() + b"\r\n\r\n" + trunk_invite(call_id="second@192.0.2.10")
    parser = SipStreamParser()
    messages = []
    for i in range(len(data)):
        messages += parser.feed(data[i : i + 1])
    assert [m.call_id for m in messages if isinstance(m, SipRequest)] == [
        "3f2b9a1e5c7d4e8f@192.0.2.10",
        "second@192.0.2.10",
    ]
    assert all(m.body == TRUNK_SDP.encode() for m in messages if isinstance(m, SipRequest))
    assert parser.keepalives == 1


def test_stream_parser_answers_a_bad_but_framed_message_and_carries_on() -> None:
    bad = message("INVITE sip:clinic@127.0.0.1 SIP/3.0", invite_headers())
    parser = SipStreamParser()
    items = parser.feed(bad + trunk_invite())
    assert isinstance(items[0], SipParseError) and items[0].status == 505 and not items[0].fatal
    assert isinstance(items[1], SipRequest)


def test_stream_parser_breaks_on_a_header_section_that_never_ends() -> None:
    parser = SipStreamParser(max_message_bytes=4096)
    items = parser.feed(b"INVITE sip:a@b SIP/2.0\r\nSubject: " + b"x" * 5000)
    assert len(items) == 1 and isinstance(items[0], SipParseError)
    assert items[0].fatal and items[0].status == 513
    with pytest.raises(StreamBroken):
        parser.feed(b"\r\n\r\n")


def test_stream_parser_refuses_a_body_larger_than_the_limit_with_413() -> None:
    parser = SipStreamParser()
    items = parser.feed(
        message("INVITE sip:clinic@127.0.0.1 SIP/2.0", invite_headers(), content_length=70_000)
    )
    assert isinstance(items[0], SipParseError) and (items[0].status, items[0].fatal) == (413, True)
    response = items[0].response()
    assert response is not None and response.status == 413


def test_stream_parser_breaks_on_an_unreadable_content_length() -> None:
    data = message("INVITE sip:clinic@127.0.0.1 SIP/2.0", invite_headers()).replace(
        b"Content-Length: 0", b"Content-Length: ten"
    )
    items = SipStreamParser().feed(data)
    assert isinstance(items[0], SipParseError) and (items[0].status, items[0].fatal) == (400, True)


_INVITE_LINE = "INVITE sip:clinic@127.0.0.1 SIP/2.0"


def _headers_without(name: str) -> list[str]:
    return [h for h in invite_headers() if not h.startswith(f"{name}:")]


MALFORMED: list[tuple[str, bytes, int | None]] = [
    ("header section cut before Call-ID", trunk_invite()[:180], None),
    (
        "header section cut after the mandatory headers",
        trunk_invite()[: trunk_invite().index(b"Contact:") + 12],
        400,
    ),
    (
        "content-length longer than the body",
        message(_INVITE_LINE, invite_headers(), "v=0\r\n", content_length=500),
        400,
    ),
    (
        "content-length not a number",
        message(_INVITE_LINE, invite_headers()).replace(b"Content-Length: 0", b"Content-Length: -4"),
        400,
    ),
    ("two different content-lengths", message(_INVITE_LINE, [*invite_headers(), "Content-Length: 9"]), 400),
    (
        "method with illegal characters",
        message("INV@ITE sip:clinic@127.0.0.1 SIP/2.0", invite_headers()),
        400,
    ),
    ("request line without version", message("INVITE sip:clinic@127.0.0.1", invite_headers()), 400),
    (
        "request line with extra words",
        message("INVITE sip:clinic@127.0.0.1 SIP/2.0 extra", invite_headers()),
        400,
    ),
    ("garbage version", message("INVITE sip:clinic@127.0.0.1 HTTP/1.1", invite_headers()), 400),
    ("unsupported SIP version", message("INVITE sip:clinic@127.0.0.1 SIP/3.0", invite_headers()), 505),
    ("tel request-uri", message("INVITE tel:+15551234567 SIP/2.0", invite_headers()), 416),
    ("http request-uri", message("INVITE http://example.com/ SIP/2.0", invite_headers()), 416),
    ("sip uri without host", message("INVITE sip: SIP/2.0", invite_headers()), 400),
    ("missing Call-ID (cannot be answered)", message(_INVITE_LINE, _headers_without("Call-ID")), None),
    ("missing To", message(_INVITE_LINE, _headers_without("To")), None),
    ("unparseable From", message(_INVITE_LINE, invite_headers()).replace(b'4567" <sip:', b'4567" sip:'), 400),
    ("missing Via (cannot be answered)", message(_INVITE_LINE, _headers_without("Via")), None),
    ("CSeq method differs from the request", message(_INVITE_LINE, invite_headers(method="BYE")), 400),
    (
        "CSeq not a number (cannot be matched)",
        message(_INVITE_LINE, invite_headers()).replace(b"CSeq: 101", b"CSeq: abc"),
        None,
    ),
    (
        "Via without a host (cannot be routed)",
        message(_INVITE_LINE, invite_headers()).replace(b"UDP 192.0.2.10:5060", b"UDP "),
        None,
    ),
    ("two different Call-IDs", message(_INVITE_LINE, [*invite_headers(), "Call-ID: other@x"]), 400),
    ("header line without a colon", message(_INVITE_LINE, [*invite_headers(), "NoColonHere"]), 400),
    ("NUL byte in a header", message(_INVITE_LINE, [*invite_headers(), "Subject: a\x00b"]), 400),
    ("huge header line", message(_INVITE_LINE, [*invite_headers(), "Subject: " + "x" * 10_000]), 513),
    (
        "too many headers",
        message(_INVITE_LINE, [*invite_headers(), *[f"X-H{i}: v" for i in range(MAX_HEADERS)]]),
        513,
    ),
    ("datagram over 64 KiB", message(_INVITE_LINE, invite_headers(), "a" * 70_000), 513),
    ("response with a bad status code", message("SIP/2.0 99 Odd", invite_headers()), None),
    ("response without Call-ID", message("SIP/2.0 200 OK", _headers_without("Call-ID")), None),
    ("response claiming another version", message("SIP/1.0 200 OK", invite_headers()), None),
    ("binary garbage", bytes(range(1, 256)) * 4, None),
]


@pytest.mark.parametrize(("name", "data", "answer"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_messages_map_to_the_right_answer_or_a_drop(
    name: str, data: bytes, answer: int | None
) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_datagram(data)
    response = caught.value.response()
    assert (response.status if response else None) == answer, caught.value
    if response is not None:
        assert response.call_id and response.headers.get("CSeq") and response.headers.get_all("Via")


def test_an_unknown_method_still_parses_as_an_extension_method() -> None:
    request = _request(
        message("FROBNICATE sip:clinic@127.0.0.1 SIP/2.0", invite_headers(method="FROBNICATE"))
    )
    assert request.method == "FROBNICATE"
