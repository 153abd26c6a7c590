"""Acknowledge, then answer: a slow turn opens with a short line at once, on the engine's virtual clock."""

from __future__ import annotations

import itertools

from tests.engine_kit import AGENT, FixedClassifier, closed_history, drain, make_config, make_tools
from voicerouter import events as ev
from voicerouter.agent import AgentSpec
from voicerouter.clock import VirtualClock
from voicerouter.engine import CallEngine, io
from voicerouter.engine.acknowledge import Acknowledger
from voicerouter.events import Tier
from voicerouter.providers.base import ToolCall, Usage
from voicerouter.router.health import HealthBoard
from voicerouter.router.policy import Router

PHRASES = ["Let me check that for you.", "One moment while I look that up.", "Sure, let me take a look."]


def ack_engine(
    tier: Tier, *, phrases: list[str] | None = None, instant_playback: bool = False
) -> tuple[CallEngine, VirtualClock]:
    clock = VirtualClock()
    config = make_config()
    agent: AgentSpec = AGENT.model_copy(update={"acknowledgements": PHRASES if phrases is None else phrases})
    router = Router(config, FixedClassifier(tier=tier), HealthBoard(config.health))  # type: ignore[arg-type]
    engine = CallEngine(call_id="c1", agent=agent, config=config, router=router, tools=make_tools(),
                        clock=clock, instant_playback=instant_playback, greet=False)  # fmt: skip
    engine.start()
    drain(engine)
    return engine, clock


def speaks(actions: list[io.Action]) -> list[io.Speak]:
    return [a for a in actions if isinstance(a, io.Speak)]


def answer(engine: CallEngine, gen_id: int, text: str) -> list[io.Action]:
    engine.receive(io.ModelDelta(gen_id=gen_id, text=text))
    engine.receive(io.ModelDone(gen_id=gen_id, usage=Usage(input_tokens=100, output_tokens=10)))
    return drain(engine)[0]


def generation(actions: list[io.Action]) -> io.StartGeneration:
    return next(a for a in actions if isinstance(a, io.StartGeneration))


def test_reasoning_turn_speaks_an_acknowledgement_at_end_of_turn_before_the_model_is_asked() -> None:
    engine, clock = ack_engine("reasoning")
    clock.advance(1000)
    engine.receive(io.Transcript(text="compare my two appointments and move the later one"))
    actions, events = drain(engine)
    first = speaks(actions)
    assert [s.text for s in first] == ["Let me check that for you. "] and first[0].acknowledgement
    # said in the same instant the turn started (0 ms after end of turn), ahead of the model request
    assert actions.index(first[0]) < actions.index(generation(actions))
    started = next(e for e in events if isinstance(e, ev.TurnStarted))
    said = next(e for e in events if isinstance(e, ev.AgentText))
    assert said.t_ms == started.t_ms and said.text == "Let me check that for you."

    gen = generation(actions)
    assert gen.model == "claude-opus" and gen.request.messages[-1].role == "user"  # the model never sees it
    clock.advance(2300)
    actions = answer(engine, gen.gen_id, "Your later one is Friday at ten. I moved it to Monday.")
    assert [s.acknowledgement for s in speaks(actions)] == [False]
    final = next(a for a in actions if isinstance(a, io.FinishSpeaking))
    assert final.text == "Let me check that for you. Your later one is Friday at ten. I moved it to Monday."
    engine.receive(io.PlaybackFinished(turn_id=1))
    actions, _ = drain(engine)
    assert closed_history(actions)[-1].content == final.text


def test_acknowledgements_rotate_and_never_repeat_back_to_back() -> None:
    engine, clock = ack_engine("reasoning")
    said: list[str] = []
    for i in range(7):
        engine.receive(io.Transcript(text=f"a hard question number {i}"))
        actions, _ = drain(engine)
        said.append(speaks(actions)[0].text.strip())
        actions = answer(engine, generation(actions).gen_id, "Here is what I found.")
        engine.receive(io.PlaybackFinished(turn_id=i + 1))
        drain(engine)
        clock.advance(5000)
    assert all(a != b for a, b in itertools.pairwise(said))
    assert set(said) == set(PHRASES)
    one = Acknowledger(["Just a moment."], voice_budget_ms=700)
    assert [one.next_phrase() for _ in range(3)] == ["Just a moment."] * 3  # one phrase: allowed to repeat


