"""The labelled call corpus (sim/calls, rebuilt from sim/corpus) and the fault scenarios (sim/scenarios).

Guards what the simulator's numbers rest on: every recording reads cleanly, the corpus keeps its size and
coverage, every label names a real tool with arguments in their canonical form, and the recordings still
match the sources they were built from.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from sim.script import CallScript, script_from_recording, script_from_scenario
from voicerouter.agent import load_agent
from voicerouter.events import Label
from voicerouter.store import read_recording
from voicerouter.toolkit import ToolRegistry

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT / "sim" / "calls"
SOURCES = ROOT / "sim" / "corpus"
SCENARIOS = ROOT / "sim" / "scenarios"
RECORDINGS = sorted(CALLS.glob("*.jsonl"))
SCENARIO_FILES = sorted([*SCENARIOS.glob("*.yaml"), *SCENARIOS.glob("*.toml")])

# Free wording no two correct agents would phrase alike: labels leave these out, every other argument is
# labelled in its canonical form.
FREE_TEXT_ARGS = {"summary", "reason", "resolution"}

MIN_CALLS = 100
MIN_LABELLED_TURNS = 490
MIN_REFUSAL_TURNS = 40
# reasoning turns whose right handling is checkable: without them a small model on the reasoning tier
# costs nothing in accuracy, and the gate cannot weigh routing
MIN_REASONING_TOOL_TURNS = 45
MIN_REASONING_REFUSAL_TURNS = 16
MIN_BARGE_IN_CALLS = 8
MIN_LONG_CALLS = 4
LONG_CALL_TURNS = 20


@cache
def _recorded(path: Path) -> tuple[CallScript | None, tuple[str, ...]]:
    script, errors = script_from_recording(path)
    return script, tuple(errors)


def _scripts() -> list[CallScript]:
    scripts = []
    for path in RECORDINGS:
        script, _ = _recorded(path)
        assert script is not None, f"{path.name}: not a replayable call"
        scripts.append(script)
    return scripts


def _labels(script: CallScript) -> list[Label]:
    return [turn.label for turn in script.turns if turn.label is not None]


@cache
def _tools(agent: str) -> ToolRegistry:
    return load_agent(agent).create_tools()


def _all_labels() -> list[tuple[str, str, Label]]:
    """(where, agent, label) for every label of the corpus and of the scenarios."""
    found = []
    for script in _scripts():
        found += [(f"{Path(script.source).name} turn {lb.turn}", script.agent, lb) for lb in _labels(script)]
    for path in SCENARIO_FILES:
        scenario = script_from_scenario(path)
        found += [(f"{path.name} turn {lb.turn}", scenario.agent, lb) for lb in _labels(scenario)]
    return found


# -- every recording reads cleanly --------------------------------------------------------------------
def test_the_corpus_has_recordings_to_test() -> None:
    assert RECORDINGS, f"no recordings in {CALLS}: rebuild them (see sim/corpus/README.md)"


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_every_recording_parses_without_an_error(path: Path) -> None:
    recording = read_recording(path)
    assert recording.errors == []
    script, errors = _recorded(path)
    assert errors == ()
    assert script is not None and script.turns


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_every_user_turn_of_a_recording_is_labelled_with_a_tier(path: Path) -> None:
    script, _ = _recorded(path)
    assert script is not None
    unlabelled = [i for i, t in enumerate(script.turns, start=1) if t.label is None or not t.label.tier]
    assert unlabelled == []


# -- the corpus keeps its size and coverage -----------------------------------------------------------
def test_the_corpus_has_enough_calls_for_both_agents() -> None:
    scripts = _scripts()
    per_agent = {agent: sum(1 for s in scripts if s.agent == agent) for agent in ("clinic", "helpdesk")}
    assert len(scripts) >= MIN_CALLS
    assert min(per_agent.values()) >= MIN_CALLS // 2 - 4, per_agent


def test_the_corpus_has_enough_labelled_turns_of_every_tier() -> None:
    labels = [label for script in _scripts() for label in _labels(script)]
    tiers = {tier: sum(1 for lb in labels if lb.tier == tier) for tier in ("speech", "triage", "reasoning")}
    assert len(labels) >= MIN_LABELLED_TURNS
    assert min(tiers.values()) >= 30, tiers


def test_the_corpus_has_enough_turns_about_missing_records() -> None:
    refusals = [lb for script in _scripts() for lb in _labels(script) if lb.refusal]
    assert len(refusals) >= MIN_REFUSAL_TURNS


def test_the_corpus_has_enough_reasoning_turns_with_a_checkable_answer() -> None:
    reasoning = [lb for script in _scripts() for lb in _labels(script) if lb.tier == "reasoning"]
    assert sum(1 for lb in reasoning if lb.tool is not None) >= MIN_REASONING_TOOL_TURNS
    assert sum(1 for lb in reasoning if lb.refusal) >= MIN_REASONING_REFUSAL_TURNS


def test_the_corpus_has_enough_calls_with_a_barge_in() -> None:
    barged = [s for s in _scripts() if any(turn.barge_in_at_ms is not None for turn in s.turns)]
    assert len(barged) >= MIN_BARGE_IN_CALLS


def test_the_corpus_has_enough_long_calls() -> None:
    long_calls = [s for s in _scripts() if len(s.turns) >= LONG_CALL_TURNS]
    assert len(long_calls) >= MIN_LONG_CALLS


def test_the_corpus_expects_every_tool_of_both_agents_somewhere() -> None:
    expected = {(s.agent, lb.tool.name) for s in _scripts() for lb in _labels(s) if lb.tool is not None}
    for agent in ("clinic", "helpdesk"):
        missing = set(_tools(agent).names()) - {name for a, name in expected if a == agent}
        assert missing == set(), f"{agent}: no label expects {sorted(missing)}"


# -- labels name real tools, with arguments in canonical form -------------------------------------------
def test_every_label_names_a_tool_of_its_agent_with_arguments_its_model_accepts_unchanged() -> None:
    problems = []
    for where, agent, label in _all_labels():
        if label.tool is None:
            continue
        tool = _tools(agent).get(label.tool.name)
        if tool is None:
            problems.append(f"{where}: {agent} has no tool {label.tool.name!r}")
            continue
        problems += [f"{where}: {p}" for p in _argument_problems(tool.args_model, label.tool.args)]
    assert problems == []


def _argument_problems(model: Any, args: dict[str, Any]) -> list[str]:
    fields = model.model_fields
    unknown = sorted(set(args) - set(fields))
    if unknown:
        return [f"unknown arguments {unknown}"]
    left_out = {name for name, info in fields.items() if info.is_required() and name not in args}
    if left_out - FREE_TEXT_ARGS:
        return [f"missing required arguments {sorted(left_out - FREE_TEXT_ARGS)}"]
    try:
        parsed = model.model_validate({**dict.fromkeys(left_out, "free text, not labelled"), **args})
    except ValueError as exc:
        return [f"arguments rejected: {exc}"]
    return [
        f"{name}={value!r} is not canonical (the tool reads {getattr(parsed, name)!r})"
        for name, value in args.items()
        if getattr(parsed, name) != value
    ]


def test_no_label_expects_a_free_text_argument() -> None:
    labelled = [where for where, _, lb in _all_labels() if lb.tool and set(lb.tool.args) & FREE_TEXT_ARGS]
    assert labelled == []


# -- the recordings match their sources -------------------------------------------------------------------
def test_every_source_has_its_recording_and_every_recording_its_source() -> None:
    sources = {p.stem for p in SOURCES.glob("*.yaml")}
    recordings = {p.stem for p in RECORDINGS}
    assert sources == recordings


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_a_recording_carries_the_words_and_labels_of_its_source(path: Path) -> None:
    source = script_from_scenario(SOURCES / f"{path.stem}.yaml")
    recorded, _ = _recorded(path)
    assert recorded is not None
    assert recorded.agent == source.agent
    assert [t.text for t in recorded.turns] == [t.text for t in source.turns]
    assert [t.label for t in recorded.turns] == [t.label for t in source.turns]
    barge_ins = [i for i, t in enumerate(source.turns) if t.barge_in_at_ms is not None]
    assert [i for i, t in enumerate(recorded.turns) if t.barge_in_at_ms is not None] == barge_ins


# -- the fault scenarios ------------------------------------------------------------------------------------
def test_there_are_enough_fault_scenarios() -> None:
    assert len(SCENARIO_FILES) >= 10


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_every_scenario_loads_and_injects_a_fault(path: Path) -> None:
    script = script_from_scenario(path)
    faults = script.faults
    injected = (
        faults.wer > 0
        or faults.providers
        or faults.tools
        or faults.interruptions
        or faults.interrupt_fraction is not None
        or any(turn.barge_in_at_ms is not None for turn in script.turns)
    )
    assert injected, f"{path.name}: no fault to exercise"
    assert all(turn.label is not None and turn.label.tier for turn in script.turns)


def test_the_scenarios_cover_every_kind_of_fault() -> None:
    scripts = [script_from_scenario(path) for path in SCENARIO_FILES]
    provider_kinds = {fault.kind for s in scripts for fault in s.faults.providers}
    tool_faults = {
        kind
        for s in scripts
        for fault in s.faults.tools
        for kind, present in (
            ("timeout", fault.timeout),
            ("error", fault.error is not None),
            ("latency", fault.extra_latency_ms > 0),
        )
        if present
    }
    assert provider_kinds == {
        "rate_limited",
        "server_error",
        "stall_before_first_token",
        "stall_midway",
        "slow_first_token",
    }
    assert tool_faults == {"timeout", "error", "latency"}
    assert any(s.faults.wer > 0 for s in scripts)
    assert any(s.faults.interruptions or s.faults.interrupt_fraction for s in scripts)
