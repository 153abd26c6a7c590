"""The media side of a SIP call: jitter buffer, paced sender, symmetric RTP, and the RTP session."""

from __future__ import annotations

import pytest

from voicerouter.media.sip.dtmf import dtmf_packets
from voicerouter.media.sip.jitter import JitterBuffer
from voicerouter.media.sip.offer_answer import PCMA, PCMU, Codec, Direction, NegotiatedMedia
from voicerouter.media.sip.pacer import RtpSender
from voicerouter.media.sip.rtcp import SenderReport, parse_rtcp
from voicerouter.media.sip.rtp import RtpPacket, parse_rtp
from voicerouter.media.sip.rtp_session import RtpSession
from voicerouter.media.sip.symmetric import SymmetricRtp
from voicerouter.media.sip.transport import Address


def _packet(seq: int, *, ssrc: int = 7, marker: bool = False, pt: int = 0) -> RtpPacket:
    return RtpPacket(
        payload_type=pt,
        sequence=seq % 65536,
        timestamp=seq * 160 % 2**32,
        ssrc=ssrc,
        payload=bytes([seq % 256]) * 160,
        marker=marker,
    )


def _play(buffer: JitterBuffer, frames: int) -> list[str]:
    """Labels of the next frames: the sequence number for audio, 'R' for a repeat, '-' for silence."""
    out = []
    for _ in range(frames):
        frame = buffer.pop()
        out.append(str(frame.sequence) if frame.kind == "audio" else ("R" if frame.kind == "repeat" else "-"))
    return out


def test_playback_waits_for_the_target_depth_then_plays_in_order() -> None:
    buffer = JitterBuffer(target_ms=60)
    buffer.put(_packet(1))
    buffer.put(_packet(2))
    assert _play(buffer, 1) == ["-"] and not buffer.playing
    buffer.put(_packet(3))
    assert buffer.playing and _play(buffer, 3) == ["1", "2", "3"]


def test_reordered_packets_come_out_in_sequence() -> None:
    buffer = JitterBuffer(target_ms=60)
    for seq in (3, 1, 2, 5, 4, 6):
        buffer.put(_packet(seq))
    assert _play(buffer, 6) == ["1", "2", "3", "4", "5", "6"]
    assert buffer.stats.concealed == 0


def test_duplicates_are_dropped_whether_buffered_or_already_played() -> None:
    buffer = JitterBuffer(target_ms=40)
    for seq in (1, 2, 2):
        buffer.put(_packet(seq))
    _play(buffer, 1)
    buffer.put(_packet(1))
    assert buffer.stats.duplicates == 2 and buffer.stats.late == 0
    assert _play(buffer, 1) == ["2"]


def test_a_lost_packet_is_concealed_by_a_repeat_then_silence() -> None:
    buffer = JitterBuffer(target_ms=60, max_ms=200)
    for seq in (1, 4, 5, 6):
        buffer.put(_packet(seq))
    assert _play(buffer, 6) == ["1", "R", "-", "4", "5", "6"]
    assert buffer.stats.concealed == 2


def test_a_packet_arriving_after_its_slot_is_counted_late_and_dropped() -> None:
    buffer = JitterBuffer(target_ms=40)
    for seq in (1, 3):
        buffer.put(_packet(seq))
    assert _play(buffer, 2) == ["1", "R"]  # 2 was missing while 3 waited: skipped
    buffer.put(_packet(2))
    assert buffer.stats.late == 1 and _play(buffer, 1) == ["3"]


def test_an_empty_buffer_waits_for_a_merely_late_packet_instead_of_skipping_it() -> None:
    buffer = JitterBuffer(target_ms=40)
    for seq in (1, 2):
        buffer.put(_packet(seq))
    assert _play(buffer, 3) == ["1", "2", "R"]
    buffer.put(_packet(3))
    assert _play(buffer, 1) == ["3"] and buffer.stats.underruns == 1 and buffer.stats.late == 0


def test_overflow_trims_the_oldest_audio() -> None:
    buffer = JitterBuffer(target_ms=40, max_ms=100)
    for seq in range(1, 9):
        buffer.put(_packet(seq))
    assert buffer.depth_ms == 100 and buffer.stats.overflow_dropped == 3
    assert _play(buffer, 1) == ["4"]


