"""The caller's side of a call, sans-I/O: speech, barge-in confirmation and end of turn on audio time."""

from __future__ import annotations

from tests.audio_signals import concat, silence, voiced_speech
from voicerouter.audio.listener import (
    ANALYSIS_RATE_HZ,
    PREROLL_MS,
    BargeInConfirmed,
    CallerListener,
    CallerSpeechStarted,
    CallerSpeechStopped,
    CallerTurnEnded,
    ListenerOutput,
)
from voicerouter.audio.pcm import int16_to_pcm16
from voicerouter.audio.settings import EndpointConfig

RATE = ANALYSIS_RATE_HZ


def feed(listener: CallerListener, pcm: bytes, chunk_ms: int = 20) -> list[tuple[float, ListenerOutput]]:
    """Push in 20 ms chunks as a transport would; each output with the audio time it came out at."""
    step = RATE * chunk_ms // 1000 * 2
    out: list[tuple[float, ListenerOutput]] = []
    for i in range(0, len(pcm), step):
        for item in listener.push(pcm[i : i + step]):
            out.append((listener.now_ms, item))
    return out


def audio(*parts: tuple[str, int]) -> bytes:
    pieces = [voiced_speech(RATE, ms, seed=i) if kind == "speech" else silence(RATE, ms)
              for i, (kind, ms) in enumerate(parts)]  # fmt: skip
    return int16_to_pcm16(concat(*pieces))


def kinds(outputs: list[tuple[float, ListenerOutput]]) -> list[str]:
    return [type(item).__name__ for _, item in outputs]


def test_speech_then_silence_starts_stops_and_ends_the_turn_after_the_default_pause() -> None:
    listener = CallerListener()
    outputs = feed(listener, audio(("silence", 500), ("speech", 1200), ("silence", 1200)))
    assert kinds(outputs) == ["CallerSpeechStarted", "CallerSpeechStopped", "CallerTurnEnded"]
    ended_at_ms, ended = outputs[-1]
    assert isinstance(ended, CallerTurnEnded)
    default_ms = EndpointConfig().silence_ms
    assert ended.decision.required_silence_ms == default_ms  # no transcript yet: the default pause
    assert ended.decision.silence_ms >= default_ms
    # the turn's audio starts with pre-roll before the first voiced frame and runs to the end of the turn
    started = outputs[0][1]
    assert isinstance(started, CallerSpeechStarted)
    utterance_ms = len(ended.utterance) / 2 / RATE * 1000
    assert utterance_ms == ended_at_ms - (started.t_ms - PREROLL_MS)


def test_a_transcript_that_sounds_finished_ends_the_turn_sooner() -> None:
    listener = CallerListener()
    outputs = feed(listener, audio(("silence", 300), ("speech", 1000), ("silence", 320)))
    stopped = [item for _, item in outputs if isinstance(item, CallerSpeechStopped)]
    assert len(stopped) == 1 and not any(isinstance(item, CallerTurnEnded) for _, item in outputs)
    listener.transcript("thanks bye", stopped[0].version)
    ended = listener.poll(listener.now_ms + 10)
    assert len(ended) == 1 and isinstance(ended[0], CallerTurnEnded)
    assert ended[0].decision.required_silence_ms == 200


def test_a_transcript_for_an_older_version_of_the_utterance_is_ignored() -> None:
    listener = CallerListener()
    feed(listener, audio(("silence", 300), ("speech", 800), ("silence", 320)))
    listener.transcript("thanks bye", listener.version - 1)
    assert listener.poll(listener.now_ms + 10) == []


def test_a_cough_over_the_agent_is_not_a_barge_in_and_not_a_turn() -> None:
    listener = CallerListener()
    listener.agent_started(0.0)
    outputs = feed(listener, audio(("silence", 400), ("speech", 140), ("silence", 1500)))
    assert outputs == []
    assert listener.agent_busy


def test_sustained_speech_over_the_agent_is_confirmed_as_a_barge_in_after_min_speech() -> None:
    listener = CallerListener()
    listener.agent_started(0.0)
    outputs = feed(listener, audio(("silence", 400), ("speech", 900), ("silence", 1200)))
    assert kinds(outputs) == ["BargeInConfirmed", "CallerSpeechStopped", "CallerTurnEnded"]
    at_ms, barge = outputs[0]
    assert isinstance(barge, BargeInConfirmed)
    assert barge.t_ms - barge.speech_started_ms >= listener.config.barge_in.min_speech_ms
    assert at_ms == barge.t_ms  # decided on the frame that confirmed it, not later
    assert not listener.agent_busy
    ended_at_ms, ended = outputs[-1]
    assert isinstance(ended, CallerTurnEnded)
    # the recogniser gets the barge-in from its start (plus pre-roll), not from the confirmation
    utterance_ms = len(ended.utterance) / 2 / RATE * 1000
    assert utterance_ms == ended_at_ms - (barge.speech_started_ms - PREROLL_MS)


def test_speech_still_going_when_the_agent_falls_silent_becomes_the_callers_turn() -> None:
    listener = CallerListener()
    listener.agent_started(0.0)
    assert feed(listener, audio(("silence", 300), ("speech", 160))) == []
    promoted = listener.agent_stopped(listener.now_ms)
    assert kinds([(0.0, item) for item in promoted]) == ["CallerSpeechStarted"]
    outputs = feed(listener, audio(("speech", 600), ("silence", 1000)))
    assert kinds(outputs) == ["CallerSpeechStopped", "CallerTurnEnded"]


def test_the_endpoint_can_be_polled_on_the_clock_when_audio_stops_arriving() -> None:
    listener = CallerListener()
    feed(listener, audio(("silence", 300), ("speech", 800), ("silence", 320)))
    deadline = listener.deadline_ms
    assert deadline is not None and deadline > listener.now_ms
    assert listener.poll(deadline - 1) == []
    ended = listener.poll(deadline)
    assert len(ended) == 1 and isinstance(ended[0], CallerTurnEnded)
