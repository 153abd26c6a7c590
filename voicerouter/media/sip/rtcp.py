"""RTCP (RFC 3550 §6): sender/receiver reports, SDES CNAME and BYE; compound packets in and out.

Wall-clock (NTP) time is always passed in by the caller, as everywhere in the sans-I/O stack; receiver
statistics live in `rtp_stats.py`. Nothing here sends a packet or decides when to.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SR, RR, SDES, BYE = 200, 201, 202, 203
SDES_CNAME = 1
NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


class RtcpError(ValueError):
    """Bytes that are not a valid RTCP compound packet."""


@dataclass(frozen=True, slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int  # lost fraction since the last report, in 1/256
    cumulative_lost: int  # signed 24-bit
    highest_sequence: int  # extended (cycles << 16 | seq)
    jitter: int  # interarrival jitter, timestamp units
    last_sr: int  # middle 32 bits of the last SR's NTP time (0: none yet)
    delay_since_last_sr: int  # 1/65536 s

    def to_bytes(self) -> bytes:
        lost = max(-(1 << 23), min(self.cumulative_lost, (1 << 23) - 1)) & 0xFFFFFF
        return struct.pack(
            "!IIIIII",
            self.ssrc,
            (min(max(self.fraction_lost, 0), 255) << 24) | lost,
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.last_sr & 0xFFFFFFFF,
            self.delay_since_last_sr & 0xFFFFFFFF,
        )


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit fixed point, seconds since 1900 << 32
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    @property
    def ntp_middle(self) -> int:
        """The 32 bits a receiver echoes back as LSR."""
        return (self.ntp_timestamp >> 16) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceDescription:
    cnames: tuple[tuple[int, str], ...]  # (ssrc, CNAME)


@dataclass(frozen=True, slots=True)
class Goodbye:
    ssrcs: tuple[int, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    packet_type: int
    body: bytes


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | UnknownRtcp


def ntp_timestamp(unix_time_s: float) -> int:
    """64-bit NTP fixed-point time for a Unix time (the caller reads the wall clock, not us)."""
    return round((unix_time_s + NTP_UNIX_OFFSET_S) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def _header(packet_type: int, count: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise RtcpError(f"RTCP body of {len(body)} bytes is not 32-bit aligned")
    return struct.pack("!BBH", 0x80 | count, packet_type, len(body) // 4) + body


def build_sender_report(report: SenderReport, cname: str) -> bytes:
    """A compound packet: SR (with up to 31 report blocks) followed by SDES CNAME (RFC 3550 §6.1)."""
    body = struct.pack(
        "!IIIIII",
        report.ssrc,
        (report.ntp_timestamp >> 32) & 0xFFFFFFFF,
        report.ntp_timestamp & 0xFFFFFFFF,
        report.rtp_timestamp & 0xFFFFFFFF,
        report.packet_count & 0xFFFFFFFF,
        report.octet_count & 0xFFFFFFFF,
    )
    body += b"".join(block.to_bytes() for block in report.reports[:31])
    return _header(SR, min(len(report.reports), 31), body) + build_sdes(report.ssrc, cname)


def build_receiver_report(report: ReceiverReport, cname: str) -> bytes:
    body = struct.pack("!I", report.ssrc) + b"".join(block.to_bytes() for block in report.reports[:31])
    return _header(RR, min(len(report.reports), 31), body) + build_sdes(report.ssrc, cname)


def build_sdes(ssrc: int, cname: str) -> bytes:
    text = cname.encode("utf-8")[:255]
    chunk = struct.pack("!IBB", ssrc, SDES_CNAME, len(text)) + text + b"\x00"
    chunk += bytes(-len(chunk) % 4)
    return _header(SDES, 1, chunk)


def build_bye(ssrc: int, reason: str = "") -> bytes:
    body = struct.pack("!I", ssrc)
    if reason:
        text = reason.encode("utf-8")[:255]
        body += bytes([len(text)]) + text
        body += bytes(-len(body) % 4)
    return _header(BYE, 1, body)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Every packet of a compound RTCP datagram; `RtcpError` on any length or version inconsistency."""
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise RtcpError(f"{len(data) - offset} trailing bytes are not an RTCP header")
        first, packet_type, words = struct.unpack_from("!BBH", data, offset)
        if first >> 6 != 2:
            raise RtcpError(f"RTCP version {first >> 6}, expected 2")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RtcpError(f"RTCP packet type {packet_type} runs {end - len(data)} bytes past the datagram")
        body = data[offset + 4 : end]
        if first & 0x20:
            if not body or body[-1] == 0 or body[-1] > len(body):
                raise RtcpError("inconsistent RTCP padding")
            body = body[: -body[-1]]
        packets.append(_parse_one(packet_type, first & 0x1F, body))
        offset = end
    if not packets:
        raise RtcpError("empty RTCP datagram")
    return packets


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == SR:
        if len(body) < 24 + 24 * count:
            raise RtcpError(f"SR with {count} report blocks is only {len(body)} bytes")
        ssrc, msw, lsw, rtp_ts, packets, octets = struct.unpack_from("!IIIIII", body)
        return SenderReport(ssrc, (msw << 32) | lsw, rtp_ts, packets, octets, _blocks(body[24:], count))
    if packet_type == RR:
        if len(body) < 4 + 24 * count:
            raise RtcpError(f"RR with {count} report blocks is only {len(body)} bytes")
        return ReceiverReport(struct.unpack_from("!I", body)[0], _blocks(body[4:], count))
    if packet_type == SDES:
        return SourceDescription(_sdes_cnames(body, count))
    if packet_type == BYE:
        if len(body) < 4 * count:
            raise RtcpError(f"BYE with {count} sources is only {len(body)} bytes")
        ssrcs = struct.unpack_from(f"!{count}I", body)
        rest = body[4 * count :]
        reason = rest[1 : 1 + rest[0]].decode("utf-8", "replace") if rest else ""
        return Goodbye(tuple(ssrcs), reason)
    return UnknownRtcp(packet_type, bytes(body))


def _blocks(data: bytes, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for i in range(count):
        ssrc, lost_word, highest, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", data, 24 * i)
        cumulative = lost_word & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 1 << 24
        blocks.append(ReportBlock(ssrc, lost_word >> 24, cumulative, highest, jitter, lsr, dlsr))
    return tuple(blocks)


def _sdes_cnames(body: bytes, count: int) -> tuple[tuple[int, str], ...]:
    out: list[tuple[int, str]] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(body):
            raise RtcpError("SDES chunk runs past the packet")
        ssrc = struct.unpack_from("!I", body, offset)[0]
        offset += 4
        while offset < len(body) and body[offset] != 0:
            if offset + 2 > len(body):
                raise RtcpError("SDES item header runs past the packet")
            item_type, length = body[offset], body[offset + 1]
            text = body[offset + 2 : offset + 2 + length]
            if len(text) != length:
                raise RtcpError("SDES item runs past the packet")
            if item_type == SDES_CNAME:
                out.append((ssrc, text.decode("utf-8", "replace")))
            offset += 2 + length
        offset += 4 - offset % 4  # the null terminator, then padding to the next word
    return tuple(out)
