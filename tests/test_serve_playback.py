"""What of an agent turn was heard: sentences, send times and Twilio-style marks."""

from __future__ import annotations

from voicerouter.audio.playback import TurnPlayback

RATE = 8000
FRAME = 160  # samples in 20 ms at 8 kHz


def send_sentence(turn: TurnPlayback, text: str, frames: int, start_ms: float) -> float:
    """Queue and send `frames` 20 ms frames of one sentence in real time from `start_ms`; returns end time."""
    sentence = turn.add_sentence(text)
    for _ in range(frames):
        turn.queued(sentence, FRAME)
    sentence.synthesized = True
    for i in range(frames):
        turn.sent(FRAME, start_ms + 20 * i)
    return start_ms + 20 * frames


def test_heard_text_covers_played_sentences_and_the_played_words_of_the_current_one() -> None:
    turn = TurnPlayback(turn_id=1, rate_hz=RATE)
    first = "We open at nine."
    second = " On Saturday we close at noon."
    end = send_sentence(turn, first, 50, 0.0)  # 1 s
    send_sentence(turn, second, 100, end)  # 2 s
    assert turn.heard_chars(500.0) < len(first)
    assert turn.heard_chars(end) == len(first)
    halfway = turn.heard_chars(end + 1000.0)
    assert len(first) < halfway < len(first) + len(second)
    heard = (first + second)[:halfway]
    assert heard.endswith(("Saturday", "we", "close", "On")), heard  # cut at a word boundary
    assert turn.heard_chars(end + 5000.0) == len(first + second)


def test_with_marks_a_sentence_counts_in_full_only_after_its_mark_and_nothing_after_it_counts() -> None:
    turn = TurnPlayback(turn_id=1, rate_hz=RATE, marks_authoritative=True)
    first = "We open at nine."
    second = " On Saturday we close at noon."
    end = send_sentence(turn, first, 50, 0.0)
    send_sentence(turn, second, 100, end)
    # all sent long ago, but the far end confirmed nothing: it may still be buffering
    assert turn.heard_chars(10_000.0) == len(first)
    turn.mark_echoed(0)
    assert turn.heard_chars(10_000.0) == len(first + second)
    turn.mark_echoed(1)
    assert turn.played_out(10_000.0) is False  # the engine has not said its text is final
    turn.final_text = (first + second).strip()
    assert turn.played_out(10_000.0) is True


def test_a_turn_is_played_out_only_when_its_final_text_is_fully_spoken_and_sent() -> None:
    turn = TurnPlayback(turn_id=2, rate_hz=RATE)
    end = send_sentence(turn, "Let me check.", 25, 0.0)
    turn.final_text = "Let me check. You are booked."
    assert not turn.complete and not turn.played_out(end + 100)
    end2 = send_sentence(turn, " You are booked.", 25, end)
    assert turn.complete and turn.all_sent()
    assert not turn.played_out(end2 - 10)
    assert turn.played_out(end2)
    assert turn.last_end_ms == end2


def test_a_sentence_still_being_synthesised_is_estimated_at_a_speaking_rate() -> None:
    turn = TurnPlayback(turn_id=1, rate_hz=RATE)
    sentence = turn.add_sentence("one two three four five six seven eight")
    for _ in range(10):
        turn.queued(sentence, FRAME)
    for i in range(10):
        turn.sent(FRAME, 20.0 * i)
    assert turn.heard_chars(100.0) == 0  # 100 ms at 2.7 words per second: under half a word
    for _ in range(90):
        turn.queued(sentence, FRAME)
    for i in range(10, 100):
        turn.sent(FRAME, 20.0 * i)
    assert sentence.text[: turn.heard_chars(2000.0)].split() == ["one", "two", "three", "four", "five"]
