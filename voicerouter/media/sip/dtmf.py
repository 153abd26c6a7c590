"""RFC 4733 telephone-events (DTMF over RTP): payload parse/build, digit detection, and a packet generator.

One key press is many packets sharing an RTP timestamp, ending with (usually three) end-bit packets;
the receiver reports each press exactly once. It never decodes audio tones (in-band DTMF).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from voicerouter.media.sip.rtp import RtpPacket

EVENT_NAMES = "0123456789*#ABCD"
FLASH_EVENT = 16
_RECENT_EVENTS = 16  # ended events remembered to drop their repeated end packets


class DtmfError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # 0..63, as -dBm0
    duration: int  # timestamp units since the event's start

    def to_bytes(self) -> bytes:
        flags = (0x80 if self.end else 0) | (self.volume & 0x3F)
        return struct.pack("!BBH", self.event & 0xFF, flags, min(self.duration, 0xFFFF))


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    if len(payload) < 4:
        raise DtmfError(f"telephone-event payload of {len(payload)} bytes, need 4")
    event, flags, duration = struct.unpack_from("!BBH", payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def event_name(event: int) -> str:
    if event < len(EVENT_NAMES):
        return EVENT_NAMES[event]
    return "flash" if event == FLASH_EVENT else f"event-{event}"


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """One key press: `digit` is 0-9, *, #, A-D (or 'flash'); `complete` is False if its end was lost."""

    digit: str
    duration_ms: float
    rtp_timestamp: int
    complete: bool = True


class DtmfReceiver:
    """Turns telephone-event packets into one `DtmfDigit` per key press."""

    def __init__(self, clock_rate_hz: int = 8000) -> None:
        self.clock_rate_hz = clock_rate_hz
        self._current: tuple[int, TelephoneEvent] | None = None  # (rtp timestamp, latest packet)
        self._ended: deque[int] = deque(maxlen=_RECENT_EVENTS)
        self.duplicates = 0

    def feed(self, packet: RtpPacket) -> list[DtmfDigit]:
        """Digits completed by this packet (usually none or one; two when an end was lost)."""
        event = parse_telephone_event(packet.payload)
        out: list[DtmfDigit] = []
        if packet.timestamp in self._ended:
            self.duplicates += 1  # the 2nd/3rd end packet, or a straggler of a finished press
            return out
        if self._current is not None and self._current[0] != packet.timestamp:
            out.append(self._finish(complete=False))
        if event.end:
            self._current = (packet.timestamp, event)
            out.append(self._finish(complete=True))
        elif self._current is None or event.duration >= self._current[1].duration:
            self._current = (packet.timestamp, event)
        return out

    def flush(self) -> list[DtmfDigit]:
        """A press still in progress (its end packets lost), e.g. when the call ends."""
        return [self._finish(complete=False)] if self._current is not None else []

    def _finish(self, *, complete: bool) -> DtmfDigit:
        assert self._current is not None
        timestamp, event = self._current
        self._current = None
        self._ended.append(timestamp)
        duration_ms = event.duration * 1000.0 / self.clock_rate_hz
        return DtmfDigit(event_name(event.event), duration_ms, timestamp, complete)


def dtmf_packets(
    digit: str,
    *,
    payload_type: int,
    ssrc: int,
    first_sequence: int,
    timestamp: int,
    duration_ms: int = 100,
    packet_ms: int = 20,
    volume: int = 10,
    clock_rate_hz: int = 8000,
) -> list[RtpPacket]:
    """The packets of one key press as RFC 4733 §2.5 sends them: marker on the first, three end packets."""
    if digit not in EVENT_NAMES:
        raise DtmfError(f"no telephone-event for digit {digit!r}")
    event = EVENT_NAMES.index(digit)
    units_per_packet = packet_ms * clock_rate_hz // 1000
    total = duration_ms * clock_rate_hz // 1000
    durations = list(range(units_per_packet, total, units_per_packet)) + [total] * 3
    packets = []
    for i, duration in enumerate(durations):
        end = i >= len(durations) - 3
        payload = TelephoneEvent(event, end, volume, duration).to_bytes()
        packets.append(
            RtpPacket(
                payload_type=payload_type,
                sequence=(first_sequence + i) % 65536,
                timestamp=timestamp,
                ssrc=ssrc,
                payload=payload,
                marker=i == 0,
            )
        )
    return packets