def test_speech_and_fast_triage_turns_are_never_acknowledged() -> None:
    for tier in ("speech", "triage"):
        engine, _clock = ack_engine(tier)  # type: ignore[arg-type]
        engine.receive(io.Transcript(text="thanks so much"))
        actions, _ = drain(engine)
        assert speaks(actions) == []
        actions = answer(engine, generation(actions).gen_id, "You're welcome.")
        assert [s.acknowledgement for s in speaks(actions)] == [False]


def test_an_agent_without_acknowledgements_answers_without_one() -> None:
    engine, _clock = ack_engine("reasoning", phrases=[])
    engine.receive(io.Transcript(text="compare my two appointments"))
    assert speaks(drain(engine)[0]) == []


def test_turn_opening_with_a_tool_call_is_acknowledged_and_history_keeps_it_with_the_call() -> None:
    engine, clock = ack_engine("triage")
    engine.receive(io.Transcript(text="status of ticket four five nine one"))
    gen = generation(drain(engine)[0])
    clock.advance(420)  # the small model starts a tool call: its answer needs another round trip
    engine.receive(io.ModelProgress(gen_id=gen.gen_id))
    actions, _ = drain(engine)
    assert [(s.text, s.acknowledgement) for s in speaks(actions)] == [("Let me check that for you. ", True)]
    call = ToolCall(id="t1", name="get_ticket", args={"ticket_id": "4591"})
    engine.receive(io.ModelToolCall(gen_id=gen.gen_id, call=call))
    engine.receive(io.ModelDone(gen_id=gen.gen_id, usage=Usage(input_tokens=100, output_tokens=10)))
    run = next(a for a in drain(engine)[0] if isinstance(a, io.RunTool))
    assert speaks([]) == []  # nothing more said while the tool runs
    engine.receive(io.ToolFinished(call_key=run.call_key, outcome=make_tools().run(run.name, run.args)))
    second = generation(drain(engine)[0])
    actions = answer(engine, second.gen_id, "Ticket 4591 is open.")
    assert [s.text for s in speaks(actions)] == ["Ticket 4591 is open."]
    engine.receive(io.PlaybackFinished(turn_id=1))
    history = closed_history(drain(engine)[0])
    assistant = [(m.content, bool(m.tool_calls)) for m in history if m.role == "assistant"]
    assert assistant == [("Let me check that for you.", True), ("Ticket 4591 is open.", False)]


def test_fast_model_starting_a_tool_call_at_once_is_not_acknowledged() -> None:
    engine, clock = ack_engine("triage")
    engine.receive(io.Transcript(text="status of ticket four five nine one"))
    gen = generation(drain(engine)[0])
    clock.advance(100)  # 100 ms waited + claude-haiku's expected 380 ms stays within the 700 ms budget
    engine.receive(io.ModelProgress(gen_id=gen.gen_id))
    assert speaks(drain(engine)[0]) == []


def test_barge_in_during_the_acknowledgement_cancels_both_and_records_what_was_heard() -> None:
    engine, clock = ack_engine("reasoning")
    engine.receive(io.Transcript(text="compare my two appointments and move the later one"))
    gen = generation(drain(engine)[0])
    clock.advance(600)
    engine.receive(io.PlaybackProgress(turn_id=1, heard_chars=len("Let me ch")))
    engine.receive(io.SpeechStarted())
    actions, events = drain(engine)
    assert io.CancelGeneration(gen_id=gen.gen_id) in actions
    assert io.StopSpeaking(turn_id=1) in actions
    interrupted = next(e for e in events if isinstance(e, ev.TurnInterrupted))
    assert interrupted.heard_text == "Let me"
    assert closed_history(actions)[-1].content == "Let me"


def test_barge_in_during_the_answer_keeps_the_acknowledgement_and_the_heard_words() -> None:
    engine, clock = ack_engine("reasoning")
    engine.receive(io.Transcript(text="compare my two appointments and move the later one"))
    gen = generation(drain(engine)[0])
    clock.advance(2000)
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="Your later one is Friday at ten. "))
    engine.receive(io.ModelDelta(gen_id=gen.gen_id, text="I can move"))
    drain(engine)
    heard = "Let me check that for you. Your later one is Fri"
    engine.receive(io.PlaybackProgress(turn_id=1, heard_chars=len(heard)))
    engine.receive(io.SpeechStarted())
    actions, events = drain(engine)
    interrupted = next(e for e in events if isinstance(e, ev.TurnInterrupted))
    assert interrupted.heard_text == "Let me check that for you. Your later one is"
    assert io.CancelGeneration(gen_id=gen.gen_id) in actions
    assert closed_history(actions)[-1].content == "Let me check that for you. Your later one is"
