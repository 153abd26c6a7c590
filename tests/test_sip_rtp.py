"""RTP and RTCP packets (RFC 3550), receive statistics, and RFC 4733 DTMF events."""

from __future__ import annotations

import struct

import pytest

from voicerouter.media.sip.dtmf import (
    DtmfDigit,
    DtmfReceiver,
    TelephoneEvent,
    dtmf_packets,
    parse_telephone_event,
)
from voicerouter.media.sip.rtcp import (
    Goodbye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    SenderReport,
    SourceDescription,
    build_bye,
    build_receiver_report,
    build_sender_report,
    ntp_timestamp,
    parse_rtcp,
)
from voicerouter.media.sip.rtp import RtpError, RtpPacket, is_rtcp, parse_rtp, seq_delta
from voicerouter.media.sip.rtp_stats import ReceiverStats


def test_a_plain_g711_packet_round_trips() -> None:
    packet = RtpPacket(
        payload_type=0,
        sequence=65535,
        timestamp=2**32 - 160,
        ssrc=0xDEADBEEF,
        payload=b"\xff" * 160,
        marker=True,
    )
    data = packet.to_bytes()
    assert len(data) == 172 and data[:2] == b"\x80\x80"
    assert parse_rtp(data) == packet


def test_csrcs_header_extension_and_padding_round_trip() -> None:
    packet = RtpPacket(
        payload_type=8,
        sequence=7,
        timestamp=1234,
        ssrc=1,
        payload=b"abc",
        csrcs=(10, 20),
        extension_profile=0xBEDE,
        extension=b"\x10\xaa\x00\x00",
        padding_bytes=5,
    )
    data = packet.to_bytes()
    assert data[0] == 0x80 | 0x20 | 0x10 | 2 and data[-1] == 5
    assert parse_rtp(data) == packet


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\x80\x00\x00", "shorter"),
        (b"\x40" + bytes(11), "version 1"),
        (b"\x82\x00" + bytes(14), "CSRCs"),
        (b"\x90\x00" + bytes(10) + b"\x00\x00\x00\x09", "extension"),
        (b"\xa0\x00" + bytes(10) + b"\x00", "padding"),
        (b"\xa0\x00" + bytes(10) + b"ab\x09", "padding"),
        (b"\x80\xc8" + bytes(10), "RTCP packet type"),
    ],
)
def test_invalid_rtp_is_rejected_with_the_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(RtpError, match=fragment):
        parse_rtp(data)


def test_sequence_arithmetic_wraps_at_16_bits() -> None:
    assert seq_delta(2, 65534) == 4
    assert seq_delta(65534, 2) == -4
    assert seq_delta(100, 100) == 0


def test_rtcp_is_told_apart_from_rtp_on_one_port() -> None:
    assert is_rtcp(build_bye(1))
    assert not is_rtcp(RtpPacket(payload_type=0, sequence=1, timestamp=1, ssrc=1).to_bytes())
    assert not is_rtcp(RtpPacket(payload_type=101, sequence=1, timestamp=1, ssrc=1, marker=True).to_bytes())


def test_a_sender_report_with_blocks_and_cname_round_trips() -> None:
    block = ReportBlock(
        ssrc=0x22,
        fraction_lost=25,
        cumulative_lost=-3,
        highest_sequence=70_000,
        jitter=12,
        last_sr=0x12345678,
        delay_since_last_sr=65_536,
    )
    report = SenderReport(0x11, ntp_timestamp(1_700_000_000.5), 160_000, 1000, 160_000, (block,))
    packets = parse_rtcp(build_sender_report(report, "voicerouter@203.0.113.5"))
    assert packets == [report, SourceDescription(((0x11, "voicerouter@203.0.113.5"),))]
    assert report.ntp_timestamp >> 32 == 1_700_000_000 + 2_208_988_800
    assert report.ntp_timestamp & 0xFFFFFFFF == 2**31


def test_receiver_reports_and_bye_with_a_reason_parse_back() -> None:
    data = build_receiver_report(ReceiverReport(5, ()), "x") + build_bye(5, "hangup")
    rr, sdes, bye = parse_rtcp(data)
    assert rr == ReceiverReport(5, ())
    assert isinstance(sdes, SourceDescription) and sdes.cnames == ((5, "x"),)
    assert bye == Goodbye((5,), "hangup")


