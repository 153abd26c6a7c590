"""The per-call engine, driven input by input on a virtual clock."""

from __future__ import annotations

import pytest

from tests.engine_kit import (
    FixedClassifier,
    closed_history,
    drain,
    make_config,
    make_engine,
    make_tools,
    start_generation,
    types,
)
from voicerouter import events as ev
from voicerouter.engine import io
from voicerouter.engine.states import TRANSITIONS, IllegalTransition, Trigger, TurnState, transition
from voicerouter.providers.base import ProviderError, ToolCall, Usage
from voicerouter.toolkit import ToolOutcome


def test_turn_lifecycle_with_a_tool_round_trip_emits_events_in_order() -> None:
    engine, clock = make_engine()
    drain(engine)
    engine.receive(io.Transcript(text="status of ticket four five nine one"))
    actions, events = drain(engine)
    assert types(events) == ["user.transcript", "turn.started", "route.decided"]
    first = start_generation(actions)
    assert first.model == "claude-haiku" and first.tier == "triage"
    assert first.request.messages[-1].content == "status of ticket four five nine one"

    clock.advance(300)
    call = ToolCall(id="t1", name="get_ticket", args={"ticket_id": "4591"})
    engine.receive(io.ModelToolCall(gen_id=first.gen_id, call=call))
    engine.receive(io.ModelDone(gen_id=first.gen_id, usage=Usage(input_tokens=500, output_tokens=20)))
    actions, events = drain(engine)
    assert types(events) == ["tool.called"]
    run = next(a for a in actions if isinstance(a, io.RunTool))
    assert run.name == "get_ticket" and run.timeout_ms == 1000

    clock.advance(80)
    engine.receive(io.ToolFinished(call_key=run.call_key, outcome=make_tools().run(run.name, run.args)))
    actions, events = drain(engine)
    assert types(events) == ["tool.result"]
    assert events[0].latency_ms == 80 and events[0].ok  # type: ignore[union-attr]
    second = start_generation(actions)
    assert second.request.messages[-1].role == "tool"

    clock.advance(250)
    engine.receive(io.ModelDelta(gen_id=second.gen_id, text="Ticket 4591 is open. "))
    engine.receive(io.ModelDelta(gen_id=second.gen_id, text="Anything else?"))
    engine.receive(io.ModelDone(gen_id=second.gen_id, usage=Usage(input_tokens=600, output_tokens=12)))
    actions, events = drain(engine)
    assert types(events) == ["llm.first_token", "agent.text", "agent.text", "agent.text", "turn.completed"]
    first_token = events[0]
    assert isinstance(first_token, ev.LlmFirstToken) and first_token.ttft_ms == 630
    completed = events[-1]
    assert isinstance(completed, ev.TurnCompleted)
    assert completed.tokens_in == 1100 and completed.tokens_out == 32
    # claude-haiku list price: $1 in / $5 out per million tokens
    assert completed.cost_usd == pytest.approx((1100 * 1.0 + 32 * 5.0) / 1e6)
    assert [a.text for a in actions if isinstance(a, io.Speak)] == ["Ticket 4591 is open. ", "Anything else?"]
    assert closed_history(actions)[-1].content == "Ticket 4591 is open. Anything else?"


def test_new_user_turn_mid_answer_cancels_and_keeps_only_delivered_text() -> None:
    engine, _clock = make_engine()
    engine.receive(io.Transcript(text="when is my appointment"))
    gen = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Your appointment is on Monday. "))
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="It is at nine in"))
    drain(engine)
    engine.receive(io.Transcript(text="actually wait"))
    actions, events = drain(engine)
    assert io.CancelGeneration(gen_id=gen.gen_id) in actions
    interrupted = next(e for e in events if isinstance(e, ev.TurnInterrupted))
    assert (
        interrupted.heard_text == "Your appointment is on Monday."
    )  # the unfinished sentence was never spoken
    assert types(events)[:4] == ["user.transcript", "turn.interrupted", "turn.completed", "turn.started"]
    assistant = [m.content for m in closed_history(actions) if m.role == "assistant"]
    assert assistant == ["Your appointment is on Monday."]
    # a late chunk of the cancelled stream is ignored
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="ghost"))
    assert not any(isinstance(e, ev.AgentText) and "ghost" in e.text for e in drain(engine)[1])


def test_barge_in_truncates_history_to_the_played_position() -> None:
    engine, _clock = make_engine(instant_playback=False)
    engine.receive(io.Transcript(text="when is my appointment"))
    gen = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Your appointment is on Monday the third at nine."))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage(input_tokens=10, output_tokens=10)))
    drain(engine)
    engine.receive(io.PlaybackProgress(turn_id=1, heard_chars=26))  # "Your appointment is on Mon|day"
    engine.receive(io.SpeechStarted())
    actions, events = drain(engine)
    assert io.StopSpeaking(turn_id=1) in actions
    interrupted = next(e for e in events if isinstance(e, ev.TurnInterrupted))
    assert interrupted.heard_text == "Your appointment is on"
    assert [m.content for m in closed_history(actions) if m.role == "assistant"] == ["Your appointment is on"]


