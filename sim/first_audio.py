"""First audio as the caller hears it: the report's figures from the caller's end of speech to agent audio.

`first_audio` is whatever the agent says first (an acknowledgement counts: the caller is no longer waiting
in silence); `first_answer_audio` is the first audio of the answer itself. Pure aggregation.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sim.score import CallScore, TurnScore
from sim.stats import percentile


def _percentile(values: list[float], q: float) -> float | None:
    return percentile(values, q)


def first_audio_figures(turns: list[TurnScore]) -> dict[str, float | None]:
    """p50/p95 first audio and p95 first answer audio over `turns` (turns that never sounded left out)."""
    audio = [float(t.first_audio_ms) for t in turns if t.first_audio_ms is not None]
    answer = [float(t.first_answer_audio_ms) for t in turns if t.first_answer_audio_ms is not None]
    return {
        "p50_first_audio_ms": _percentile(audio, 50),
        "p95_first_audio_ms": _percentile(audio, 95),
        "p95_first_answer_audio_ms": _percentile(answer, 95),
    }


def first_audio_by_tier(turns: list[TurnScore]) -> dict[str, dict[str, float | None]]:
    by_tier: dict[str, list[TurnScore]] = defaultdict(list)
    for t in turns:
        by_tier[t.tier_routed or "none"].append(t)
    return {tier: first_audio_figures(items) for tier, items in sorted(by_tier.items())}


def add_preemption(report: dict[str, Any], scores: list[CallScore]) -> None:
    """How often preemptive generation answered a turn, and what the cancelled requests wasted."""
    report["preemptive_turns"] = sum(s.preempted_turns for s in scores)
    report["preemptive_discarded"] = sum(s.discarded for s in scores)
    report["preemptive_wasted_tokens"] = sum(s.wasted_tokens for s in scores)
    report["preemptive_wasted_cost_usd"] = round(sum(s.wasted_cost_usd for s in scores), 6)


def add_first_audio(report: dict[str, Any], turns: list[TurnScore]) -> None:
    """Put the figures into a built report: overall, and into each tier of `per_tier`."""
    report.update(first_audio_figures(turns))
    for tier, figures in first_audio_by_tier(turns).items():
        report.setdefault("per_tier", {}).setdefault(tier, {}).update(figures)
