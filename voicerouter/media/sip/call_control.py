"""Inbound call control: INVITE to BYE for every call, with CANCEL, re-INVITE (hold) and REFER transfers.

It applies the application's decisions (ring, accept, reject, hang up, transfer) and the peer's requests to
each `SipCall`'s state table, and releases a call the moment nothing is left to wait for. Inbound
policy (sources, auth, SDP) is checked before a call exists; it never touches sockets or media.
"""

from __future__ import annotations

from dataclasses import replace

from voicerouter.media.sip.call import (
    CallState,
    CallTrigger,
    IllegalCallTransition,
    PendingOk,
    SipCall,
    TransferState,
)
from voicerouter.media.sip.dialog import Dialog, DialogState
from voicerouter.media.sip.digest import AuthResult, DigestAuthenticator
from voicerouter.media.sip.fields import FieldError
from voicerouter.media.sip.message import SipRequest
from voicerouter.media.sip.offer_answer import (
    LocalMedia,
    NegotiatedMedia,
    NoUsableMedia,
    accept_answer,
    answer_offer,
    make_offer,
)
from voicerouter.media.sip.sdp import SdpError, SessionDescription, parse_sdp
from voicerouter.media.sip.transaction_base import AckReceived, RequestReceived, ResponseReceived
from voicerouter.media.sip.ua_context import UaContext
from voicerouter.media.sip.ua_events import (
    CallEnded,
    CallEstablished,
    EndReason,
    IncomingCall,
    MediaUpdated,
    MessageRejected,
    TransferUpdated,
)
from voicerouter.media.sip.ua_support import ACCEPT, source_allowed
from voicerouter.media.sip.uri import UriError

_PROBE_MEDIA = LocalMedia("0.0.0.0", 9)  # what any accept() could take: PCMU or PCMA


class UnknownCall(KeyError):
    """The application named a call the user agent does not have (never existed, or released)."""


