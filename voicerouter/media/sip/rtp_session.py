"""One call's audio leg over RTP, sans-I/O: datagrams in; audio frames, DTMF digits and datagrams out.

It joins symmetric latching, the jitter buffer, RFC 4733 digits, receive statistics, the paced sender
and RTCP sender reports every few seconds. The socket loop owns the sockets and the clocks; this object
never reads either, and never touches G.711 samples (payload bytes only).
"""

from __future__ import annotations

from dataclasses import dataclass

from voicerouter.media.sip.dtmf import DtmfDigit, DtmfError, DtmfReceiver
from voicerouter.media.sip.jitter import JitterBuffer, PlayoutFrame
from voicerouter.media.sip.offer_answer import NegotiatedMedia
from voicerouter.media.sip.pacer import RtpSender
from voicerouter.media.sip.rtcp import (
    Goodbye,
    RtcpError,
    SenderReport,
    build_bye,
    build_receiver_report,
    build_sender_report,
    ntp_timestamp,
    parse_rtcp,
)
from voicerouter.media.sip.rtcp import ReceiverReport as RtcpReceiverReport
from voicerouter.media.sip.rtp import RtpError, RtpPacket, parse_rtp
from voicerouter.media.sip.rtp_stats import ReceiverStats
from voicerouter.media.sip.symmetric import SymmetricRtp
from voicerouter.media.sip.transport import Address

RTCP_INTERVAL_MS = 5_000.0  # RFC 3550 §6.2 minimum for a two-party session


@dataclass(frozen=True, slots=True)
class Datagram:
    data: bytes
    destination: Address


