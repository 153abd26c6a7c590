"""One phone call over SIP/RTP: its RTP sockets, its `RtpSession`, the paced media tick and its pipeline.

Every 20 ms (on the RTP timeline, never by drifting sleeps) the call sends the packets that are due — the
agent's voice, or silence so trunks keep the call — pops one frame of the caller from the jitter buffer,
decodes it and feeds the pipeline at 8 kHz. Keys pressed (RFC 4733) are recorded as `user.dtmf`; the
transfer key or the agent's `transfer_to_human` tool asks the endpoint for a REFER. Every way a call ends
resolves one future; one task then closes the pipeline, says RTCP BYE and frees the ports. It never
parses SIP and never touches another call.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, Protocol

from voicerouter import events as ev
from voicerouter.audio.g711 import alaw2lin, lin2alaw, lin2ulaw, ulaw2lin
from voicerouter.call.pipeline import AudioCallPipeline
from voicerouter.config import SipConfig
from voicerouter.engine import io
from voicerouter.media.backpressure import StreamGate
from voicerouter.media.context import ServeContext
from voicerouter.media.sip.offer_answer import NegotiatedMedia
from voicerouter.media.sip.rtp_session import RtpSession
from voicerouter.media.sip.transport import Address
from voicerouter.media.sip.ua_events import IncomingCall, TransferUpdated
from voicerouter.media.sip_io.metrics import SipMetrics
from voicerouter.media.sip_io.policy import RtpPortPool
from voicerouter.media.sip_io.rtp_sockets import RtpSocketPair

log = logging.getLogger(__name__)

RATE_HZ = 8000  # G.711 narrowband: the pipeline runs the call at the phone network's rate
RTP_TIMEOUT_S = 60.0  # no RTP before the call has a pipeline (then its audio.media_timeout_s applies)
ESTABLISH_TIMEOUT_S = 60.0  # past the stack's own ACK timeout (64*T1): a last guard, never normally hit
TRANSFER_TOOL = "transfer_to_human"


class SipCallControl(Protocol):
    """What a call asks of its endpoint: the SIP decisions, which only the endpoint's user agent can make."""

    context: ServeContext
    config: SipConfig
    metrics: SipMetrics
    ports: RtpPortPool
    bind_host: str

    def now_ms(self) -> float: ...

    def accept(self, leg: SipCallLeg) -> NegotiatedMedia | None: ...

    def reject(self, call_id: str, status: int) -> None: ...

    def hangup(self, call_id: str) -> None: ...

    def transfer(self, call_id: str) -> str | None: ...

    def leg_done(self, leg: SipCallLeg) -> None: ...


class SipTransport:
    """The pipeline's view of the phone: agent PCM16 → G.711 → the RTP sender's queue."""

    kind = "sip"
    marks = False  # RTP has no echo of what played: the sender's own timeline says what was heard

    def __init__(self, leg: SipCallLeg) -> None:
        self._leg = leg

    async def send_audio(self, pcm16: bytes) -> None:
        session = self._leg.session
        if session is not None:
            encode = lin2alaw if session.media.codec.name == "PCMA" else lin2ulaw
            session.push_audio(encode(pcm16))

    async def send_mark(self, name: str) -> None:
        return None

    async def clear(self) -> None:
        """Barge-in: the agent audio not yet sent is dropped; the next packet (≤ 20 ms away) is silence."""
        session = self._leg.session
        if session is not None:
            session.clear_audio()

    def notify(self, payload: dict[str, Any]) -> None:
        return None  # no event channel on a phone line: read them from /calls/{id}

    async def hang_up(self, reason: str) -> None:
        self._leg.end(reason)
        self._leg.control.hangup(self._leg.call_id)


def rtp_audio_ms(packet: bytes) -> float:
    """The audio one G.711 RTP packet carries (8 samples a ms, one byte each), past its fixed header and
    CSRCs; extensions and padding are rare enough to leave in an estimate used only to spot floods."""
    csrc_bytes = 4 * (packet[0] & 0x0F) if packet else 0
    return max(0, len(packet) - 12 - csrc_bytes) / 8.0


