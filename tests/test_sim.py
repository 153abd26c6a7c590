"""The simulator: fault injection, honest answers under faults, barge-in truncation, recording reader,
the report's metrics and the gate."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.asr_noise import add_asr_noise, sound_alikes, word_errors
from sim.cli import main as sim_main
from sim.faults import Faults, ProviderFault, ToolFault
from sim.gate import compare
from sim.replay import RunOptions, _Context
from sim.score import args_match, says_not_found
from sim.script import CallScript, UserTurn, script_from_recording
from voicerouter import events as ev
from voicerouter.config import GatePolicy
from voicerouter.events import ExpectedToolCall, Label


def _script(*turns: UserTurn, faults: Faults | None = None, agent: str = "helpdesk") -> CallScript:
    return CallScript(call_id="t1", agent=agent, turns=list(turns), faults=faults or Faults(), source="test")


def _run(script: CallScript, seed: int = 0) -> tuple[list[ev.Event], dict]:
    context = _Context(RunOptions(seed=seed, keep_events=True))
    score = context.run(script)
    return score.events, {"score": score}


TICKET_TURN = UserTurn(
    text="what's the status of ticket four five nine one",
    label=Label(turn=1, tier="triage", tool=ExpectedToolCall(name="get_ticket", args={"ticket_id": "4591"})),
)


def test_stalled_provider_falls_back_within_the_first_token_budget_and_the_call_goes_on() -> None:
    faults = Faults(providers=[ProviderFault(model="claude-haiku", kind="stall_before_first_token")])
    events, _ = _run(_script(TICKET_TURN, UserTurn(text="thanks bye"), faults=faults))
    failed = [e for e in events if isinstance(e, ev.ProviderFailed)]
    assert failed and failed[0].model == "claude-haiku" and failed[0].fallback_to == "gpt-mini"
    first_gen_at = next(e.t_ms for e in events if isinstance(e, ev.RouteDecided))
    assert failed[0].t_ms - first_gen_at == 1500  # exactly the configured first-token budget
    completed = [e for e in events if isinstance(e, ev.TurnCompleted)]
    assert [c.model for c in completed] == ["gpt-mini", "gpt-realtime"]
    assert "4 5 9 1" in next(
        e.text for e in events if isinstance(e, ev.AgentText) and e.final and e.turn_id == 1
    )
    assert isinstance(events[-1], ev.CallEnded) and events[-1].turns == 2


def test_stream_stalling_midway_falls_back_and_finishes_the_answer() -> None:
    faults = Faults(providers=[ProviderFault(model="claude-haiku", kind="stall_midway", turns=[1])])
    events, _ = _run(_script(TICKET_TURN, faults=faults))
    failed = next(e for e in events if isinstance(e, ev.ProviderFailed))
    assert "mid-answer" in failed.error
    assert [e.model for e in events if isinstance(e, ev.TurnCompleted)] == ["gpt-mini"]


def test_rate_limit_and_server_error_fall_through_the_chain() -> None:
    faults = Faults(
        providers=[
            ProviderFault(model="claude-haiku", kind="rate_limited", retry_after_s=30),
            ProviderFault(model="gpt-mini", kind="server_error"),
        ]
    )
    events, _ = _run(_script(TICKET_TURN, faults=faults))
    assert [(e.model, e.fallback_to) for e in events if isinstance(e, ev.ProviderFailed)] == [
        ("claude-haiku", "gpt-mini"),
        ("gpt-mini", "offline"),
    ]
    assert [e.model for e in events if isinstance(e, ev.TurnCompleted)] == ["offline"]


def test_tool_timeout_yields_an_honest_could_not_check_and_no_invented_record() -> None:
    faults = Faults(tools=[ToolFault(tool="get_ticket", timeout=True)])
    events, _ = _run(_script(TICKET_TURN, faults=faults))
    result = next(e for e in events if isinstance(e, ev.ToolResult))
    assert result.timed_out and not result.ok
    answer = next(e.text for e in events if isinstance(e, ev.AgentText) and e.final and e.turn_id == 1)
    assert "couldn't check" in answer.lower() or "could not check" in answer.lower()
    assert (
        "in progress" not in answer.lower() and "open" not in answer.lower()
    )  # nothing about the ticket invented


def test_barge_in_truncates_the_assistant_history_to_the_delivered_text() -> None:
    script = _script(
        UserTurn(text="what's the status of ticket four five nine one"),
        UserTurn(text="sorry what about ticket four five zero three", barge_in_at_ms=1200),
    )
    context = _Context(RunOptions(keep_events=True))
    spec, config = context.agent("helpdesk")
    from sim.runner import SimulatedCall

    call = SimulatedCall(
        script, agent=spec, config=config, classifier=context.classifier, seed=0, faults=Faults()
    )
    result = call.run()
    interrupted = next(e for e in result.events if isinstance(e, ev.TurnInterrupted))
    full = next(e.text for e in result.events if isinstance(e, ev.AgentText) and e.final and e.turn_id == 1)
    assert interrupted.turn_id == 1 and interrupted.heard_text
    assert len(interrupted.heard_text) < len(full) and full.startswith(interrupted.heard_text)
    # 1.2 s at 15 characters a second, cut back to a whole word
    assert 12 <= len(interrupted.heard_text) <= 18
    history_texts = [m.content for m in call.conversation if m.role == "assistant"]
    assert full not in history_texts
    assert any(
        text.endswith(interrupted.heard_text) or text == interrupted.heard_text for text in history_texts
    )


def test_corrupt_line_is_reported_with_file_and_line_and_fails_the_replay_unless_skip_bad(
    tmp_path: Path,
) -> None:
    good = _run(_script(TICKET_TURN, UserTurn(text="thanks bye")))[0]
    path = tmp_path / "call.jsonl"
    lines = [e.model_dump_json() for e in good]
    lines.insert(3, '{"type": "user.transcript", "call_id": "t1", "t_ms": -5, "text": "x"}')
    lines.insert(5, "{not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    script, errors = script_from_recording(path)
    assert script is not None and len(script.turns) == 2
    assert errors[0].startswith(f"{path}:4: bad user.transcript event: t_ms")
    assert errors[1].startswith(f"{path}:6: not JSON")
    result = CliRunner().invoke(sim_main, ["replay", str(tmp_path), "--quiet"])
    assert result.exit_code == 2, result.output  # a CI gate must not pass on damaged input
    assert f"{path}:4:" in result.output and f"{path}:6:" in result.output
    assert "2 bad input lines" in result.output and "calls 1" not in result.output
    result = CliRunner().invoke(sim_main, ["replay", str(tmp_path), "--quiet", "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "skipped 2 bad input lines" in result.output and "calls 1, turns 2" in result.output


def test_sim_run_exits_2_on_a_bad_scenario_unless_skip_bad(tmp_path: Path) -> None:
    scenarios = Path(__file__).resolve().parent.parent / "sim" / "scenarios"
    good = sorted(scenarios.glob("*.yaml"))[0]
    (tmp_path / good.name).write_text(good.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("turns: [unclosed\n", encoding="utf-8")
    result = CliRunner().invoke(sim_main, ["run", str(tmp_path), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "broken.yaml" in result.output and "1 bad input line or file" in result.output
    result = CliRunner().invoke(sim_main, ["run", str(tmp_path), "--quiet", "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "skipped 1 bad input line or file" in result.output and "calls 1" in result.output


def test_noisy_asr_hits_its_target_word_error_rate() -> None:
    rng = random.Random(7)
    text = "um hi i need to cancel my appointment on december fifteenth my name is s m i t h john smith"
    errors = words = 0
    for _ in range(400):
        e, w = word_errors(text, add_asr_noise(text, 0.15, rng))
        errors, words = errors + e, words + w
    assert abs(errors / words - 0.15) < 0.02
    assert "council" in sound_alikes("cancel") or "consul" in sound_alikes("cancel")
    assert add_asr_noise(text, 0.0, rng) == text


def test_argument_matching_normalises_case_numbers_and_times() -> None:
    assert args_match({"ticket_id": "4591", "time": "09:30"}, {"ticket_id": 4591, "time": "9:30", "extra": 1})
    assert args_match({"full_name": "Sarah Smyth"}, {"full_name": "sarah  smyth"})
    assert not args_match({"date": "2026-12-03"}, {"date": "2026-12-04"})
    assert says_not_found("I'm sorry, I couldn't find a patient by that name.")
    assert not says_not_found("You're booked for Thursday at ten.")


def _report(**values: float) -> dict[str, float]:
    base = {
        "p95_first_token_ms": 900.0,
        "tool_arg_accuracy": 0.97,
        "refusal_on_missing_rate": 0.96,
        "cost_per_session_usd": 0.02,
    }
    return {**base, **values}


def test_gate_passes_on_equal_reports_and_refuses_regressions() -> None:
    margins = GatePolicy()
    assert compare(_report(), _report(), margins).passed
    assert not compare(_report(), _report(cost_per_session_usd=0.05), margins).passed
    assert not compare(
        _report(), _report(tool_arg_accuracy=0.90, refusal_on_missing_rate=0.90), margins
    ).passed
    within = compare(_report(), _report(p95_first_token_ms=930.0, cost_per_session_usd=0.015), margins)
    assert within.passed  # three better or equal, the fourth within its 50 ms margin


def test_sim_compare_command_exits_by_the_gate(tmp_path: Path) -> None:
    base, worse = tmp_path / "base.json", tmp_path / "worse.json"
    base.write_text(json.dumps(_report()))
    worse.write_text(json.dumps(_report(cost_per_session_usd=0.2)))
    runner = CliRunner()
    same = runner.invoke(sim_main, ["compare", str(base), str(base)])
    assert same.exit_code == 0 and "PASS" in same.output
    refused = runner.invoke(sim_main, ["compare", str(base), str(worse)])
    assert refused.exit_code == 1 and "WORSE" in refused.output


@pytest.mark.parametrize("wer", [0.0, 0.2])
def test_replay_is_deterministic_for_a_seed(wer: float) -> None:
    script = _script(
        TICKET_TURN, UserTurn(text="and can you reset my vpn password, it's jon park"), faults=Faults(wer=wer)
    )
    first = [e.model_dump() for e in _run(script, seed=3)[0]]
    again = [e.model_dump() for e in _run(script, seed=3)[0]]
    other = [e.model_dump() for e in _run(script, seed=4)[0]]
    assert first == again and first != other


def test_calibrate_fits_a_profile_that_loads_back_into_the_config(tmp_path: Path) -> None:
    import tomllib

    from sim.calibrate import fit_profile, profile_toml
    from sim.report import build_report
    from voicerouter.config import BehaviourProfile

    scores = [
        _Context(RunOptions(seed=s)).run(_script(TICKET_TURN, UserTurn(text="thanks bye"))) for s in range(8)
    ]
    report = build_report(scores)
    profile = fit_profile(report, "claude-haiku")
    assert 100 < profile.first_token_ms.p50 <= profile.first_token_ms.p95 < 5000
    text = profile_toml("claude-haiku", profile)
    loaded = tomllib.loads(text)["models"]["claude-haiku"]["profile"]
    assert BehaviourProfile.model_validate(loaded).first_token_ms == profile.first_token_ms
    report_path = tmp_path / "live.json"
    report_path.write_text(json.dumps(report))
    result = CliRunner().invoke(sim_main, ["calibrate", str(report_path), "--model", "claude-haiku"])
    assert result.exit_code == 0 and "[models.claude-haiku.profile]" in result.output
    missing = CliRunner().invoke(sim_main, ["calibrate", str(report_path), "--model", "claude-opus"])
    assert missing.exit_code == 2 and "no turns answered by 'claude-opus'" in missing.output
