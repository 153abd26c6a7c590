"""The user agent's call flows on a virtual clock: answer, hang up either side, CANCEL, 2xx until ACK, 481."""

from __future__ import annotations

import pytest

from tests.sip_corpus import TRUNK_SDP, in_dialog, invite_headers, message, sdp_offer, trunk_invite
from tests.sip_harness import TRUNK, TRUNK_NETWORK, Harness
from voicerouter.media.sip.call import TRANSITIONS, CallState, CallTrigger, IllegalCallTransition
from voicerouter.media.sip.call_control import UnknownCall
from voicerouter.media.sip.message import SipRequest, SipResponse
from voicerouter.media.sip.offer_answer import PCMA, Direction, LocalMedia
from voicerouter.media.sip.parser import SipStreamParser
from voicerouter.media.sip.sdp import parse_sdp
from voicerouter.media.sip.transport import Address, Transport
from voicerouter.media.sip.ua_events import (
    CallEnded,
    CallEstablished,
    EndReason,
    IncomingCall,
    MessageRejected,
)
from voicerouter.media.sip.ua_support import UserAgentConfig

CALL_ID = "3f2b9a1e5c7d4e8f@192.0.2.10"
LOCAL = LocalMedia("127.0.0.1", 7078)


def _incoming(h: Harness, data: bytes | None = None) -> IncomingCall:
    h.send(data or trunk_invite())
    events = h.events()
    assert len(events) == 1 and isinstance(events[0], IncomingCall), events
    return events[0]


def _answered(h: Harness) -> SipResponse:
    """INVITE, 180, 200: returns the 200 OK."""
    _incoming(h)
    h.ua.ring(CALL_ID, h.now_ms)
    h.ua.accept(CALL_ID, LOCAL, h.now_ms)
    ringing, ok = h.responses()
    assert (ringing.status, ok.status) == (180, 200)
    return ok


def _ack(to_tag: str, cseq: int = 101, branch: str = "z9hG4bKack1", body: str = "") -> bytes:
    content_type = "application/sdp" if body else None
    return in_dialog("ACK", to_tag=to_tag, cseq=cseq, branch=branch, body=body, content_type=content_type)


def _confirmed(h: Harness) -> str:
    """An established call; returns our To tag."""
    ok = _answered(h)
    tag = ok.to_addr.tag
    assert tag is not None
    h.send(_ack(tag))
    assert [type(e) for e in h.events()] == [CallEstablished]
    return tag


def test_invite_is_offered_to_the_application_with_the_dialled_user_and_the_offer() -> None:
    h = Harness()
    call = _incoming(h)
    assert (call.call_id, call.user, call.source) == (CALL_ID, "clinic", TRUNK)
    assert call.caller == '"+15551234567" <sip:+15551234567@192.0.2.10>'
    assert call.offer is not None and call.offer.media[0].port == 16044
    trying = h.advance(300)
    assert [(t, m.status) for t, m in trying if isinstance(m, SipResponse)] == [(200, 100)]


def test_ringing_and_ok_carry_our_tag_contact_and_an_sdp_answer() -> None:
    h = Harness()
    h.send(trunk_invite(extra=["Record-Route: <sip:192.0.2.10;lr>"]))
    h.events()
    h.ua.ring(CALL_ID, 0)
    media = h.ua.accept(CALL_ID, LOCAL, 0)
    ringing, ok = h.responses()
    assert ringing.to_addr.tag == ok.to_addr.tag is not None
    assert ok.headers.get("Contact") == "<sip:voicerouter@127.0.0.1:5060>"
    assert ok.headers.get_all("Record-Route") == ["<sip:192.0.2.10;lr>"]
    assert "INVITE" in (ok.headers.get("Allow") or "")
    answer = parse_sdp(ok.body)
    assert answer.media[0].formats == ["0", "101"] and answer.media[0].port == 7078
    assert media is not None and media.codec.name == "PCMU" and media.remote_rtp == ("192.0.2.20", 16044)