def test_a_new_ssrc_or_a_sequence_jump_restarts_the_buffer() -> None:
    buffer = JitterBuffer(target_ms=40)
    for seq in (1, 2, 3):
        buffer.put(_packet(seq))
    buffer.put(_packet(500, ssrc=8))
    assert buffer.stats.resets == 1 and not buffer.playing
    buffer.put(_packet(20_000, ssrc=8))
    assert buffer.stats.resets == 2


def test_sequence_numbers_wrap_without_a_reset() -> None:
    buffer = JitterBuffer(target_ms=40)
    for seq in (65534, 65535, 65536, 65537):
        buffer.put(_packet(seq))
    assert _play(buffer, 4) == ["65534", "65535", "0", "1"] and buffer.stats.resets == 0


def test_a_marked_talkspurt_after_an_underrun_rebuffers() -> None:
    buffer = JitterBuffer(target_ms=40)
    for seq in (1, 2):
        buffer.put(_packet(seq))
    _play(buffer, 3)
    buffer.put(_packet(3, marker=True))
    assert not buffer.playing and _play(buffer, 1) == ["-"]
    buffer.put(_packet(4))
    assert _play(buffer, 2) == ["3", "4"]


def test_silence_matches_the_codec() -> None:
    assert JitterBuffer(codec="PCMA").pop().payload == b"\xd5" * 160
    assert JitterBuffer(codec="PCMU").pop().payload == b"\xff" * 160


def _sender(max_catch_up_frames: int = 5) -> RtpSender:
    return RtpSender(
        payload_type=0,
        ssrc=99,
        first_sequence=65535,
        first_timestamp=1000,
        max_catch_up_frames=max_catch_up_frames,
    )


def test_packets_are_due_every_20_ms_on_their_timestamps() -> None:
    sender = _sender()
    due = sender.due(1_000.0) + sender.due(1_019.0) + sender.due(1_060.0)
    assert [p.send_at_ms for p in due] == [1_000, 1_020, 1_040, 1_060]
    packets = [parse_rtp(p.data) for p in due]
    assert [p.sequence for p in packets] == [65535, 0, 1, 2]
    assert [p.timestamp for p in packets] == [1000, 1160, 1320, 1480]
    assert sender.next_send_ms() == 1_080


def test_silence_is_sent_when_there_is_no_audio_and_the_talkspurt_is_marked() -> None:
    sender = _sender()
    quiet = sender.due(0.0)
    sender.push(b"\x11" * 400)  # two and a half frames
    talk = sender.due(60.0)
    packets = [parse_rtp(p.data) for p in quiet + talk]
    assert [p.payload[:1] for p in packets] == [b"\xff", b"\x11", b"\x11", b"\x11"]
    assert packets[3].payload == b"\x11" * 80 + b"\xff" * 80  # the partial frame is padded with silence
    assert [p.marker for p in packets] == [True, True, False, False]
    assert [p.silence for p in quiet + talk] == [True, False, False, False]


def test_clearing_the_queue_stops_agent_audio_at_the_next_packet() -> None:
    sender = _sender()
    sender.push(b"\x22" * 1600)
    sender.due(0.0)
    assert sender.clear() == 1440
    (after,) = sender.due(20.0)
    assert after.silence and parse_rtp(after.data).payload == b"\xff" * 160


def test_a_long_stall_skips_frames_instead_of_bursting() -> None:
    sender = _sender(max_catch_up_frames=3)
    sender.due(0.0)
    burst = sender.due(1_000.0)
    assert len(burst) == 3 and sender.frames_skipped == 47
    first = parse_rtp(burst[0].data)
    assert first.marker and first.timestamp == 1000 + 48 * 160
    assert sender.max_late_ms == 40.0


def test_nothing_is_sent_while_sending_is_disabled_but_time_runs_on() -> None:
    sender = _sender()
    assert len(sender.due(0.0)) == 1
    sender.send_enabled = False
    assert sender.due(100.0) == []
    sender.send_enabled = True
    (packet,) = sender.due(120.0)
    assert parse_rtp(packet.data).timestamp == 1000 + 6 * 160 and parse_rtp(packet.data).sequence == 0
    assert packet.marker


SIGNALLED = Address("10.0.0.5", 4000)  # the private address a NATed phone advertises
PUBLIC = Address("198.51.100.7", 61_000)


def test_symmetric_rtp_latches_to_the_real_source() -> None:
    latch = SymmetricRtp(SIGNALLED, {0, 101})
    assert latch.remote == SIGNALLED
    assert latch.observe(PUBLIC, _packet(1), 0)
    assert latch.remote == PUBLIC


