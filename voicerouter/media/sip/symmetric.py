"""Symmetric RTP (RFC 4961 practice): send to where the caller's RTP really comes from, not where SDP said.

Callers behind NAT advertise private addresses; their packets arrive from the public mapping. We latch
to the first valid packet's source and move only for the same SSRC (a NAT rebinding) or after the latched
source fell silent, so a stranger cannot steal the stream by spraying packets (RTP bleed).
"""

from __future__ import annotations

from voicerouter.media.sip.rtp import RtpPacket
from voicerouter.media.sip.transport import Address


class SymmetricRtp:
    def __init__(
        self, signalled: Address, payload_types: set[int], *, relatch_after_ms: float = 2_000.0
    ) -> None:
        self.signalled = signalled
        self.payload_types = payload_types
        self.relatch_after_ms = relatch_after_ms
        self.latched: Address | None = None
        self.rejected = 0
        self.relatches = 0
        self._ssrc: int | None = None
        self._last_ms = 0.0

    @property
    def remote(self) -> Address:
        """Where our RTP goes: the latched source once there is one, else the SDP address."""
        return self.latched or self.signalled

    def observe(self, source: Address, packet: RtpPacket, now_ms: float) -> bool:
        """True when the packet may be used; latches or re-latches the remote address as a side effect."""
        if packet.payload_type not in self.payload_types:
            self.rejected += 1
            return False
        if self.latched is None:
            self._latch(source, packet, now_ms)
            return True
        if source == self.latched:
            self._ssrc = packet.ssrc
            self._last_ms = now_ms
            return True
        if packet.ssrc == self._ssrc or now_ms - self._last_ms >= self.relatch_after_ms:
            self.relatches += 1
            self._latch(source, packet, now_ms)
            return True
        self.rejected += 1
        return False

    def reset(self, signalled: Address, payload_types: set[int]) -> None:
        """New SDP from a re-INVITE: the caller may have moved, learn again."""
        self.signalled = signalled
        self.payload_types = payload_types
        self.latched = None
        self._ssrc = None

    def _latch(self, source: Address, packet: RtpPacket, now_ms: float) -> None:
        self.latched = source
        self._ssrc = packet.ssrc
        self._last_ms = now_ms
