"""Measured quality: `sim calibrate` fits error rates by the turn's labelled tier with counts and intervals
into a profile file a config loads (marked measured); the `ask_small_model` escalation is a real, fallible,
paid small-model call in the simulator."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sim.calibrate import fit_profile, wilson
from sim.cli import main as sim_main
from sim.replay import RunOptions, run_scripts
from sim.report import build_report
from sim.script import script_from_recording
from voicerouter.config import ConfigError, load_config
from voicerouter.store import find_recordings

ROOT = Path(__file__).resolve().parent.parent


def _row(
    models: list[str], labelled: list[str | None], routed: list[str], correct: list[bool | None]
) -> dict:  # type: ignore[type-arg]
    n = len(models)
    return {
        "call_id": "c",
        "seed": 0,
        "models": models,
        "tiers": routed,
        "tiers_expected": labelled,
        "first_token_ms": [500] * n,
        "tools_expected": [c is not None for c in correct],
        "tools_correct": correct,
        "tools_called": [1] * n,
        "refusals_expected": [False] * n,
        "refusals_ok": [None] * n,
        "requests": [{"model": m, "first_token_ms": 300.0 + 10 * i} for i, m in enumerate(models)],
    }


def test_error_rates_are_fitted_by_labelled_tier_with_counts_and_intervals() -> None:
    # claude-haiku answered 4 reasoning-labelled turns that the router took for triage; it got 2 wrong
    row = _row(["claude-haiku"] * 4, ["reasoning"] * 4, ["triage"] * 4, [True, False, True, False])
    profile = fit_profile({"per_call": [row]}, "claude-haiku", run="live.json")
    assert set(profile.errors) == {"reasoning"} and profile.errors["reasoning"].wrong_tool_arg == 0.5
    assert profile.evidence["reasoning"]["wrong_tool_arg"] == [2, *wilson(2, 4)]
    assert profile.evidence["reasoning"]["needless_refusal"] == [0, *wilson(0, 4)]
    assert profile.evidence["first_token"] == {"samples": 4, "from": "per request"}
    assert profile.first_token_ms.p50 == 310  # from the requests, not the turns' 500 ms
    assert profile.source == "measured: live.json"
    low, high = wilson(2, 4)
    assert 0.1 < low < 0.5 < high < 0.9


def test_calibrate_writes_a_profile_file_that_a_config_lists_and_marks_measured(tmp_path: Path) -> None:
    scripts = [script_from_recording(p)[0] for p in find_recordings([ROOT / "sim" / "calls"])[:12]]
    report = build_report(run_scripts([s for s in scripts if s], RunOptions(seed=0, seeds=2)))
    report_path = tmp_path / "run.json"
    report_path.write_text(json.dumps(report))
    out = tmp_path / "measured.toml"
    result = CliRunner().invoke(
        sim_main, ["calibrate", str(report_path), "--model", "claude-haiku", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "[models.claude-haiku.profile.evidence.triage]" in out.read_text()
    config_path = tmp_path / "voicerouter.toml"
    config_path.write_text('profiles = ["measured.toml"]\n')
    config = load_config(config_path)
    haiku = config.models["claude-haiku"].profile
    assert haiku.source.startswith("measured: run.json (") and "triage" in haiku.evidence
    assert config.models["claude-opus"].profile.source == "assumed"


def test_a_profile_file_may_set_only_profiles(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[models.claude-haiku]\nprice_in_per_mtok = 0\n")
    config_path = tmp_path / "voicerouter.toml"
    config_path.write_text('profiles = ["bad.toml"]\n')
    try:
        load_config(config_path)
    except ConfigError as exc:
        assert "only a profile table may be set" in str(exc)
    else:
        raise AssertionError("a profile file that changes prices must be refused")


def test_ask_small_model_is_a_paid_small_model_call_that_can_misclassify(tmp_path: Path) -> None:
    config = tmp_path / "ask.toml"
    config.write_text(
        '[routing]\nescalation = "ask_small_model"\nescalate_below_confidence = 0.99\n'
        "[models.claude-haiku.profile]\n"
        "errors.triage = { misclassify = 0.5 }\nerrors.reasoning = { misclassify = 0.5 }\n"
        "errors.speech = { misclassify = 0.5 }\n"
    )
    scripts = [script_from_recording(p)[0] for p in find_recordings([ROOT / "sim" / "calls"])[:10]]
    scores = run_scripts([s for s in scripts if s], RunOptions(config_path=str(config)))
    mistakes = [m for s in scores for t in s.turns for m in t.mistakes]
    assert "misclassified" in mistakes  # the small model's label is its own, not the router's
    report = build_report(scores)
    assert report["per_model"]["claude-haiku"]["cost_usd"] > 0


def test_every_model_that_answers_speech_turns_can_err_on_them() -> None:
    config = load_config()
    for name in config.routing.speech:
        if name == "offline":
            continue
        rates = config.models[name].profile.errors.get("speech")
        assert rates is not None and rates.wrong_tool_arg > 0 and rates.missed_tool_call > 0, name
        assert config.models[name].profile.source == "assumed"
