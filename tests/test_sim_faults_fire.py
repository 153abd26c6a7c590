"""Faults act where they are aimed: every shipped scenario's fault fires and has its effect, faults ride
on recordings into replay, and command-line faults can target a turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import main as sim_main
from sim.faults import Faults, ProviderFault, ToolFault
from sim.replay import RunOptions, _Context
from sim.script import CallScript, UserTurn, script_from_recording, script_from_scenario
from voicerouter import events as ev

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "sim" / "scenarios").glob("*.yaml"))


def _fired(fired: list[str], what: str) -> bool:
    return any(entry.split(": ", 1)[1] == what for entry in fired)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_fault_fires_and_has_its_effect(path: Path) -> None:
    script = script_from_scenario(path)
    faults = script.faults
    assert not faults.empty(), f"{path.name}: a shipped scenario exercises at least one fault"
    score = _Context(RunOptions(seed=0, keep_events=True)).run(script)
    events = score.events
    failed = [e for e in events if isinstance(e, ev.ProviderFailed)]
    results = [e for e in events if isinstance(e, ev.ToolResult)]
    for fault in faults.providers:
        models = {f.split()[3] for f in score.faults_fired if f.split()[2] == "provider"}
        hit = [m for m in models if fault.model in (m, "*")]
        assert hit and any(_fired(score.faults_fired, f"provider {m} {fault.kind}") for m in hit), (
            f"{path.name}: {fault.kind} on {fault.model} never acted (fired: {score.faults_fired})"
        )
        if fault.kind != "slow_first_token":
            assert any(fault.model in (e.model, "*") for e in failed), (
                f"{path.name}: no fallback from {fault}"
            )
    for tool in faults.tools:
        kind = "timeout" if tool.timeout else "error" if tool.error else "latency"
        assert _fired(score.faults_fired, f"tool {tool.tool} {kind}"), f"{path.name}: {tool} never acted"
        mine = [r for r in results if r.name == tool.tool]
        if tool.timeout:
            assert any(r.timed_out for r in mine)
        elif tool.error:
            assert any(not r.ok for r in mine)
        else:
            assert any(r.latency_ms >= tool.extra_latency_ms for r in mine)
    if faults.wer:
        assert score.word_errors > 0
    if faults.interruptions or faults.interrupt_fraction:
        assert score.interruptions >= max(1, len(faults.interruptions))


def test_faults_ride_on_a_recording_into_replay(tmp_path: Path) -> None:
    scenario = ROOT / "sim" / "scenarios" / "helpdesk-server-error-premium.yaml"
    runner = CliRunner()
    out = tmp_path / "rec"
    ran = runner.invoke(
        sim_main, ["run", str(scenario), "--record", str(out), "--json", str(tmp_path / "a.json")]
    )
    assert ran.exit_code == 0, ran.output
    [recording] = sorted(out.glob("*.jsonl"))
    script, errors = script_from_recording(recording)
    assert not errors and script is not None
    assert script.faults.providers == [ProviderFault(model="claude-opus", kind="server_error")]
    replayed = runner.invoke(sim_main, ["replay", str(out), "--json", str(tmp_path / "b.json")])
    assert replayed.exit_code == 0, replayed.output
    first, again = (json.loads((tmp_path / n).read_text())["per_call"][0] for n in ("a.json", "b.json"))
    assert first["fallbacks"] >= 1 and again["fallbacks"] == first["fallbacks"]
    assert again["faults_fired"] == first["faults_fired"]


def test_a_recording_keeps_only_the_world_faults_not_the_callers_noise() -> None:
    faults = Faults(wer=0.2, interrupt_fraction=0.5, tools=[ToolFault(tool="get_ticket", timeout=True)])
    assert faults.world() == Faults(tools=[ToolFault(tool="get_ticket", timeout=True)])


def _ticket_call() -> CallScript:
    turns = [
        UserTurn(text="what's the status of ticket four five nine one"),
        UserTurn(text="and ticket four five two seven please"),
        UserTurn(text="thanks bye"),
    ]
    return CallScript(call_id="t", agent="helpdesk", turns=turns, source="test")


def test_command_line_faults_target_a_turn() -> None:
    from sim.fault_flags import faults_from_flags as _faults

    faults = _faults(
        0.0, None, ("get_ticket@2",), ("find_employee=500@1,3",), (), ("claude-haiku=server_error@2",)
    )
    assert faults.tools[0].turns == [2] and faults.tools[1].turns == [1, 3]
    assert faults.providers[0].turns == [2] and faults.providers[0].kind == "server_error"
    score = _Context(RunOptions(seed=0, faults=faults)).run(_ticket_call())
    assert _fired(score.faults_fired, "tool get_ticket timeout")
    assert all(f.startswith("turn 2:") for f in score.faults_fired if "get_ticket" in f)
    assert _fired(score.faults_fired, "provider claude-haiku server_error")
    assert all(f.startswith("turn 2:") for f in score.faults_fired if "server_error" in f)


def test_a_bad_turn_list_on_a_fault_flag_is_a_clear_error() -> None:
    recording = sorted((ROOT / "sim" / "calls").glob("*.jsonl"))[0]
    result = CliRunner().invoke(sim_main, ["replay", str(recording), "--tool-timeout", "get_ticket@0"])
    assert result.exit_code == 2 and "turns after @ are 1-based" in result.output
