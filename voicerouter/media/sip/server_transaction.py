"""Server transactions (RFC 3261 §17.2, with the RFC 6026 Accepted state): absorb retransmissions, resend.

They answer retransmitted requests with the last response, send 100 Trying for a slow TU, retransmit
non-2xx INVITE responses until ACKed (Timer G/H); they never choose a response themselves.
"""

from __future__ import annotations

from enum import StrEnum

from voicerouter.media.sip.message import SipRequest, SipResponse, make_response
from voicerouter.media.sip.transaction_base import (
    AckReceived,
    SipTimers,
    Transaction,
    TransactionKey,
    TransactionStateError,
    TransactionTimedOut,
)
from voicerouter.media.sip.transport import Address, Transport


class ServerInviteState(StrEnum):
    PROCEEDING = "proceeding"
    COMPLETED = "completed"  # non-2xx sent, waiting for its ACK
    CONFIRMED = "confirmed"  # ACK came, absorbing ACK retransmissions
    ACCEPTED = "accepted"  # 2xx sent; the TU retransmits it, INVITE retransmissions are absorbed
    TERMINATED = "terminated"


class ServerNonInviteState(StrEnum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


class ServerTransaction(Transaction):
    def __init__(
        self,
        key: TransactionKey,
        request: SipRequest,
        source: Address,
        transport: Transport,
        timers: SipTimers,
    ) -> None:
        super().__init__(key, source, transport, timers)
        self.request = request
        self.last_response: SipResponse | None = None
        self._last_bytes: bytes | None = None

    def receive(self, request: SipRequest, source: Address, now_ms: float) -> None:
        raise NotImplementedError

    def send(self, response: SipResponse, now_ms: float) -> None:
        raise NotImplementedError

    @property
    def final_sent(self) -> bool:
        return self.last_response is not None and not self.last_response.provisional

    def transport_failed(self) -> None:
        if not self.terminated:
            self._terminate()

    def _transmit(self, response: SipResponse) -> None:
        self.last_response = response
        self._last_bytes = response.to_bytes()
        self._send(self._last_bytes)

    def _resend_last(self) -> None:
        if self._last_bytes is not None:
            self._send(self._last_bytes)


class ServerInviteTransaction(ServerTransaction):
    """§17.2.1 with RFC 6026: Proceeding → Completed (non-2xx) or Accepted (2xx) → Terminated."""

    def __init__(
        self,
        key: TransactionKey,
        request: SipRequest,
        source: Address,
        transport: Transport,
        timers: SipTimers,
        now_ms: float,
    ) -> None:
        super().__init__(key, request, source, transport, timers)
        self.state = ServerInviteState.PROCEEDING
        self._start("trying", now_ms, timers.trying_ms)

    def receive(self, request: SipRequest, source: Address, now_ms: float) -> None:
        state = self.state
        if request.method == "ACK":
            if state is ServerInviteState.COMPLETED:
                self.state = ServerInviteState.CONFIRMED
                self._stop("G", "H")
                self._start_or_terminate("I", now_ms, self._unreliable_ms(self.timers.t4_ms))
            elif state is ServerInviteState.ACCEPTED:  # RFC 6026 §8.7: an ACK here belongs to the TU
                self._events.append(AckReceived(request, source, self.transport))
            return
        if state in (ServerInviteState.PROCEEDING, ServerInviteState.COMPLETED):
            self._resend_last()  # Accepted and Confirmed absorb retransmitted INVITEs silently

    def send(self, response: SipResponse, now_ms: float) -> None:
        state = self.state
        if state is ServerInviteState.PROCEEDING:
            self._stop("trying")
            self._transmit(response)
            if response.success:
                self.state = ServerInviteState.ACCEPTED
                self._start("L", now_ms, self.timers.transaction_timeout_ms)
            elif not response.provisional:
                self.state = ServerInviteState.COMPLETED
                if not self.transport.reliable:
                    self._start("G", now_ms, self.timers.t1_ms)
                self._start("H", now_ms, self.timers.transaction_timeout_ms)
        elif state is ServerInviteState.ACCEPTED and response.success:
            self._transmit(response)  # the TU's 2xx retransmission (§13.3.1.4)
        else:
            raise TransactionStateError(self.key, state, f"send {response.status}")

    def _fire(self, name: str, at_ms: float) -> None:
        if name == "trying" and self.state is ServerInviteState.PROCEEDING and self.last_response is None:
            self._transmit(make_response(self.request, 100))
        elif name == "G" and self.state is ServerInviteState.COMPLETED:
            self._resend_last()
            self._start("G", at_ms, min(self._intervals["G"] * 2, self.timers.t2_ms))
        elif name == "H":
            self._events.append(TransactionTimedOut(self.key))
            self._terminate()
        elif name in ("I", "L"):
            self._terminate()


class ServerNonInviteTransaction(ServerTransaction):
    """§17.2.2: Trying → Proceeding → Completed; retransmitted requests get the last response again."""

    def __init__(
        self,
        key: TransactionKey,
        request: SipRequest,
        source: Address,
        transport: Transport,
        timers: SipTimers,
        now_ms: float,
    ) -> None:
        super().__init__(key, request, source, transport, timers)
        self.state = ServerNonInviteState.TRYING

    def receive(self, request: SipRequest, source: Address, now_ms: float) -> None:
        if self.state in (ServerNonInviteState.PROCEEDING, ServerNonInviteState.COMPLETED):
            self._resend_last()

    def send(self, response: SipResponse, now_ms: float) -> None:
        state = self.state
        if state not in (ServerNonInviteState.TRYING, ServerNonInviteState.PROCEEDING):
            raise TransactionStateError(self.key, state, f"send {response.status}")
        self._transmit(response)
        if response.provisional:
            self.state = ServerNonInviteState.PROCEEDING
        else:
            self.state = ServerNonInviteState.COMPLETED
            self._start_or_terminate("J", now_ms, self._unreliable_ms(self.timers.transaction_timeout_ms))

    def _fire(self, name: str, at_ms: float) -> None:
        if name == "J":
            self._terminate()