def test_the_200_ok_is_retransmitted_until_the_ack_arrives() -> None:
    h = Harness()
    ok = _answered(h)
    resent = h.advance(4_000)
    assert [t for t, m in resent if isinstance(m, SipResponse) and m.status == 200] == [500, 1_500, 3_500]
    assert all(m.to_bytes() == ok.to_bytes() for _, m in resent)
    assert ok.to_addr.tag is not None
    h.send(_ack(ok.to_addr.tag))
    (established,) = h.events()
    assert isinstance(established, CallEstablished) and established.media.codec.name == "PCMU"
    assert h.advance(20_000) == []
    assert h.ua.call(CALL_ID).state is CallState.CONFIRMED


def test_no_ack_for_64_t1_ends_the_call_with_a_bye() -> None:
    h = Harness()
    _answered(h)
    sent = h.advance(33_000)
    byes = [(t, m) for t, m in sent if isinstance(m, SipRequest)]
    assert [t for t, _ in byes] == [32_000, 32_500]  # the BYE, then its own Timer E retransmission
    assert {m.method for _, m in byes} == {"BYE"} and len({m.top_via.branch for _, m in byes}) == 1
    assert max(t for t, m in sent if isinstance(m, SipResponse)) < 32_000
    assert [e for e in h.events() if isinstance(e, CallEnded)] == [CallEnded(CALL_ID, EndReason.ACK_TIMEOUT)]


def test_remote_bye_ends_the_call_and_releases_everything() -> None:
    h = Harness()
    tag = _confirmed(h)
    h.send(in_dialog("BYE", to_tag=tag, cseq=102, branch="z9hG4bKbye1"))
    (ok,) = h.responses()
    assert (ok.status, ok.cseq.method) == (200, "BYE")
    assert h.events() == [CallEnded(CALL_ID, EndReason.REMOTE_BYE)]
    counts = h.ua.counts()
    assert (counts.calls, counts.dialogs) == (0, 0)
    h.settle()
    assert h.ua.counts().transactions == 0


def test_local_hangup_sends_a_routed_bye_and_releases_the_call_on_its_200() -> None:
    h = Harness()
    h.send(trunk_invite(extra=["Record-Route: <sip:proxy.example.com;lr>"]))
    h.events()
    h.ua.accept(CALL_ID, LOCAL, 0)
    (ok,) = h.responses()
    assert ok.to_addr.tag is not None
    h.send(_ack(ok.to_addr.tag))
    h.events()
    h.ua.hangup(CALL_ID, 10)
    (bye,) = h.requests()
    assert bye.method == "BYE" and str(bye.uri) == "sip:+15551234567@192.0.2.10:5060;transport=udp"
    assert bye.headers.get_all("Route") == ["<sip:proxy.example.com;lr>"]
    assert bye.from_addr.tag == ok.to_addr.tag and bye.to_addr.tag == "8877665"
    assert bye.cseq.method == "BYE" and bye.call_id == CALL_ID
    assert h.events() == [CallEnded(CALL_ID, EndReason.LOCAL_BYE)]
    reply = SipResponse(headers=bye.headers.copy(), status=200, reason="OK")
    h.send(reply.to_bytes())
    assert h.ua.counts().calls == 0


def test_hangup_before_the_ack_waits_for_it_then_sends_bye() -> None:
    h = Harness()
    ok = _answered(h)
    h.ua.hangup(CALL_ID, 100)
    assert h.requests() == []
    assert ok.to_addr.tag is not None
    h.send(_ack(ok.to_addr.tag), at_ms=200)
    assert [m.method for m in h.requests()] == ["BYE"]
    assert [type(e) for e in h.events()] == [CallEstablished, CallEnded]


def test_cancel_before_answer_gets_200_and_the_invite_487() -> None:
    h = Harness()
    _incoming(h)
    h.ua.ring(CALL_ID, 0)
    h.responses()
    h.send(message("CANCEL sip:clinic@127.0.0.1:5060 SIP/2.0", invite_headers(method="CANCEL")), at_ms=1_000)
    cancel_ok, terminated = h.responses()
    assert (cancel_ok.status, cancel_ok.cseq.method) == (200, "CANCEL")
    assert (terminated.status, terminated.cseq.method) == (487, "INVITE")
    assert h.events() == [CallEnded(CALL_ID, EndReason.CANCELLED, 487)]
    assert terminated.to_addr.tag is not None
    h.send(_ack(terminated.to_addr.tag, branch="z9hG4bK0a1b2c3d"))  # the ACK of the 487 ends its transaction
    h.settle()
    assert h.ua.counts() == type(h.ua.counts())(0, 0, 0, 0)


