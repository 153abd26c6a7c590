"""The Realtime side of a call's audio, sans-I/O: wire formats, conversions, the input gate, batching."""

from __future__ import annotations

import numpy as np

from voicerouter.audio.pcm import int16_to_pcm16
from voicerouter.call.realtime.audio import (
    CallerEncoder,
    CallerStream,
    InputGate,
    VoiceDecoder,
    session_format,
)


def tone(rate_hz: int, ms: int, hz: float = 440.0) -> bytes:
    t = np.arange(rate_hz * ms // 1000) / rate_hz
    return int16_to_pcm16(np.rint(0.3 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16))


def test_phone_rate_calls_talk_mulaw_to_the_session_and_others_pcm16() -> None:
    assert session_format(8000) == "pcmu"
    assert [session_format(rate) for rate in (16000, 24000, 48000)] == ["pcm16"] * 3


def test_caller_audio_is_resampled_to_24_khz_and_the_voice_back_to_the_call_rate() -> None:
    encoder, decoder = CallerEncoder(16000, "pcm16"), VoiceDecoder("pcm16", 16000)
    wire = encoder.encode(tone(16000, 1000))
    assert abs(len(wire) - 24000 * 2) <= 2 * 24 * 5  # one second at 24 kHz, less the filter's few ms
    back = decoder.decode(wire) + decoder.flush()
    assert abs(len(back) - 16000 * 2) <= 2 * 16 * 5


def test_phone_audio_goes_out_as_one_mulaw_byte_per_sample_and_comes_back_as_pcm16() -> None:
    encoder, decoder = CallerEncoder(8000, "pcmu"), VoiceDecoder("pcmu", 8000)
    wire = encoder.encode(tone(8000, 100))
    assert len(wire) == 800  # 100 ms at 8 kHz, untouched by a resampler
    assert len(decoder.decode(wire)) == 1600


def test_input_gate_replays_the_preroll_at_an_onset_and_holds_back_silence_between_turns() -> None:
    gate = InputGate(1000, preroll_ms=200, keep_ms=1000)  # 1 sample per ms keeps the arithmetic plain
    frame = b"\x01\x00" * 20
    assert [gate.push(frame) for _ in range(50)] == [b""] * 50  # 1 s of silence: nothing goes out
    replay = gate.open(speech_ms=900.0)
    assert len(replay) == 2 * 300  # from 700 ms (200 ms before the onset) to now (1000 ms)
    assert gate.push(frame) == frame  # while the turn is open, audio streams as it comes
    gate.shut()
    assert gate.push(frame) == b""
    assert len(gate.open(speech_ms=gate.now_ms)) == 2 * 20  # only what arrived since the turn closed


def test_input_gate_keeps_no_more_than_its_window_while_shut() -> None:
    gate = InputGate(1000, preroll_ms=200, keep_ms=400)
    for _ in range(500):  # 10 s of idle line
        gate.push(b"\x00\x00" * 20)
    assert len(gate.open(speech_ms=0.0)) <= 2 * 500  # the window plus one trimming step, never 10 s


def test_caller_stream_sends_nothing_between_turns_then_whole_chunks_and_the_rest_at_turn_end() -> None:
    stream = CallerStream(16000, "pcm16", chunk_ms=100)
    frame = tone(16000, 20)
    assert [stream.push(frame) for _ in range(25)] == [b""] * 25  # half a second before anyone speaks
    payloads = [stream.speech_started(speech_ms=400.0)] + [stream.push(frame) for _ in range(10)]
    sent = [p for p in payloads if p]
    assert sent and all(len(p) >= 100 * 48 for p in sent)  # 100 ms of PCM16 at 24 kHz or more per event
    tail = stream.end_turn()
    assert len(tail) < 100 * 48
    assert stream.push(frame) == b"" and not stream.gate.is_open
