"""A small fixed-delay jitter buffer for G.711 RTP: reorder, drop duplicates and late packets, conceal loss.

The consumer pops one frame per packet time on its own clock; the buffer starts playing once it holds
`target_ms`, waits (and conceals) when the next packet is merely late, skips it when later ones are
already here, and trims itself past `max_ms`. It never reads a clock and never decodes audio.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Literal

from voicerouter.media.sip.rtp import RtpPacket, seq_delta

SILENCE_BYTE = {"PCMU": 0xFF, "PCMA": 0xD5}  # G.711 codes for a zero sample
_RESYNC_JUMP = 1000  # a sequence jump this large means the sender restarted
_PLAYED_MEMORY = 128  # sequence numbers remembered to tell a duplicate from a late packet

FrameKind = Literal["audio", "repeat", "silence"]


@dataclass(frozen=True, slots=True)
class PlayoutFrame:
    payload: bytes
    kind: FrameKind
    sequence: int | None = None  # RTP sequence number of an "audio" frame


@dataclass(slots=True)
class JitterStats:
    received: int = 0
    played: int = 0
    concealed: int = 0  # frames invented for lost packets (repeat, then silence)
    duplicates: int = 0
    late: int = 0  # arrived after their slot was played or skipped
    overflow_dropped: int = 0
    underruns: int = 0  # pops with nothing to play while the stream was running
    resets: int = 0  # new SSRC or sequence discontinuity

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class JitterBuffer:
    def __init__(
        self,
        *,
        codec: str = "PCMU",
        frame_ms: int = 20,
        target_ms: int = 60,
        max_ms: int = 140,
        clock_rate_hz: int = 8000,
    ) -> None:
        if not frame_ms <= target_ms < max_ms:
            raise ValueError(
                f"jitter buffer needs frame_ms <= target_ms < max_ms, got {frame_ms}/{target_ms}/{max_ms}"
            )
        self.frame_ms = frame_ms
        self.target_ms = target_ms
        self.max_ms = max_ms
        self.stats = JitterStats()
        self._silence_byte = SILENCE_BYTE.get(codec.upper(), 0xFF)
        self._frame_bytes = frame_ms * clock_rate_hz // 1000
        self._packets: dict[int, RtpPacket] = {}  # by extended sequence number
        self._played: deque[int] = deque(maxlen=_PLAYED_MEMORY)
        self._ssrc: int | None = None
        self._highest: int | None = None
        self._next: int | None = None
        self._playing = False
        self._last_payload: bytes | None = None
        self._concealed_run = 0

    @property
    def depth_ms(self) -> int:
        return len(self._packets) * self.frame_ms

    @property
    def playing(self) -> bool:
        return self._playing

    def put(self, packet: RtpPacket) -> None:
        if self._ssrc is not None and packet.ssrc != self._ssrc:
            self._reset()
        self._ssrc = packet.ssrc
        extended = self._extend(packet.sequence)
        if self._highest is not None and abs(extended - self._highest) > _RESYNC_JUMP:
            self._reset()
            self._ssrc = packet.ssrc
            extended = self._extend(packet.sequence)
        if extended in self._packets or extended in self._played:
            self.stats.duplicates += 1
            return
        if self._next is not None and extended < self._next:
            self.stats.late += 1
            return
        if packet.marker and self._playing and not self._packets:
            self._playing, self._next = False, None  # a new talkspurt after silence: rebuffer
        self._packets[extended] = packet
        self._highest = extended if self._highest is None else max(self._highest, extended)
        self.stats.received += 1
        if packet.payload:
            self._frame_bytes = len(packet.payload)
        if not self._playing and self.depth_ms >= self.target_ms:
            self._playing = True
            if self._next is None:
                self._next = min(self._packets)
        while self.depth_ms > self.max_ms:
            oldest = min(self._packets)
            del self._packets[oldest]
            self._played.append(oldest)
            self.stats.overflow_dropped += 1
            self._next = min(self._packets)

    def pop(self) -> PlayoutFrame:
        """The frame for this packet time: audio, or concealment (a repeat of the last, then silence)."""
        if not self._playing or self._next is None:
            return self._silence()
        packet = self._packets.pop(self._next, None)
        if packet is not None:
            self._played.append(self._next)
            self._next += 1
            self._last_payload = packet.payload
            self._concealed_run = 0
            self.stats.played += 1
            return PlayoutFrame(packet.payload, "audio", packet.sequence)
        if self._packets:  # a gap with later packets waiting: that one is lost
            self._next += 1
            self.stats.concealed += 1
            return self._conceal()
        self.stats.underruns += 1  # nothing newer yet: the next packet is late, wait for it
        return self._conceal()

    def _conceal(self) -> PlayoutFrame:
        self._concealed_run += 1
        if self._concealed_run == 1 and self._last_payload is not None:
            return PlayoutFrame(self._last_payload, "repeat")
        return self._silence()

    def _silence(self) -> PlayoutFrame:
        return PlayoutFrame(bytes([self._silence_byte]) * self._frame_bytes, "silence")

    def _extend(self, sequence: int) -> int:
        reference = self._highest
        if reference is None:
            return sequence
        return reference + seq_delta(sequence, reference % 65536)

    def _reset(self) -> None:
        self.stats.resets += 1
        self._packets.clear()
        self._played.clear()
        self._highest = self._next = None
        self._playing = False
        self._concealed_run = 0