def test_cancel_after_the_answer_changes_nothing() -> None:
    h = Harness()
    _answered(h)
    h.send(message("CANCEL sip:clinic@127.0.0.1:5060 SIP/2.0", invite_headers(method="CANCEL")))
    (ok,) = h.responses()
    assert (ok.status, ok.cseq.method) == (200, "CANCEL")
    assert h.events() == [] and h.ua.call(CALL_ID).state is CallState.ANSWERED


def test_cancel_matching_no_invite_gets_481() -> None:
    h = Harness()
    h.send(message("CANCEL sip:clinic@127.0.0.1:5060 SIP/2.0", invite_headers(method="CANCEL")))
    assert [r.status for r in h.responses()] == [481]


@pytest.mark.parametrize("status", [404, 403, 486, 503])
def test_the_application_can_reject_with_any_final_status(status: int) -> None:
    h = Harness()
    _incoming(h)
    h.ua.reject(CALL_ID, status, 0, retry_after_s=30 if status == 503 else None)
    (response,) = h.responses()
    assert response.status == status and response.to_addr.tag is not None
    assert (response.headers.get("Retry-After") is not None) == (status == 503)
    assert h.events() == [CallEnded(CALL_ID, EndReason.REJECTED, status)]
    with pytest.raises(UnknownCall):
        h.ua.accept(CALL_ID, LOCAL, 1)


def test_decisions_out_of_order_are_named_errors() -> None:
    h = Harness()
    _answered(h)
    with pytest.raises(IllegalCallTransition):
        h.ua.ring(CALL_ID, 1)
    with pytest.raises(IllegalCallTransition):
        h.ua.transfer(CALL_ID, "sip:desk@192.0.2.50", 1)  # not before the ACK
    with pytest.raises(UnknownCall):
        h.ua.hangup("no-such-call", 1)


def test_the_call_state_table_refuses_every_pair_it_does_not_list() -> None:
    from voicerouter.media.sip.call import SipCall

    h = Harness()
    _incoming(h)
    call: SipCall = h.ua.call(CALL_ID)
    for state in CallState:
        for trigger in CallTrigger:
            call.state = state
            if (state, trigger) in TRANSITIONS:
                assert call.fire(trigger) is TRANSITIONS[(state, trigger)]
            else:
                with pytest.raises(IllegalCallTransition):
                    call.fire(trigger)


def test_invites_from_outside_the_allowed_networks_get_403_and_are_logged() -> None:
    h = Harness()
    stranger = Address("203.0.113.66", 5060)
    h.send(trunk_invite(host="203.0.113.66"), source=stranger)
    (response,) = h.responses()
    assert response.status == 403
    (logged,) = h.events()
    assert isinstance(logged, MessageRejected) and logged.source == stranger and logged.status == 403


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("v=0\r\nthis is not sdp\r\n", "application/sdp", 400),
        (
            TRUNK_SDP.replace("m=audio 16044 RTP/AVP 0 8 101", "m=audio 16044 RTP/AVP 18"),
            "application/sdp",
            488,
        ),
        (
            TRUNK_SDP.replace("o=root", "o=").replace(" IN IP4 192.0.2.20\r\ns", "\r\ns"),
            "application/sdp",
            400,
        ),
        ("hello", "text/plain", 415),
    ],
    ids=["garbage sdp", "only G.729 offered", "bad origin line", "not sdp at all"],
)
def test_bad_or_unusable_offers_are_refused_before_a_call_exists(
    body: str, content_type: str, status: int
) -> None:
    h = Harness()
    headers = [*invite_headers(), f"Content-Type: {content_type}"]
    h.send(message("INVITE sip:clinic@127.0.0.1:5060 SIP/2.0", headers, body))
    (response,) = h.responses()
    assert response.status == status
    assert [type(e) for e in h.events()] == [MessageRejected]
    assert h.ua.counts().calls == 0