class CallControl:
    def __init__(self, ctx: UaContext, authenticator: DigestAuthenticator | None = None) -> None:
        self.ctx = ctx
        self.authenticator = authenticator
        self.calls: dict[str, SipCall] = {}

    # ---- lookups and bookkeeping

    def get(self, call_id: str) -> SipCall:
        try:
            return self.calls[call_id]
        except KeyError:
            raise UnknownCall(f"no SIP call {call_id!r}") from None

    def find(self, request: SipRequest) -> SipCall | None:
        """The call a request belongs to by dialog id: Call-ID, our tag in To, theirs in From."""
        call = self.calls.get(request.call_id)
        if call is None:
            return None
        if request.to_addr.tag != call.local_tag or request.from_addr.tag != call.dialog.id.remote_tag:
            return None
        return call

    def dialog_count(self) -> int:
        return sum(
            1
            for call in self.calls.values()
            if call.state is not CallState.INCOMING and call.dialog.state is not DialogState.TERMINATED
        )

    def _end(self, call: SipCall, reason: EndReason, status: int | None) -> None:
        if call.end_reason is None:
            call.end_reason = reason
            self.ctx.events.append(CallEnded(call.call_id, reason, status))
        call.dialog.terminate()
        call.pending_ok = None
        self._release(call)

    def _release(self, call: SipCall) -> None:
        if call.releasable and self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]

    def _refuse(self, event: RequestReceived, status: int, detail: str, now_ms: float, **extra: str) -> None:
        """Answer a new INVITE with an error before any call exists, and log who sent it."""
        response = self.ctx.respond(
            event.key, event.request, status, now_ms, to_tag=self.ctx.token(), extra=extra.items()
        )
        self.ctx.events.append(MessageRejected(event.source, status, response.reason, detail))

    # ---- a new INVITE

    def on_invite(self, event: RequestReceived, now_ms: float) -> None:
        request = event.request
        if not source_allowed(self.ctx.config, event.source):
            self._refuse(event, 403, f"INVITE from {event.source.host}, outside allowed_sources", now_ms)
            return
        if request.call_id in self.calls:
            self._refuse(event, 482, f"a second INVITE for Call-ID {request.call_id}", now_ms)
            return
        try:
            contact = request.contact
            if contact is None:
                raise FieldError("Contact", "", "missing")
            contact.sip_uri()
        except (FieldError, UriError) as exc:
            self._refuse(event, 400, f"INVITE Contact: {exc}", now_ms)
            return
        offer = self._offer(event, now_ms)
        if isinstance(offer, bool):
            return
        if self.authenticator is not None and not self._authorized(event, now_ms):
            return
        local_tag = self.ctx.token()
        call = SipCall(
            call_id=request.call_id,
            invite=request,
            invite_key=event.key,
            source=event.source,
            transport=event.transport,
            local_tag=local_tag,
            dialog=Dialog.as_uas(request, local_tag, initial_local_seq=int(self.ctx.token()[:4], 16)),
            offer=offer,
            answer_deadline_ms=now_ms + self.ctx.config.unanswered_timeout_s * 1000,
        )
        self.calls[call.call_id] = call
        caller = str(request.from_addr.without_tag())
        self.ctx.events.append(
            IncomingCall(
                call.call_id, request.uri.user, caller, event.source, event.transport, call.offer, request
            )
        )

    def _offer(self, event: RequestReceived, now_ms: float) -> SessionDescription | bool | None:
        """The INVITE's SDP offer (None: late offer), or False once it has been refused (never True)."""
        request = event.request
        if not request.body:
            return None
        if request.content_type != "application/sdp":
            self._refuse(event, 415, f"INVITE body of type {request.content_type!r}", now_ms, Accept=ACCEPT)
            return False
        try:
            offer = parse_sdp(request.body)
            answer_offer(offer, _PROBE_MEDIA)
        except NoUsableMedia as exc:
            self._refuse(event, 488, str(exc), now_ms, Warning='304 voicerouter "no PCMU or PCMA audio"')
            return False
        except SdpError as exc:
            self._refuse(event, 400, str(exc), now_ms)
            return False
        return offer

    def _authorized(self, event: RequestReceived, now_ms: float) -> bool:
        assert self.authenticator is not None
        status = self.ctx.config.auth_status
        credentials = "Authorization" if status == 401 else "Proxy-Authorization"
        challenge = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        result = self.authenticator.verify(event.request.headers.get_all(credentials), "INVITE", now_ms)
        if result is AuthResult.OK:
            return True
        challenges = self.authenticator.challenges(now_ms, stale=result is AuthResult.STALE)
        extra = [(challenge, str(c)) for c in challenges]
        response = self.ctx.respond(
            event.key, event.request, status, now_ms, to_tag=self.ctx.token(), extra=extra
        )
        if result is AuthResult.REJECTED:
            self.ctx.events.append(
                MessageRejected(event.source, status, response.reason, "bad digest credentials")
            )
        return False

    # ---- the application's decisions

    def ring(self, call_id: str, now_ms: float) -> None:
        call = self.get(call_id)
        call.fire(CallTrigger.RING)
        self.ctx.respond(call.invite_key, call.invite, 180, now_ms, to_tag=call.local_tag, dialog=True)

    def accept(self, call_id: str, local: LocalMedia, now_ms: float) -> NegotiatedMedia | None:
        """Answer 200 OK with our SDP; None when the offer fits nothing in `local` (488 sent instead)."""
        call = self.get(call_id)
        if not call.can(CallTrigger.ANSWER):
            raise IllegalCallTransition(call_id, call.state, CallTrigger.ANSWER)
        if not local.session_id:
            local = replace(local, session_id=str(int(self.ctx.token()[:8], 16)))
        call.local_media = local
        if call.offer is not None:
            try:
                sdp, call.media = answer_offer(call.offer, local, call.sdp_version)
            except NoUsableMedia:
                self.reject(call_id, 488, now_ms)
                return None
        else:
            sdp = make_offer(local, call.sdp_version)
            call.awaiting_answer_in_ack = True
        call.local_sdp = sdp
        destination = self.ctx.transactions.reply_destination(call.invite, call.source, call.transport)
        response = self.ctx.respond(
            call.invite_key, call.invite, 200, now_ms, to_tag=call.local_tag, dialog=True, sdp=sdp
        )
        call.fire(CallTrigger.ANSWER)
        call.dialog.confirm()
        call.pending_ok = PendingOk.start(
            call.invite.cseq.number,
            response.to_bytes(),
            destination,
            call.transport,
            now_ms,
            self.ctx.transactions.timers,
        )
        return call.media

    def reject(
        self,
        call_id: str,
        status: int,
        now_ms: float,
        reason: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """A final error to an unanswered call: 404 unknown user, 486 busy, 503 overloaded, ..."""
        if not 300 <= status <= 699:
            raise ValueError(f"call {call_id}: reject needs a 3xx-6xx status, not {status}")
        call = self.get(call_id)
        call.fire(CallTrigger.REJECT)
        self.ctx.respond(
            call.invite_key,
            call.invite,
            status,
            now_ms,
            reason=reason,
            to_tag=call.local_tag,
            extra=extra or (),
        )
        self._end(call, EndReason.REJECTED, status)

    def hangup(self, call_id: str, now_ms: float) -> None:
        """End the call from our side, whatever its state (idempotent once it is ending)."""
        call = self.get(call_id)
        if call.state in (CallState.INCOMING, CallState.RINGING):
            self.reject(call_id, 480, now_ms)
        elif call.state is CallState.ANSWERED:
            call.bye_requested = True  # §15: no BYE before the ACK of our 2xx (or its timeout)
        elif call.state is CallState.CONFIRMED:
            self.send_bye(call, now_ms, EndReason.LOCAL_BYE, CallTrigger.LOCAL_BYE)

    def send_bye(self, call: SipCall, now_ms: float, reason: EndReason, trigger: CallTrigger) -> None:
        call.fire(trigger)
        call.pending_ok = None
        request, hop = call.dialog.new_request("BYE", self.ctx.endpoint, self.ctx.branch())
        destination = call.source if self.ctx.config.in_dialog_to_source else hop
        call.bye_key = self.ctx.send_request(request, destination, call.transport, call.call_id, now_ms)
        self._end(call, reason, None)

    # ---- the peer's requests

    def on_ack(self, event: AckReceived, now_ms: float) -> None:
        """The ACK for our 2xx: the call (or the re-INVITE) is confirmed; the answer may ride on it."""
        call = self.find(event.request)
        pending = call.pending_ok if call is not None else None
        if call is None or pending is None or event.request.cseq.number != pending.cseq:
            return  # a retransmitted or stray ACK
        call.pending_ok = None
        call.reinvite_key = None
        media_changed = False
        if call.awaiting_answer_in_ack:
            call.awaiting_answer_in_ack = False
            try:
                assert call.local_media is not None
                call.media = accept_answer(parse_sdp(event.request.body), call.local_media)
                media_changed = True
            except SdpError as exc:
                self.ctx.events.append(MessageRejected(event.source, None, "Bad SDP answer in ACK", str(exc)))
                call.fire(CallTrigger.ACK)
                self.send_bye(call, now_ms, EndReason.LOCAL_BYE, CallTrigger.LOCAL_BYE)
                return
        first = call.state is CallState.ANSWERED
        call.fire(CallTrigger.ACK)
        if first and call.media is not None:
            call.established = True
            self.ctx.events.append(CallEstablished(call.call_id, call.media))
        elif media_changed and call.media is not None:
            self.ctx.events.append(MediaUpdated(call.call_id, call.media))
        if call.bye_requested:
            self.send_bye(call, now_ms, EndReason.LOCAL_BYE, CallTrigger.LOCAL_BYE)

    def on_cancel(self, event: RequestReceived, now_ms: float) -> None:
        """§9.2: 200 to the CANCEL, and 487 to its INVITE if that is still unanswered."""
        invite = self.ctx.transactions.invite_for_cancel(event.request)
        if invite is None:
            self.ctx.respond(event.key, event.request, 481, now_ms)
            return
        self.ctx.respond(event.key, event.request, 200, now_ms)
        if invite.final_sent:
            return
        call = self.calls.get(event.request.call_id)
        if call is not None and call.invite_key == invite.key and call.can(CallTrigger.CANCEL):
            self.ctx.respond(call.invite_key, call.invite, 487, now_ms, to_tag=call.local_tag)
            call.fire(CallTrigger.CANCEL)
            self._end(call, EndReason.CANCELLED, 487)
        else:
            self.ctx.respond(invite.key, invite.request, 487, now_ms, to_tag=self.ctx.token())

    def on_bye(self, call: SipCall, event: RequestReceived, now_ms: float) -> None:
        self.ctx.respond(event.key, event.request, 200, now_ms)
        if not call.can(CallTrigger.REMOTE_BYE):
            return
        if call.state is CallState.RINGING and not self.ctx.transactions.server(call.invite_key).final_sent:
            self.ctx.respond(call.invite_key, call.invite, 487, now_ms, to_tag=call.local_tag)
        call.fire(CallTrigger.REMOTE_BYE)
        self._end(call, EndReason.REMOTE_BYE, None)

    def on_response(self, call_id: str, event: ResponseReceived, now_ms: float) -> None:
        """Final responses to our BYE and REFER."""
        call = self.calls.get(call_id)
        response = event.response
        if call is None or response.provisional:
            return
        if event.key == call.bye_key:
            call.bye_key = None
            if call.state is CallState.ENDING:
                call.fire(CallTrigger.BYE_DONE)
            self._release(call)
        elif event.key == call.transfer_key:
            call.transfer_key = None
            if not response.success:
                call.transfer = TransferState.FAILED
                self.ctx.events.append(TransferUpdated(call_id, response.status, final=True, succeeded=False))
            elif call.transfer is TransferState.REQUESTED:
                call.transfer = TransferState.ACCEPTED
                self.ctx.events.append(
                    TransferUpdated(call_id, response.status, final=False, succeeded=False)
                )

    # ---- time

    def next_timer_ms(self) -> float | None:
        deadlines = [call.next_timer_ms() for call in self.calls.values()]
        return min((d for d in deadlines if d is not None), default=None)

    def on_timer(self, now_ms: float) -> None:
        """Retransmit unacknowledged 2xx responses; past 64*T1, give up and send BYE (§13.3.1.4)."""
        timers = self.ctx.transactions.timers
        for call in list(self.calls.values()):
            deadline = call.answer_deadline_ms
            if (
                call.state in (CallState.INCOMING, CallState.RINGING)
                and deadline is not None
                and now_ms >= deadline
            ):
                call.fire(CallTrigger.REJECT)
                self.ctx.respond(call.invite_key, call.invite, 480, now_ms, to_tag=call.local_tag)
                self._end(call, EndReason.NO_ANSWER, 480)
                continue
            pending = call.pending_ok
            if pending is None or pending.next_deadline_ms() > now_ms:
                continue
            if now_ms >= pending.give_up_at_ms:
                call.pending_ok = None
                call.reinvite_key = None
                trigger = (
                    CallTrigger.ACK_TIMEOUT if call.state is CallState.ANSWERED else CallTrigger.LOCAL_BYE
                )
                if call.can(trigger):
                    self.send_bye(call, now_ms, EndReason.ACK_TIMEOUT, trigger)
                continue
            while pending.next_at_ms <= now_ms:
                self.ctx.transactions.send_raw(pending.data, pending.destination, pending.transport)
                pending.interval_ms = min(pending.interval_ms * 2, timers.t2_ms)
                pending.next_at_ms += pending.interval_ms
