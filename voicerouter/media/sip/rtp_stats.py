"""Receive-side RTP statistics (RFC 3550 A.1, A.3, A.8): extended sequence, loss and interarrival jitter.

They fill the report blocks of our RTCP reports; arrival times are passed in (ms on the caller's clock),
never read here.
"""

from __future__ import annotations

from voicerouter.media.sip.rtcp import ReportBlock
from voicerouter.media.sip.rtp import SEQ_MOD, RtpPacket, seq_delta

_MAX_DROPOUT = 3000  # a jump this large starts a new sequence (a restarted sender), RFC 3550 A.1


class ReceiverStats:
    def __init__(self, clock_rate_hz: int = 8000) -> None:
        self.clock_rate_hz = clock_rate_hz
        self.ssrc: int | None = None
        self.received = 0
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._transit: float | None = None
        self._jitter = 0.0
        self._last_sr: int = 0
        self._last_sr_at_ms: float | None = None

    @property
    def extended_max_sequence(self) -> int:
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        return self.extended_max_sequence - self._base_seq + 1 if self.received else 0

    @property
    def cumulative_lost(self) -> int:
        return self.expected - self.received

    @property
    def jitter(self) -> float:
        """Interarrival jitter in timestamp units (divide by clock_rate_hz/1000 for ms)."""
        return self._jitter

    def update(self, packet: RtpPacket, arrival_ms: float) -> None:
        if self.ssrc != packet.ssrc:
            self._restart(packet)
        else:
            delta = seq_delta(packet.sequence, self._max_seq)
            if delta > 0:
                if packet.sequence < self._max_seq:
                    self._cycles += SEQ_MOD
                self._max_seq = packet.sequence
            elif -delta > _MAX_DROPOUT:
                self._restart(packet)
        self.received += 1
        transit = arrival_ms * self.clock_rate_hz / 1000.0 - packet.timestamp
        if self._transit is not None:
            difference = abs(transit - self._transit)
            self._jitter += (difference - self._jitter) / 16.0
        self._transit = transit

    def sender_report_received(self, ntp_middle: int, arrival_ms: float) -> None:
        """Remember the last SR so our report can echo LSR and DLSR (round-trip time for the peer)."""
        self._last_sr = ntp_middle
        self._last_sr_at_ms = arrival_ms

    def report_block(self, now_ms: float) -> ReportBlock | None:
        """The block for our next SR/RR (None before any packet); resets the per-interval loss."""
        if self.ssrc is None or not self.received:
            return None
        expected_interval = self.expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior, self._received_prior = self.expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = (
            (lost_interval << 8) // expected_interval if expected_interval > 0 and lost_interval > 0 else 0
        )
        dlsr = 0
        if self._last_sr_at_ms is not None:
            dlsr = int((now_ms - self._last_sr_at_ms) * 65.536)
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=min(fraction, 255),
            cumulative_lost=self.cumulative_lost,
            highest_sequence=self.extended_max_sequence,
            jitter=int(self._jitter),
            last_sr=self._last_sr,
            delay_since_last_sr=dlsr,
        )

    def _restart(self, packet: RtpPacket) -> None:
        self.ssrc = packet.ssrc
        self.received = 0
        self._base_seq = self._max_seq = packet.sequence
        self._cycles = 0
        self._expected_prior = self._received_prior = 0
        self._transit = None
        self._jitter = 0.0
