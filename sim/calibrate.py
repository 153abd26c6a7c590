"""Fits a model's behaviour profile from a live run's report, so simulated runs track reality.

Latency from the model's measured first tokens; mistake rates by tier from its scored turns.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sim.report import percentile
from voicerouter.config import BehaviourProfile, Distribution, ErrorRates


def fit_profile(report: dict[str, Any], model: str) -> BehaviourProfile:
    latencies: list[float] = []
    expected: dict[str, int] = defaultdict(int)
    wrong: dict[str, int] = defaultdict(int)
    refusals: dict[str, int] = defaultdict(int)
    refusal_misses: dict[str, int] = defaultdict(int)
    for call in report.get("per_call", []):
        rows = zip(
            call["models"],
            call["tiers"],
            call["first_token_ms"],
            call["tools_expected"],
            call["tools_correct"],
            call["refusals_expected"],
            call["refusals_ok"],
            strict=False,
        )
        for turn_model, tier, first_ms, tool_expected, tool_ok, refusal_expected, refusal_ok in rows:
            if turn_model != model:
                continue
            if first_ms is not None:
                latencies.append(float(first_ms))
            if tool_expected:
                expected[tier] += 1
                wrong[tier] += not tool_ok
            if refusal_expected:
                refusals[tier] += 1
                refusal_misses[tier] += not refusal_ok
    if not latencies:
        raise ValueError(f"the report has no turns answered by {model!r}")
    p50 = percentile(latencies, 50) or 1.0
    p95 = max(p50, percentile(latencies, 95) or p50)
    errors = {
        tier: ErrorRates(
            wrong_tool_arg=round(wrong[tier] / expected[tier], 4) if expected[tier] else 0.0,
            invented_record=round(refusal_misses[tier] / refusals[tier], 4) if refusals[tier] else 0.0,
        )
        for tier in set(expected) | set(refusals)
        if tier
    }
    return BehaviourProfile(first_token_ms=Distribution(p50=p50, p95=p95), errors=errors)


def profile_toml(model: str, profile: BehaviourProfile) -> str:
    lines = [
        f"[models.{model}.profile]",
        f"first_token_ms = {{ p50 = {profile.first_token_ms.p50:.0f}, "
        f"p95 = {profile.first_token_ms.p95:.0f} }}",
        f"tokens_per_s = {profile.tokens_per_s:g}",
    ]
    for tier, rates in sorted(profile.errors.items()):
        fields = ", ".join(f"{k} = {v:g}" for k, v in rates.model_dump().items())
        lines.append(f"errors.{tier} = {{ {fields} }}")
    return "\n".join(lines)