@pytest.mark.parametrize(
    "data",
    [b"\x80\xc8", b"\x40\xc8\x00\x00", b"\x80\xc8\x00\x06" + bytes(8), b"\x81\xc8\x00\x06" + bytes(24), b""],
    ids=["short header", "version 1", "length past the datagram", "missing report block", "empty"],
)
def test_malformed_rtcp_is_an_error(data: bytes) -> None:
    with pytest.raises(RtcpError):
        parse_rtcp(data)


def _packets(seqs: list[int], ssrc: int = 9) -> list[RtpPacket]:
    return [
        RtpPacket(payload_type=0, sequence=s % 65536, timestamp=s * 160, ssrc=ssrc, payload=b"\xff" * 160)
        for s in seqs
    ]


def test_receiver_stats_count_loss_across_the_sequence_wrap() -> None:
    stats = ReceiverStats()
    seqs = [65530, 65531, 65533, 65534, 65535, 0, 1, 3, 4]  # 65532 and 2 are lost
    for i, packet in enumerate(_packets(seqs)):
        stats.update(packet, arrival_ms=i * 20.0)
    assert stats.expected == 11 and stats.cumulative_lost == 2
    assert stats.extended_max_sequence == 65536 + 4
    block = stats.report_block(now_ms=200)
    assert block is not None and block.fraction_lost == (2 << 8) // 11 and block.cumulative_lost == 2
    next_block = stats.report_block(now_ms=300)
    assert next_block is not None and next_block.fraction_lost == 0  # nothing new lost this interval


def test_interarrival_jitter_is_zero_for_a_steady_stream_and_grows_with_jitter() -> None:
    steady, jittery = ReceiverStats(), ReceiverStats()
    for i, packet in enumerate(_packets(list(range(50)))):
        steady.update(packet, arrival_ms=i * 20.0)
        jittery.update(packet, arrival_ms=i * 20.0 + (15.0 if i % 2 else 0.0))
    assert steady.jitter == 0.0
    assert jittery.jitter > 50  # timestamp units: 15 ms of swing is 120 units, smoothed by 1/16


def test_telephone_event_payload_round_trips() -> None:
    event = TelephoneEvent(event=11, end=True, volume=10, duration=800)
    assert parse_telephone_event(event.to_bytes()) == event
    assert event.to_bytes() == struct.pack("!BBH", 11, 0x80 | 10, 800)


def test_one_key_press_is_one_digit_despite_its_three_end_packets() -> None:
    receiver = DtmfReceiver()
    digits: list[DtmfDigit] = []
    for packet in dtmf_packets(
        "5", payload_type=101, ssrc=1, first_sequence=10, timestamp=8000, duration_ms=120
    ):
        digits += receiver.feed(packet)
    assert digits == [DtmfDigit("5", 120.0, 8000)]
    assert receiver.duplicates == 2


def test_a_sequence_of_presses_comes_out_in_order() -> None:
    receiver = DtmfReceiver()
    digits = []
    for n, key in enumerate("12*#A0"):
        for packet in dtmf_packets(key, payload_type=101, ssrc=1, first_sequence=n * 20, timestamp=n * 4000):
            digits += receiver.feed(packet)
    assert "".join(d.digit for d in digits) == "12*#A0"


def test_a_press_whose_end_packets_were_lost_is_reported_when_the_next_starts() -> None:
    receiver = DtmfReceiver()
    first = [
        p
        for p in dtmf_packets("7", payload_type=101, ssrc=1, first_sequence=0, timestamp=1000)
        if not parse_telephone_event(p.payload).end
    ]
    out = [d for p in first for d in receiver.feed(p)]
    assert out == []
    second = dtmf_packets("8", payload_type=101, ssrc=1, first_sequence=20, timestamp=5000)
    out = [d for p in second for d in receiver.feed(p)]
    assert [(d.digit, d.complete) for d in out] == [("7", False), ("8", True)]


def test_a_press_in_progress_is_flushed_at_the_end_of_the_call() -> None:
    receiver = DtmfReceiver()
    receiver.feed(dtmf_packets("9", payload_type=101, ssrc=1, first_sequence=0, timestamp=0)[0])
    (digit,) = receiver.flush()
    assert digit.digit == "9" and not digit.complete
    assert receiver.flush() == []
