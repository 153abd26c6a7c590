"""The gate's statistics: runs over several seeds, paired bootstrap intervals, verdict rules, and the
warning for reports of one seed."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from sim.cli import main as sim_main
from sim.gate import compare, format_verdict
from sim.replay import RunOptions, run_scripts
from sim.report import build_report
from sim.script import CallScript, UserTurn
from voicerouter.config import GatePolicy
from voicerouter.events import ExpectedToolCall, Label


def _row(call: int, seed: int, *, correct: bool, rng: random.Random, cost: float = 0.02) -> dict[str, Any]:
    return {
        "call_id": f"c{call}",
        "seed": seed,
        "cost_usd": cost,
        "first_token_ms": [rng.gauss(800, 150) for _ in range(4)],
        "tool_calls_correct": int(correct),
        "tool_calls_expected": 1,
        "wrong_extra_calls": 0,
        "refusals_ok": [True, None, None, None],
    }


def _seeded_report(error_rate: float, *, seeds: range, noise_seed: int, cost: float = 0.02) -> dict[str, Any]:
    rng = random.Random(noise_seed)
    rows = [
        _row(call, seed, correct=rng.random() >= error_rate, rng=rng, cost=cost)
        for seed in seeds
        for call in range(100)
    ]
    return {"seeds": list(seeds), "per_call": rows}


def test_identical_reports_have_a_zero_interval_and_pass() -> None:
    report = _seeded_report(0.05, seeds=range(5), noise_seed=1)
    verdict = compare(report, report, GatePolicy())
    assert verdict.passed and verdict.intervals and verdict.paired_units == 500
    assert all(v.status == "no difference" and v.low == v.high == 0 for v in verdict.metrics)


def test_noise_alone_is_no_difference_but_a_clear_regression_is_worse() -> None:
    base = _seeded_report(0.05, seeds=range(5), noise_seed=1)
    noise = _seeded_report(0.05, seeds=range(5, 10), noise_seed=2)  # other seeds pair by offset
    verdict = compare(base, noise, GatePolicy())
    tool = next(v for v in verdict.metrics if v.metric == "tool_arg_accuracy")
    assert tool.low is not None and tool.high is not None and tool.low < 0 < tool.high
    assert tool.status == "no difference" and verdict.passed

    regressed = _seeded_report(0.30, seeds=range(5), noise_seed=3)
    refused = compare(base, regressed, GatePolicy())
    tool = next(v for v in refused.metrics if v.metric == "tool_arg_accuracy")
    assert tool.high is not None and tool.high < -0.01  # the whole interval is beyond the margin
    assert tool.status == "loses badly" and not refused.passed
    assert "beyond the margin on tool_arg_accuracy" in refused.reason


def test_worse_on_two_numbers_inside_their_margins_is_refused() -> None:
    base = _seeded_report(0.0, seeds=range(5), noise_seed=1, cost=0.020)
    cand = _seeded_report(0.0, seeds=range(5), noise_seed=1, cost=0.021)  # costlier, within 0.002
    cand["per_call"][0]["tool_calls_correct"] = 0  # and one tool call wrong
    for row in cand["per_call"][1:40]:
        row["tool_calls_correct"] = 0
    verdict = compare(base, cand, GatePolicy(margin_tool_arg_accuracy=0.5))
    statuses = {v.metric: v.status for v in verdict.metrics}
    assert statuses["cost_per_session_usd"] == "worse" and statuses["tool_arg_accuracy"] == "worse"
    assert not verdict.passed and "worse on 2 of 4" in verdict.reason


def test_a_report_of_one_seed_is_judged_on_points_with_a_warning() -> None:
    base = {
        "p95_first_token_ms": 900.0,
        "tool_arg_accuracy": 0.97,
        "refusal_on_missing_rate": 0.96,
        "cost_per_session_usd": 0.02,
        "seeds": [0],
    }
    verdict = compare(base, dict(base), GatePolicy())
    assert verdict.passed and not verdict.intervals
    assert "verdict has no interval" in format_verdict(verdict)


def _call(call_id: str) -> CallScript:
    turn = UserTurn(
        text="what's the status of ticket four five nine one",
        label=Label(
            turn=1, tier="triage", tool=ExpectedToolCall(name="get_ticket", args={"ticket_id": "4591"})
        ),
    )
    return CallScript(
        call_id=call_id, agent="helpdesk", turns=[turn, UserTurn(text="thanks bye")], source="t"
    )


def test_seeds_run_every_call_under_each_seed_in_order_whatever_the_workers() -> None:
    scripts = [_call("a"), _call("b")]
    options = RunOptions(seed=7, seeds=3)
    one = run_scripts(scripts, options)
    two = run_scripts(scripts, options, workers=2)
    assert [(s.call_id, s.seed) for s in one] == [(c, seed) for seed in (7, 8, 9) for c in ("a", "b")]
    assert [s.turns[0].first_token_ms for s in one] == [s.turns[0].first_token_ms for s in two]
    report = build_report(one)
    assert report["seeds"] == [7, 8, 9] and [row["seed"] for row in report["per_seed"]] == [7, 8, 9]
    assert {row["seed"] for row in report["per_call"]} == {7, 8, 9}
    assert report["seed_spread"]["p95_first_token_ms"]["sd"] is not None


def test_sim_compare_prints_intervals_for_reports_of_several_seeds(tmp_path: Path) -> None:
    base, worse = tmp_path / "base.json", tmp_path / "worse.json"
    base.write_text(json.dumps(_seeded_report(0.05, seeds=range(5), noise_seed=1)))
    worse.write_text(json.dumps(_seeded_report(0.30, seeds=range(5), noise_seed=3)))
    runner = CliRunner()
    same = runner.invoke(sim_main, ["compare", str(base), str(base)])
    assert same.exit_code == 0 and "95% interval" in same.output and "no interval" not in same.output
    refused = runner.invoke(sim_main, ["compare", str(base), str(worse)])
    assert refused.exit_code == 1 and "WORSE, beyond the margin" in refused.output


def test_sim_compare_writes_a_verdict_page_with_the_intervals(tmp_path: Path) -> None:
    base, worse, page = tmp_path / "base.json", tmp_path / "worse.json", tmp_path / "gate.html"
    base.write_text(json.dumps(_seeded_report(0.05, seeds=range(5), noise_seed=1)))
    worse.write_text(json.dumps(_seeded_report(0.30, seeds=range(5), noise_seed=3)))
    result = CliRunner().invoke(sim_main, ["compare", str(base), str(worse), "--html", str(page)])
    assert result.exit_code == 1
    text = page.read_text()
    assert "Gate: FAIL" in text and "<svg" in text and "loses badly" in text and "http" not in text
