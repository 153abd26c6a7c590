"""A silent caller: the engine asks whether anyone is there after the configured silence, then says a polite
goodbye and ends the call; caller speech resets the count; text calls never re-prompt. Virtual clock only."""

from __future__ import annotations

from pathlib import Path

from sim.replay import RunOptions, _Context
from sim.script import CallScript, ScriptError, UserTurn, script_from_scenario
from tests.engine_kit import drain, make_config, make_engine
from voicerouter import events as ev
from voicerouter.engine import io
from voicerouter.engine.silence import REPROMPT, SILENT_GOODBYE


def _spoken_between_turns(actions: list[io.Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, io.Speak) and a.turn_id == 0]


def test_silence_brings_a_reprompt_then_a_goodbye_and_the_call_ends_once_it_is_heard() -> None:
    engine, clock = make_engine(instant_playback=False, config=make_config(silence_reprompt_ms=5000))
    engine.receive(io.PlaybackFinished(turn_id=0))  # the greeting was heard: the caller's silence starts
    assert engine.next_deadline_ms() == 5000
    clock.advance_to(4999)
    engine.check_timers()
    assert _spoken_between_turns(drain(engine)[0]) == []
    clock.advance_to(5000)
    engine.check_timers()
    assert _spoken_between_turns(drain(engine)[0]) == [REPROMPT]
    assert engine.next_deadline_ms() is None  # nothing counts while the re-prompt plays
    clock.advance_to(6500)
    engine.receive(io.PlaybackFinished(turn_id=0))
    assert engine.next_deadline_ms() == 11500
    clock.advance_to(11500)
    engine.check_timers()
    assert _spoken_between_turns(drain(engine)[0]) == [SILENT_GOODBYE]
    assert not engine.ended  # the goodbye is said in full first
    clock.advance_to(14000)
    engine.receive(io.PlaybackFinished(turn_id=0))
    ended = [e for e in drain(engine)[1] if isinstance(e, ev.CallEnded)]
    assert engine.ended and ended[0].reason == "caller silent"


def test_caller_speech_resets_the_silence_and_the_reprompt_count() -> None:
    engine, clock = make_engine(instant_playback=False, config=make_config(silence_reprompt_ms=5000))
    engine.receive(io.PlaybackFinished(turn_id=0))
    clock.advance_to(5000)
    engine.check_timers()
    assert _spoken_between_turns(drain(engine)[0]) == [REPROMPT]
    engine.receive(io.PlaybackFinished(turn_id=0))
    clock.advance_to(7000)
    engine.receive(io.SpeechStarted())
    assert engine.next_deadline_ms() is None
    clock.advance_to(30000)
    engine.check_timers()
    assert _spoken_between_turns(drain(engine)[0]) == [] and not engine.ended


def test_noise_that_transcribes_to_nothing_does_not_stop_the_silence_count() -> None:
    engine, clock = make_engine(instant_playback=False, config=make_config(silence_reprompt_ms=5000))
    engine.receive(io.PlaybackFinished(turn_id=0))
    clock.advance_to(3000)
    engine.receive(io.SpeechStarted())
    engine.receive(io.Transcript(text=""))
    assert engine.next_deadline_ms() == 8000


def test_text_calls_and_a_zero_setting_never_reprompt() -> None:
    for engine, _ in (
        make_engine(instant_playback=True),
        make_engine(instant_playback=False, config=make_config(silence_reprompt_ms=0)),
    ):
        engine.receive(io.PlaybackFinished(turn_id=0))
        assert engine.next_deadline_ms() is None


def _silent_call(*silences_ms: float) -> CallScript:
    turns = [UserTurn(text="is the vpn down right now")]
    turns += [UserTurn(silence_ms=ms) for ms in silences_ms]
    turns += [UserTurn(text="sorry, I'm here. thanks, bye")]
    return CallScript(call_id="quiet", agent="helpdesk", turns=turns, source="test")


def _texts(events: list[ev.Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, ev.AgentText) and e.final and e.turn_id == 0]


def test_a_simulated_silent_caller_is_reprompted_and_then_comes_back() -> None:
    score = _Context(RunOptions(keep_events=True)).run(_silent_call(10_000))
    texts = _texts(score.events)
    assert texts[-1] == REPROMPT and SILENT_GOODBYE not in texts
    assert len(score.turns) == 2  # the silence is no turn of the call
    ended = next(e for e in score.events if isinstance(e, ev.CallEnded))
    assert ended.reason == "caller hung up"


def test_a_simulated_caller_silent_for_good_gets_a_polite_goodbye_and_the_call_ends() -> None:
    score = _Context(RunOptions(keep_events=True)).run(_silent_call(60_000))
    assert _texts(score.events)[-2:] == [REPROMPT, SILENT_GOODBYE]
    ended = next(e for e in score.events if isinstance(e, ev.CallEnded))
    assert ended.reason == "caller silent" and len(score.turns) == 1


def test_a_scenario_writes_a_silent_turn_as_say_null_with_silence_ms(tmp_path: Path) -> None:
    path = tmp_path / "quiet.yaml"
    path.write_text(
        "name: quiet\nagent: helpdesk\nturns:\n"
        "  - {say: 'is the vpn down', expect: {tier: triage}}\n"
        "  - {say: null, silence_ms: 12000}\n"
        "  - {say: 'thanks', expect: {tier: speech}}\n",
        encoding="utf-8",
    )
    script = script_from_scenario(path)
    assert script.turns[1].silent and script.labels()[2].tier == "speech"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nagent: helpdesk\nturns:\n  - {say: null}\n", encoding="utf-8")
    try:
        script_from_scenario(bad)
    except ScriptError as exc:
        assert "say: null needs silence_ms" in str(exc)
    else:
        raise AssertionError("a silent turn without its duration must be refused")
