"""What the SIP user agent tells the application: calls arriving, settling, changing and ending.

Events are small immutable values drained with `UserAgent.events()`; they describe what happened on the
wire and never carry an instruction back to the user agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from voicerouter.media.sip.message import SipRequest
from voicerouter.media.sip.offer_answer import NegotiatedMedia
from voicerouter.media.sip.sdp import SessionDescription
from voicerouter.media.sip.transport import Address, Transport


class EndReason(StrEnum):
    REMOTE_BYE = "remote_bye"
    LOCAL_BYE = "local_bye"
    CANCELLED = "cancelled"  # the caller gave up before we answered (487 sent)
    REJECTED = "rejected"  # we answered with a final error status
    ACK_TIMEOUT = "ack_timeout"  # our 200 OK was never acknowledged (§13.3.1.4): BYE sent
    TRANSFERRED = "transferred"  # REFER succeeded and we left the call
    NO_ANSWER = "no_answer"  # the application never decided: 480 sent after `unanswered_timeout_s`


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A new INVITE passed the checks: answer with `ring`, `accept` or `reject`.

    `user` is the Request-URI user part (`clinic` in `sip:clinic@host`), the usual way to pick an agent;
    `offer` is None for a late-offer INVITE (our offer then goes in the 200 OK).
    """

    call_id: str
    user: str | None
    caller: str
    source: Address
    transport: Transport
    offer: SessionDescription | None
    request: SipRequest


@dataclass(frozen=True, slots=True)
class CallEstablished:
    """The caller ACKed our 200 OK: media may flow as negotiated."""

    call_id: str
    media: NegotiatedMedia


@dataclass(frozen=True, slots=True)
class MediaUpdated:
    """A re-INVITE changed the media (hold, unhold, a new address or codec)."""

    call_id: str
    media: NegotiatedMedia


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    reason: EndReason
    status: int | None = None  # the final status we sent (rejected) or the one that ended a BYE


@dataclass(frozen=True, slots=True)
class TransferUpdated:
    """Progress of a REFER we sent: 202 accepted, then the sipfrag statuses of the NOTIFYs."""

    call_id: str
    status: int
    final: bool
    succeeded: bool


@dataclass(frozen=True, slots=True)
class RegistrationUpdated:
    registration_id: str
    state: str
    status: int | None
    expires_s: int | None


@dataclass(frozen=True, slots=True)
class MessageRejected:
    """A message we refused or dropped, for the log: who sent it, what we answered, and why."""

    source: Address
    status: int | None
    reason: str
    detail: str


UaEvent = (
    IncomingCall
    | CallEstablished
    | MediaUpdated
    | CallEnded
    | TransferUpdated
    | RegistrationUpdated
    | MessageRejected
)
