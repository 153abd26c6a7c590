"""A turn that speech recognition could not handle gets a short re-prompt from the engine, never silence."""

from __future__ import annotations

from tests.engine_kit import drain, make_engine, types
from voicerouter import events as ev
from voicerouter.engine import io
from voicerouter.engine.call import REPROMPT


def test_an_unrecognised_turn_is_answered_with_a_reprompt_without_asking_a_model() -> None:
    engine, clock = make_engine(instant_playback=False)
    engine.receive(io.SpeechStarted())
    engine.receive(io.SpeechStopped())
    clock.advance(400)
    engine.receive(io.Transcript(text="", confidence=0.0, unrecognised=True))
    actions, events = drain(engine)
    assert not [a for a in actions if isinstance(a, io.StartGeneration)]
    assert [a.text for a in actions if isinstance(a, io.Speak)] == [REPROMPT]
    assert types(events)[-3:] == ["turn.started", "agent.text", "agent.text"]
    final = [e for e in events if isinstance(e, ev.AgentText) and e.final]
    assert [e.text for e in final] == [REPROMPT]
    engine.receive(io.PlaybackFinished(turn_id=1))
    actions, events = drain(engine)
    assert any(isinstance(a, io.CloseTurn) and a.heard_text == REPROMPT for a in actions)
    assert types(events) == ["turn.completed"]
    engine.receive(io.Transcript(text="status of ticket 4591"))  # the caller says it again: a normal turn
    actions, _ = drain(engine)
    assert any(isinstance(a, io.StartGeneration) for a in actions)


def test_an_empty_transcript_that_was_recognised_stays_quiet() -> None:
    engine, _ = make_engine()
    drain(engine)
    engine.receive(io.Transcript(text="", confidence=0.0))
    actions, events = drain(engine)
    assert actions == [] and types(events) == ["user.transcript"]


def test_an_unrecognised_turn_while_the_agent_speaks_interrupts_it_then_reprompts() -> None:
    engine, _ = make_engine(instant_playback=False)
    engine.receive(io.Transcript(text="status of ticket 4591"))
    drain(engine)
    engine.receive(io.Transcript(text="", unrecognised=True))
    actions, events = drain(engine)
    assert "turn.interrupted" in types(events)
    assert [a.text for a in actions if isinstance(a, io.Speak)] == [REPROMPT]