def test_a_too_short_content_length_truncates_the_sdp_and_gets_400() -> None:
    h = Harness()
    cut = TRUNK_SDP.index("m=audio") + len("m=audio 16")  # the body now ends inside the m= line
    h.send(
        trunk_invite().replace(
            f"Content-Length: {len(TRUNK_SDP)}".encode(), f"Content-Length: {cut}".encode()
        )
    )
    assert [r.status for r in h.responses()] == [400]
    h.send(
        trunk_invite(call_id="other@192.0.2.10", branch="z9hG4bKother").replace(
            f"Content-Length: {len(TRUNK_SDP)}".encode(), b"Content-Length: 60"
        )
    )
    assert [r.status for r in h.responses()] == [488]  # cut before any m= line: valid SDP, but no audio


def test_malformed_datagrams_are_answered_from_what_parsed_and_logged_with_their_source() -> None:
    h = Harness()
    bad = message("INVITE sip:clinic@127.0.0.1:5060 SIP/3.0", invite_headers())
    h.send(bad)
    (response,) = h.responses()
    assert response.status == 505 and response.call_id == CALL_ID
    (logged,) = h.events()
    assert isinstance(logged, MessageRejected) and logged.source == TRUNK
    h.send(b"SIP/2.0 200 OK\r\nbroken\r\n\r\n")  # a bad response: dropped, only logged
    assert h.sent() == [] and len(h.events()) == 1
    h.send(trunk_invite())
    assert [type(e) for e in h.events()] == [IncomingCall]  # still serving


def test_options_out_of_a_dialog_lists_what_we_allow_and_accept() -> None:
    h = Harness()
    h.send(
        message("OPTIONS sip:clinic@127.0.0.1 SIP/2.0", invite_headers(method="OPTIONS", branch="z9hG4bKopt"))
    )
    (ok,) = h.responses()
    assert ok.status == 200
    assert ok.headers.get("Allow") == "INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY"
    assert ok.headers.get("Accept") == "application/sdp"


@pytest.mark.parametrize(
    ("method", "to_tag", "status"),
    [
        ("BYE", None, 481),
        ("BYE", "nosuchtag", 481),
        ("INFO", "nosuchtag", 481),
        ("FROBNICATE", None, 501),
        ("MESSAGE", None, 405),
        ("SUBSCRIBE", None, 405),
        ("NOTIFY", None, 481),
    ],
)
def test_requests_that_match_nothing_get_the_rfc_status(method: str, to_tag: str | None, status: int) -> None:
    h = Harness()
    headers = invite_headers(method=method, branch=f"z9hG4bK{method}", to_tag=to_tag)
    h.send(message(f"{method} sip:clinic@127.0.0.1 SIP/2.0", headers))
    (response,) = h.responses()
    assert response.status == status
    if status == 405:
        assert response.headers.get("Allow")


def test_a_required_extension_we_do_not_support_gets_420_naming_it() -> None:
    h = Harness()
    h.send(trunk_invite(extra=["Require: 100rel, timer"]))
    (response,) = h.responses()
    assert response.status == 420 and response.headers.get("Unsupported") == "100rel, timer"


def test_an_out_of_order_cseq_in_a_dialog_gets_500() -> None:
    h = Harness()
    tag = _confirmed(h)
    h.send(in_dialog("OPTIONS", to_tag=tag, cseq=50, branch="z9hG4bKold"))
    (response,) = h.responses()
    assert response.status == 500


def test_late_offer_puts_our_offer_in_the_200_and_takes_the_answer_from_the_ack() -> None:
    h = Harness()
    call = _incoming(h, trunk_invite(sdp=None))
    assert call.offer is None
    assert h.ua.accept(CALL_ID, LocalMedia("127.0.0.1", 7078, codecs=(PCMA,)), 0) is None
    (ok,) = h.responses()
    offer = parse_sdp(ok.body)
    assert offer.media[0].formats == ["8", "101"]
    answer = sdp_offer(formats="8 101", port=30_000)
    assert ok.to_addr.tag is not None
    h.send(_ack(ok.to_addr.tag, body=answer))
    (established,) = h.events()
    assert isinstance(established, CallEstablished)
    assert established.media.codec == PCMA and established.media.remote_rtp.port == 30_000
    assert established.media.direction is Direction.SENDRECV


