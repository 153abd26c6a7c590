"""SDP parsing/printing (RFC 4566) and offer/answer for G.711 phone calls (RFC 3264, RFC 4733)."""

from __future__ import annotations

import pytest

from tests.sip_corpus import TRUNK_SDP, sdp_offer
from voicerouter.media.sip.offer_answer import (
    PCMA,
    PCMU,
    Direction,
    LocalMedia,
    NoUsableMedia,
    accept_answer,
    answer_offer,
    make_offer,
)
from voicerouter.media.sip.sdp import SdpError, parse_sdp
from voicerouter.media.sip.transport import Address

LOCAL = LocalMedia("203.0.113.5", 7078, session_id="42")


def test_a_trunk_offer_parses_and_prints_back_identically() -> None:
    sdp = parse_sdp(TRUNK_SDP)
    assert sdp.origin.session_version == 1891207612 and sdp.connection is not None
    (audio,) = sdp.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        16044,
        "RTP/AVP",
        ["0", "8", "101"],
    )
    assert audio.rtpmap()["101"] == ("telephone-event", 8000, 1)
    assert audio.fmtp("101") == "0-16" and audio.attribute("ptime") == "20"
    assert sdp.to_text() == TRUNK_SDP


def test_lines_we_do_not_interpret_are_kept_in_rfc_order() -> None:
    text = (
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=call\ni=info\nu=http://example.com\nc=IN IP4 192.0.2.1\n"
        "b=AS:64\nt=0 0\na=tool:x\nm=audio 4000 RTP/AVP 0\ni=voice\nb=TIAS:64000\na=sendrecv\n"
    )
    sdp = parse_sdp(text)
    assert sdp.to_text() == text.replace("\n", "\r\n")
    assert parse_sdp(sdp.to_bytes()).to_text() == sdp.to_text()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("o=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\n", "line 1"),
        ("v=0\r\no=- 1 x IN IP4 1.2.3.4\r\ns=x\r\n", "line 2"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\nm=audio port RTP/AVP 0\r\n", "bad port"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\nm=audio 4000 RTP/AVP\r\n", "line 4"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\nc=IN IP9 1.2.3.4\r\n", "c= needs"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nnot a line\r\n", "line 3"),
        ("v=0\r\ns=x\r\n", "missing o="),
        (b"v=0\r\no=\xff\r\n", "UTF-8"),
    ],
)
def test_malformed_sdp_errors_name_the_line_and_the_problem(text: str | bytes, fragment: str) -> None:
    with pytest.raises(SdpError, match=fragment):
        parse_sdp(text)


def test_the_answer_takes_the_first_codec_of_the_callers_list() -> None:
    _, media = answer_offer(parse_sdp(sdp_offer(formats="8 0 101")), LOCAL)
    assert media.codec == PCMA
    answer, media = answer_offer(parse_sdp(sdp_offer(formats="0 8 101")), LOCAL)
    assert media.codec == PCMU and answer.media[0].formats == ["0", "101"]
    assert answer.origin.session_id == "42" and answer.connection is not None
    assert answer.connection.address == "203.0.113.5" and answer.media[0].port == 7078


def test_our_codec_list_limits_the_choice() -> None:
    _, media = answer_offer(
        parse_sdp(sdp_offer(formats="0 8 101")), LocalMedia("203.0.113.5", 7078, codecs=(PCMA,))
    )
    assert media.codec == PCMA


def test_a_dynamic_payload_type_mapped_to_pcmu_is_kept() -> None:
    offer = (
        sdp_offer(formats="96 97")
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:96 PCMU/8000")
        .replace(
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16",
            "a=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-15",
        )
    )
    answer, media = answer_offer(parse_sdp(offer), LOCAL)
    assert media.codec.payload_type == 96 and media.codec.name == "PCMU"
    assert media.telephone_event_pt == 97
    assert answer.media[0].formats == ["96", "97"] and answer.media[0].fmtp("97") == "0-15"


def test_no_telephone_event_is_answered_when_none_is_offered() -> None:
    answer, media = answer_offer(parse_sdp(sdp_offer(formats="0")), LOCAL)
    assert media.telephone_event_pt is None and answer.media[0].formats == ["0"]
    assert not answer.media[0].attribute_values("fmtp")


