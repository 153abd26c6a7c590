"""End-of-turn: default silence, held for unfinished speech, shortened for clearly finished turns."""

from __future__ import annotations

import pytest

from tests.audio_signals import concat, silence, voiced_speech
from voicerouter.audio import turn_cues
from voicerouter.audio.endpoint import EndpointConfig, Endpointer
from voicerouter.audio.settings import AudioConfig, VadConfig
from voicerouter.audio.turn_cues import classify_turn_text
from voicerouter.audio.vad import VoiceActivityDetector

CONFIG = EndpointConfig()


def _ended_after_ms(text: str, config: EndpointConfig = CONFIG) -> float:
    """Silence after which a turn with final transcript `text` ends, polled every 10 ms."""
    endpointer = Endpointer(config)
    endpointer.speech_started(0.0)
    endpointer.transcript(text, final=True)
    endpointer.speech_stopped(1000.0)
    for now_ms in range(1000, 5000, 10):
        decision = endpointer.poll(float(now_ms))
        if decision is not None:
            return decision.silence_ms
    raise AssertionError(f"turn {text!r} never ended")


def test_neutral_turn_ends_after_the_default_800_ms() -> None:
    assert _ended_after_ms("I need to move my appointment to Friday") == 800


@pytest.mark.parametrize(
    "text",
    [
        "I want to book an appointment and",
        "it's for my daughter but",
        "I restarted it and then",
        "if it crashes again then",
        "so",
        "I'd like to um",
        "the problem is uh",
        "my number is 555 01",
        "my phone number is 7",
        "five five five two",
        "my last name is S M I T H",
        "it's spelled j-o-h-n",
        "that's alpha bravo",
        "my email is jane dot doe at",
        "my email is jane at example",
        "jane.doe@example",
    ],
)
def test_unfinished_sounding_turn_is_held_to_1200_ms(text: str) -> None:
    assert _ended_after_ms(text) == 1200


@pytest.mark.parametrize(
    "text",
    [
        "What time do you open on Saturday?",
        "what time do you open on saturday",
        "thanks",
        "Okay, thank you.",
        "bye",
        "no that's all",
        "yes",
    ],
)
def test_clearly_complete_turn_ends_after_200_ms(text: str) -> None:
    assert _ended_after_ms(text) == 200


@pytest.mark.parametrize(
    "text",
    [
        "my email is jane dot doe at example dot com",
        "I am at home",
        "yeah I think so",
        "this is ridiculous, what is going on",
        "okay I will hold on",
        "okay, saturday at ten with Doctor Ortiz then",
        "never mind then",
        "book me for 3",
        "I want the second one.",
    ],
)
def test_finished_dictation_and_ordinary_words_get_the_default(text: str) -> None:
    assert classify_turn_text(text, CONFIG).kind == "neutral"


def test_decision_carries_reason_text_and_times() -> None:
    endpointer = Endpointer()
    endpointer.speech_started(100.0)
    endpointer.transcript("my number is 555 01", final=True)
    endpointer.speech_stopped(2000.0)
    assert endpointer.poll(3199.0) is None
    decision = endpointer.poll(3200.0)
    assert decision is not None
    assert decision.cue == "unfinished"
    assert decision.reason == "1200 ms silence >= 1200 ms (held: digits being read out)"
    assert (decision.t_ms, decision.turn_started_ms, decision.speech_stopped_ms) == (3200.0, 100.0, 2000.0)
    assert decision.text == "my number is 555 01"
    assert endpointer.poll(4000.0) is None  # decided once


def test_speech_resuming_during_the_hold_cancels_the_end_of_turn() -> None:
    endpointer = Endpointer()
    endpointer.speech_started(0.0)
    endpointer.transcript("I'd like to book and", final=True)
    endpointer.speech_stopped(1000.0)
    assert endpointer.poll(1900.0) is None
    endpointer.speech_started(2000.0)
    assert endpointer.poll(2300.0) is None and endpointer.deadline_ms is None
    endpointer.transcript("a cleaning", final=True)
    endpointer.speech_stopped(2600.0)
    decision = endpointer.poll(2600.0 + CONFIG.silence_ms)
    assert decision is not None and decision.text == "I'd like to book and a cleaning"