def test_twenty_back_to_back_calls_leave_no_call_dialog_or_transaction_behind() -> None:
    h = Harness()
    ended: list[CallEnded] = []
    for n in range(20):
        call_id = f"call-{n}@192.0.2.10"
        h.send(trunk_invite(call_id=call_id, branch=f"z9hG4bKinv{n}", from_tag=f"f{n}"))
        ended += [e for e in h.events() if isinstance(e, CallEnded)]
        h.ua.ring(call_id, h.now_ms)
        if n % 4 == 3:
            h.send(
                message(
                    "CANCEL sip:clinic@127.0.0.1:5060 SIP/2.0",
                    invite_headers(
                        method="CANCEL", call_id=call_id, branch=f"z9hG4bKinv{n}", from_tag=f"f{n}"
                    ),
                )
            )
            h.responses()
            h.advance(h.now_ms + 1_000)
            continue
        h.ua.accept(call_id, LOCAL, h.now_ms)
        tag = h.responses()[-1].to_addr.tag
        assert tag is not None
        h.send(
            in_dialog("ACK", to_tag=tag, cseq=101, branch=f"z9hG4bKack{n}", call_id=call_id, from_tag=f"f{n}")
        )
        h.advance(h.now_ms + 2_000)
        if n % 2:
            h.send(
                in_dialog(
                    "BYE", to_tag=tag, cseq=102, branch=f"z9hG4bKbye{n}", call_id=call_id, from_tag=f"f{n}"
                )
            )
        else:
            h.ua.hangup(call_id, h.now_ms)
            (bye,) = h.requests()
            h.send(SipResponse(headers=bye.headers.copy(), status=200, reason="OK").to_bytes())
        h.sent()
        h.advance(h.now_ms + 1_000)
    ended += [e for e in h.events() if isinstance(e, CallEnded)]
    assert len(ended) == 20 and len({e.call_id for e in ended}) == 20
    h.settle()
    assert h.ua.counts() == type(h.ua.counts())(0, 0, 0, 0)


def test_an_invite_the_application_never_decides_on_gets_480_and_is_released() -> None:
    h = Harness(UserAgentConfig(allowed_sources=(TRUNK_NETWORK,), unanswered_timeout_s=30))
    _incoming(h)
    h.ua.ring(CALL_ID, 0)
    h.responses()
    sent = h.advance(31_000)
    sent_at, first = sent[0]
    assert sent_at == 30_000 and isinstance(first, SipResponse) and first.status == 480
    assert h.events() == [CallEnded(CALL_ID, EndReason.NO_ANSWER, 480)]
    assert h.ua.counts().calls == 0


def test_a_header_that_breaks_only_when_used_gets_400_not_an_exception() -> None:
    h = Harness()
    h.send(trunk_invite(extra=["Record-Route: <sip:proxy.example.com;lr"]))
    (response,) = h.responses()
    assert response.status == 400
    (logged,) = h.events()
    assert isinstance(logged, MessageRejected) and "Record-Route" in logged.detail
    assert h.ua.counts().calls == 0


def test_over_tcp_the_200_is_not_retransmitted_but_the_ack_timeout_still_applies() -> None:
    h = Harness()
    parser = SipStreamParser()
    stream = trunk_invite() + b"\r\n\r\n"  # the INVITE, then a CRLFCRLF keep-alive
    for item in parser.feed(stream[:100]) + parser.feed(stream[100:]):
        assert isinstance(item, SipRequest)
        h.ua.receive_message(item, TRUNK, Transport.TCP, 0)
    assert parser.keepalives == 1
    h.events()
    h.ua.accept(CALL_ID, LOCAL, 0)
    assert [r.status for r in h.responses()] == [200]
    sent = h.advance(33_000)
    assert [m.method for _, m in sent if isinstance(m, SipRequest)] == ["BYE"]  # no Timer E over TCP
    assert not [m for _, m in sent if isinstance(m, SipResponse)]
    assert h.events() == [CallEnded(CALL_ID, EndReason.ACK_TIMEOUT)]