class RtpSession:
    def __init__(
        self,
        media: NegotiatedMedia,
        *,
        ssrc: int,
        cname: str,
        first_sequence: int = 0,
        first_timestamp: int = 0,
        jitter_target_ms: int = 60,
    ) -> None:
        self.media = media
        self.ssrc = ssrc
        self.cname = cname
        self.malformed = 0
        self.remote_ended = False  # the peer sent RTCP BYE
        self._jitter_target_ms = jitter_target_ms
        self._latch = SymmetricRtp(media.remote_rtp, self._payload_types(media))
        self._rtcp_latch: Address | None = None
        self._jitter = self._new_jitter(media)
        self._dtmf = DtmfReceiver()
        self._stats = ReceiverStats()
        self.sender = RtpSender(
            payload_type=media.codec.payload_type,
            ssrc=ssrc,
            codec=media.codec.name,
            first_sequence=first_sequence,
            first_timestamp=first_timestamp,
            frame_ms=media.ptime_ms,
        )
        self.sender.send_enabled = media.direction.sends
        self._next_rtcp_ms: float | None = None

    @property
    def remote_rtp(self) -> Address:
        return self._latch.remote

    @property
    def remote_rtcp(self) -> Address:
        return self._rtcp_latch or self.media.remote_rtcp

    @property
    def jitter(self) -> JitterBuffer:
        return self._jitter

    def receive_rtp(self, data: bytes, source: Address, now_ms: float) -> list[DtmfDigit]:
        """One datagram from the RTP socket; returns the key presses it completed."""
        packet = self.admit_rtp(data, source, now_ms)
        return [] if packet is None else self.feed_rtp(packet, now_ms)

    def admit_rtp(self, data: bytes, source: Address, now_ms: float) -> RtpPacket | None:
        """The datagram parsed when it is this call's media from the call's sender (latching as a side
        effect); None for junk, a payload type not negotiated, a receive-disabled leg or a stranger's
        packet. Anything per-call (flood limits, the media timeout) should only count what this admits."""
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.malformed += 1
            return None
        if not self.media.direction.receives or not self._latch.observe(source, packet, now_ms):
            return None
        return packet

    def feed_rtp(self, packet: RtpPacket, now_ms: float) -> list[DtmfDigit]:
        """An admitted packet into the jitter buffer (or the digit receiver); returns completed digits."""
        if packet.payload_type == self.media.telephone_event_pt:
            try:
                return self._dtmf.feed(packet)
            except DtmfError:
                self.malformed += 1
                return []
        self._stats.update(packet, now_ms)
        self._jitter.put(packet)
        return []

    def receive_rtcp(self, data: bytes, source: Address, now_ms: float) -> None:
        try:
            packets = parse_rtcp(data)
        except RtcpError:
            self.malformed += 1
            return
        self._rtcp_latch = source
        for packet in packets:
            if isinstance(packet, SenderReport):
                self._stats.sender_report_received(packet.ntp_middle, now_ms)
            elif isinstance(packet, Goodbye):
                self.remote_ended = True

    def pop_audio(self) -> PlayoutFrame:
        """The caller's next frame of payload bytes (call once per packet time)."""
        return self._jitter.pop()

    def push_audio(self, payload: bytes) -> None:
        self.sender.push(payload)

    def clear_audio(self) -> int:
        """Barge-in: drop the agent audio not yet sent; the next packet is silence."""
        return self.sender.clear()

    def next_timer_ms(self) -> float | None:
        deadlines = [self.sender.next_send_ms(), self._next_rtcp_ms]
        return min((d for d in deadlines if d is not None), default=None)

    def packets_due(self, now_ms: float) -> list[Datagram]:
        if self._next_rtcp_ms is None:
            self._next_rtcp_ms = now_ms + RTCP_INTERVAL_MS / 2  # RFC 3550 §6.2: the first report comes early
        destination = self.remote_rtp
        return [Datagram(p.data, destination) for p in self.sender.due(now_ms)]

    def rtcp_due(self, now_ms: float, unix_time_s: float) -> list[Datagram]:
        """A sender (or, before we sent anything, receiver) report once its interval has passed."""
        if self._next_rtcp_ms is None or now_ms < self._next_rtcp_ms:
            return []
        self._next_rtcp_ms = now_ms + RTCP_INTERVAL_MS
        return [Datagram(self._report(now_ms, unix_time_s), self.remote_rtcp)]

    def goodbye(self, now_ms: float, unix_time_s: float) -> Datagram:
        """The last RTCP compound of the call: a report, then BYE (RFC 3550 §6.6)."""
        return Datagram(self._report(now_ms, unix_time_s) + build_bye(self.ssrc), self.remote_rtcp)

    def update_media(self, media: NegotiatedMedia) -> None:
        """A re-INVITE settled new media: hold/unhold changes direction; a new codec restarts buffers."""
        if media.codec != self.media.codec:
            self._jitter = self._new_jitter(media)
            self.sender.set_codec(media.codec.payload_type, media.codec.name)
        if media.remote_rtp != self.media.remote_rtp or media.codec != self.media.codec:
            self._latch.reset(media.remote_rtp, self._payload_types(media))
        self.sender.send_enabled = media.direction.sends
        self.media = media

    def _report(self, now_ms: float, unix_time_s: float) -> bytes:
        block = self._stats.report_block(now_ms)
        blocks = (block,) if block is not None else ()
        if self.sender.packets_sent:
            report = SenderReport(
                self.ssrc,
                ntp_timestamp(unix_time_s),
                self.sender.rtp_timestamp_at(now_ms),
                self.sender.packets_sent,
                self.sender.octets_sent,
                blocks,
            )
            return build_sender_report(report, self.cname)
        return build_receiver_report(RtcpReceiverReport(self.ssrc, blocks), self.cname)

    def _new_jitter(self, media: NegotiatedMedia) -> JitterBuffer:
        target = max(self._jitter_target_ms, media.ptime_ms)
        return JitterBuffer(
            codec=media.codec.name,
            frame_ms=media.ptime_ms,
            target_ms=target,
            max_ms=target + 4 * media.ptime_ms,
        )

    @staticmethod
    def _payload_types(media: NegotiatedMedia) -> set[int]:
        types = {media.codec.payload_type}
        if media.telephone_event_pt is not None:
            types.add(media.telephone_event_pt)
        return types
