"""The engine's commands to its runtime, on the virtual clock: a turn opens, finishes speaking and closes as
actions (never by a runtime reading events), in order, for answered, interrupted, fallen-back and classified
turns; each request names its turn."""

from __future__ import annotations

from tests.engine_kit import (
    AGENT,
    FixedClassifier,
    drain,
    make_config,
    make_engine,
    make_tools,
    start_generation,
)
from voicerouter.clock import VirtualClock
from voicerouter.engine import CallEngine, io
from voicerouter.engine.states import TRANSITIONS, Trigger, TurnState
from voicerouter.providers.base import ProviderError, Usage
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Router

TURN_ACTIONS = (io.OpenTurn, io.StartGeneration, io.FinishSpeaking, io.StopSpeaking, io.CloseTurn)


def _turn_actions(actions: list[io.Action]) -> list[str]:
    """The turn-shaping actions, in order, as `Name(turn_id)`."""
    return [f"{type(a).__name__}({a.turn_id})" for a in actions if isinstance(a, TURN_ACTIONS)]


def _answer(engine: CallEngine, clock: VirtualClock, gen: io.StartGeneration, text: str) -> None:
    clock.advance(200)
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text=text))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage(input_tokens=50, output_tokens=5)))


def test_an_answered_turn_opens_speaks_finishes_and_closes_only_once_played() -> None:
    engine, clock = make_engine(instant_playback=False)
    engine.receive(io.Transcript(text="is the office open today"))
    actions, _ = drain(engine)
    assert _turn_actions(actions) == ["OpenTurn(1)", "StartGeneration(1)"]
    opened = actions[0]
    assert isinstance(opened, io.OpenTurn)
    assert opened.user_text == "is the office open today" and opened.history == ()  # before the turn
    gen = start_generation(actions)
    assert gen.request.turn_id == 1  # the request says which turn it serves

    _answer(engine, clock, gen, "Yes, until five.")
    actions, _ = drain(engine)
    assert [type(a).__name__ for a in actions] == ["Speak", "FinishSpeaking"]  # the caller still listens
    assert actions[1] == io.FinishSpeaking(turn_id=1, text="Yes, until five.")

    clock.advance(1200)
    engine.receive(io.PlaybackFinished(turn_id=1))
    actions, _ = drain(engine)
    assert _turn_actions(actions) == ["CloseTurn(1)"]
    closed = actions[0]
    assert isinstance(closed, io.CloseTurn)
    assert closed.heard_text == "Yes, until five." and not closed.interrupted
    assert [(m.role, m.content) for m in closed.history] == [
        ("user", "is the office open today"),
        ("assistant", "Yes, until five."),
    ]


def test_the_greeting_is_spoken_and_finished_but_opens_no_turn() -> None:
    clock = VirtualClock()
    config = make_config()
    router = Router(config, FixedClassifier(), HealthBoard(config.health))  # type: ignore[arg-type]
    engine = CallEngine(
        call_id="g1", agent=AGENT, config=config, router=router, tools=make_tools(), clock=clock
    )
    engine.start()
    actions, _ = drain(engine)
    assert actions == [io.Speak(turn_id=0, text="Hello."), io.FinishSpeaking(turn_id=0, text="Hello.")]
    engine.receive(io.Transcript(text="hi"))
    opened = next(a for a in drain(engine)[0] if isinstance(a, io.OpenTurn))
    assert [(m.role, m.content) for m in opened.history] == [("assistant", "Hello.")]


def test_a_barge_in_stops_the_speech_and_closes_the_turn_with_what_was_heard_before_the_next_opens() -> None:
    engine, clock = make_engine(instant_playback=False)
    engine.receive(io.Transcript(text="when is my appointment"))
    gen = start_generation(drain(engine)[0])
    _answer(engine, clock, gen, "Your appointment is on Monday the third at nine.")
    drain(engine)
    clock.advance(1500)
    engine.receive(io.PlaybackProgress(turn_id=1, heard_chars=26))
    engine.receive(io.SpeechStarted())
    actions, _ = drain(engine)
    assert _turn_actions(actions) == ["StopSpeaking(1)", "CloseTurn(1)"]
    closed = actions[-1]
    assert isinstance(closed, io.CloseTurn) and closed.interrupted
    assert closed.heard_text == "Your appointment is on"
    assert closed.history[-1].content == "Your appointment is on"

    engine.receive(io.Transcript(text="sorry which day"))
    actions, _ = drain(engine)
    assert _turn_actions(actions) == ["OpenTurn(2)", "StartGeneration(2)"]
    opened = actions[0]
    assert isinstance(opened, io.OpenTurn) and opened.history == closed.history


