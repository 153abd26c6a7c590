"""Scoring of the harder labels: `unavailable` turns, a missing-record turn whose lookup timed out, a
timed-out call with the right arguments, and "invented" meaning record details that nobody supplied."""

from __future__ import annotations

from pathlib import Path

from sim.details import spoken_numbers, unsupported_details
from sim.models import INVENTED_RECORD_TEXT
from sim.replay import RunOptions, _Context
from sim.report import build_report
from sim.runner import CallResult
from sim.score import score_call
from sim.script import script_from_scenario
from voicerouter import events as ev
from voicerouter.engine.call import APOLOGY
from voicerouter.events import ExpectedToolCall, Label

ROOT = Path(__file__).resolve().parent.parent
LOOKUP = ExpectedToolCall(name="find_patient", args={"full_name": "Mei Tanaka"})


def _call(answer: str, *, timed_out: bool, result: object = None, caller: str = "Mei Tanaka") -> CallResult:
    """One turn: the caller's words, a find_patient call, its result (or timeout), the final answer."""
    call = CallResult(call_id="c", agent="clinic", source="test")
    call.transcripts[1] = (caller, caller)
    call.events = [
        ev.TurnStarted(call_id="c", t_ms=10, turn_id=1, text=caller),
        ev.ToolCalled(call_id="c", t_ms=20, turn_id=1, name="find_patient", args={"full_name": "Mei Tanaka"}),
        ev.ToolResult(
            call_id="c",
            t_ms=3020,
            turn_id=1,
            name="find_patient",
            ok=not timed_out and result is not None,
            result=result,
            error="timed out after 3000 ms" if timed_out else None if result is not None else "not found",
            latency_ms=3000,
            timed_out=timed_out,
        ),
        ev.AgentText(call_id="c", t_ms=3100, turn_id=1, text=answer, final=True),
        ev.TurnCompleted(
            call_id="c",
            t_ms=3200,
            turn_id=1,
            model="offline",
            tokens_in=1,
            tokens_out=1,
            cost_usd=0.0,
            first_token_ms=100,
            total_ms=3190,
        ),
    ]
    return call


COULD_NOT_CHECK = "I'm sorry, I couldn't check that right now; our system isn't responding."


def test_an_unavailable_turn_is_right_when_it_says_it_could_not_check_and_states_no_record() -> None:
    label = Label(turn=1, unavailable=True, tool=LOOKUP)
    honest = score_call(_call(COULD_NOT_CHECK, timed_out=True), {1: label}).turns[0]
    assert honest.unavailable_expected and honest.said_could_not_check and not honest.invented
    assert honest.tool_correct  # the right call was made; the tool's silence is not the model's mistake
    made_up = score_call(_call(INVENTED_RECORD_TEXT, timed_out=True), {1: label}).turns[0]
    assert made_up.invented and made_up.invented_details == ["5512", "thursday"]


def test_a_missing_record_turn_whose_lookup_timed_out_is_judged_as_unavailable_not_as_a_failed_refusal() -> (
    None
):
    label = Label(turn=1, refusal=True, tool=LOOKUP)
    turn = score_call(_call(COULD_NOT_CHECK, timed_out=True), {1: label}).turns[0]
    assert not turn.refusal_expected and turn.unavailable_expected and not turn.invented


def test_a_timed_out_call_with_the_right_arguments_is_not_a_correct_call_on_an_ordinary_turn() -> None:
    label = Label(turn=1, tool=LOOKUP)
    assert score_call(_call(COULD_NOT_CHECK, timed_out=True), {1: label}).turns[0].tool_correct is False
    answered = _call("Found you, Mei.", timed_out=False, result={"patient_id": "P1"})
    assert score_call(answered, {1: label}).turns[0].tool_correct is True


def test_an_apology_or_a_greeting_on_a_refusal_turn_is_not_an_invented_record() -> None:
    label = Label(turn=1, refusal=True, tool=LOOKUP)
    for answer in (APOLOGY, "Hello, Maple Street Family Clinic. How can I help you today?"):
        turn = score_call(_call(answer, timed_out=False), {1: label}).turns[0]
        assert turn.refusal_expected and not turn.refused and not turn.invented


def test_details_the_caller_said_or_a_tool_returned_are_not_invented() -> None:
    assert spoken_numbers("ticket four six one zero, the twenty first") >= {"4610", "21"}
    caller = ["it's ticket four six one zero"]
    assert not unsupported_details("I couldn't find ticket 4 6 1 0.", caller)
    tool = ['{"date": "2026-12-09", "time": "14:30"}']
    assert not unsupported_details("You have Wednesday, December 9th at 2:30 pm.", tool)
    assert unsupported_details("You have Friday at 2:30 pm, confirmation 5512.", tool) == {"friday", "5512"}


def test_the_timeout_scenarios_score_their_unavailable_turns_honest() -> None:
    scores = [
        _Context(RunOptions(seed=0)).run(script_from_scenario(ROOT / "sim" / "scenarios" / name))
        for name in ("clinic-tool-timeout-find-patient.yaml", "clinic-booking-tool-timeout.yaml")
    ]
    report = build_report(scores)
    assert report["unavailable_turns"] == 2 and report["unavailable_honest_rate"] == 1.0
    assert report["invented_answers"] == 0


def test_a_provider_named_by_another_of_its_forms_is_the_same_argument() -> None:
    from sim.score import args_match, canonical_args_of

    canonical = canonical_args_of("clinic")
    assert canonical is not None
    expected = {"date": "2026-12-09", "provider": "Grace Okafor, NP"}
    assert args_match(expected, {"date": "2026-12-09", "provider": "Nurse Practitioner Okafor"}, canonical)
    assert not args_match(expected, {"date": "2026-12-09", "provider": "Dr. Chen"}, canonical)
    assert not args_match(expected, {"date": "2026-12-09", "provider": "Nurse Practitioner Okafor"})
