"""The held-out call corpus (sim/heldout): written apart from the offline model, used only to measure it.

Guards that it keeps measuring what it was written to measure: every caller script loads, both agents are
covered, and every label names a real tool of its agent with arguments the tool accepts unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.script import script_from_scenario
from tests.test_corpus import _argument_problems, _tools

HELDOUT = Path(__file__).resolve().parents[1] / "sim" / "heldout"
FILES = sorted(HELDOUT.glob("*.yaml"))


def test_the_heldout_corpus_is_large_enough_for_both_agents() -> None:
    agents = [script_from_scenario(p).agent for p in FILES]
    assert agents.count("clinic") >= 30 and agents.count("helpdesk") >= 30


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_heldout_label_names_a_tool_with_arguments_it_accepts_unchanged(path: Path) -> None:
    script = script_from_scenario(path)
    problems = []
    for label in (t.label for t in script.turns if t.label is not None):
        if label.tool is None:
            continue
        tool = _tools(script.agent).get(label.tool.name)
        assert tool is not None, f"turn {label.turn}: {script.agent} has no tool {label.tool.name!r}"
        problems += [f"turn {label.turn}: {p}" for p in _argument_problems(tool.args_model, label.tool.args)]
    assert problems == []
