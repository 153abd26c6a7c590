"""Requests inside an established call: re-INVITE (hold, unhold, new media), REFER and its NOTIFYs.

A re-INVITE is answered at once from the call's `LocalMedia` (the application only hears `MediaUpdated`);
a failed re-INVITE leaves the call as it was. Nothing here creates or forgets a call.
"""

from __future__ import annotations

import re

from voicerouter.media.sip.call import (
    CallState,
    CallTrigger,
    IllegalCallTransition,
    PendingOk,
    SipCall,
    TransferState,
)
from voicerouter.media.sip.call_control import CallControl
from voicerouter.media.sip.fields import FieldError, NameAddr, parse_name_addr
from voicerouter.media.sip.headers import Headers
from voicerouter.media.sip.offer_answer import NoUsableMedia, answer_offer
from voicerouter.media.sip.sdp import SdpError, parse_sdp
from voicerouter.media.sip.transaction_base import RequestReceived
from voicerouter.media.sip.ua_events import EndReason, MediaUpdated, TransferUpdated
from voicerouter.media.sip.ua_support import ACCEPT

_SIPFRAG_STATUS = re.compile(rb"^\s*SIP/2\.0\s+([1-6]\d\d)\b")


class TransferNotAllowed(ValueError):
    """A transfer target that is not a usable URI."""


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a message/sipfrag NOTIFY body (RFC 3515 §2.4.5): `SIP/2.0 200 OK` → 200."""
    match = _SIPFRAG_STATUS.match(body)
    return int(match.group(1)) if match else None


class MidCall:
    def __init__(self, control: CallControl) -> None:
        self.control = control
        self.ctx = control.ctx

    def on_reinvite(self, call: SipCall, event: RequestReceived, now_ms: float) -> None:
        request, key = event.request, event.key
        if call.state is not CallState.CONFIRMED:
            status = 491 if call.state is CallState.ANSWERED else 481
            self.ctx.respond(key, request, status, now_ms)
            return
        if call.pending_ok is not None:
            self.ctx.respond(key, request, 491, now_ms)  # §14.2: one offer/answer at a time
            return
        local = call.local_media
        assert local is not None  # set by accept(), before any state that reaches CONFIRMED
        if request.body:
            if request.content_type != "application/sdp":
                self.ctx.respond(key, request, 415, now_ms, extra=[("Accept", ACCEPT)])
                return
            try:
                offer = parse_sdp(request.body)
                sdp, media = answer_offer(offer, local, call.sdp_version)
                if call.local_sdp is not None and sdp.to_text() != call.local_sdp.to_text():
                    call.sdp_version += 1  # RFC 3264 §8: a changed description gets a new version
                    sdp, media = answer_offer(offer, local, call.sdp_version)
            except NoUsableMedia:
                self.ctx.respond(key, request, 488, now_ms)
                return
            except SdpError:
                self.ctx.respond(key, request, 400, now_ms, reason="Bad SDP")
                return
            if media != call.media:  # a session refresh (RFC 4028) re-offers the same media
                call.media = media
                self.ctx.events.append(MediaUpdated(call.call_id, media))
        else:
            assert call.local_sdp is not None
            sdp = call.local_sdp  # an offerless re-INVITE: offer what we have, the answer comes in the ACK
            call.awaiting_answer_in_ack = True
        call.dialog.refresh_target(request)
        call.local_sdp = sdp
        destination = self.ctx.transactions.reply_destination(request, event.source, event.transport)
        response = self.ctx.respond(key, request, 200, now_ms, dialog=True, sdp=sdp)
        call.reinvite_key = key
        call.pending_ok = PendingOk.start(
            request.cseq.number,
            response.to_bytes(),
            destination,
            event.transport,
            now_ms,
            self.ctx.transactions.timers,
        )

    def transfer(self, call_id: str, target: str, now_ms: float) -> None:
        """Send REFER asking the caller to call `target` (RFC 3515); progress comes as TransferUpdated."""
        call = self.control.get(call_id)
        if not call.can(CallTrigger.TRANSFER) or call.transfer in (
            TransferState.REQUESTED,
            TransferState.ACCEPTED,
        ):
            raise IllegalCallTransition(call_id, call.state, CallTrigger.TRANSFER)
        try:
            refer_to = parse_name_addr(target if "<" in target else f"<{target}>", "Refer-To")
        except FieldError as exc:
            raise TransferNotAllowed(f"call {call_id}: transfer target {target!r}: {exc}") from None
        extra = Headers()
        extra.add("Refer-To", str(refer_to))
        extra.add("Referred-By", str(NameAddr(call.dialog.local.uri)))
        request, hop = call.dialog.new_request("REFER", self.ctx.endpoint, self.ctx.branch(), extra)
        destination = call.source if self.ctx.config.in_dialog_to_source else hop
        call.fire(CallTrigger.TRANSFER)
        call.transfer = TransferState.REQUESTED
        call.transfer_key = self.ctx.send_request(request, destination, call.transport, call_id, now_ms)

    def on_notify(self, call: SipCall, event: RequestReceived, now_ms: float) -> None:
        """Transfer progress (Event: refer, message/sipfrag); a 2xx means the caller reached the target."""
        request, key = event.request, event.key
        package = (request.headers.get("Event") or "").split(";", 1)[0].strip().lower()
        if package != "refer":
            self.ctx.respond(key, request, 489, now_ms, reason="Bad Event")
            return
        if call.transfer not in (TransferState.REQUESTED, TransferState.ACCEPTED):
            self.ctx.respond(key, request, 481, now_ms)
            return
        status = sipfrag_status(request.body)
        if status is None:
            self.ctx.respond(key, request, 400, now_ms, reason="Bad sipfrag")
            return
        self.ctx.respond(key, request, 200, now_ms)
        terminated = (request.headers.get("Subscription-State") or "").lower().startswith("terminated")
        final = status >= 200 or terminated
        succeeded = 200 <= status < 300
        if final:
            call.transfer = TransferState.SUCCEEDED if succeeded else TransferState.FAILED
        else:
            call.transfer = TransferState.ACCEPTED
        self.ctx.events.append(TransferUpdated(call.call_id, status, final=final, succeeded=succeeded))
        if succeeded and call.state is CallState.CONFIRMED:
            self.control.send_bye(call, now_ms, EndReason.TRANSFERRED, CallTrigger.LOCAL_BYE)