def test_speaking_turn_completes_only_when_playback_finishes() -> None:
    engine, clock = make_engine(instant_playback=False)
    engine.receive(io.Transcript(text="hi"))
    gen = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Hello there."))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage()))
    assert "turn.completed" not in types(drain(engine)[1])
    clock.advance(900)
    engine.receive(io.PlaybackFinished(turn_id=1))
    completed = [e for e in drain(engine)[1] if isinstance(e, ev.TurnCompleted)]
    assert completed and completed[0].total_ms == 900


def test_stalled_stream_falls_back_within_the_first_token_budget() -> None:
    engine, clock = make_engine()
    engine.receive(io.Transcript(text="status of ticket 4591"))
    gen = start_generation(drain(engine)[0])
    assert engine.next_deadline_ms() == 1500
    clock.advance(1500)
    engine.check_timers()
    actions, events = drain(engine)
    assert io.CancelGeneration(gen_id=gen.gen_id) in actions
    failed = next(e for e in events if isinstance(e, ev.ProviderFailed))
    assert failed.model == "claude-haiku" and failed.fallback_to == "gpt-mini" and "stalled" in failed.error
    retry = start_generation(actions)
    assert retry.model == "gpt-mini"
    clock.advance(200)
    engine.receive(io.ModelDelta(gen_id=retry.gen_id, text="It is open."))
    engine.receive(io.ModelDone(gen_id=retry.gen_id, usage=Usage(input_tokens=100, output_tokens=5)))
    completed = next(e for e in drain(engine)[1] if isinstance(e, ev.TurnCompleted))
    assert completed.model == "gpt-mini" and completed.first_token_ms == 1700


def test_rate_limit_honours_retry_after_for_later_turns() -> None:
    engine, clock = make_engine()
    engine.receive(io.Transcript(text="hello"))
    gen = start_generation(drain(engine)[0])
    error = ProviderError("rate_limited", "429", retry_after_s=20)
    engine.receive(io.ModelFailed(gen_id=gen.gen_id, error=error))
    retry = start_generation(drain(engine)[0])
    assert retry.model == "gpt-mini"
    engine.receive(io.ModelDone(gen_id=retry.gen_id, usage=Usage()))
    drain(engine)
    clock.advance(5000)
    engine.receive(io.Transcript(text="and the other one"))
    actions, events = drain(engine)
    decided = next(e for e in events if isinstance(e, ev.RouteDecided))
    assert decided.model == "gpt-mini" and "claude-haiku (rate limited" in decided.reason
    clock.advance(20000)
    engine.receive(io.ModelDone(gen_id=start_generation(actions).gen_id, usage=Usage()))
    engine.receive(io.Transcript(text="one more"))
    assert next(e for e in drain(engine)[1] if isinstance(e, ev.RouteDecided)).model == "claude-haiku"


def test_tool_timeout_gives_timed_out_result_and_the_model_hears_it() -> None:
    engine, clock = make_engine()
    engine.receive(io.Transcript(text="status of ticket 4591"))
    gen = start_generation(drain(engine)[0])
    call = ToolCall(id="t1", name="get_ticket", args={"ticket_id": "4591"})
    engine.receive(io.ModelToolCall(gen_id=gen.gen_id, call=call))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage()))
    run = next(a for a in drain(engine)[0] if isinstance(a, io.RunTool))
    clock.advance(1000)
    engine.check_timers()
    actions, events = drain(engine)
    assert io.CancelTool(call_key=run.call_key) in actions
    result = next(e for e in events if isinstance(e, ev.ToolResult))
    assert result.timed_out and not result.ok and result.latency_ms == 1000
    follow_up = start_generation(actions)
    assert "timed out" in follow_up.request.messages[-1].content
    # the late answer of the cancelled tool changes nothing
    engine.receive(io.ToolFinished(call_key=run.call_key, outcome=ToolOutcome(ok=True, result={"x": 1})))
    assert drain(engine) == ([], [])


def test_every_model_failing_ends_the_turn_with_an_apology() -> None:
    engine, _clock = make_engine()
    engine.receive(io.Transcript(text="hello"))
    for _ in range(3):
        gen = start_generation(drain(engine)[0])
        engine.receive(io.ModelFailed(gen_id=gen.gen_id, error=ProviderError("server_error", "500")))
    _actions, events = drain(engine)
    final = next(e for e in events if isinstance(e, ev.AgentText) and e.final)
    assert "trouble" in final.text
    assert [e.fallback_to for e in events if isinstance(e, ev.ProviderFailed)] == [None]
    assert isinstance(events[-1], ev.TurnCompleted)


