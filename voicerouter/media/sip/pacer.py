"""Outbound RTP paced on its own timestamps: one packet per frame, comfort silence when the agent is quiet.

Frame k is due at `start + k*frame_ms`; `due(now_ms)` returns every packet whose time has come, so a
late wake-up never drifts the stream. It never sleeps or reads a clock: the socket loop asks
`next_send_ms()` and calls back.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicerouter.media.sip.jitter import SILENCE_BYTE
from voicerouter.media.sip.rtp import RtpPacket


@dataclass(frozen=True, slots=True)
class ScheduledPacket:
    send_at_ms: float
    data: bytes
    silence: bool
    marker: bool


class RtpSender:
    def __init__(
        self,
        *,
        payload_type: int,
        ssrc: int,
        codec: str = "PCMU",
        first_sequence: int = 0,
        first_timestamp: int = 0,
        frame_ms: int = 20,
        clock_rate_hz: int = 8000,
        max_catch_up_frames: int = 5,
    ) -> None:
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.frame_ms = frame_ms
        self.samples_per_frame = frame_ms * clock_rate_hz // 1000
        self.max_catch_up_frames = max_catch_up_frames
        self.send_enabled = True  # False while on hold (inactive/recvonly): time runs, nothing is sent
        self.packets_sent = 0
        self.octets_sent = 0  # payload octets, for RTCP sender reports
        self.frames_skipped = 0
        self.max_late_ms = 0.0
        self._silence = bytes([SILENCE_BYTE.get(codec.upper(), 0xFF)]) * self.samples_per_frame
        self._queue = bytearray()
        self._sequence = first_sequence % 65536
        self._first_timestamp = first_timestamp
        self._start_ms: float | None = None
        self._frame_index = 0
        self._in_talkspurt = False
        self._marker_pending = True  # the first packet of a stream carries the marker

    @property
    def queued_ms(self) -> float:
        return len(self._queue) / self.samples_per_frame * self.frame_ms

    @property
    def started(self) -> bool:
        return self._start_ms is not None

    def start(self, now_ms: float) -> None:
        if self._start_ms is None:
            self._start_ms = now_ms

    def set_codec(self, payload_type: int, codec: str) -> None:
        """A re-INVITE changed codec: later packets use its payload type and silence code."""
        self.payload_type = payload_type
        self._silence = bytes([SILENCE_BYTE.get(codec.upper(), 0xFF)]) * self.samples_per_frame

    def push(self, payload: bytes) -> None:
        """Encoded audio (G.711 bytes, any length) to send after what is already queued."""
        self._queue += payload

    def clear(self) -> int:
        """Drop queued audio at once (barge-in); returns the bytes dropped. Silence follows."""
        dropped = len(self._queue)
        self._queue.clear()
        return dropped

    def next_send_ms(self) -> float | None:
        if self._start_ms is None:
            return None
        return self._start_ms + self._frame_index * self.frame_ms

    def rtp_timestamp_at(self, now_ms: float) -> int:
        """The RTP timestamp that corresponds to `now_ms` (for RTCP sender reports)."""
        elapsed_ms = now_ms - (self._start_ms if self._start_ms is not None else now_ms)
        return (self._first_timestamp + int(elapsed_ms * self.samples_per_frame / self.frame_ms)) % (1 << 32)

    def due(self, now_ms: float) -> list[ScheduledPacket]:
        """Every packet due by `now_ms`; frames more than `max_catch_up_frames` late are skipped."""
        if self._start_ms is None:
            self.start(now_ms)
        assert self._start_ms is not None
        out: list[ScheduledPacket] = []
        behind = int((now_ms - self._start_ms) // self.frame_ms) - self._frame_index + 1
        if behind > self.max_catch_up_frames:
            skip = behind - self.max_catch_up_frames
            self._frame_index += skip
            self.frames_skipped += skip
            self._marker_pending = True  # the receiver sees a timestamp jump: mark the restart
        while (send_at := self._start_ms + self._frame_index * self.frame_ms) <= now_ms:
            timestamp = self._first_timestamp + self._frame_index * self.samples_per_frame
            self._frame_index += 1
            if not self.send_enabled:
                self._marker_pending = True
                continue
            out.append(self._packet(send_at, timestamp))
            self.max_late_ms = max(self.max_late_ms, now_ms - send_at)
        return out

    def _packet(self, send_at_ms: float, timestamp: int) -> ScheduledPacket:
        size = self.samples_per_frame
        silence = not self._queue
        if silence:
            payload = self._silence
            self._in_talkspurt = False
        else:
            payload = bytes(self._queue[:size])
            del self._queue[:size]
            if len(payload) < size:
                payload += self._silence[: size - len(payload)]
            if not self._in_talkspurt:
                self._marker_pending = True  # RFC 3551 §4.1: first packet of a talkspurt
            self._in_talkspurt = True
        marker, self._marker_pending = self._marker_pending, False
        packet = RtpPacket(
            payload_type=self.payload_type,
            sequence=self._sequence,
            timestamp=timestamp % (1 << 32),
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )
        self._sequence = (self._sequence + 1) % 65536
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return ScheduledPacket(send_at_ms, packet.to_bytes(), silence, marker)
