"""Fits models' behaviour profiles from a scored run (normally `--live`), so simulated runs track reality.

Mistake rates are fitted by the turn's *labelled* tier, the way the simulator applies them, each with its
count and a 95 % Wilson interval; first-token time from the model's own requests when the run recorded
them (a tool round trip is not the model's latency), else from turns where no tool was called.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from sim.score import says_not_found
from sim.stats import percentile
from voicerouter.config import BehaviourProfile, Distribution, ErrorRates

Z95 = 1.959963984540054


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion; (0, 1) with no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + Z95**2 / trials
    centre = (p + Z95**2 / (2 * trials)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / trials + Z95**2 / (4 * trials**2)) / denominator
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def _latencies(report: dict[str, Any], model: str) -> tuple[list[float], str]:
    per_request = [
        float(r["first_token_ms"])
        for call in report.get("per_call", [])
        for r in call.get("requests", [])
        if r.get("model") == model and r.get("first_token_ms") is not None
    ]
    if per_request:
        return per_request, "per request"
    turns = []
    for call in report.get("per_call", []):
        called = call.get("tools_called") or [0] * len(call["models"])
        for turn_model, first_ms, tools in zip(call["models"], call["first_token_ms"], called, strict=False):
            if turn_model == model and first_ms is not None and not tools:
                turns.append(float(first_ms))
    return turns, "turns without a tool call"


def fit_profile(report: dict[str, Any], model: str, *, run: str = "") -> BehaviourProfile:
    latencies, latency_from = _latencies(report, model)
    tool_turns: dict[str, int] = defaultdict(int)
    wrong: dict[str, int] = defaultdict(int)
    missed: dict[str, int] = defaultdict(int)
    refusals: dict[str, int] = defaultdict(int)
    invented: dict[str, int] = defaultdict(int)
    needless: dict[str, int] = defaultdict(int)  # "not found" on a turn whose record exists
    for call in report.get("per_call", []):
        n = len(call["models"])
        labelled = call.get("tiers_expected") or [None] * n
        called = call.get("tools_called") or [1] * n
        answers = call.get("answers") or [""] * n
        rows = zip(
            call["models"],
            labelled,
            call["tools_expected"],
            call["tools_correct"],
            called,
            call["refusals_expected"],
            call["refusals_ok"],
            answers,
            strict=False,
        )
        for turn_model, tier, tool_expected, tool_ok, tools, refusal_expected, refusal_ok, answer in rows:
            if turn_model != model or not tier:
                continue  # a turn without a labelled tier says nothing about a tier's error rate
            if tool_expected:
                tool_turns[tier] += 1
                if not tool_ok:
                    (wrong if tools else missed)[tier] += 1
                if not refusal_expected and says_not_found(answer or ""):
                    needless[tier] += 1
            if refusal_expected:
                refusals[tier] += 1
                invented[tier] += not refusal_ok
    if not latencies and not tool_turns and not refusals:
        raise ValueError(f"the report has no turns answered by {model!r}")
    if latencies:
        p50 = percentile(latencies, 50) or 1.0
        first_token = Distribution(p50=p50, p95=max(p50, percentile(latencies, 95) or p50))
    else:  # no clean sample: keep the assumed default rather than invent one
        first_token = BehaviourProfile().first_token_ms
        latency_from = "no sample: the default is kept"
    errors: dict[str, ErrorRates] = {}
    evidence: dict[str, Any] = {"first_token": {"samples": len(latencies), "from": latency_from}}
    for tier in sorted(set(tool_turns) | set(refusals)):
        n_tool, n_ref = tool_turns[tier], refusals[tier]
        errors[tier] = ErrorRates(
            wrong_tool_arg=round(wrong[tier] / n_tool, 4) if n_tool else 0.0,
            missed_tool_call=round(missed[tier] / n_tool, 4) if n_tool else 0.0,
            invented_record=round(invented[tier] / n_ref, 4) if n_ref else 0.0,
            needless_refusal=round(needless[tier] / n_tool, 4) if n_tool else 0.0,
        )
        evidence[tier] = {
            "tool_turns": n_tool,
            "wrong_tool_arg": [wrong[tier], *wilson(wrong[tier], n_tool)],
            "missed_tool_call": [missed[tier], *wilson(missed[tier], n_tool)],
            "refusal_turns": n_ref,
            "invented_record": [invented[tier], *wilson(invented[tier], n_ref)],
            "needless_refusal": [needless[tier], *wilson(needless[tier], n_tool)],
        }
    return BehaviourProfile(
        first_token_ms=first_token,
        errors=errors,
        source=f"measured: {run}" if run else "measured",
        evidence=evidence,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def profile_toml(model: str, profile: BehaviourProfile) -> str:
    """The profile as a `[models.NAME.profile]` table: paste it into a config or list the file under
    `profiles = [...]`. Evidence rows read [count, low, high]."""
    lines = [
        f"[models.{model}.profile]",
        f"source = {_toml_value(profile.source)}",
        f"first_token_ms = {{ p50 = {profile.first_token_ms.p50:.0f}, "
        f"p95 = {profile.first_token_ms.p95:.0f} }}",
        f"tokens_per_s = {profile.tokens_per_s:g}",
    ]
    for tier, rates in sorted(profile.errors.items()):
        fields = ", ".join(f"{k} = {v:g}" for k, v in rates.model_dump().items())
        lines.append(f"errors.{tier} = {{ {fields} }}")
    for section, rows in profile.evidence.items():
        lines.append(f"[models.{model}.profile.evidence.{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in rows.items())
    return "\n".join(lines)