def test_a_new_transcript_mid_answer_closes_the_old_turn_before_opening_the_new_one() -> None:
    engine, _clock = make_engine()
    engine.receive(io.Transcript(text="when is my appointment"))
    gen = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Your appointment is on Monday. It is at"))
    drain(engine)
    engine.receive(io.Transcript(text="actually wait"))
    actions, _ = drain(engine)
    assert io.CancelGeneration(gen_id=gen.gen_id) in actions
    assert _turn_actions(actions) == ["StopSpeaking(1)", "CloseTurn(1)", "OpenTurn(2)", "StartGeneration(2)"]
    closed = next(a for a in actions if isinstance(a, io.CloseTurn))
    assert closed.interrupted and closed.heard_text == "Your appointment is on Monday."
    assert not any(isinstance(a, io.FinishSpeaking) for a in actions)  # the answer never finished


def test_a_fallback_starts_a_second_generation_of_the_same_turn_and_finishes_speaking_once() -> None:
    engine, clock = make_engine()
    engine.receive(io.Transcript(text="status of ticket 4591"))
    first = start_generation(drain(engine)[0])
    engine.receive(io.ModelFailed(gen_id=first.gen_id, error=ProviderError("server_error", "500")))
    actions, _ = drain(engine)
    assert _turn_actions(actions) == ["StartGeneration(1)"]  # neither closed nor finished
    retry = start_generation(actions)
    assert retry.model != first.model and retry.request.turn_id == 1
    _answer(engine, clock, retry, "It is open.")
    actions, _ = drain(engine)
    assert _turn_actions(actions) == ["FinishSpeaking(1)", "CloseTurn(1)"]
    assert actions[-1] == io.CloseTurn(
        turn_id=1, heard_text="It is open.", interrupted=False, history=actions[-1].history
    )


def test_a_classified_turn_routes_from_the_routing_state_and_its_purpose_comes_from_the_state() -> None:
    config = make_config(escalation="ask_small_model")
    engine, clock = make_engine(classifier=FixedClassifier(tier="triage", confidence=0.3), config=config)
    engine.receive(io.Transcript(text="hmm so about the thing"))
    actions, _ = drain(engine)
    assert _turn_actions(actions) == ["OpenTurn(1)", "StartGeneration(1)"]  # open before it is labelled
    classify = start_generation(actions)
    assert classify.purpose == "classify" and classify.request.turn_id == 1
    engine.receive(io.ModelDelta(gen_id=classify.gen_id, text="triage"))
    engine.receive(io.ModelDone(gen_id=classify.gen_id, usage=Usage(input_tokens=50, output_tokens=1)))
    actions, _ = drain(engine)
    assert _turn_actions(actions) == ["StartGeneration(1)"]  # the label is never spoken
    answer = start_generation(actions)
    assert answer.purpose == "answer"
    _answer(engine, clock, answer, "Sure.")
    assert _turn_actions(drain(engine)[0]) == ["FinishSpeaking(1)", "CloseTurn(1)"]


def test_a_failed_classification_escalates_to_reasoning() -> None:
    config = make_config(escalation="ask_small_model")
    engine, _clock = make_engine(classifier=FixedClassifier(tier="triage", confidence=0.3), config=config)
    engine.receive(io.Transcript(text="hmm so about the thing"))
    classify = start_generation(drain(engine)[0])
    engine.receive(io.ModelFailed(gen_id=classify.gen_id, error=ProviderError("server_error", "500")))
    actions, events = drain(engine)
    answer = start_generation(actions)
    assert answer.purpose == "answer" and answer.tier == "reasoning"
    decided = [e for e in events if e.type == "route.decided"]
    assert decided and "small model gave no tier" in decided[0].reason  # type: ignore[union-attr]


def test_the_classify_phase_is_a_state_of_the_table_with_its_own_exits() -> None:
    exits = {trigger for (state, trigger) in TRANSITIONS if state is TurnState.ROUTING}
    assert exits == {Trigger.CLASSIFIED, Trigger.CLASSIFY_FAILED, Trigger.GIVE_UP, Trigger.INTERRUPT}
    assert TRANSITIONS[(None, Trigger.VERIFY_TIER)] is TurnState.ROUTING
    assert TRANSITIONS[(TurnState.ROUTING, Trigger.CLASSIFIED)] is TurnState.GENERATING