def test_symmetric_rtp_ignores_strangers_and_unknown_payload_types() -> None:
    latch = SymmetricRtp(SIGNALLED, {0})
    assert not latch.observe(PUBLIC, _packet(1, pt=96), 0)
    assert latch.latched is None
    latch.observe(PUBLIC, _packet(1), 0)
    assert not latch.observe(Address("203.0.113.9", 5000), _packet(2, ssrc=666), 100)
    assert latch.remote == PUBLIC and latch.rejected == 2


def test_symmetric_rtp_follows_a_nat_rebinding_of_the_same_stream_or_a_silent_source() -> None:
    latch = SymmetricRtp(SIGNALLED, {0}, relatch_after_ms=2_000)
    latch.observe(PUBLIC, _packet(1), 0)
    moved = Address("198.51.100.7", 61_002)
    assert latch.observe(moved, _packet(2), 20) and latch.remote == moved
    other = Address("203.0.113.9", 5000)
    assert not latch.observe(other, _packet(3, ssrc=1), 1_000)
    assert latch.observe(other, _packet(3, ssrc=1), 2_100) and latch.remote == other


def _media(
    *, codec: Codec = PCMU, direction: Direction = Direction.SENDRECV, on_hold: bool = False
) -> NegotiatedMedia:
    return NegotiatedMedia(
        remote_rtp=SIGNALLED,
        remote_rtcp=Address("10.0.0.5", 4001),
        codec=codec,
        telephone_event_pt=101,
        ptime_ms=20,
        direction=direction,
        on_hold=on_hold,
    )


def test_the_rtp_session_plays_caller_audio_reports_digits_and_answers_to_the_latched_source() -> None:
    session = RtpSession(_media(), ssrc=0x1234, cname="vr@test", first_sequence=100, first_timestamp=0)
    for seq in (1, 2, 3):
        assert session.receive_rtp(_packet(seq).to_bytes(), PUBLIC, seq * 20.0) == []
    assert [session.pop_audio().sequence for _ in range(3)] == [1, 2, 3]
    digits = []
    for packet in dtmf_packets("4", payload_type=101, ssrc=7, first_sequence=4, timestamp=640):
        digits += session.receive_rtp(packet.to_bytes(), PUBLIC, 100.0)
    assert [d.digit for d in digits] == ["4"]
    session.push_audio(b"\x33" * 160)
    (datagram,) = session.packets_due(200.0)
    assert datagram.destination == PUBLIC and parse_rtp(datagram.data).payload == b"\x33" * 160
    assert session.receive_rtp(b"junk", PUBLIC, 210.0) == [] and session.malformed == 1


def test_the_rtp_session_sends_a_sender_report_after_the_first_interval() -> None:
    session = RtpSession(_media(), ssrc=0x1234, cname="vr@test")
    session.receive_rtp(_packet(1).to_bytes(), PUBLIC, 0.0)
    session.packets_due(0.0)
    assert session.rtcp_due(1_000.0, 1_700_000_000.0) == []
    for t in range(20, 2_520, 20):
        session.packets_due(float(t))
    (report,) = session.rtcp_due(2_500.0, 1_700_000_002.5)
    sr = parse_rtcp(report.data)[0]
    assert isinstance(sr, SenderReport) and sr.packet_count == 126 and sr.reports[0].ssrc == 7
    assert report.destination == Address("10.0.0.5", 4001)
    assert session.next_timer_ms() == 2_520.0


def test_hold_stops_sending_and_a_new_codec_changes_payload_type() -> None:
    session = RtpSession(_media(), ssrc=1, cname="c")
    session.packets_due(0.0)
    session.update_media(_media(direction=Direction.RECVONLY, on_hold=True))
    assert session.packets_due(100.0) == []
    session.update_media(_media(codec=PCMA))
    (datagram,) = session.packets_due(120.0)
    packet = parse_rtp(datagram.data)
    assert packet.payload_type == 8 and packet.payload == b"\xd5" * 160


@pytest.mark.parametrize("direction", [Direction.SENDONLY, Direction.INACTIVE])
def test_caller_audio_is_ignored_when_we_do_not_receive(direction: Direction) -> None:
    session = RtpSession(_media(direction=direction), ssrc=1, cname="c")
    for seq in (1, 2, 3, 4):
        session.receive_rtp(_packet(seq).to_bytes(), PUBLIC, seq * 20.0)
    assert session.jitter.stats.received == 0
