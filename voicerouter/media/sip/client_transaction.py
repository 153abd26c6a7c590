"""Client transactions (RFC 3261 §17.1, with the RFC 6026 Accepted state): send, retransmit, time out.

They retransmit only over UDP, ACK non-2xx final responses themselves and report a synthetic 408 when
Timer B/F expires; they never decide what a response means for the call (that is the TU's job).
"""

from __future__ import annotations

from enum import StrEnum

from voicerouter.media.sip.headers import Headers
from voicerouter.media.sip.message import SipRequest, SipResponse, make_response
from voicerouter.media.sip.transaction_base import (
    ResponseReceived,
    SipTimers,
    Transaction,
    TransactionKey,
    TransactionStateError,
)
from voicerouter.media.sip.transport import Address, Transport


class ClientInviteState(StrEnum):
    CALLING = "calling"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


class ClientNonInviteState(StrEnum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


class ClientTransaction(Transaction):
    """Common to both client kinds: the request and its bytes, and the synthetic failure responses."""

    def __init__(
        self,
        key: TransactionKey,
        request: SipRequest,
        destination: Address,
        transport: Transport,
        timers: SipTimers,
    ) -> None:
        super().__init__(key, destination, transport, timers)
        self.request = request
        self._request_bytes = request.to_bytes()

    def receive(self, response: SipResponse, now_ms: float) -> None:
        raise NotImplementedError

    def transport_failed(self) -> None:
        """§8.1.3.1: a transport error is reported to the TU as a 503."""
        if not self.terminated:
            self._give_up(503, "Service Unavailable (transport error)")

    def _give_up(self, status: int, reason: str) -> None:
        response = make_response(self.request, status, reason)
        self._events.append(ResponseReceived(self.key, response, synthetic=True))
        self._terminate()


class ClientInviteTransaction(ClientTransaction):
    """§17.1.1: Timer A retransmits (T1, doubling, UDP only), Timer B (64*T1) times out to 408."""

    def __init__(
        self,
        key: TransactionKey,
        request: SipRequest,
        destination: Address,
        transport: Transport,
        timers: SipTimers,
        now_ms: float,
    ) -> None:
        super().__init__(key, request, destination, transport, timers)
        self.state = ClientInviteState.CALLING
        self._ack_bytes: bytes | None = None
        self._send(self._request_bytes)
        if not transport.reliable:
            self._start("A", now_ms, timers.t1_ms)
        self._start("B", now_ms, timers.transaction_timeout_ms)

    def receive(self, response: SipResponse, now_ms: float) -> None:
        state = self.state
        if state in (ClientInviteState.CALLING, ClientInviteState.PROCEEDING):
            self._stop("A", "B")
            self._events.append(ResponseReceived(self.key, response))
            if response.provisional:
                self.state = ClientInviteState.PROCEEDING
            elif response.success:
                self.state = ClientInviteState.ACCEPTED
                self._start("M", now_ms, self.timers.transaction_timeout_ms)
            else:
                self.state = ClientInviteState.COMPLETED
                self._ack_bytes = self._ack_for(response).to_bytes()
                self._send(self._ack_bytes)
                self._start_or_terminate("D", now_ms, self._unreliable_ms(self.timers.timer_d_ms))
        elif state is ClientInviteState.ACCEPTED:
            if response.success:  # 2xx retransmissions go to the TU, which re-sends its ACK
                self._events.append(ResponseReceived(self.key, response))
        elif state is ClientInviteState.COMPLETED:
            if not response.provisional and not response.success and self._ack_bytes is not None:
                self._send(self._ack_bytes)
        else:
            raise TransactionStateError(self.key, state, f"receive {response.status}")

    def _fire(self, name: str, at_ms: float) -> None:
        if name == "A" and self.state is ClientInviteState.CALLING:
            self._send(self._request_bytes)
            self._start("A", at_ms, self._intervals["A"] * 2)
        elif name == "B" and self.state is ClientInviteState.CALLING:
            self._give_up(408, "Request Timeout")
        elif name in ("D", "M"):
            self._terminate()

    def _ack_for(self, response: SipResponse) -> SipRequest:
        """§17.1.1.3: the ACK for a non-2xx shares the INVITE's branch, Request-URI, From and Route."""
        original = self.request.headers
        headers = Headers()
        headers.add("Via", original.values("Via")[0])
        for route in original.get_all("Route"):
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", original.get("From") or "")
        headers.add("To", response.headers.get("To") or "")
        headers.add("Call-ID", original.get("Call-ID") or "")
        headers.add("CSeq", f"{self.request.cseq.number} ACK")
        return SipRequest(headers=headers, method="ACK", uri=self.request.uri)


class ClientNonInviteTransaction(ClientTransaction):
    """§17.1.2: Timer E retransmits (T1 doubling to T2; T2 once a 1xx came), Timer F times out to 408."""

    def __init__(
        self,
        key: TransactionKey,
        request: SipRequest,
        destination: Address,
        transport: Transport,
        timers: SipTimers,
        now_ms: float,
    ) -> None:
        super().__init__(key, request, destination, transport, timers)
        self.state = ClientNonInviteState.TRYING
        self._send(self._request_bytes)
        if not transport.reliable:
            self._start("E", now_ms, timers.t1_ms)
        self._start("F", now_ms, timers.transaction_timeout_ms)

    def receive(self, response: SipResponse, now_ms: float) -> None:
        state = self.state
        if state in (ClientNonInviteState.TRYING, ClientNonInviteState.PROCEEDING):
            self._events.append(ResponseReceived(self.key, response))
            if response.provisional:
                self.state = ClientNonInviteState.PROCEEDING
            else:
                self.state = ClientNonInviteState.COMPLETED
                self._stop("E", "F")
                self._start_or_terminate("K", now_ms, self._unreliable_ms(self.timers.t4_ms))
        elif state is ClientNonInviteState.COMPLETED:
            return  # retransmitted finals are absorbed
        else:
            raise TransactionStateError(self.key, state, f"receive {response.status}")

    def _fire(self, name: str, at_ms: float) -> None:
        if name == "E":
            self._send(self._request_bytes)
            if self.state is ClientNonInviteState.TRYING:
                interval = min(self._intervals["E"] * 2, self.timers.t2_ms)
            else:
                interval = self.timers.t2_ms
            self._start("E", at_ms, interval)
        elif name == "F":
            self._give_up(408, "Request Timeout")
        elif name == "K":
            self._terminate()
