"""One inbound call as the UAS sees it: an explicit state table, the 2xx-until-ACK timers, transfer state.

The table is the only way a call changes state, so a test can walk it exhaustively and every other move
is an `IllegalCallTransition`. The call holds state only: it never builds or sends a message itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from voicerouter.media.sip.dialog import Dialog
from voicerouter.media.sip.message import SipRequest
from voicerouter.media.sip.offer_answer import LocalMedia, NegotiatedMedia
from voicerouter.media.sip.sdp import SessionDescription
from voicerouter.media.sip.transaction_base import SipTimers, TransactionKey
from voicerouter.media.sip.transport import Address, Transport
from voicerouter.media.sip.ua_events import EndReason


class CallState(StrEnum):
    INCOMING = "incoming"  # INVITE received, the application is deciding
    RINGING = "ringing"  # 180 sent: an early dialog exists
    ANSWERED = "answered"  # 200 OK sent, retransmitted until the ACK
    CONFIRMED = "confirmed"  # ACK received: media flows
    ENDING = "ending"  # our BYE is out, waiting for its final response
    ENDED = "ended"


class CallTrigger(StrEnum):
    RING = "ring"
    ANSWER = "answer"
    ACK = "ack"
    REJECT = "reject"
    CANCEL = "cancel"
    REMOTE_BYE = "remote_bye"
    LOCAL_BYE = "local_bye"
    BYE_DONE = "bye_done"
    ACK_TIMEOUT = "ack_timeout"
    TRANSFER = "transfer"


_EARLY = (CallState.INCOMING, CallState.RINGING)
TRANSITIONS: dict[tuple[CallState, CallTrigger], CallState] = {
    (CallState.INCOMING, CallTrigger.RING): CallState.RINGING,
    (CallState.RINGING, CallTrigger.RING): CallState.RINGING,
    **{(state, CallTrigger.ANSWER): CallState.ANSWERED for state in _EARLY},
    **{(state, CallTrigger.REJECT): CallState.ENDED for state in _EARLY},
    **{(state, CallTrigger.CANCEL): CallState.ENDED for state in _EARLY},
    (CallState.RINGING, CallTrigger.REMOTE_BYE): CallState.ENDED,  # §15: a BYE may end an early dialog
    (CallState.ANSWERED, CallTrigger.ACK): CallState.CONFIRMED,
    (CallState.CONFIRMED, CallTrigger.ACK): CallState.CONFIRMED,  # the ACK of a re-INVITE's 200
    (CallState.ANSWERED, CallTrigger.REMOTE_BYE): CallState.ENDED,  # the ACK was lost, the BYE was not
    (CallState.CONFIRMED, CallTrigger.REMOTE_BYE): CallState.ENDED,
    (CallState.ENDING, CallTrigger.REMOTE_BYE): CallState.ENDING,  # both hung up at once
    (CallState.CONFIRMED, CallTrigger.LOCAL_BYE): CallState.ENDING,
    (CallState.ANSWERED, CallTrigger.ACK_TIMEOUT): CallState.ENDING,
    (CallState.ENDING, CallTrigger.BYE_DONE): CallState.ENDED,
    (CallState.CONFIRMED, CallTrigger.TRANSFER): CallState.CONFIRMED,  # REFER: the call goes on meanwhile
}


class IllegalCallTransition(Exception):
    def __init__(self, call_id: str, state: CallState, trigger: CallTrigger) -> None:
        super().__init__(f"call {call_id}: cannot {trigger.value} while {state.value}")
        self.call_id = call_id
        self.state = state
        self.trigger = trigger


class TransferState(StrEnum):
    NONE = "none"
    REQUESTED = "requested"  # REFER sent
    ACCEPTED = "accepted"  # 202 received; NOTIFYs report progress
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(slots=True)
class PendingOk:
    """A 2xx to an INVITE awaiting its ACK: resent at T1, 2*T1, ... capped at T2 until 64*T1 (§13.3.1.4)."""

    cseq: int
    data: bytes
    destination: Address
    transport: Transport
    next_at_ms: float
    interval_ms: float
    give_up_at_ms: float

    @classmethod
    def start(
        cls,
        cseq: int,
        data: bytes,
        destination: Address,
        transport: Transport,
        now_ms: float,
        timers: SipTimers,
    ) -> PendingOk:
        resend = float("inf") if transport.reliable else now_ms + timers.t1_ms
        return cls(
            cseq, data, destination, transport, resend, timers.t1_ms, now_ms + timers.transaction_timeout_ms
        )

    def next_deadline_ms(self) -> float:
        return min(self.next_at_ms, self.give_up_at_ms)


@dataclass(slots=True)
class SipCall:
    call_id: str
    invite: SipRequest
    invite_key: TransactionKey
    source: Address
    transport: Transport
    local_tag: str
    dialog: Dialog
    offer: SessionDescription | None
    state: CallState = CallState.INCOMING
    local_media: LocalMedia | None = None
    media: NegotiatedMedia | None = None
    local_sdp: SessionDescription | None = None
    sdp_version: int = 0
    pending_ok: PendingOk | None = None
    reinvite_key: TransactionKey | None = None
    awaiting_answer_in_ack: bool = False  # we offered in a 200 OK; the answer comes in the ACK
    bye_requested: bool = False  # hang-up asked for before the ACK: send BYE when it comes
    bye_key: TransactionKey | None = None
    transfer: TransferState = TransferState.NONE
    transfer_key: TransactionKey | None = None
    end_reason: EndReason | None = None
    established: bool = False
    answer_deadline_ms: float | None = None  # an unanswered call is refused (480) after this

    def fire(self, trigger: CallTrigger) -> CallState:
        try:
            self.state = TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise IllegalCallTransition(self.call_id, self.state, trigger) from None
        return self.state

    def can(self, trigger: CallTrigger) -> bool:
        return (self.state, trigger) in TRANSITIONS

    @property
    def releasable(self) -> bool:
        """Nothing left to wait for: the user agent may forget this call."""
        return self.state is CallState.ENDED and self.bye_key is None and self.pending_ok is None

    def next_timer_ms(self) -> float | None:
        if self.pending_ok is not None:
            return self.pending_ok.next_deadline_ms()
        return self.answer_deadline_ms if self.state in _EARLY else None
