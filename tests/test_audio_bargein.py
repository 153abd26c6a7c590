"""Barge-in confirmation, playback position, and the heard prefix of an interrupted utterance."""

from __future__ import annotations

import pytest

from tests.audio_signals import concat, silence, voiced_speech, white_noise
from voicerouter.audio.bargein import BargeIn, BargeInDetector
from voicerouter.audio.playout import PlayoutTracker, WordMark, heard_prefix
from voicerouter.audio.settings import BargeInConfig
from voicerouter.audio.vad import VadFrame, VoiceActivityDetector


def _speak(
    detector: BargeInDetector, start_ms: float, duration_ms: float, frame_ms: float = 20.0
) -> BargeIn | None:
    """Voiced frames from `start_ms` for `duration_ms`; returns the first confirmation, if any."""
    confirmed = None
    t = start_ms
    while t < start_ms + duration_ms:
        confirmed = confirmed or detector.frame(t, frame_ms, True)
        t += frame_ms
    return confirmed


def _quiet(detector: BargeInDetector, start_ms: float, duration_ms: float, frame_ms: float = 20.0) -> None:
    t = start_ms
    while t < start_ms + duration_ms:
        assert detector.frame(t, frame_ms, False) is None
        t += frame_ms


def test_an_80_ms_cough_over_the_agent_is_not_a_barge_in() -> None:
    detector = BargeInDetector()
    detector.agent_started(0.0)
    assert _speak(detector, 1000.0, 80.0) is None
    _quiet(detector, 1080.0, 400.0)
    assert detector.confirmed is None


def test_200_ms_of_caller_speech_confirms_at_the_end_of_the_200th_ms() -> None:
    detector = BargeInDetector()
    detector.agent_started(0.0)
    barge_in = _speak(detector, 1000.0, 600.0)
    assert barge_in is not None
    assert barge_in.confirmed_ms == 1200.0
    assert barge_in.speech_started_ms == 1000.0
    assert barge_in.speech_ms == 200.0


def test_minimum_duration_comes_from_config() -> None:
    detector = BargeInDetector(BargeInConfig(min_speech_ms=400))
    detector.agent_started(0.0)
    barge_in = _speak(detector, 500.0, 1000.0)
    assert barge_in is not None and barge_in.confirmed_ms == 900.0


def test_short_gaps_inside_speech_do_not_reset_the_count() -> None:
    detector = BargeInDetector(BargeInConfig(max_gap_ms=60))
    detector.agent_started(0.0)
    assert _speak(detector, 1000.0, 120.0) is None
    _quiet(detector, 1120.0, 40.0)
    barge_in = _speak(detector, 1160.0, 120.0)
    assert barge_in is not None
    assert barge_in.confirmed_ms == 1240.0  # 120 + 80 voiced ms; the gap itself is not counted
    assert barge_in.speech_started_ms == 1000.0


def test_two_coughs_separated_by_a_long_gap_do_not_add_up() -> None:
    detector = BargeInDetector(BargeInConfig(max_gap_ms=60))
    detector.agent_started(0.0)
    assert _speak(detector, 1000.0, 120.0) is None
    _quiet(detector, 1120.0, 200.0)
    assert _speak(detector, 1320.0, 120.0) is None


def test_caller_speech_while_the_agent_is_silent_is_not_a_barge_in() -> None:
    detector = BargeInDetector()
    assert _speak(detector, 0.0, 600.0) is None
    detector.agent_started(1000.0)
    detector.agent_stopped(2000.0)
    assert _speak(detector, 2100.0, 600.0) is None


def test_speech_already_running_when_the_agent_starts_counts_from_the_agent_start() -> None:
    detector = BargeInDetector()
    assert _speak(detector, 0.0, 300.0) is None
    detector.agent_started(300.0)
    barge_in = _speak(detector, 300.0, 300.0)
    assert barge_in is not None
    assert barge_in.confirmed_ms == 500.0
    assert barge_in.speech_started_ms == 0.0


def test_one_confirmation_per_agent_utterance() -> None:
    detector = BargeInDetector()
    detector.agent_started(0.0)
    assert _speak(detector, 100.0, 300.0) is not None
    _quiet(detector, 400.0, 200.0)
    assert _speak(detector, 600.0, 300.0) is None
    detector.agent_stopped(900.0)
    detector.agent_started(1000.0)
    assert _speak(detector, 1100.0, 300.0) is not None


def test_event_stream_confirms_on_poll_once_speech_has_lasted_long_enough() -> None:
    detector = BargeInDetector()
    detector.agent_started(0.0)
    detector.speech_started(1000.0)
    assert detector.poll(1150.0) is None
    barge_in = detector.poll(1260.0)
    assert barge_in is not None and barge_in.confirmed_ms == 1200.0


def test_event_stream_ignores_a_short_utterance() -> None:
    detector = BargeInDetector()
    detector.agent_started(0.0)
    detector.speech_started(1000.0)
    assert detector.speech_stopped(1080.0) is None
    assert detector.poll(2000.0) is None


def test_event_stream_utterance_that_outlasts_the_agent_needs_the_overlap() -> None:
    detector = BargeInDetector()
    detector.agent_started(0.0)
    detector.speech_started(1900.0)
    detector.agent_stopped(2000.0)
    assert detector.poll(2500.0) is None