def test_low_confidence_escalates_to_reasoning() -> None:
    engine, _ = make_engine(classifier=FixedClassifier(tier="triage", confidence=0.3))
    engine.receive(io.Transcript(text="hmm so about the thing"))
    decided = next(e for e in drain(engine)[1] if isinstance(e, ev.RouteDecided))
    assert decided.tier == "reasoning" and "escalated" in decided.reason


def test_ask_small_model_escalation_lets_the_small_model_pick_the_tier() -> None:
    config = make_config(escalation="ask_small_model")
    engine, _clock = make_engine(classifier=FixedClassifier(tier="triage", confidence=0.3), config=config)
    engine.receive(io.Transcript(text="hmm so about the thing"))
    actions, events = drain(engine)
    assert "route.decided" not in types(events)
    classify = start_generation(actions)
    assert classify.purpose == "classify" and classify.model == "claude-haiku"
    engine.receive(io.ModelDelta(gen_id=classify.gen_id, text="speech"))
    engine.receive(io.ModelDone(gen_id=classify.gen_id, usage=Usage(input_tokens=50, output_tokens=1)))
    actions, events = drain(engine)
    decided = next(e for e in events if isinstance(e, ev.RouteDecided))
    assert decided.tier == "speech" and "small model classified" in decided.reason
    assert start_generation(actions).model == "gpt-realtime"


def test_cost_cap_nearing_routes_reasoning_down_a_tier() -> None:
    engine, _ = make_engine(classifier=FixedClassifier(tier="reasoning", confidence=0.95))
    engine.call_cost_usd = 0.45  # 90 % of the default $0.50 cap
    engine.receive(io.Transcript(text="compare both options and move them"))
    decided = next(e for e in drain(engine)[1] if isinstance(e, ev.RouteDecided))
    assert decided.tier == "triage" and "routed down to triage" in decided.reason


def test_hangup_mid_turn_interrupts_and_ends_the_call() -> None:
    engine, _ = make_engine()
    engine.receive(io.Transcript(text="hello"))
    gen = start_generation(drain(engine)[0])
    engine.receive(io.HangUp())
    actions, events = drain(engine)
    assert io.CancelGeneration(gen_id=gen.gen_id) in actions
    assert types(events)[-3:] == ["turn.interrupted", "turn.completed", "call.ended"]
    assert engine.next_deadline_ms() is None


def test_state_table_allows_listed_transitions_and_names_illegal_ones() -> None:
    for (state, trigger), target in TRANSITIONS.items():
        assert transition(state, trigger) is target
    illegal = [
        (state, trigger)
        for state in [None, *TurnState]
        for trigger in Trigger
        if (state, trigger) not in TRANSITIONS
    ]
    assert illegal
    for state, trigger in illegal:
        with pytest.raises(IllegalTransition):
            transition(state, trigger)
    for terminal in (TurnState.COMPLETED, TurnState.INTERRUPTED):
        assert not any(s is terminal for s, _ in TRANSITIONS)


def test_an_answer_still_playing_past_the_turn_budget_is_not_timed_out() -> None:
    engine, clock = make_engine(instant_playback=False)
    engine.receive(io.Transcript(text="read me the whole policy"))
    gen = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="A very long answer."))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage()))
    drain(engine)
    assert engine.next_deadline_ms() is None
    clock.advance(60_000)
    engine.check_timers()
    engine.receive(io.PlaybackFinished(turn_id=1))
    assert types(drain(engine)[1]) == ["turn.completed"]


def test_a_fallback_continuing_a_cut_off_answer_keeps_words_apart() -> None:
    engine, clock = make_engine()
    engine.receive(io.Transcript(text="status of ticket 4591"))
    gen = start_generation(drain(engine)[0])
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Ticket 4591 is about your monitor,"))
    clock.advance(1600)
    engine.check_timers()
    retry = start_generation(drain(engine)[0])
    assert "Continue from there" in retry.request.system
    engine.receive(io.ModelDelta(gen_id=retry.gen_id, text="and it is open."))
    engine.receive(io.ModelDone(gen_id=retry.gen_id, usage=Usage()))
    final = next(e for e in drain(engine)[1] if isinstance(e, ev.AgentText) and e.final)
    assert final.text == "Ticket 4591 is about your monitor, and it is open."


def test_a_tool_call_still_being_written_is_not_mistaken_for_a_stall() -> None:
    engine, clock = make_engine()
    engine.receive(io.Transcript(text="status of ticket 4591"))
    gen = start_generation(drain(engine)[0])
    clock.advance(300)
    engine.receive(io.ModelProgress(gen_id=gen.gen_id))  # the call started streaming
    clock.advance(1400)  # past the first-token budget, but well within the idle budget since progress
    engine.check_timers()
    assert not [e for e in drain(engine)[1] if isinstance(e, ev.ProviderFailed)]
    call = ToolCall(id="t1", name="get_ticket", args={"ticket_id": "4591"})
    engine.receive(io.ModelToolCall(gen_id=gen.gen_id, call=call))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage()))
    assert any(isinstance(a, io.RunTool) for a in drain(engine)[0])
