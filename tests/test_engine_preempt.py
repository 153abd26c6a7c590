"""Preemptive generation on the engine's virtual clock: the model starts at the caller's pause."""

from __future__ import annotations

from tests.engine_kit import FixedClassifier, drain, make_engine, make_tools, types
from voicerouter import events as ev
from voicerouter.engine import io
from voicerouter.providers.base import ToolCall, Usage

WORDS = "status of ticket four five nine one"


def _preempted(tier: str = "triage") -> tuple[object, object, io.StartGeneration]:
    engine, clock = make_engine(classifier=FixedClassifier(tier=tier))  # type: ignore[arg-type]
    drain(engine)
    engine.receive(io.SpeechStopped())
    clock.advance(150)
    engine.receive(io.Transcript(text=WORDS, final=False))
    actions, events = drain(engine)
    assert "turn.started" not in types(events)  # the turn is not open: only its words are known
    gen = next(a for a in actions if isinstance(a, io.StartGeneration))
    assert gen.preemptive and gen.turn_id == 1 and gen.request.messages[-1].content == WORDS
    return engine, clock, gen


def test_answer_started_at_the_pause_is_held_then_spoken_at_once_when_the_turn_ends_on_the_same_words() -> (
    None
):
    engine, clock, gen = _preempted()
    clock.advance(300)
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Ticket 4591 is open. "))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage(input_tokens=300, output_tokens=8)))
    actions, _ = drain(engine)
    assert actions == []  # nothing is said before the caller has finished
    clock.advance(400)  # the end of turn, 850 ms after the VAD stop
    engine.receive(io.Transcript(text="Status of ticket four five nine one.", final=True))
    actions, events = drain(engine)
    assert not any(isinstance(a, io.StartGeneration) for a in actions)  # no second request
    assert [a.text for a in actions if isinstance(a, io.Speak)] == ["Ticket 4591 is open. "]
    route = next(e for e in events if isinstance(e, ev.RouteDecided))
    assert route.reason.endswith("started at the pause")
    completed = next(e for e in events if isinstance(e, ev.TurnCompleted))
    assert completed.first_token_ms == 0 and completed.tokens_in == 300
    assert not any(isinstance(e, ev.LlmDiscarded) for e in events)


def test_caller_resuming_cancels_the_preemptive_request_and_counts_its_waste() -> None:
    engine, clock, gen = _preempted()
    clock.advance(200)
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Ticket 4591 is"))
    engine.receive(io.SpeechStarted())  # "... and also my laptop"
    actions, events = drain(engine)
    assert io.CancelGeneration(gen_id=gen.gen_id) in actions
    discarded = next(e for e in events if isinstance(e, ev.LlmDiscarded))
    assert discarded.model == "claude-haiku" and discarded.tokens_in > 0 and discarded.tokens_out > 0
    assert discarded.cost_usd > 0 and engine.wasted_cost_usd == discarded.cost_usd
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text=" open."))  # late output of the cancelled request
    assert drain(engine)[0] == []
    engine.receive(io.Transcript(text=WORDS + " and also my laptop", final=True))
    actions, _ = drain(engine)
    again = next(a for a in actions if isinstance(a, io.StartGeneration))
    assert not again.preemptive and again.request.messages[-1].content.endswith("my laptop")


def test_a_tool_call_of_a_preemptive_request_runs_only_once_the_turn_is_confirmed() -> None:
    engine, _clock, gen = _preempted()
    call = ToolCall(id="t1", name="get_ticket", args={"ticket_id": "4591"})
    engine.receive(io.ModelToolCall(gen_id=gen.gen_id, call=call))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage(input_tokens=300, output_tokens=20)))
    actions, events = drain(engine)
    assert actions == [] and "tool.called" not in types(events)
    engine.receive(io.Transcript(text=WORDS, final=True))
    actions, events = drain(engine)
    run = next(a for a in actions if isinstance(a, io.RunTool))
    assert types(events).index("turn.started") < types(events).index("tool.called")
    engine.receive(io.ToolFinished(call_key=run.call_key, outcome=make_tools().run(run.name, run.args)))
    assert any(isinstance(a, io.StartGeneration) and not a.preemptive for a in drain(engine)[0])


def test_different_final_words_discard_the_request_and_the_speech_tier_is_never_preempted() -> None:
    engine, _clock, gen = _preempted()
    engine.receive(io.Transcript(text="status of ticket four five nine two", final=True))
    actions, events = drain(engine)
    assert io.CancelGeneration(gen_id=gen.gen_id) in actions
    assert next(e for e in events if isinstance(e, ev.LlmDiscarded)).reason == "the final words differ"
    assert (
        next(a for a in actions if isinstance(a, io.StartGeneration))
        .request.messages[-1]
        .content.endswith("two")
    )
    speech, _clock = make_engine(classifier=FixedClassifier(tier="speech"))
    drain(speech)
    speech.receive(io.Transcript(text="thanks so much", final=False))
    assert drain(speech)[0] == []
