"""RTP packets (RFC 3550 §5.1): parse and build, with CSRCs, header extension, padding and the marker bit.

Also the sequence-number arithmetic that jitter buffers and statistics share (16-bit wrap-around).
Parsing rejects anything that is not version 2 with a consistent length; nothing here keeps stream state.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
RTP_HEADER_BYTES = 12
SEQ_MOD = 1 << 16
TIMESTAMP_MOD = 1 << 32


class RtpError(ValueError):
    """Bytes that are not a valid RTP packet: says which check failed."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None  # set (with `extension`) when the X bit is on
    extension: bytes = b""
    padding_bytes: int = 0  # trailing padding including its count byte (P bit on when > 0)

    def to_bytes(self) -> bytes:
        if not 0 <= self.payload_type < 128:
            raise RtpError(f"payload type {self.payload_type} outside 0..127")
        if len(self.csrcs) > 15:
            raise RtpError(f"{len(self.csrcs)} CSRCs, at most 15 fit")
        if len(self.extension) % 4:
            raise RtpError("header extension length must be a multiple of 4 bytes")
        if not 0 <= self.padding_bytes < 256:
            raise RtpError(f"padding of {self.padding_bytes} bytes does not fit its count byte")
        has_extension = self.extension_profile is not None
        first = (RTP_VERSION << 6) | (0x20 if self.padding_bytes else 0) | (0x10 if has_extension else 0)
        first |= len(self.csrcs)
        second = (0x80 if self.marker else 0) | self.payload_type
        out = bytearray(
            struct.pack(
                "!BBHII",
                first,
                second,
                self.sequence % SEQ_MOD,
                self.timestamp % TIMESTAMP_MOD,
                self.ssrc & 0xFFFFFFFF,
            )
        )
        for csrc in self.csrcs:
            out += struct.pack("!I", csrc & 0xFFFFFFFF)
        if has_extension:
            out += struct.pack("!HH", self.extension_profile or 0, len(self.extension) // 4) + self.extension
        out += self.payload
        if self.padding_bytes:
            out += bytes(self.padding_bytes - 1) + bytes([self.padding_bytes])
        return bytes(out)


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < RTP_HEADER_BYTES:
        raise RtpError(f"{len(data)} bytes is shorter than the 12-byte RTP header")
    first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}, expected 2")
    offset = RTP_HEADER_BYTES
    csrc_count = first & 0x0F
    if len(data) < offset + 4 * csrc_count:
        raise RtpError(f"{csrc_count} CSRCs announced but the packet ends first")
    csrcs = struct.unpack_from(f"!{csrc_count}I", data, offset)
    offset += 4 * csrc_count
    profile: int | None = None
    extension = b""
    if first & 0x10:
        if len(data) < offset + 4:
            raise RtpError("header extension announced but the packet ends first")
        profile, words = struct.unpack_from("!HH", data, offset)
        offset += 4
        if len(data) < offset + 4 * words:
            raise RtpError(f"header extension of {words} words runs past the packet")
        extension = data[offset : offset + 4 * words]
        offset += 4 * words
    end = len(data)
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or offset + padding > end:
            raise RtpError(f"padding count {padding} is inconsistent with the packet length")
        end -= padding
    payload_type = second & 0x7F
    if 72 <= payload_type <= 76:
        raise RtpError(f"payload type {payload_type} is an RTCP packet type (RFC 5761)")
    return RtpPacket(
        payload_type=payload_type,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        csrcs=tuple(csrcs),
        extension_profile=profile,
        extension=bytes(extension),
        padding_bytes=padding,
    )


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4 demultiplexing: RTCP packet types 192-223 sit where RTP has marker+PT 64-95."""
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


def seq_delta(newer: int, older: int) -> int:
    """Signed distance between two 16-bit sequence numbers (-32768..32767), wrap-around aware."""
    delta = (newer - older) % SEQ_MOD
    return delta - SEQ_MOD if delta >= SEQ_MOD // 2 else delta


def timestamp_delta(newer: int, older: int) -> int:
    delta = (newer - older) % TIMESTAMP_MOD
    return delta - TIMESTAMP_MOD if delta >= TIMESTAMP_MOD // 2 else delta