def test_vad_output_of_a_cough_and_of_real_speech_over_the_agent() -> None:
    rate_hz = 16000
    cough = white_noise(rate_hz, 80, level=0.3, seed=5)
    audio = concat(
        silence(rate_hz, 500),
        cough,
        silence(rate_hz, 700),
        voiced_speech(rate_hz, 800, seed=6),
        silence(rate_hz, 300),
    )
    vad = VoiceActivityDetector(rate_hz)
    detector = BargeInDetector()
    detector.agent_started(0.0)
    items = vad.push(audio.tobytes())
    voiced_ms = [f.t_ms for f in items if isinstance(f, VadFrame) and f.speech]
    assert [t for t in voiced_ms if t < 1000.0] == [500.0, 520.0, 540.0, 560.0]  # the cough is voiced
    confirmations = [c for item in items if (c := detector.feed(item)) is not None]
    assert len(confirmations) == 1
    assert confirmations[0].speech_started_ms == pytest.approx(1280.0, abs=40.0)
    assert confirmations[0].confirmed_ms == pytest.approx(1480.0, abs=40.0)


def test_playout_follows_real_time_pacing() -> None:
    tracker = PlayoutTracker(8000)
    for i in range(10):
        tracker.sent(160, t_ms=1000.0 + 20 * i)
    assert tracker.played_ms(1000.0) == 0.0
    assert tracker.played_ms(1090.0) == 90.0
    assert tracker.played_samples(1090.0) == 720
    assert tracker.played_ms(5000.0) == 200.0 == tracker.sent_ms


def test_audio_sent_ahead_of_real_time_is_not_yet_heard() -> None:
    tracker = PlayoutTracker(16000, latency_ms=40.0)
    tracker.sent(16000, t_ms=0.0)  # one second of audio in one burst
    assert tracker.played_ms(40.0) == 0.0
    assert tracker.played_ms(540.0) == 500.0
    assert tracker.played_fraction(540.0) == 0.5
    assert tracker.played_fraction(540.0, total_ms=2000.0) == 0.25


def test_playout_gap_when_audio_arrives_late() -> None:
    tracker = PlayoutTracker(8000)
    tracker.sent(800, t_ms=0.0)  # 100 ms
    tracker.sent(800, t_ms=300.0)  # the next 100 ms only after an underrun
    assert tracker.played_ms(200.0) == 100.0
    assert tracker.played_ms(350.0) == 150.0
    tracker.reset()
    assert tracker.played_ms(350.0) == 0.0 and tracker.sent_samples == 0


TEXT = "Your appointment is on Tuesday at ten, with Doctor Patel."


def test_heard_prefix_by_characters_cuts_at_a_word_boundary() -> None:
    heard = heard_prefix(TEXT, played_ms=1000.0, total_ms=4000.0)
    # A quarter of 57 characters is position 14.25: "appointment" (5-16) is 84% played, so heard.
    assert heard.text == "Your appointment"
    assert (heard.words, heard.total_words, heard.method) == (2, 10, "chars")


def test_heard_prefix_drops_a_word_less_than_half_played() -> None:
    assert heard_prefix(TEXT, played_fraction=0.14).text == "Your"  # position 7.98 is 27% into "appointment"
    assert heard_prefix(TEXT, played_fraction=0.14, min_word_fraction=0.2).text == "Your appointment"


def test_heard_prefix_of_nothing_played_and_everything_played() -> None:
    assert heard_prefix(TEXT, played_fraction=0.0).text == ""
    assert heard_prefix(TEXT, played_ms=5000.0, total_ms=4000.0).text == TEXT


def test_heard_prefix_by_words_per_second() -> None:
    heard = heard_prefix(TEXT, played_ms=1500.0, words_per_second=2.5)  # 3.75 words
    assert heard.text == "Your appointment is on"
    assert heard.method == "rate"


def test_heard_prefix_by_tts_marks_keeps_trailing_punctuation() -> None:
    text = "Sure, Tuesday works."
    marks = [
        WordMark(char_start=0, char_end=4, start_ms=0.0, end_ms=300.0),
        WordMark(char_start=6, char_end=13, start_ms=400.0, end_ms=900.0),
        WordMark(char_start=14, char_end=19, start_ms=950.0, end_ms=1300.0),
    ]
    assert heard_prefix(text, played_ms=200.0, marks=marks).text == "Sure,"
    assert heard_prefix(text, played_ms=600.0, marks=marks).text == "Sure,"
    assert heard_prefix(text, played_ms=700.0, marks=marks).text == "Sure, Tuesday"
    heard = heard_prefix(text, played_ms=1300.0, marks=marks)
    assert heard.text == text and heard.method == "marks"


def test_heard_prefix_needs_enough_evidence() -> None:
    with pytest.raises(ValueError, match="played_fraction, or played_ms with total_ms"):
        heard_prefix(TEXT, played_ms=1000.0)
    with pytest.raises(ValueError, match="marks need played_ms"):
        heard_prefix(TEXT, marks=[WordMark(char_start=0, char_end=4, start_ms=0.0)])


def test_engine_flow_keeps_only_the_words_played_before_the_barge_in() -> None:
    detector = BargeInDetector()
    tracker = PlayoutTracker(8000)
    detector.agent_started(0.0)
    total_ms = 4000.0
    barge_in = None
    for i in range(200):  # 20 ms chunks paced in real time
        t_ms = 20.0 * i
        tracker.sent(160, t_ms=t_ms)
        barge_in = barge_in or detector.frame(t_ms, 20.0, speech=t_ms >= 800.0)
        if barge_in:
            break
    assert barge_in is not None and barge_in.confirmed_ms == 1000.0
    played = tracker.played_ms(barge_in.confirmed_ms)
    assert played == 1000.0
    assert heard_prefix(TEXT, played_ms=played, total_ms=total_ms).text == "Your appointment"
