"""The SIP user agent, sans-I/O: bytes and time in; bytes to send and call events out.

It parses (answering malformed requests with their 4xx), runs the transaction layer, routes requests to
call control, answers OPTIONS and stray requests, and keeps outbound registrations. It never opens a
socket, never reads a clock and never lets peer input raise out of `receive_*`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from voicerouter.media.sip.call import SipCall
from voicerouter.media.sip.call_control import CallControl
from voicerouter.media.sip.dialog import LocalEndpoint
from voicerouter.media.sip.digest import DigestAuthenticator
from voicerouter.media.sip.fields import FieldError
from voicerouter.media.sip.message import SipMessage, SipRequest
from voicerouter.media.sip.midcall import MidCall
from voicerouter.media.sip.offer_answer import LocalMedia, NegotiatedMedia
from voicerouter.media.sip.parser import SipParseError, parse_datagram
from voicerouter.media.sip.registration import RegisterClient, RegistrationConfig
from voicerouter.media.sip.transaction import TransactionLayer, response_destination
from voicerouter.media.sip.transaction_base import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    SipTimers,
    TransactionEvent,
    TransactionTerminated,
)
from voicerouter.media.sip.transport import Address, Outbound, Transport
from voicerouter.media.sip.ua_context import UaContext
from voicerouter.media.sip.ua_events import MessageRejected, RegistrationUpdated, UaEvent
from voicerouter.media.sip.ua_support import (
    ACCEPT,
    DIALOG_ONLY_METHODS,
    KNOWN_METHODS,
    UserAgentConfig,
    unsupported_extensions,
)
from voicerouter.media.sip.uri import UriError


@dataclass(frozen=True, slots=True)
class UaCounts:
    """Live objects, for the no-leak checks: all zero once every call has ended and timers have run."""

    calls: int
    dialogs: int
    transactions: int
    registrations: int


class UserAgent:
    def __init__(
        self,
        config: UserAgentConfig | None = None,
        *,
        timers: SipTimers | None = None,
        token: Callable[[], str] | None = None,
    ) -> None:
        self.config = config or UserAgentConfig()
        endpoint = LocalEndpoint(
            self.config.advertised_host, self.config.port, self.config.transport, self.config.contact_user
        )
        self._ctx = UaContext(
            self.config, endpoint, TransactionLayer(timers), token or (lambda: secrets.token_hex(8))
        )
        authenticator = (
            DigestAuthenticator(
                self.config.auth_realm, self.config.auth_users, algorithms=self.config.auth_algorithms
            )
            if self.config.auth_users
            else None
        )
        self._calls = CallControl(self._ctx, authenticator)
        self._midcall = MidCall(self._calls)
        self._registrations: dict[str, RegisterClient] = {}

    # ---- input

    def receive_datagram(self, data: bytes, source: Address, now_ms: float) -> None:
        """One UDP datagram from `source`."""
        try:
            message = parse_datagram(data)
        except SipParseError as exc:
            self.receive_parse_error(exc, source, Transport.UDP)
            return
        if message is not None:
            self.receive_message(message, source, Transport.UDP, now_ms)

    def receive_parse_error(self, error: SipParseError, source: Address, transport: Transport) -> None:
        """A message that did not parse (from `parse_datagram` or a `SipStreamParser`): answer or drop."""
        response = error.response()
        self._ctx.events.append(
            MessageRejected(source, response.status if response else None, error.reason, error.detail)
        )
        if response is None:
            return
        response.headers.add("Server", self.config.server_name)
        try:
            destination = response_destination(response.top_via, source, transport)
        except (FieldError, ValueError):
            destination = source
        self._ctx.transactions.send_stateless(response, destination, transport)

    def receive_message(
        self, message: SipMessage, source: Address, transport: Transport, now_ms: float
    ) -> None:
        self._ctx.transactions.receive(message, source, transport, now_ms)
        self._drain(now_ms)

    # ---- time

    def next_timer_ms(self) -> float | None:
        deadlines = [self._ctx.transactions.next_timer_ms(), self._calls.next_timer_ms()]
        deadlines += [registration.next_timer_ms() for registration in self._registrations.values()]
        return min((d for d in deadlines if d is not None), default=None)

    def on_timer(self, now_ms: float) -> None:
        self._ctx.transactions.on_timer(now_ms)
        self._calls.on_timer(now_ms)
        for registration in list(self._registrations.values()):
            request = registration.on_timer(now_ms)
            if request is not None:
                self._send_registration(registration, request, now_ms)
        self._drain(now_ms)

    # ---- output

    def data_to_send(self) -> list[Outbound]:
        return self._ctx.transactions.data_to_send()

    def events(self) -> list[UaEvent]:
        out, self._ctx.events = self._ctx.events, []
        return out

    # ---- the application's decisions about calls

    def ring(self, call_id: str, now_ms: float) -> None:
        self._calls.ring(call_id, now_ms)
        self._drain(now_ms)

    def accept(self, call_id: str, local: LocalMedia, now_ms: float) -> NegotiatedMedia | None:
        media = self._calls.accept(call_id, local, now_ms)
        self._drain(now_ms)
        return media

    def reject(
        self,
        call_id: str,
        status: int,
        now_ms: float,
        *,
        reason: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        extra = [("Retry-After", str(retry_after_s))] if retry_after_s is not None else []
        self._calls.reject(call_id, status, now_ms, reason, extra)
        self._drain(now_ms)

    def hangup(self, call_id: str, now_ms: float) -> None:
        self._calls.hangup(call_id, now_ms)
        self._drain(now_ms)

    def transfer(self, call_id: str, target: str, now_ms: float) -> None:
        self._midcall.transfer(call_id, target, now_ms)
        self._drain(now_ms)

    def call(self, call_id: str) -> SipCall:
        return self._calls.get(call_id)

    # ---- registrations

    def register(self, config: RegistrationConfig, now_ms: float) -> str:
        registration = RegisterClient(self._ctx.token(), config, self._ctx.endpoint, self._ctx.token)
        self._registrations[registration.id] = registration
        self._send_registration(registration, registration.start(now_ms), now_ms)
        return registration.id

    def unregister(self, registration_id: str, now_ms: float) -> None:
        registration = self._registrations[registration_id]
        self._send_registration(registration, registration.stop(now_ms), now_ms)

    def registration(self, registration_id: str) -> RegisterClient:
        return self._registrations[registration_id]

    def registration_ids(self) -> list[str]:
        return list(self._registrations)

    def counts(self) -> UaCounts:
        return UaCounts(
            calls=len(self._calls.calls),
            dialogs=self._calls.dialog_count(),
            transactions=self._ctx.transactions.count,
            registrations=len(self._registrations),
        )

    # ---- dispatch

    def _drain(self, now_ms: float) -> None:
        """Handle transaction events until none are left (handling one may produce more)."""
        while events := self._ctx.transactions.events():
            for event in events:
                self._handle(event, now_ms)

    def _handle(self, event: TransactionEvent, now_ms: float) -> None:
        if isinstance(event, RequestReceived):
            try:
                self._on_request(event, now_ms)
            except (FieldError, UriError) as exc:  # a header only this request's handling needed to parse
                self._bad_request(event, str(exc), now_ms)
        elif isinstance(event, AckReceived):
            self._calls.on_ack(event, now_ms)
        elif isinstance(event, ResponseReceived):
            owner = self._ctx.owners.get(event.key)
            if owner in self._registrations:
                self._on_registration_response(self._registrations[owner], event, now_ms)
            elif owner is not None:
                self._calls.on_response(owner, event, now_ms)
        elif isinstance(event, TransactionTerminated):
            self._ctx.owners.pop(event.key, None)

    def _on_request(self, event: RequestReceived, now_ms: float) -> None:
        request, key = event.request, event.key
        method = request.method
        if method == "CANCEL":
            self._calls.on_cancel(event, now_ms)
            return
        unsupported = unsupported_extensions(request)
        if unsupported:
            self._ctx.respond(key, request, 420, now_ms, extra=[("Unsupported", ", ".join(unsupported))])
            return
        if request.to_addr.tag is not None:
            self._in_dialog(event, now_ms)
        elif method == "INVITE":
            self._calls.on_invite(event, now_ms)
        elif method == "OPTIONS":
            self._ctx.respond(key, request, 200, now_ms, extra=[("Accept", ACCEPT)])
        else:
            self._refuse_method(event, now_ms, needs_dialog=True)

    def _in_dialog(self, event: RequestReceived, now_ms: float) -> None:
        request, key = event.request, event.key
        call = self._calls.find(request)
        if call is None:
            self._ctx.respond(key, request, 481, now_ms)
            return
        if not call.dialog.accepts_cseq(request):
            self._ctx.respond(key, request, 500, now_ms, reason="Out Of Order CSeq")
            return
        if request.method == "BYE":
            self._calls.on_bye(call, event, now_ms)
        elif request.method == "INVITE":
            self._midcall.on_reinvite(call, event, now_ms)
        elif request.method == "NOTIFY":
            self._midcall.on_notify(call, event, now_ms)
        elif request.method == "OPTIONS":
            self._ctx.respond(key, request, 200, now_ms, extra=[("Accept", ACCEPT)])
        else:
            self._refuse_method(event, now_ms, needs_dialog=False)

    def _bad_request(self, event: RequestReceived, detail: str, now_ms: float) -> None:
        transaction = self._ctx.transactions.server(event.key)
        if not transaction.final_sent:
            self._ctx.respond(event.key, event.request, 400, now_ms, to_tag=self._ctx.token())
        self._ctx.events.append(MessageRejected(event.source, 400, "Bad Request", detail))

    def _refuse_method(self, event: RequestReceived, now_ms: float, *, needs_dialog: bool) -> None:
        """481 for dialog-only requests out of a dialog, 405 for methods we know, 501 for the rest."""
        method = event.request.method
        if needs_dialog and method in DIALOG_ONLY_METHODS:
            status = 481
        else:
            status = 405 if method in KNOWN_METHODS else 501
        self._ctx.respond(event.key, event.request, status, now_ms)

    def _send_registration(self, registration: RegisterClient, request: SipRequest, now_ms: float) -> None:
        self._ctx.send_request(
            request, registration.destination, registration.local.transport, registration.id, now_ms
        )
        self._ctx.events.append(
            RegistrationUpdated(
                registration.id,
                registration.state.value,
                registration.last_status,
                registration.granted_expires_s,
            )
        )

    def _on_registration_response(
        self, registration: RegisterClient, event: ResponseReceived, now_ms: float
    ) -> None:
        before = registration.state
        follow_up = registration.on_response(event.response, now_ms)
        if follow_up is not None:
            self._send_registration(registration, follow_up, now_ms)
        elif registration.state != before or not event.response.provisional:
            self._ctx.events.append(
                RegistrationUpdated(
                    registration.id,
                    registration.state.value,
                    registration.last_status,
                    registration.granted_expires_s,
                )
            )
        if registration.state == "unregistered":
            del self._registrations[registration.id]