def test_final_transcript_arriving_in_the_pause_shortens_the_wait() -> None:
    endpointer = Endpointer()
    endpointer.speech_started(0.0)
    endpointer.transcript("okay thank", final=False)
    endpointer.speech_stopped(1000.0)
    assert endpointer.deadline_ms == 1000.0 + CONFIG.silence_ms
    assert endpointer.poll(1350.0) is None
    endpointer.transcript("okay thank you", final=True)
    assert endpointer.deadline_ms == 1200.0
    decision = endpointer.poll(1350.0)
    assert decision is not None and decision.cue == "complete"


def test_partial_transcript_is_replaced_and_finals_accumulate() -> None:
    endpointer = Endpointer()
    endpointer.speech_started(0.0)
    endpointer.transcript("I want", final=False)
    endpointer.transcript("I want to", final=False)
    assert endpointer.text == "I want to"
    endpointer.transcript("I want to cancel.", final=True)
    endpointer.transcript("my", final=False)
    assert endpointer.text == "I want to cancel. my"


def test_next_speech_after_a_decision_starts_a_fresh_turn() -> None:
    endpointer = Endpointer()
    endpointer.speech_started(0.0)
    endpointer.transcript("bye", final=True)
    endpointer.speech_stopped(500.0)
    assert endpointer.poll(800.0) is not None
    assert endpointer.state == "ended"
    endpointer.speech_started(2000.0)
    assert endpointer.text == "" and endpointer.state == "speaking"


def test_configured_durations_replace_the_defaults() -> None:
    config = EndpointConfig(silence_ms=700, hold_silence_ms=2000, complete_silence_ms=200)
    assert _ended_after_ms("I need a refill", config) == 700
    assert _ended_after_ms("I need a refill and", config) == 2000
    assert _ended_after_ms("thanks", config) == 200


def test_custom_hold_words_hold_the_turn() -> None:
    config = EndpointConfig(hold_words=("también",))
    assert _ended_after_ms("quiero una cita también", config) == 1200
    assert _ended_after_ms("I want to book and", config) == CONFIG.silence_ms


def test_endpointer_consumes_vad_output_on_a_real_signal() -> None:
    rate_hz = 16000
    audio = concat(silence(rate_hz, 400), voiced_speech(rate_hz, 1000, seed=3), silence(rate_hz, 1500))
    vad = VoiceActivityDetector(rate_hz, VadConfig())
    endpointer = Endpointer()
    endpointer.transcript("can you check my prescription", final=True)
    decision = None
    step = rate_hz // 50 * 2
    data = audio.tobytes()
    for offset in range(0, len(data), step):
        for item in vad.push(data[offset : offset + step]):
            endpointer.feed(item)
        now_ms = (offset + step) / 2 / rate_hz * 1000
        decision = decision or endpointer.poll(now_ms)
    assert decision is not None
    assert decision.cue == "complete"
    assert decision.speech_stopped_ms == pytest.approx(1400.0, abs=60.0)
    assert decision.t_ms == pytest.approx(decision.speech_stopped_ms + 200.0, abs=20.0)


def test_config_rejects_durations_out_of_order() -> None:
    with pytest.raises(ValueError, match="complete_silence_ms <= silence_ms <= hold_silence_ms"):
        EndpointConfig(silence_ms=1500)


def test_audio_config_rejects_a_vad_hangover_longer_than_the_shortest_turn_end() -> None:
    with pytest.raises(ValueError, match=r"vad.hangover_ms \(400\) exceeds endpoint.complete_silence_ms"):
        AudioConfig(vad=VadConfig(hangover_ms=400))


# Each default rule with a turn only it recognises first: walking the table proves every rule is reachable.
RULE_EXAMPLES = {
    turn_cues.question_mark: "Can you move it to Friday?",
    turn_cues.trailing_email_joiner: "send it to jane dot",
    turn_cues.trailing_hold_word: "I want to book and",
    turn_cues.email_in_progress: "my email is jane at example",
    turn_cues.spelling_in_progress: "my last name is S M I T H",
    turn_cues.month_without_day: "my date of birth is march",
    turn_cues.date_announced: "my date of birth the martin",
    turn_cues.whole_value_read: "my employee id is E one oh four two",
    turn_cues.digits_being_read: "five five five two",
    turn_cues.number_being_read: "my phone number is 7",
    turn_cues.question_without_its_verb: "what time do you",
    turn_cues.closing_phrase: "okay thank you",
    turn_cues.short_answer: "yes",
    turn_cues.unpunctuated_question: "what time do you open",
}


