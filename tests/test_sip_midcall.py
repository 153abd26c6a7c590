"""Inside an established call: re-INVITE hold/unhold, glare (491), REFER transfers and their NOTIFYs."""

from __future__ import annotations

from tests.sip_corpus import in_dialog, sdp_offer, trunk_invite
from tests.sip_harness import Harness
from voicerouter.media.sip.call import CallState, TransferState
from voicerouter.media.sip.message import SipRequest, SipResponse
from voicerouter.media.sip.offer_answer import Direction, LocalMedia
from voicerouter.media.sip.sdp import parse_sdp
from voicerouter.media.sip.ua_events import (
    CallEnded,
    CallEstablished,
    EndReason,
    MediaUpdated,
    TransferUpdated,
)

CALL_ID = "3f2b9a1e5c7d4e8f@192.0.2.10"
LOCAL = LocalMedia("127.0.0.1", 7078)


def _established() -> tuple[Harness, str]:
    h = Harness()
    h.send(trunk_invite())
    h.events()
    h.ua.accept(CALL_ID, LOCAL, 0)
    (ok,) = h.responses()
    tag = ok.to_addr.tag
    assert tag is not None
    h.send(in_dialog("ACK", to_tag=tag, cseq=101, branch="z9hG4bKack1"))
    assert [type(e) for e in h.events()] == [CallEstablished]
    return h, tag


def _sdp_version(h: Harness) -> int:
    local_sdp = h.ua.call(CALL_ID).local_sdp
    assert local_sdp is not None
    return local_sdp.origin.session_version


def _reinvite(h: Harness, tag: str, cseq: int, sdp: str | None) -> SipResponse:
    h.send(
        in_dialog(
            "INVITE",
            to_tag=tag,
            cseq=cseq,
            branch=f"z9hG4bKre{cseq}",
            body=sdp or "",
            content_type="application/sdp" if sdp else None,
        )
    )
    (response,) = h.responses()
    return response


def _ack(h: Harness, tag: str, cseq: int, body: str = "") -> None:
    h.send(
        in_dialog(
            "ACK",
            to_tag=tag,
            cseq=cseq,
            branch=f"z9hG4bKack{cseq}",
            body=body,
            content_type="application/sdp" if body else None,
        )
    )


def test_hold_with_sendonly_is_answered_recvonly_with_a_new_sdp_version() -> None:
    h, tag = _established()
    first_version = _sdp_version(h)
    ok = _reinvite(h, tag, 102, sdp_offer(direction="sendonly", version=2))
    assert ok.status == 200
    answer = parse_sdp(ok.body)
    assert answer.media[0].attribute("recvonly") is not None
    assert answer.origin.session_version == first_version + 1
    (updated,) = h.events()
    assert isinstance(updated, MediaUpdated)
    assert updated.media.on_hold and updated.media.direction is Direction.RECVONLY
    _ack(h, tag, 102)
    assert h.events() == [] and h.advance(10_000) == []


def test_unhold_restores_sendrecv_and_bumps_the_version_again() -> None:
    h, tag = _established()
    _reinvite(h, tag, 102, sdp_offer(direction="inactive", version=2))
    (held,) = h.events()
    assert (
        isinstance(held, MediaUpdated) and held.media.direction is Direction.INACTIVE and held.media.on_hold
    )
    _ack(h, tag, 102)
    ok = _reinvite(h, tag, 103, sdp_offer(direction="sendrecv", version=3))
    (resumed,) = h.events()
    assert isinstance(resumed, MediaUpdated)
    assert not resumed.media.on_hold and resumed.media.direction is Direction.SENDRECV
    assert parse_sdp(ok.body).media[0].attribute("sendrecv") is not None
    assert parse_sdp(ok.body).origin.session_version == 2


def test_legacy_hold_with_the_zero_address_stops_our_sending() -> None:
    h, tag = _established()
    _reinvite(h, tag, 102, sdp_offer(address="0.0.0.0", version=2))
    (held,) = h.events()
    assert isinstance(held, MediaUpdated) and held.media.on_hold and not held.media.direction.sends


def test_an_identical_reoffer_keeps_the_sdp_version() -> None:
    h, tag = _established()
    version = _sdp_version(h)
    ok = _reinvite(h, tag, 102, sdp_offer())
    assert parse_sdp(ok.body).origin.session_version == version
    assert h.events() == []  # nothing changed: no MediaUpdated for a session refresh


def test_a_reinvite_while_the_previous_one_awaits_its_ack_gets_491() -> None:
    h, tag = _established()
    _reinvite(h, tag, 102, sdp_offer(direction="sendonly"))
    h.events()
    glare = _reinvite(h, tag, 103, sdp_offer())
    assert glare.status == 491


