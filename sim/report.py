"""The simulation report: the gate numbers, their breakdowns by tier and model, and the failing turns.

Pure aggregation over scored calls; writing JSON or HTML is the caller's job.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from typing import Any

from sim.asr_noise import word_errors
from sim.first_audio import add_first_audio, add_preemption
from sim.score import CallScore, TurnScore
from sim.stats import percentile

GATE_KEYS = ("p95_first_token_ms", "tool_arg_accuracy", "refusal_on_missing_rate", "cost_per_session_usd")
WER_BUCKETS = (0.0, 0.1, 0.2, 0.35, 1.01)


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def unavailable_ok(t: TurnScore) -> bool:
    """A lookup that timed out, answered right: the agent says it could not check and states no record."""
    return bool(t.said_could_not_check and not t.invented)


def _turn_failed(t: TurnScore) -> list[str]:
    why = []
    if t.tool_correct is False:
        why.append("tool call")
    if t.wrong_extra_calls:
        why.append("wrong extra call")
    if t.refusal_expected and not t.refused:
        why.append("refusal")
    if t.unavailable_expected and not unavailable_ok(t):
        why.append("unavailable")
    if t.invented:
        why.append("invented " + ", ".join(t.invented_details))
    if t.tier_expected and t.tier_routed and t.tier_expected != t.tier_routed:
        why.append("routing")
    return why


def gate_numbers(scores: list[CallScore]) -> dict[str, float | None]:
    """The four gate numbers over a set of calls (all seeds pooled, or one seed's)."""
    turns = [t for s in scores for t in s.turns]
    first_tokens = [float(t.first_token_ms) for t in turns if t.first_token_ms is not None]
    expected_tools = [t for t in turns if t.expected_tool is not None]
    wrong_extra = sum(t.wrong_extra_calls for t in turns)
    refusal_turns = [t for t in turns if t.refusal_expected]
    return {
        "p95_first_token_ms": percentile(first_tokens, 95),
        "tool_arg_accuracy": _ratio(
            sum(1 for t in expected_tools if t.tool_correct), len(expected_tools) + wrong_extra
        ),
        "refusal_on_missing_rate": _ratio(
            sum(1 for t in refusal_turns if t.refused and not t.invented), len(refusal_turns)
        ),
        "cost_per_session_usd": round(sum(s.cost_usd for s in scores) / len(scores), 6) if scores else None,
    }


def _seed_spread(per_seed: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean and standard deviation of each gate number across seeds: the noise a verdict must beat."""
    spread: dict[str, dict[str, float | None]] = {}
    for key in GATE_KEYS:
        values = [float(row[key]) for row in per_seed if row.get(key) is not None]
        if not values:
            spread[key] = {"mean": None, "sd": None}
            continue
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        spread[key] = {"mean": round(mean, 6), "sd": None if sd is None else round(sd, 6)}
    return spread


def build_report(scores: list[CallScore], *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    turns = [t for s in scores for t in s.turns]
    first_tokens = [float(t.first_token_ms) for t in turns if t.first_token_ms is not None]
    expected_tools = [t for t in turns if t.expected_tool is not None]
    correct_tools = sum(1 for t in expected_tools if t.tool_correct)
    wrong_extra = sum(t.wrong_extra_calls for t in turns)
    refusal_turns = [t for t in turns if t.refusal_expected]
    refused_ok = sum(1 for t in refusal_turns if t.refused and not t.invented)
    unavailable_turns = [t for t in turns if t.unavailable_expected]
    tier_labelled = [t for t in turns if t.tier_expected and t.tier_routed]
    routed_right = sum(1 for t in tier_labelled if t.tier_expected == t.tier_routed)
    word_errs = sum(s.word_errors for s in scores)
    ref_words = sum(s.reference_words for s in scores)

    per_tier: dict[str, dict[str, Any]] = {}
    by_tier: dict[str, list[TurnScore]] = defaultdict(list)
    for t in turns:
        by_tier[t.tier_routed or "none"].append(t)
    for tier, items in sorted(by_tier.items()):
        latencies = [float(t.first_token_ms) for t in items if t.first_token_ms is not None]
        per_tier[tier] = {
            "turns": len(items),
            "p50_first_token_ms": percentile(latencies, 50),
            "p95_first_token_ms": percentile(latencies, 95),
            "cost_usd": round(sum(t.cost_usd for t in items), 6),
        }
    per_model: dict[str, dict[str, Any]] = {}
    for model, count in sorted(Counter(t.model or "none" for t in turns).items()):
        per_model[model] = {
            "turns": count,
            "cost_usd": round(sum(t.cost_usd for t in turns if (t.model or "none") == model), 6),
        }

    accuracy_by_wer = []
    for low, high in itertools.pairwise(WER_BUCKETS):
        bucket = [t for t in expected_tools if low <= _turn_wer(t) < high]
        accuracy_by_wer.append(
            {
                "wer_from": low,
                "wer_to": min(high, 1.0),
                "turns": len(bucket),
                "tool_arg_accuracy": _ratio(sum(1 for t in bucket if t.tool_correct), len(bucket)),
            }
        )

    failing = [
        {
            "call_id": s.call_id,
            "source": s.source,
            "turn": t.turn,
            "text": t.text,
            "heard": t.heard,
            "why": _turn_failed(t),
            "tier_expected": t.tier_expected,
            "tier_routed": t.tier_routed,
            "model": t.model,
            "expected_tool": t.expected_tool,
            "actual_tools": t.tool_calls,
            "answer": t.answer,
            "mistakes": t.mistakes,
            "invented_details": t.invented_details,
        }
        for s in scores
        for t in s.turns
        if _turn_failed(t)
    ]
    seeds = sorted({s.seed for s in scores})
    per_seed = [{"seed": seed, **gate_numbers([s for s in scores if s.seed == seed])} for seed in seeds]
    report: dict[str, Any] = {
        "calls": len(scores),
        "turns": len(turns),
        "p95_first_token_ms": percentile(first_tokens, 95),
        "p50_first_token_ms": percentile(first_tokens, 50),
        "tool_arg_accuracy": _ratio(correct_tools, len(expected_tools) + wrong_extra),
        "refusal_on_missing_rate": _ratio(refused_ok, len(refusal_turns)),
        "cost_per_session_usd": round(sum(s.cost_usd for s in scores) / len(scores), 6) if scores else None,
        "routing_accuracy": _ratio(routed_right, len(tier_labelled)),
        "interruptions": sum(s.interruptions for s in scores),
        "fallbacks": sum(s.fallbacks for s in scores),
        "timed_out_tools": sum(s.timed_out_tools for s in scores),
        "measured_wer": _ratio(word_errs, ref_words) if ref_words else 0.0,
        "expected_tool_calls": len(expected_tools),
        "wrong_extra_calls": wrong_extra,
        "refusal_turns": len(refusal_turns),
        "unavailable_turns": len(unavailable_turns),
        "unavailable_honest_rate": _ratio(
            sum(1 for t in unavailable_turns if unavailable_ok(t)), len(unavailable_turns)
        ),
        "invented_answers": sum(1 for t in turns if t.invented),
        "seeds": seeds,
        "per_seed": per_seed,
        "seed_spread": _seed_spread(per_seed),
        "per_tier": per_tier,
        "per_model": per_model,
        "accuracy_by_wer": accuracy_by_wer,
        "failing_turns": failing,
        "per_call": [
            {
                "call_id": s.call_id,
                "seed": s.seed,
                "agent": s.agent,
                "source": s.source,
                "turns": len(s.turns),
                "cost_usd": round(s.cost_usd, 6),
                "first_token_ms": [t.first_token_ms for t in s.turns],
                "tiers": [t.tier_routed for t in s.turns],
                "tiers_expected": [t.tier_expected for t in s.turns],
                "tools_called": [len(t.tool_calls) for t in s.turns],
                "models": [t.model for t in s.turns],
                "answers": [t.answer for t in s.turns],
                "tools_expected": [t.expected_tool is not None for t in s.turns],
                "tools_correct": [t.tool_correct for t in s.turns],
                "refusals_expected": [t.refusal_expected for t in s.turns],
                "refusals_ok": [
                    bool(t.refused and not t.invented) if t.refusal_expected else None for t in s.turns
                ],
                "unavailable_ok": [unavailable_ok(t) if t.unavailable_expected else None for t in s.turns],
                "tool_calls_correct": sum(1 for t in s.turns if t.tool_correct),
                "tool_calls_expected": sum(1 for t in s.turns if t.expected_tool is not None),
                "wrong_extra_calls": sum(t.wrong_extra_calls for t in s.turns),
                "interruptions": s.interruptions,
                "fallbacks": s.fallbacks,
                "faults_fired": s.faults_fired,
                **({"requests": s.requests} if s.requests else {}),
            }
            for s in scores
        ],
    }
    hits = sum(s.cassette_hits for s in scores)
    missed = [f"{s.call_id} (seed {s.seed}) {miss}" for s in scores for miss in s.cassette_misses]
    if hits or missed:
        report["cassette"] = {"hits": hits, "misses": len(missed), "missed": missed[:50]}
    add_first_audio(report, turns)
    add_preemption(report, scores)
    if meta:
        report["meta"] = meta
    return report


def _turn_wer(t: TurnScore) -> float:
    if not t.heard:
        return 0.0
    errors, words = word_errors(t.text, t.heard)
    return errors / words if words else 0.0


def gate_summary(report: dict[str, Any]) -> str:
    def fmt(key: str) -> str:
        value = report.get(key)
        if value is None:
            return "n/a"
        if key.endswith("_usd"):
            return f"${value:.5f}"
        if key.endswith("_ms"):
            return f"{value:.0f} ms"
        return f"{value:.3f}"

    seeds = report.get("seeds") or [0]
    spread = report.get("seed_spread") or {}

    def sd(key: str) -> str:
        value = (spread.get(key) or {}).get("sd")
        if value is None or len(seeds) < 2:
            return ""
        text = (
            f"{value:.0f} ms"
            if key.endswith("_ms")
            else f"{value:.5f}"
            if key.endswith("_usd")
            else f"{value:.4f}"
        )
        return f"   (sd across seeds {text})"

    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}..{seeds[-1]}"
    lines = [
        f"calls {report['calls']}, turns {report['turns']}, measured WER {report['measured_wer']:.3f}, "
        f"{seed_text}",
        f"  p95 first token      {fmt('p95_first_token_ms')}{sd('p95_first_token_ms')}",
        f"  p95 first audio      {fmt('p95_first_audio_ms')} (answer {fmt('p95_first_answer_audio_ms')})",
        f"  tool-arg accuracy    {fmt('tool_arg_accuracy')}{sd('tool_arg_accuracy')}",
        f"  refusal on missing   {fmt('refusal_on_missing_rate')}{sd('refusal_on_missing_rate')}",
        f"  cost per session     {fmt('cost_per_session_usd')}{sd('cost_per_session_usd')}",
        f"  routing accuracy     {fmt('routing_accuracy')}",
        f"  interruptions {report['interruptions']}, fallbacks {report['fallbacks']}, "
        f"tool timeouts {report['timed_out_tools']}",
        f"  preemptive: {report.get('preemptive_turns', 0)} turns, {report.get('preemptive_discarded', 0)} "
        f"discarded ({report.get('preemptive_wasted_tokens', 0)} tokens wasted)",
    ]
    profiles = (report.get("meta") or {}).get("profiles") or {}
    assumed = sorted(m for m, src in profiles.items() if src == "assumed" and m != "offline")
    if assumed:
        lines.append(
            f"  quality figures rest on assumed profiles ({', '.join(assumed)}): see sim/PROFILES.md"
        )
    cassette = report.get("cassette")
    if cassette:
        lines.append(
            f"  cassette: {cassette['hits']} exchanges replayed, {cassette['misses']} misses"
            + (" (answered by the simulated profiles)" if cassette["misses"] else "")
        )
    return "\n".join(lines)