def test_every_turn_rule_is_the_one_that_decides_its_example() -> None:
    assert set(RULE_EXAMPLES) == set(turn_cues.TURN_RULES)
    for rule, text in RULE_EXAMPLES.items():
        tokens = tuple(turn_cues.tokenize(text))
        said = turn_cues.Transcript(text, tokens)
        deciding = next(r for r in turn_cues.TURN_RULES if r(said, CONFIG) is not None)
        assert deciding is rule, f"{text!r} is decided by {deciding.__name__}, not {rule.__name__}"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "she was born november second nineteen seventy nine",
            "a whole year read out (nineteen seventy nine)",
        ),
        ("same day, friday the eleventh at two thirty", "a whole time read out (two thirty)"),
        ("it's about ticket four six oh five", "a whole code read out (4605)"),
        ("my ID is E one one oh four", "a whole code read out (e1104)"),
    ],
)
def test_a_whole_value_read_out_is_not_held_for_more_digits(text: str, reason: str) -> None:
    assert classify_turn_text(text, CONFIG) == turn_cues.TurnCue("neutral", reason)


@pytest.mark.parametrize(
    "text",
    [
        "my ID is E one one oh",
        "ticket number four six oh",
        "my number is five five five one two three four",
        "born in nineteen",
        "friday at two",
    ],
)
def test_part_of_a_value_is_still_held(text: str) -> None:
    assert classify_turn_text(text, CONFIG).kind in ("unfinished", "neutral")
    assert "whole" not in classify_turn_text(text, CONFIG).reason


def test_at_in_a_sentence_after_an_email_word_is_not_an_address_being_spelled() -> None:
    text = "can you reset my email password while we're at it, maybe that fixes it"
    assert classify_turn_text(text, CONFIG) == turn_cues.NO_CUE
    assert classify_turn_text("my email is j smith at g mail", CONFIG).kind == "unfinished"


def test_record_code_shapes_are_config_and_a_bad_one_is_named() -> None:
    assert (
        classify_turn_text("my ID is E one one oh four", EndpointConfig(complete_codes=())).kind
        == "unfinished"
    )
    with pytest.raises(ValueError, match=r"endpoint.complete_codes: '\[a-z' is not a regex"):
        EndpointConfig(complete_codes=("[a-z",))


def test_no_rule_claims_an_ordinary_sentence() -> None:
    text = "I need to move my appointment to Friday"
    said = turn_cues.Transcript(text, tuple(turn_cues.tokenize(text)))
    assert [rule.__name__ for rule in turn_cues.TURN_RULES if rule(said, CONFIG)] == []
    assert classify_turn_text(text, CONFIG) == turn_cues.NO_CUE


def test_rules_are_tried_in_order_and_the_first_cue_wins() -> None:
    text = "can I give you my number five five"
    assert classify_turn_text(text, CONFIG).reason == "digits being read out"
    question_first = (turn_cues.unpunctuated_question, *turn_cues.TURN_RULES)
    assert classify_turn_text(text, CONFIG, rules=question_first).reason == "question opening with 'can'"


def test_a_new_rule_is_one_function_in_the_list() -> None:
    def menu_prompt(said: turn_cues.Transcript, config: EndpointConfig) -> turn_cues.TurnCue | None:
        return turn_cues.TurnCue("unfinished", "menu choice coming") if said.last == "press" else None

    text = "for billing press"
    assert classify_turn_text(text, CONFIG).kind == "neutral"
    with_menu = (*turn_cues.TURN_RULES, menu_prompt)
    assert classify_turn_text(text, CONFIG, rules=with_menu).reason == "menu choice coming"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("my date of birth is march", "unfinished"),  # the day comes next
        ("I'd like an appointment in march", "neutral"),  # a month named whole
        ("my date of birth the martin", "unfinished"),  # announced, then a misheard word: no date yet
        ("my date of birth is june third", "neutral"),
        ("it is my birthday today", "neutral"),
        ("what's your date of birth", "neutral"),  # nobody's own date is announced
        ("what time do you", "unfinished"),  # a question with its subject and not yet its verb
        ("is there parking near", "unfinished"),
        ("is there", "unfinished"),
        ("what time is it", "complete"),  # a copula question is whole
        ("can I bring my daughter too", "complete"),
        ("thank you", "complete"),
    ],
)
def test_a_date_announced_a_bare_month_or_a_verbless_question_waits(text: str, kind: str) -> None:
    assert classify_turn_text(text, CONFIG).kind == kind


