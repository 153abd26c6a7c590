"""SIP for phone lines, sans-I/O: RFC 3261 signalling, SDP offer/answer and RTP/RTCP, fed bytes and time.

Nothing in this package opens a socket, starts a task or reads a clock. The asyncio endpoint that joins it
to `voicerouter serve` is a thin loop around two objects per the contract below.

Signalling: one `UserAgent` per SIP listening address
------------------------------------------------------
    ua = UserAgent(UserAgentConfig(advertised_host=public_ip, port=5060, allowed_sources=(...,)))

Input (the loop passes `now_ms` from its own monotonic clock, e.g. `loop.time() * 1000`):
  * UDP: `ua.receive_datagram(data, Address(ip, port), now_ms)` for every datagram.
  * TCP/TLS: one `SipStreamParser` per connection; for each item of `parser.feed(data)`, call
    `ua.receive_message(msg, source, Transport.TCP, now_ms)` or, for a `SipParseError`,
    `ua.receive_parse_error(err, source, Transport.TCP)`; close the connection when `err.fatal`
    (and answer `parser.keepalives` CRLFCRLF pings with CRLF).
  * Time: after every call into the UA, re-arm one timer at `ua.next_timer_ms()` (None: none due) and
    call `ua.on_timer(now_ms)` when it fires.

Output, drained after every call into the UA:
  * `ua.data_to_send()` → `Outbound(data, destination, transport)`: `sendto` over UDP; over TCP write
    to the connection the request came on (or open one to `destination`). A destination host may be a
    name (a registrar, a REFER target's proxy): resolve it (RFC 3263) off the loop.
  * `ua.events()` → `IncomingCall`, `CallEstablished`, `MediaUpdated`, `CallEnded`, `TransferUpdated`,
    `RegistrationUpdated`, `MessageRejected` (log these with their source).

Decisions the application makes about a call (each may raise `UnknownCall` for a call already released,
or `IllegalCallTransition` when its state forbids it):
  * on `IncomingCall` (pick the agent from `event.user`): `ua.ring(call_id, now_ms)`, then
    `ua.accept(call_id, LocalMedia(public_ip, rtp_port), now_ms)` → `NegotiatedMedia` (None if a
    488 was sent instead), or `ua.reject(call_id, 404 | 403 | 486 | 503, now_ms, retry_after_s=...)`;
    an INVITE left undecided gets 480 after `unanswered_timeout_s`.
  * `ua.hangup(call_id, now_ms)` (sends BYE, deferred until the ACK if needed);
    `ua.transfer(call_id, "sip:+15550001111@pbx", now_ms)` (REFER; `TransferUpdated` follows and the
    call ends with `EndReason.TRANSFERRED` once the transferee's NOTIFY reports 2xx).
  * `ua.register(RegistrationConfig(...), now_ms)` / `ua.unregister(id, now_ms)` for trunks that need it.
  * `ua.counts()` → live calls, dialogs, transactions, registrations: all zero after the last call's
    timers have run (the no-leak check).

Media: one `RtpSession` per established call
---------------------------------------------
On `CallEstablished`, create `RtpSession(event.media, ssrc=..., cname=...)` bound to the RTP port given in
`LocalMedia` (RTCP on the next port); on `MediaUpdated`, `session.update_media(event.media)` (hold,
unhold, new codec); on `CallEnded`, send `session.goodbye(...)` and close.
  * in: `session.receive_rtp(data, source, now_ms)` → DTMF digits (RFC 4733) completed by the packet;
    or in two steps, `session.admit_rtp(...)` (parse, sender check; None = not this call's) and then
    `session.feed_rtp(packet, now_ms)`, so per-call limits only count the call's own packets;
    `session.receive_rtcp(data, source, now_ms)`.
  * caller audio: `session.pop_audio()` once per packet time (20 ms) → G.711 payload, concealed when lost;
    decode with `voicerouter.audio.g711`.
  * agent audio: `session.push_audio(g711_bytes)`; `session.clear_audio()` on a confirmed barge-in
    (silence from the next packet on).
  * send: `session.packets_due(now_ms)` at `session.next_timer_ms()` (paced on RTP timestamps, silence when
    the agent is quiet, to the symmetric-latched address), and `session.rtcp_due(now_ms, time.time())`.
"""

from voicerouter.media.sip.call import CallState, IllegalCallTransition
from voicerouter.media.sip.call_control import UnknownCall
from voicerouter.media.sip.offer_answer import PCMA, PCMU, Codec, Direction, LocalMedia, NegotiatedMedia
from voicerouter.media.sip.parser import SipParseError, SipStreamParser, parse_datagram
from voicerouter.media.sip.registration import RegistrationConfig
from voicerouter.media.sip.rtp_session import Datagram, RtpSession
from voicerouter.media.sip.transaction_base import SipTimers
from voicerouter.media.sip.transport import Address, Outbound, Transport
from voicerouter.media.sip.ua_events import (
    CallEnded,
    CallEstablished,
    EndReason,
    IncomingCall,
    MediaUpdated,
    MessageRejected,
    RegistrationUpdated,
    TransferUpdated,
    UaEvent,
)
from voicerouter.media.sip.ua_support import UserAgentConfig
from voicerouter.media.sip.useragent import UaCounts, UserAgent

__all__ = [
    "PCMA",
    "PCMU",
    "Address",
    "CallEnded",
    "CallEstablished",
    "CallState",
    "Codec",
    "Datagram",
    "Direction",
    "EndReason",
    "IllegalCallTransition",
    "IncomingCall",
    "LocalMedia",
    "MediaUpdated",
    "MessageRejected",
    "NegotiatedMedia",
    "Outbound",
    "RegistrationConfig",
    "RegistrationUpdated",
    "RtpSession",
    "SipParseError",
    "SipStreamParser",
    "SipTimers",
    "TransferUpdated",
    "Transport",
    "UaCounts",
    "UaEvent",
    "UnknownCall",
    "UserAgent",
    "UserAgentConfig",
    "parse_datagram",
]
