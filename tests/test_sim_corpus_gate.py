"""The eval gate on the shipped corpus: the default config meets its bar, and the gate refuses a config
sending every turn to the premium tier (costlier) and one sending every turn to the small tier (less
accurate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.faults import Faults
from sim.gate import compare
from sim.replay import RunOptions, run_scripts
from sim.report import build_report
from sim.script import script_from_recording
from voicerouter.config import load_config
from voicerouter.store import find_recordings

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "sim" / "configs"


@pytest.fixture(scope="module")
def scripts() -> list[Any]:
    loaded = [script_from_recording(p) for p in find_recordings([ROOT / "sim" / "calls"])]
    assert all(not errors for _, errors in loaded)
    return [script for script, _ in loaded]


SEEDS = 5  # one seed's figures move by more than the margins: judge the corpus over several


def _report(
    scripts: list[Any], config: Path | None = None, wer: float = 0.0, seeds: int = SEEDS
) -> dict[str, Any]:
    options = RunOptions(
        config_path=str(config) if config else None, seed=0, seeds=seeds, faults=Faults(wer=wer)
    )
    return build_report(run_scripts(scripts, options, workers=2))


@pytest.fixture(scope="module")
def default_report(scripts: list[Any]) -> dict[str, Any]:
    return _report(scripts)


def test_default_config_meets_the_accuracy_bar_on_clean_transcripts(default_report: dict[str, Any]) -> None:
    assert default_report["calls"] >= 100 * SEEDS and default_report["turns"] >= 490 * SEEDS
    assert default_report["tool_arg_accuracy"] >= 0.95
    assert default_report["refusal_on_missing_rate"] >= 0.95
    assert default_report["routing_accuracy"] >= 0.84  # 0.867 over 5 seeds, in-context confirmation labels


def test_noisy_recognition_lowers_accuracy_at_the_measured_rate(
    scripts: list[Any], default_report: dict[str, Any]
) -> None:
    noisy = _report(scripts, wer=0.15, seeds=1)
    assert abs(noisy["measured_wer"] - 0.15) <= 0.02
    assert noisy["tool_arg_accuracy"] < default_report["tool_arg_accuracy"]
    assert noisy["refusal_on_missing_rate"] < default_report["refusal_on_missing_rate"]


def test_gate_passes_the_default_against_itself_and_refuses_all_premium_and_all_small(
    scripts: list[Any], default_report: dict[str, Any]
) -> None:
    margins = load_config().gate
    same = compare(default_report, default_report, margins)
    assert same.passed and same.intervals

    premium = _report(scripts, CONFIGS / "all-premium.toml")
    # With prompt caching and Realtime audio priced, the premium chain is not dearer than the default's
    # speech tier any more; it is refused for being slower.
    assert premium["p95_first_token_ms"] > default_report["p95_first_token_ms"]
    assert not compare(default_report, premium, margins).passed

    small = _report(scripts, CONFIGS / "all-small.toml")
    verdict = compare(default_report, small, margins)
    assert not verdict.passed
    worse = {v.metric for v in verdict.metrics if not v.at_least_as_good}
    assert "tool_arg_accuracy" in worse