def _doubted(best: str, readings: tuple[str, ...], earlier: str = "") -> Endpointer:
    endpointer = Endpointer()
    endpointer.speech_started(0.0)
    if earlier:
        endpointer.transcript(earlier, final=True)
    endpointer.transcript(best, final=False, alternatives=readings)
    endpointer.speech_stopped(1000.0)
    return endpointer


def test_a_finished_reading_beside_an_unfinished_one_is_held_in_doubt() -> None:
    # "move my appointment to" [pause] heard best as "at two", a question that sounds finished
    endpointer = _doubted("can you move my appointment at two", ("can you move my appointment at to",))
    cue = endpointer.cue()
    assert cue.kind == "unfinished" and cue.doubted and "at to" in cue.reason
    assert endpointer.deadline_ms == 1000.0 + CONFIG.doubt_silence_ms
    assert CONFIG.complete_silence_ms < CONFIG.doubt_silence_ms < CONFIG.hold_silence_ms
    assert endpointer.poll(1000.0 + CONFIG.doubt_silence_ms - 10) is None
    decision = endpointer.poll(1000.0 + CONFIG.doubt_silence_ms)
    assert decision is not None and "held in doubt" in decision.reason
    assert decision.text == "can you move my appointment at two"  # the best reading is what goes on


def test_readings_that_all_sound_finished_leave_the_best_cue_alone() -> None:
    endpointer = _doubted("what time do you open", ("what time do you opened", "what time you open"))
    assert endpointer.cue().kind == "complete"
    assert endpointer.deadline_ms == 1000.0 + CONFIG.complete_silence_ms


def test_readings_are_read_after_the_earlier_segments_and_dropped_with_the_next_transcript() -> None:
    endpointer = _doubted("at two", ("at to",), earlier="can you move my appointment")
    assert endpointer.cue().doubted
    endpointer.transcript("at two please", final=False)  # a newer hypothesis with no other readings
    assert not endpointer.cue().doubted


def test_a_best_reading_that_is_unfinished_is_held_the_full_hold() -> None:
    endpointer = _doubted("I'd like to book an appointment for", ("I'd like to book an appointment four",))
    cue = endpointer.cue()
    assert cue.kind == "unfinished" and not cue.doubted
    assert endpointer.deadline_ms == 1000.0 + CONFIG.hold_silence_ms


def test_doubt_silence_must_lie_between_the_complete_and_the_hold_silence() -> None:
    with pytest.raises(ValueError, match="doubt_silence_ms"):
        EndpointConfig(doubt_silence_ms=1500)


def _streamed(partial: str) -> Endpointer:
    """A pause whose words so far are a streaming recogniser's running hypothesis (no other readings)."""
    endpointer = Endpointer()
    endpointer.speech_started(0.0)
    endpointer.speech_stopped(1000.0)
    endpointer.transcript(partial, final=False, settled=False)
    return endpointer


def test_a_running_hypothesis_that_sounds_finished_does_not_shorten_the_pause() -> None:
    # "can you move my appointment to" [pause] streamed as "... at two", a question that sounds finished
    endpointer = _streamed("can you move my appointment at two")
    assert endpointer.cue().kind == "complete"
    assert endpointer.deadline_ms == 1000.0 + CONFIG.silence_ms
    assert endpointer.poll(1000.0 + CONFIG.complete_silence_ms) is None
    decision = endpointer.poll(1000.0 + CONFIG.silence_ms)
    assert decision is not None and "until the words settle" in decision.reason


def test_settled_words_of_the_same_pause_then_shorten_it_or_hold_it_in_doubt() -> None:
    finished = _streamed("what time do you open")
    finished.transcript("what time do you open", final=False, alternatives=("what time you open",))
    assert finished.deadline_ms == 1000.0 + CONFIG.complete_silence_ms
    doubted = _streamed("can you move my appointment at two")
    doubted.transcript("can you move my appointment at two", final=False,
                       alternatives=("can you move my appointment at to",))  # fmt: skip
    assert doubted.cue().doubted and doubted.deadline_ms == 1000.0 + CONFIG.doubt_silence_ms


def test_a_running_hypothesis_that_sounds_unfinished_still_holds_the_pause() -> None:
    endpointer = _streamed("i'd like to book an appointment for")
    assert endpointer.deadline_ms == 1000.0 + CONFIG.hold_silence_ms