def test_a_reinvite_with_no_usable_codec_gets_488_and_the_call_goes_on() -> None:
    h, tag = _established()
    before = h.ua.call(CALL_ID).media
    refused = _reinvite(h, tag, 102, sdp_offer(formats="18"))
    assert refused.status == 488
    call = h.ua.call(CALL_ID)
    assert call.state is CallState.CONFIRMED and call.media == before and h.events() == []


def test_an_offerless_reinvite_gets_our_offer_and_the_answer_rides_on_the_ack() -> None:
    h, tag = _established()
    ok = _reinvite(h, tag, 102, None)
    assert ok.status == 200 and parse_sdp(ok.body).media[0].port == 7078
    _ack(h, tag, 102, body=sdp_offer(port=40_000, direction="recvonly"))
    (updated,) = h.events()
    assert isinstance(updated, MediaUpdated)
    assert updated.media.remote_rtp.port == 40_000 and updated.media.direction is Direction.SENDONLY


def _refer(h: Harness) -> SipRequest:
    h.ua.transfer(CALL_ID, "sip:+15550001111@pbx.example.com", h.now_ms)
    (refer,) = h.requests()
    return refer


def _reply(request: SipRequest, status: int) -> bytes:
    reason = {202: "Accepted", 403: "Forbidden", 200: "OK"}[status]
    return SipResponse(headers=request.headers.copy(), status=status, reason=reason).to_bytes()


def _notify(
    tag: str, cseq: int, sipfrag: str, state: str = "active;expires=60", event: str = "refer"
) -> bytes:
    return in_dialog(
        "NOTIFY",
        to_tag=tag,
        cseq=cseq,
        branch=f"z9hG4bKn{cseq}",
        body=sipfrag,
        content_type="message/sipfrag;version=2.0",
        extra=[f"Event: {event}", f"Subscription-State: {state}"],
    )


def test_refer_transfers_the_caller_and_leaves_once_the_notify_says_200() -> None:
    h, tag = _established()
    refer = _refer(h)
    assert refer.method == "REFER" and refer.headers.get("Refer-To") == "<sip:+15550001111@pbx.example.com>"
    assert refer.headers.get("Referred-By") == "<sip:clinic@127.0.0.1>"
    assert refer.to_addr.tag == "8877665" and refer.from_addr.tag == tag
    h.send(_reply(refer, 202))
    assert h.events() == [TransferUpdated(CALL_ID, 202, final=False, succeeded=False)]
    h.send(_notify(tag, 102, "SIP/2.0 100 Trying\r\n"))
    assert [r.status for r in h.responses()] == [200]
    assert h.events() == [TransferUpdated(CALL_ID, 100, final=False, succeeded=False)]
    h.send(_notify(tag, 103, "SIP/2.0 200 OK\r\n", state="terminated;reason=noresource"))
    sent = h.sent()
    assert [type(m).__name__ for m in sent] == ["SipResponse", "SipRequest"]
    bye = sent[1]
    assert isinstance(bye, SipRequest) and bye.method == "BYE" and bye.cseq.number == refer.cseq.number + 1
    assert h.events() == [
        TransferUpdated(CALL_ID, 200, final=True, succeeded=True),
        CallEnded(CALL_ID, EndReason.TRANSFERRED),
    ]
    h.send(_reply(bye, 200))
    h.settle()
    assert h.ua.counts() == type(h.ua.counts())(0, 0, 0, 0)


def test_a_refused_refer_is_reported_and_the_call_goes_on() -> None:
    h, _ = _established()
    h.send(_reply(_refer(h), 403))
    assert h.events() == [TransferUpdated(CALL_ID, 403, final=True, succeeded=False)]
    call = h.ua.call(CALL_ID)
    assert call.state is CallState.CONFIRMED and call.transfer is TransferState.FAILED


def test_a_failed_transfer_notify_keeps_the_call() -> None:
    h, tag = _established()
    h.send(_reply(_refer(h), 202))
    h.events()
    h.send(_notify(tag, 102, "SIP/2.0 486 Busy Here\r\n", state="terminated"))
    assert [r.status for r in h.responses()] == [200]
    assert h.events() == [TransferUpdated(CALL_ID, 486, final=True, succeeded=False)]
    assert h.ua.call(CALL_ID).state is CallState.CONFIRMED


def test_notify_for_another_event_package_gets_489_and_without_a_transfer_481() -> None:
    h, tag = _established()
    h.send(_notify(tag, 102, "SIP/2.0 200 OK\r\n", event="presence"))
    assert [r.status for r in h.responses()] == [489]
    h.send(_notify(tag, 103, "SIP/2.0 200 OK\r\n"))
    assert [r.status for r in h.responses()] == [481]


def test_a_refer_that_times_out_is_a_failed_transfer() -> None:
    h, _ = _established()
    _refer(h)
    h.advance(h.now_ms + 33_000)
    assert h.events() == [TransferUpdated(CALL_ID, 408, final=True, succeeded=False)]
