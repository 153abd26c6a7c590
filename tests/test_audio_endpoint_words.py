"""End of turn waits for the words of the pause: a pause is held while its transcript is being decoded."""

from __future__ import annotations

from tests.test_serve_listener import audio, feed
from voicerouter.audio.endpoint import EndpointConfig, Endpointer
from voicerouter.audio.listener import CallerListener, CallerSpeechStopped, CallerTurnEnded

CONFIG = EndpointConfig()


def _paused_with_words_coming() -> Endpointer:
    endpointer = Endpointer(CONFIG)
    endpointer.speech_started(0.0)
    endpointer.speech_stopped(1000.0)
    endpointer.hypothesis_pending()
    return endpointer


def test_pause_is_held_past_the_default_while_its_words_are_decoded() -> None:
    endpointer = _paused_with_words_coming()
    assert endpointer.poll(1000.0 + CONFIG.silence_ms) is None  # 500 ms: a slow decode must not cut it
    assert endpointer.deadline_ms == 1000.0 + CONFIG.hold_silence_ms
    decision = endpointer.poll(1000.0 + CONFIG.hold_silence_ms)  # bounded: words that never come
    assert decision is not None and "held for the words" in decision.reason


def test_words_that_sound_unfinished_keep_the_hold_and_resumed_speech_continues_the_turn() -> None:
    endpointer = _paused_with_words_coming()
    endpointer.transcript("i'd like to book an appointment for", final=False)
    assert endpointer.poll(1000.0 + 700) is None
    endpointer.speech_started(1700.0)  # "next tuesday morning": the same turn goes on
    endpointer.speech_stopped(2900.0)
    endpointer.transcript("i'd like to book an appointment for next tuesday morning", final=False)
    decision = endpointer.poll(2900.0 + CONFIG.silence_ms)
    assert decision is not None and decision.text.endswith("for next tuesday morning")


def test_words_that_sound_finished_end_the_turn_as_soon_as_they_arrive() -> None:
    endpointer = _paused_with_words_coming()
    assert endpointer.poll(1000.0 + 650) is None
    endpointer.transcript("what time do you open on saturday", final=False)
    decision = endpointer.poll(1000.0 + 650)  # past the 300 ms a finished question needs
    assert decision is not None and decision.required_silence_ms == CONFIG.complete_silence_ms


def test_listener_holds_a_pause_whose_transcript_is_pending_and_ignores_an_older_version() -> None:
    listener = CallerListener()
    outputs = feed(listener, audio(("silence", 300), ("speech", 1000), ("silence", 320)))
    stopped = [item for _, item in outputs if isinstance(item, CallerSpeechStopped)]
    assert len(stopped) == 1 and not any(isinstance(item, CallerTurnEnded) for _, item in outputs)
    listener.transcript_pending(stopped[0].version)  # as the pipeline does when it starts decoding
    later = feed(listener, audio(("silence", 700)))
    assert not any(isinstance(item, CallerTurnEnded) for _, item in later)  # past the 500 ms default
    listener.transcript("thanks", stopped[0].version - 1)  # a stale answer does not release the hold
    assert listener.poll(listener.now_ms) == []
    listener.transcript("i need to move my appointment to friday", stopped[0].version)
    ended = listener.poll(listener.now_ms)
    assert len(ended) == 1 and isinstance(ended[0], CallerTurnEnded)
    assert ended[0].decision.required_silence_ms == CONFIG.silence_ms


def test_a_resuming_caller_is_not_cut_while_the_vad_confirms_the_onset() -> None:
    listener = CallerListener()
    feed(listener, audio(("silence", 300), ("speech", 1000), ("silence", 200)))
    listener.transcript("I would like an appointment", listener.version)
    # speech resumes just before the 500 ms neutral deadline; its onset is confirmed only 100 ms later
    outputs = feed(listener, audio(("silence", 280), ("speech", 400), ("silence", 100)))
    assert not [o for _, o in outputs if isinstance(o, CallerTurnEnded)]
