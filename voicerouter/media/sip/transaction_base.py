"""What every RFC 3261 §17 transaction shares: the timer values, the events it reports, its outbox and clock.

A transaction never reads a clock and never sleeps: it keeps named deadlines, tells the caller the next
one (`next_timer_ms`) and acts when `on_timer(now_ms)` says time has come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from voicerouter.media.sip.message import SipRequest, SipResponse
from voicerouter.media.sip.transport import Address, Outbound, Transport


@dataclass(frozen=True, slots=True)
class SipTimers:
    """RFC 3261 Table 4 base values; every other timer derives from them."""

    t1_ms: float = 500.0  # round-trip estimate
    t2_ms: float = 4_000.0  # cap on non-INVITE and 2xx retransmission intervals
    t4_ms: float = 5_000.0  # how long a message may linger in the network
    trying_ms: float = 200.0  # §17.2.1: send 100 Trying if the TU has not answered by then
    timer_d_ms: float = 32_000.0  # wait for final-response retransmissions after a non-2xx to INVITE

    @property
    def transaction_timeout_ms(self) -> float:
        """64*T1: Timers B, F, H, J, L and M."""
        return 64 * self.t1_ms


class TransactionKey(NamedTuple):
    """Identifies a transaction: branch, the method that created it, and for servers the Via sent-by."""

    role: str  # "client" | "server"
    branch: str
    method: str
    sent_by: str = ""


class TransactionStateError(Exception):
    """The TU asked a transaction for something its state does not allow (a named illegal transition)."""

    def __init__(self, key: TransactionKey, state: str, action: str) -> None:
        super().__init__(
            f"{key.role} {key.method} transaction {key.branch}: cannot {action} in state {state}"
        )
        self.key = key
        self.state = state
        self.action = action


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request (not a retransmission) for the TU; answer it with `send_response(key, ...)`."""

    key: TransactionKey
    request: SipRequest
    source: Address
    transport: Transport


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for a client transaction; `synthetic` ones (408 timeout, 503 transport) were made here."""

    key: TransactionKey
    response: SipResponse
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK matching no transaction: the ACK for a 2xx, which belongs to the dialog (§13.3.1.4)."""

    request: SipRequest
    source: Address
    transport: Transport


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response matching no client transaction (a retransmitted 2xx after the transaction ended)."""

    response: SipResponse
    source: Address


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """A server transaction gave up: no ACK came for its final response (Timer H)."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    key: TransactionKey


TransactionEvent = (
    RequestReceived
    | ResponseReceived
    | AckReceived
    | StrayResponse
    | TransactionTimedOut
    | TransactionTerminated
)


class Transaction:
    """Shared plumbing: named deadlines, an outbox of bytes and an event queue."""

    state: str

    def __init__(self, key: TransactionKey, peer: Address, transport: Transport, timers: SipTimers) -> None:
        self.key = key
        self.peer = peer
        self.transport = transport
        self.timers = timers
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._outbox: list[Outbound] = []
        self._events: list[TransactionEvent] = []

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    def next_timer_ms(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def on_timer(self, now_ms: float) -> None:
        """Fire every timer due at `now_ms`, earliest first (a fired timer may cancel the others)."""
        while not self.terminated:
            due = [(deadline, name) for name, deadline in self._deadlines.items() if deadline <= now_ms]
            if not due:
                return
            deadline, name = min(due)
            del self._deadlines[name]
            self._fire(name, deadline)

    def data_to_send(self) -> list[Outbound]:
        out, self._outbox = self._outbox, []
        return out

    def events(self) -> list[TransactionEvent]:
        out, self._events = self._events, []
        return out

    def _fire(self, name: str, at_ms: float) -> None:
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        self._outbox.append(Outbound(data, self.peer, self.transport))

    def _start(self, name: str, at_ms: float, interval_ms: float) -> None:
        self._intervals[name] = interval_ms
        self._deadlines[name] = at_ms + interval_ms

    def _start_or_terminate(self, name: str, at_ms: float, duration_ms: float) -> None:
        """A zero-length wait (reliable transports) ends the transaction at once."""
        if duration_ms <= 0:
            self._terminate()
        else:
            self._start(name, at_ms, duration_ms)

    def _stop(self, *names: str) -> None:
        for name in names:
            self._deadlines.pop(name, None)

    def _unreliable_ms(self, duration_ms: float) -> float:
        """Timers D, I, J, K: their duration over UDP, zero over reliable transports."""
        return 0.0 if self.transport.reliable else duration_ms

    def _terminate(self) -> None:
        self.state = "terminated"
        self._deadlines.clear()
        self._events.append(TransactionTerminated(self.key))
