"""VAD framing over webrtcvad: any chunking, every rate and frame size, smoothing and the energy gate."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from tests.audio_signals import Int16Array, concat, silence, voiced_speech, white_noise
from voicerouter.audio.settings import VadConfig
from voicerouter.audio.vad import SpeechStarted, SpeechStopped, VadFrame, VadItem, VoiceActivityDetector


def _run(
    detector: VoiceActivityDetector, samples: Int16Array, seed: int = 0, max_chunk_bytes: int = 1400
) -> list[VadItem]:
    """Feed the stream in random-sized chunks, as packets arrive off a network."""
    data = samples.astype("<i2").tobytes()
    rng = np.random.default_rng(seed)
    items: list[VadItem] = []
    offset = 0
    while offset < len(data):
        size = int(rng.integers(1, max_chunk_bytes))
        items.extend(detector.push(data[offset : offset + size]))
        offset += size
    return items


def _decisions(items: list[VadItem]) -> list[tuple[str, float]]:
    return [(type(i).__name__, i.t_ms) for i in items if isinstance(i, SpeechStarted | SpeechStopped)]


def _frames(items: list[VadItem]) -> list[VadFrame]:
    return [i for i in items if isinstance(i, VadFrame)]


@pytest.mark.parametrize("rate_hz", [8000, 16000, 32000, 48000])
@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_speech_between_silences_starts_and_stops_at_its_edges(rate_hz: int, frame_ms: int) -> None:
    config = VadConfig(frame_ms=frame_ms, aggressiveness=2)
    audio = concat(silence(rate_hz, 600), voiced_speech(rate_hz, 1200, seed=2), silence(rate_hz, 900))
    decisions = _decisions(_run(VoiceActivityDetector(rate_hz, config), audio))
    assert [name for name, _ in decisions] == ["SpeechStarted", "SpeechStopped"]
    started_ms, stopped_ms = decisions[0][1], decisions[1][1]
    assert 600 - frame_ms <= started_ms <= 600 + 2 * frame_ms
    assert 1800 - 3 * frame_ms <= stopped_ms <= 1800 + frame_ms


def test_frames_carry_contiguous_timestamps_from_the_start_time() -> None:
    detector = VoiceActivityDetector(16000, VadConfig(frame_ms=20), start_ms=1000.0)
    frames = _frames(_run(detector, silence(16000, 1000)))
    assert len(frames) == 50
    assert [f.t_ms for f in frames] == [1000.0 + 20 * i for i in range(50)]
    assert all(f.duration_ms == 20.0 for f in frames)


def test_chunk_timestamps_reanchor_the_timeline_after_a_gap() -> None:
    detector = VoiceActivityDetector(8000, VadConfig(frame_ms=20))
    frame = bytes(320)
    first = detector.push(frame[:100], t_ms=0.0) + detector.push(frame[100:])
    later = detector.push(frame, t_ms=500.0)  # packets lost in between
    assert [f.t_ms for f in _frames(first)] == [0.0]
    assert [f.t_ms for f in _frames(later)] == [500.0]


def test_chunking_does_not_change_any_decision() -> None:
    audio = concat(silence(16000, 300), voiced_speech(16000, 800, seed=7), silence(16000, 700))
    whole = VoiceActivityDetector(16000).push(audio.tobytes())
    for seed in range(3):
        assert _run(VoiceActivityDetector(16000), audio, seed=seed) == whole


def test_digital_silence_is_never_speech_even_where_webrtcvad_says_so() -> None:
    import webrtcvad

    # webrtcvad keeps flagging frames for a while after speech (its own hangover), zeros included.
    audio = concat(voiced_speech(8000, 600, seed=1), silence(8000, 600))
    frames = [audio[i : i + 160].tobytes() for i in range(0, len(audio), 160)]
    raw = webrtcvad.Vad(0)
    raw_zero_flags = [raw.is_speech(f, 8000) for f in frames][30:]
    assert any(raw_zero_flags), "webrtcvad no longer flags zeros after speech; this test needs a new witness"
    ours = _frames(VoiceActivityDetector(8000, VadConfig(aggressiveness=0)).push(audio.tobytes()))
    assert not any(f.speech for f in ours[30:])
    assert all(f.speech for f in ours[5:25])


def test_energy_gate_rejects_quiet_hiss_that_webrtcvad_alone_flags() -> None:
    hiss = white_noise(16000, 1000, level=0.0004, seed=3)  # about -68 dBFS
    gated = _frames(VoiceActivityDetector(16000, VadConfig(aggressiveness=0)).push(hiss.tobytes()))
    ungated_config = VadConfig(aggressiveness=0, energy_floor_dbfs=-120.0)
    ungated = _frames(VoiceActivityDetector(16000, ungated_config).push(hiss.tobytes()))
    assert any(f.speech for f in ungated)
    assert not any(f.speech for f in gated)
    assert all(f.level_dbfs < -60.0 for f in gated)


def test_a_short_burst_does_not_start_speech() -> None:
    audio = concat(silence(16000, 400), voiced_speech(16000, 60, seed=1), silence(16000, 600))
    assert _decisions(_run(VoiceActivityDetector(16000), audio)) == []


def test_short_pause_inside_speech_is_bridged_by_the_hangover() -> None:
    audio = concat(
        silence(16000, 300),
        voiced_speech(16000, 600, seed=1),
        silence(16000, 150),
        voiced_speech(16000, 600, seed=2),
        silence(16000, 800),
    )
    decisions = _decisions(_run(VoiceActivityDetector(16000, VadConfig(hangover_ms=300)), audio))
    assert [name for name, _ in decisions] == ["SpeechStarted", "SpeechStopped"]


def test_pause_longer_than_the_hangover_splits_speech() -> None:
    audio = concat(
        silence(16000, 300),
        voiced_speech(16000, 600, seed=1),
        silence(16000, 500),
        voiced_speech(16000, 600, seed=2),
        silence(16000, 800),
    )
    decisions = _decisions(_run(VoiceActivityDetector(16000, VadConfig(hangover_ms=200)), audio))
    assert [name for name, _ in decisions] == ["SpeechStarted", "SpeechStopped"] * 2


def test_stop_is_decided_one_hangover_after_the_last_voiced_frame() -> None:
    audio = concat(silence(8000, 200), voiced_speech(8000, 800, seed=5), silence(8000, 800))
    items = _run(VoiceActivityDetector(8000, VadConfig(hangover_ms=240, frame_ms=20)), audio)
    stopped = next(i for i in items if isinstance(i, SpeechStopped))
    assert stopped.decided_ms - stopped.t_ms == pytest.approx(240.0, abs=20.0)
    started = next(i for i in items if isinstance(i, SpeechStarted))
    assert started.decided_ms - started.t_ms >= 100.0  # start_speech_ms of voiced frames first


def test_finish_closes_speech_still_open_at_end_of_stream() -> None:
    detector = VoiceActivityDetector(16000)
    items = detector.push(concat(silence(16000, 200), voiced_speech(16000, 600, seed=3)).tobytes())
    assert detector.speaking and _decisions(items)[0][0] == "SpeechStarted"
    closing = detector.finish()
    assert len(closing) == 1 and isinstance(closing[0], SpeechStopped)
    assert not detector.speaking


def test_unsupported_rate_is_rejected_with_the_supported_list() -> None:
    with pytest.raises(ValueError, match=r"rate_hz 44100 unsupported"):
        VoiceActivityDetector(44100)


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng binary not installed on this machine"
)
def test_synthesised_sentence_is_detected_as_one_stretch_of_speech() -> None:
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-s", "160", "I would like to book an appointment for Tuesday"],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    rate_hz = int.from_bytes(wav[24:28], "little")
    data_start = wav.index(b"data") + 8  # streamed WAV: the data chunk's size field is not reliable
    speech = np.frombuffer(wav[data_start : len(wav) - (len(wav) - data_start) % 2], dtype="<i2")
    if rate_hz not in (8000, 16000, 32000, 48000):
        from voicerouter.audio.resample import resample

        speech, rate_hz = resample(speech, rate_hz, 16000), 16000
    audio = concat(silence(rate_hz, 500), speech.astype(np.int16), silence(rate_hz, 1000))
    decisions = _decisions(_run(VoiceActivityDetector(rate_hz, VadConfig(hangover_ms=400)), audio))
    assert [name for name, _ in decisions] == ["SpeechStarted", "SpeechStopped"]
    assert 400 <= decisions[0][1] <= 700
    assert decisions[1][1] <= 500 + len(speech) * 1000 / rate_hz


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"aggressiveness": 4}, "less than or equal to 3"),
        ({"frame_ms": 25}, "Input should be 10, 20 or 30"),
        ({"start_speech_ms": 300, "start_window_ms": 200}, "speech could never start"),
        ({"energy_floor_dbfs": 3.0}, "less than or equal to 0"),
    ],
)
def test_vad_config_rejects_settings_webrtcvad_or_the_smoother_cannot_honour(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        VadConfig.model_validate(settings)


def test_aggressiveness_from_config_reaches_webrtcvad() -> None:
    hiss = white_noise(16000, 1000, level=0.01, seed=2)  # -40 dBFS, above the energy floor
    lenient = _frames(VoiceActivityDetector(16000, VadConfig(aggressiveness=0)).push(hiss.tobytes()))
    strict = _frames(VoiceActivityDetector(16000, VadConfig(aggressiveness=3)).push(hiss.tobytes()))
    assert sum(f.speech for f in strict) < sum(f.speech for f in lenient)
