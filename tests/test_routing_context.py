"""Routing that follows the conversation: the call's state read from the agent's messages, the engine's
context, and the labelled multi-turn cases (our held-out split and the independent dev set) scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine_kit import make_tools, start_generation
from voicerouter import events as ev
from voicerouter.agent import load_agent
from voicerouter.clock import VirtualClock
from voicerouter.config import load_config
from voicerouter.engine import io
from voicerouter.engine.call import CallEngine
from voicerouter.providers.base import Usage
from voicerouter.router.classifier import TriageClassifier
from voicerouter.router.dataset import MultiTurnCase, load_multiturn
from voicerouter.router.dialogue import DialogueState, agent_cues, context_from_history, same_request
from voicerouter.router.features import TurnContext
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Router

DEV_PATH = Path(__file__).resolve().parent / "data" / "routing_multiturn_dev.jsonl"
HELDOUT_PATH = Path(__file__).resolve().parent / "data" / "routing_multiturn_heldout.jsonl"
# Measured on the shipped weights; this set is only scored, never trained or tuned on.
HELDOUT_FLOOR = 0.83  # 135/160 = 0.844 measured (121/160 before the written and rule cases trained)
# A second set of 180, written afresh from the README's routing rules and the agents' descriptions alone by
# someone who never saw the router's code or data; scored once, on the weights shipped with it. Its wrong
# cases are never printed, so it cannot be tuned on by reading a failure.
HELDOUT2_PATH = Path(__file__).resolve().parent / "data" / "routing_multiturn_heldout2.jsonl"
HELDOUT2_FLOOR = 0.93  # 170/180 = 0.944 measured
GREETING = "Thank you for calling Maple Street Family Clinic. How can I help you today?"
PLAN = (
    "I can move yours to Thursday at 3:15 with Dr. Chen and your daughter's right after at 3:45, "
    "both at the main building. Shall I make both changes?"
)


@pytest.fixture(scope="module")
def model() -> TriageClassifier:
    return TriageClassifier.load()


def _accuracy(model: TriageClassifier, cases: list[MultiTurnCase]) -> tuple[int, list[str]]:
    def classify(text: str, context: TurnContext) -> str:
        return model.predict(text, context).tier

    wrong = []
    for case in cases:
        context = context_from_history(case.history_pairs(), case.text, agent=case.agent, classify=classify)
        tier = model.predict(case.text, context).tier
        if tier != case.tier:
            wrong.append(f"{case.id} [{case.category}] {case.tier}->{tier}: {case.text}")
    return len(cases) - len(wrong), wrong


def test_the_open_greeting_is_not_a_question_to_answer() -> None:
    cues = agent_cues(GREETING)
    assert cues.open_question and not cues.confirmation and cues.slot is None
    state = DialogueState(agent="clinic")
    state.agent_said(GREETING)
    assert state.context_for("compare the two plans") == TurnContext(agent="clinic")


def test_agent_messages_are_read_for_confirmations_slots_options_and_plans() -> None:
    plan = agent_cues(PLAN)
    assert plan.confirmation and plan.plan_steps >= 3
    simple = agent_cues("That's Thursday, December 3rd at 2 pm with Dr. Ortiz. Shall I book it?")
    assert simple.confirmation and simple.plan_steps < 3
    assert agent_cues("Can I have your date of birth, please?").slot == "date_of_birth"
    assert agent_cues("Thursday afternoon I have 1:30, 3 pm, or 4:30 with Dr. Chen.").options >= 3
    assert agent_cues("Try unplugging the monitor cable and plugging it back in.").instructed
    assert agent_cues("I couldn't find a patient named Sarah Smith.").refused
    assert agent_cues("I'm sorry, I couldn't reach the booking system just now.").failed
    assert agent_cues("We're open Monday to Friday from 8, until 6 most days and—").cut_off


def test_a_proposal_carries_the_tier_of_the_turn_that_made_it_through_a_restated_confirmation() -> None:
    state = DialogueState(agent="clinic")
    state.agent_said(GREETING)
    state.user_said("move both our appointments to the same afternoon but not before three", "reasoning")
    state.agent_said(PLAN)
    state.user_said("wait which doctor was the second one", "triage")
    state.agent_said("Dr. Ortiz at 3:45. Shall I go ahead with both?")
    context = state.context_for("yes")
    assert context.pending_confirmation and context.proposing_tier == "reasoning"
    assert context.previous_tier == "triage"


def test_retries_count_earlier_turns_asking_the_same_thing_not_new_values() -> None:
    assert same_request("my vpn won't connect it says authentication failed", "still authentication failed")
    assert not same_request("four six one one", "four six one five")
    state = DialogueState()
    state.user_said("I need to reschedule my appointment with doctor chen", "triage")
    assert state.context_for("I need to move my appointment with doctor chen").retries == 1


def test_our_held_out_multi_turn_split_scores_at_least_nine_in_ten(model: TriageClassifier) -> None:
    cases = load_multiturn(split="test")
    assert len(load_multiturn()) >= 150 and len(cases) >= 40
    assert {c.agent for c in cases} == {"clinic", "helpdesk"}
    correct, wrong = _accuracy(model, cases)
    assert correct / len(cases) >= 0.9, "\n".join(wrong)


def test_the_independent_dev_set_scores_at_least_nine_in_ten(model: TriageClassifier) -> None:
    cases = load_multiturn(DEV_PATH)
    assert len(cases) >= 100
    correct, wrong = _accuracy(model, cases)
    assert correct / len(cases) >= 0.9, f"{correct}/{len(cases)}\n" + "\n".join(wrong)


def test_the_held_out_written_set_keeps_its_measured_accuracy(model: TriageClassifier) -> None:
    cases = load_multiturn(HELDOUT_PATH)
    assert len(cases) >= 150 and {c.agent for c in cases} == {"clinic", "helpdesk"}
    correct, wrong = _accuracy(model, cases)
    assert correct / len(cases) >= HELDOUT_FLOOR, f"{correct}/{len(cases)}\n" + "\n".join(wrong)


def test_the_second_held_out_set_keeps_its_measured_accuracy(model: TriageClassifier) -> None:
    cases = load_multiturn(HELDOUT2_PATH)
    assert len(cases) >= 180 and {c.agent for c in cases} == {"clinic", "helpdesk"}
    correct, _wrong = _accuracy(model, cases)
    assert correct / len(cases) >= HELDOUT2_FLOOR, f"{correct}/{len(cases)}"  # the cases stay unread


def _clinic_engine() -> CallEngine:
    config = load_config()
    router = Router(config, TriageClassifier.load(), HealthBoard(config.health))
    engine = CallEngine(
        call_id="c1",
        agent=load_agent("clinic"),
        config=config,
        router=router,
        tools=make_tools(),
        clock=VirtualClock(),
    )
    engine.start()
    engine.actions_to_send()
    engine.events_emitted()
    return engine


def _route(engine: CallEngine, text: str, answer: str) -> ev.RouteDecided:
    engine.receive(io.Transcript(text=text))
    gen = start_generation(engine.actions_to_send())
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text=answer))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage(input_tokens=10, output_tokens=5)))
    decided = [e for e in engine.events_emitted() if isinstance(e, ev.RouteDecided)]
    assert decided
    return decided[0]


def test_a_first_turn_routes_in_a_call_as_it_does_alone() -> None:
    """Regression: the greeting's "?" made a first turn look like an answer, routing this one to triage."""
    engine = _clinic_engine()
    text = "compare the two plans and tell me which covers physio"
    alone = engine.router.classify(text, TurnContext(agent="clinic"))
    decided = _route(engine, text, "The plus plan covers twelve sessions.")
    assert decided.tier == alone.tier == "reasoning"
    assert decided.confidence == pytest.approx(alone.confidence, abs=1e-4)


def test_yes_to_a_reasoning_plan_stays_on_reasoning_in_a_call() -> None:
    engine = _clinic_engine()
    first = _route(
        engine,
        "I need to move my appointment and my daughter's to the same afternoon but not before three",
        PLAN,
    )
    assert first.tier == "reasoning"
    assert _route(engine, "yes do that", "Done.").tier == "reasoning"
    assert _route(engine, "thank you so much bye", "You're welcome.").tier == "speech"