class SipCallLeg:
    def __init__(self, control: SipCallControl, incoming: IncomingCall, agent: str) -> None:
        loop = asyncio.get_running_loop()
        self.control = control
        self.call_id = incoming.call_id
        self.agent = agent
        self.caller = incoming.caller
        self.source = incoming.source
        self.transport = SipTransport(self)
        self.sockets: RtpSocketPair | None = None
        self.session: RtpSession | None = None
        self.pipeline: AudioCallPipeline | None = None
        self.transfer_target: str | None = None
        self.digits: list[str] = []
        self._established: asyncio.Future[NegotiatedMedia] = loop.create_future()
        self._ended: asyncio.Future[str] = loop.create_future()
        self._last_rtp_ms = 0.0
        self.gate = StreamGate.for_registry("sip", control.context.services.metrics.registry)
        self.task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()

    # ---- from the endpoint (synchronous, inside its event dispatch)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"sip call {self.call_id}")

    def established(self, media: NegotiatedMedia) -> None:
        if not self._established.done():
            self._established.set_result(media)

    def media_updated(self, media: NegotiatedMedia) -> None:
        if self.session is not None:
            self.session.update_media(media)
            log.info("sip call %s: media now %s %s", self.call_id, media.codec.name, media.direction.value)

    def end(self, reason: str) -> None:
        """Ask the call to end (idempotent; the first reason wins)."""
        if not self._ended.done():
            self._ended.set_result(reason)

    @property
    def ending(self) -> bool:
        return self._ended.done()

    def transfer_updated(self, event: TransferUpdated) -> None:
        if not event.final:
            return
        result = "succeeded" if event.succeeded else "failed"
        self.control.metrics.transfers.inc(1, result)
        if event.succeeded and self.transfer_target is not None:
            self._record(ev.CallTransferred, target=self.transfer_target)
        else:
            log.warning("sip call %s: transfer to %s failed (%d); the agent stays on the line",
                        self.call_id, self.transfer_target, event.status)  # fmt: skip

    # ---- lifecycle

    async def _run(self) -> None:
        reason = "caller hung up"
        try:
            reason = await self._answer_and_serve()
        except asyncio.CancelledError:
            reason = "server shutting down"
            raise
        except Exception:
            log.exception("sip call %s failed", self.call_id)
            self.control.context.services.metrics.call_errors.inc(1, "internal")
            reason = "internal error"
        finally:
            await asyncio.shield(self._finish(reason))

    async def _answer_and_serve(self) -> str:
        control = self.control
        self.sockets = await RtpSocketPair.bind(control.bind_host, control.ports, self._on_rtp, self._on_rtcp)
        if self.sockets is None:
            control.reject(self.call_id, 503)
            return "no free RTP port"
        if control.config.ring_ms and not self.ending:
            await asyncio.wait([self._ended], timeout=control.config.ring_ms / 1000.0)
        if self.ending or control.accept(self) is None:
            return self._ended.result() if self.ending else "no common codec"
        waiters: list[asyncio.Future[Any]] = [self._established, self._ended]
        await asyncio.wait(waiters, timeout=ESTABLISH_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        if self.ending:
            return self._ended.result()
        if not self._established.done():
            return "the caller never acknowledged the answer"
        media = self._established.result()
        self.session = RtpSession(
            media,
            ssrc=secrets.randbits(32),
            cname=f"voicerouter-{secrets.token_hex(4)}",
            first_sequence=secrets.randbits(16),
            first_timestamp=secrets.randbits(32),
            jitter_target_ms=control.config.jitter_target_ms,
        )
        self._last_rtp_ms = control.now_ms()
        self.pipeline = await control.context.open_call(
            self.transport, agent=self.agent, caller=self.caller, rate_hz=RATE_HZ
        )
        self.pipeline.session.add_action_observer(self._on_engine_action)
        log.info("sip call %s is call %s (agent %s, %s from %s)", self.call_id, self.pipeline.call_id,
                 self.agent, media.codec.name, self.source)  # fmt: skip
        await self._media_loop(self.session)
        return self._ended.result()

    async def _finish(self, reason: str) -> None:
        self.end(reason)
        try:
            if self.pipeline is not None:
                await self.control.context.close_call(self.pipeline, reason)  # its hang_up sends our BYE
            else:
                self.control.hangup(self.call_id)
            if self.session is not None and self.sockets is not None:
                bye = self.session.goodbye(self.control.now_ms(), time.time())
                self.sockets.send_rtcp(bye.data, bye.destination)
        except Exception:
            log.exception("sip call %s: closing failed", self.call_id)
        finally:
            if self.sockets is not None:
                self.sockets.close()
            self.done.set()
            self.control.leg_done(self)

    # ---- media

    async def _media_loop(self, session: RtpSession) -> None:
        while not self.ending:
            now_ms = self.control.now_ms()
            due_ms = session.next_timer_ms()
            if due_ms is not None and due_ms > now_ms:
                await asyncio.sleep((due_ms - now_ms) / 1000.0)
                continue
            self._tick(session, now_ms)
            timeout_s = self._media_timeout_s()
            if session.media.direction.receives and now_ms - self._last_rtp_ms > timeout_s * 1000:
                log.warning("sip call %s: no RTP for %.0f s, hanging up", self.call_id, timeout_s)
                self.end("media_timeout")
                self.control.hangup(self.call_id)

    def _media_timeout_s(self) -> float:
        """The call's `audio.media_timeout_s` once it has a pipeline (the jitter buffer feeds the pipeline
        concealment frames, so only RTP itself tells that the caller went quiet)."""
        if self.pipeline is None:
            return RTP_TIMEOUT_S
        return self.pipeline.engine.config.audio.media_timeout_s

    def _tick(self, session: RtpSession, now_ms: float) -> None:
        """Send what is due, feed the caller's frames for the packet times that passed, send RTCP."""
        assert self.sockets is not None
        sender = session.sender
        metrics = self.control.metrics
        before_ms = sender.next_send_ms()
        skipped = sender.frames_skipped
        packets = session.packets_due(now_ms)
        after_ms = sender.next_send_ms()
        assert after_ms is not None
        frame_ms = float(sender.frame_ms)
        for i, packet in enumerate(packets):
            self.sockets.send_rtp(packet.data, packet.destination)
            metrics.rtp_sent(now_ms - (after_ms - (len(packets) - i) * frame_ms))
        if sender.frames_skipped > skipped:
            metrics.rtp_packets_late.inc(sender.frames_skipped - skipped)
        frames = round((after_ms - (before_ms if before_ms is not None else now_ms)) / frame_ms)
        payload = b"".join(session.pop_audio().payload for _ in range(frames))
        pipeline = self.pipeline
        if payload and pipeline is not None:
            decode = alaw2lin if session.media.codec.name == "PCMA" else ulaw2lin
            pipeline.push_audio(decode(payload))
        for report in session.rtcp_due(now_ms, time.time()):
            self.sockets.send_rtcp(report.data, report.destination)

    def _on_rtp(self, data: bytes, source: Address) -> None:
        session = self.session
        if session is None or self.ending:
            return  # before the ACK, or after the end: nothing to play it into
        self.control.metrics.rtp_packets_received.inc()
        now_ms = self.control.now_ms()
        # The sender check comes first: packets from another address (or junk) are dropped there and
        # neither count toward this call's flood limit nor keep a silent call alive.
        packet = session.admit_rtp(data, source, now_ms)
        if packet is None:
            return
        self._last_rtp_ms = now_ms
        if not self.gate.screen(rtp_audio_ms(data)):
            if self.gate.flooding:
                log.warning("sip call %s: %s, hanging up", self.call_id, self.gate.flood_message())
                self.end("media_flood")
                self.control.hangup(self.call_id)  # BYE
            return
        for digit in session.feed_rtp(packet, now_ms):
            self._on_digit(digit.digit)

    def _on_rtcp(self, data: bytes, source: Address) -> None:
        if self.session is not None and not self.ending:
            self.session.receive_rtcp(data, source, self.control.now_ms())

    # ---- keys, transfers and the engine's actions

    def _on_digit(self, digit: str) -> None:
        self.digits.append(digit)
        self.control.metrics.dtmf_digits.inc()
        if len(digit) == 1:  # 'flash' and unnamed events are not keys
            self._record(ev.UserDtmf, digit=digit)
        if digit == self.control.config.transfer_digit:
            self._transfer("caller pressed " + digit)

    def _on_engine_action(self, action: io.Action) -> None:
        """The agent's transfer tool is carried out here too: SIP hands the caller over with a REFER."""
        if isinstance(action, io.RunTool) and action.name == TRANSFER_TOOL:
            self._transfer(f"agent tool {TRANSFER_TOOL}")

    def _transfer(self, why: str) -> None:
        if self.transfer_target is not None or self.ending:
            return  # one transfer per call
        target = self.control.transfer(self.call_id)
        if target is not None:
            self.transfer_target = target
            log.info("sip call %s: transferring to %s (%s)", self.call_id, target, why)

    def _record(self, cls: type[ev._Event], **fields: object) -> None:
        """An event this transport observed, stamped on the call's timeline and recorded like the engine's."""
        if self.pipeline is not None:
            self.pipeline.record(cls, **fields)