def test_extra_streams_are_rejected_with_port_zero_keeping_the_line_count() -> None:
    offer = TRUNK_SDP + "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 5002 RTP/AVP 0\r\n"
    answer, media = answer_offer(parse_sdp(offer), LOCAL)
    assert [(m.media, m.port) for m in answer.media] == [("audio", 7078), ("video", 0), ("audio", 0)]
    assert media.remote_rtp == Address("192.0.2.20", 16044)


@pytest.mark.parametrize(
    "offer",
    [
        sdp_offer(formats="18"),
        sdp_offer().replace("RTP/AVP", "RTP/SAVP"),
        sdp_offer().replace("m=audio 16044", "m=audio 0"),
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n",
    ],
    ids=["g729 only", "srtp only", "audio disabled", "no media"],
)
def test_offers_with_nothing_usable_are_488(offer: str) -> None:
    with pytest.raises(NoUsableMedia) as caught:
        answer_offer(parse_sdp(offer), LOCAL)
    assert caught.value.status == 488


def test_media_level_connection_and_rtcp_attribute_win() -> None:
    offer = sdp_offer().replace("a=ptime:20", "c=IN IP4 198.51.100.9\r\na=rtcp:16100\r\na=ptime:30")
    _, media = answer_offer(parse_sdp(offer), LOCAL)
    assert media.remote_rtp == Address("198.51.100.9", 16044)
    assert media.remote_rtcp == Address("198.51.100.9", 16100)
    assert media.ptime_ms == 30


def test_without_rtcp_attribute_rtcp_goes_to_the_next_port_and_odd_ptimes_fall_back() -> None:
    _, media = answer_offer(parse_sdp(sdp_offer().replace("a=ptime:20", "a=ptime:25")), LOCAL)
    assert media.remote_rtcp == Address("192.0.2.20", 16045) and media.ptime_ms == 20


def test_an_audio_stream_without_any_connection_address_is_an_error() -> None:
    with pytest.raises(SdpError, match="no c= line"):
        answer_offer(parse_sdp(sdp_offer().replace("c=IN IP4 192.0.2.20\r\n", "")), LOCAL)


@pytest.mark.parametrize(
    ("offered", "ours", "on_hold"),
    [
        ("sendrecv", Direction.SENDRECV, False),
        ("sendonly", Direction.RECVONLY, True),
        ("recvonly", Direction.SENDONLY, False),
        ("inactive", Direction.INACTIVE, True),
    ],
)
def test_directions_are_mirrored_and_hold_is_detected(offered: str, ours: Direction, on_hold: bool) -> None:
    answer, media = answer_offer(parse_sdp(sdp_offer(direction=offered)), LOCAL)
    assert media.direction is ours and media.on_hold is on_hold
    assert answer.media[0].attribute(ours.value) is not None


def test_a_session_level_direction_applies_when_the_stream_has_none() -> None:
    offer = sdp_offer().replace("a=sendrecv\r\n", "").replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")
    _, media = answer_offer(parse_sdp(offer), LOCAL)
    assert media.direction is Direction.RECVONLY and media.on_hold


def test_the_zero_address_means_hold_and_we_stop_sending() -> None:
    _, media = answer_offer(parse_sdp(sdp_offer(address="0.0.0.0")), LOCAL)
    assert media.on_hold and media.direction is Direction.RECVONLY


def test_ipv6_offers_are_answered_from_an_ipv6_address() -> None:
    offer = sdp_offer().replace("IN IP4 192.0.2.20", "IN IP6 2001:db8::20")
    answer, media = answer_offer(parse_sdp(offer), LocalMedia("2001:db8::5", 7078))
    assert media.remote_rtp == Address("2001:db8::20", 16044)
    assert answer.connection is not None and answer.connection.addrtype == "IP6"


def test_our_offer_and_the_answer_to_it_settle_the_media() -> None:
    offer = make_offer(LOCAL)
    assert offer.media[0].formats == ["0", "8", "101"]
    answer = parse_sdp(sdp_offer(formats="8 101", port=22_000))
    media = accept_answer(answer, LOCAL)
    assert media.codec == PCMA and media.remote_rtp.port == 22_000 and media.telephone_event_pt == 101
    with pytest.raises(NoUsableMedia):
        accept_answer(parse_sdp(sdp_offer(formats="18")), LOCAL)
