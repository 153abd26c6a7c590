"""`sim sweep`: PGR, APGR and CPT as RouteLLM defines them, on a curve with known answers, and the command
end to end writing its JSON and its offline page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sim.cli import main as sim_main
from sim.sweep import SweepError, curve, overlay, parse_param

ROOT = Path(__file__).resolve().parent.parent


def _report(quality: float, strong_turns: int, cost: float) -> dict[str, Any]:
    return {
        "tool_arg_accuracy": quality,
        "cost_per_session_usd": cost,
        "p95_first_token_ms": 900.0,
        "per_model": {"small": {"turns": 100 - strong_turns}, "big": {"turns": strong_turns}},
    }


def test_pgr_apgr_and_cpt_on_a_known_curve() -> None:
    weak = {**_report(0.80, 0, 0.01), "per_model": {"small": {"turns": 100}}}
    strong = {**_report(1.00, 100, 0.05), "per_model": {"big": {"turns": 100}}}
    # PGR rises linearly with the share of strong turns: PGR(s) = s
    settings = [(v, _report(0.80 + 0.2 * s / 100, s, 0.01 + 0.04 * s / 100)) for v, s in ((1, 20), (2, 50))]
    figures = curve(settings, weak, strong, "tool_arg_accuracy")
    assert figures["strong_models"] == ["big"]
    assert [r["pgr"] for r in figures["settings"]] == [0.2, 0.5]
    assert figures["apgr"] == pytest.approx(0.55)  # mean of PGR at shares 0.1 .. 1.0
    assert figures["cpt_50"] == pytest.approx(0.5) and figures["cpt_80"] == pytest.approx(0.8)


def test_a_router_that_recovers_the_gap_early_needs_few_strong_calls() -> None:
    weak = {**_report(0.80, 0, 0.01), "per_model": {"small": {"turns": 100}}}
    strong = {**_report(1.00, 100, 0.05), "per_model": {"big": {"turns": 100}}}
    figures = curve([(1, _report(0.98, 20, 0.02))], weak, strong, "tool_arg_accuracy")
    assert figures["cpt_80"] is not None and figures["cpt_80"] < 0.2 and figures["apgr"] > 0.85


def test_param_parsing_and_the_overlay_name_what_is_wrong(tmp_path: Path) -> None:
    assert parse_param("routing.escalate_below_confidence=0.3:0.9:4") == (
        "routing.escalate_below_confidence",
        [0.3, 0.5, 0.7, 0.9],
    )
    with pytest.raises(SweepError, match="KEY=FROM:TO:STEPS"):
        parse_param("routing.escalate_below_confidence")
    base = tmp_path / "base.toml"
    base.write_text('[routing]\ntriage = ["offline"]\nmax_steps_per_turn = 6\n')
    text = overlay(str(base), "routing.max_steps_per_turn", 4.0)
    assert 'triage = ["offline"]' in text and "max_steps_per_turn = 4" in text


def test_sim_sweep_writes_the_curve_and_an_offline_page(tmp_path: Path) -> None:
    calls = sorted((ROOT / "sim" / "calls").glob("*.jsonl"))[:8]
    folder = tmp_path / "calls"
    folder.mkdir()
    for path in calls:
        (folder / path.name).write_text(path.read_text())
    out, page = tmp_path / "sweep.json", tmp_path / "sweep.html"
    result = CliRunner().invoke(
        sim_main,
        ["sweep", str(folder), "--param", "routing.escalate_below_confidence=0.3:0.95:3",
         "--weak", str(ROOT / "sim/configs/all-small.toml"),
         "--strong", str(ROOT / "sim/configs/all-premium.toml"),
         "--json", str(out), "--html", str(page)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["param"] == "routing.escalate_below_confidence" and len(figures["settings"]) == 3
    assert {"apgr", "cpt_50", "cpt_80"} <= set(figures)
    text = page.read_text()
    assert "<svg" in text and "http" not in text.split("<body>")[1]  # no CDN, nothing fetched
    bad = CliRunner().invoke(sim_main, ["sweep", str(folder), "--param", "routing.nope=1:2:2"])
    assert bad.exit_code == 2 and "routing" in bad.output
