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

GATE_KEYS = ("p95_first_token_ms", "tool_arg_accuracy", "refusal_on_missing_rate", "cost_per_session_usd")
WER_BUCKETS = (0.0, 0.1, 0.2, 0.35, 1.01)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _turn_failed(t: TurnScore) -> list[str]:
    why = []
    if t.tool_correct is False:
        why.append("tool call")
    if t.wrong_extra_calls:
        why.append("wrong extra call")
    if t.refusal_expected and not t.refused:
        why.append("refusal")
    if t.tier_expected and t.tier_routed and t.tier_expected != t.tier_routed:
        why.append("routing")
    return why


def build_report(scores: list[CallScore], *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    turns = [t for s in scores for t in s.turns]
    first_tokens = [float(t.first_token_ms) for t in turns if t.first_token_ms is not None]
    expected_tools = [t for t in turns if t.expected_tool is not None]
    correct_tools = sum(1 for t in expected_tools if t.tool_correct)
    wrong_extra = sum(t.wrong_extra_calls for t in turns)
    refusal_turns = [t for t in turns if t.refusal_expected]
    refused_ok = sum(1 for t in refusal_turns if t.refused and not t.invented)
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
        }
        for s in scores
        for t in s.turns
        if _turn_failed(t)
    ]
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
        "per_tier": per_tier,
        "per_model": per_model,
        "accuracy_by_wer": accuracy_by_wer,
        "failing_turns": failing,
        "per_call": [
            {
                "call_id": s.call_id,
                "agent": s.agent,
                "source": s.source,
                "turns": len(s.turns),
                "cost_usd": round(s.cost_usd, 6),
                "first_token_ms": [t.first_token_ms for t in s.turns],
                "tiers": [t.tier_routed for t in s.turns],
                "models": [t.model for t in s.turns],
                "tools_expected": [t.expected_tool is not None for t in s.turns],
                "tools_correct": [t.tool_correct for t in s.turns],
                "refusals_expected": [t.refusal_expected for t in s.turns],
                "refusals_ok": [
                    bool(t.refused and not t.invented) if t.refusal_expected else None for t in s.turns
                ],
                "tool_calls_correct": sum(1 for t in s.turns if t.tool_correct),
                "tool_calls_expected": sum(1 for t in s.turns if t.expected_tool is not None),
                "interruptions": s.interruptions,
                "fallbacks": s.fallbacks,
            }
            for s in scores
        ],
    }
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

    lines = [
        f"calls {report['calls']}, turns {report['turns']}, measured WER {report['measured_wer']:.3f}",
        f"  p95 first token      {fmt('p95_first_token_ms')}",
        f"  p95 first audio      {fmt('p95_first_audio_ms')} (answer {fmt('p95_first_answer_audio_ms')})",
        f"  tool-arg accuracy    {fmt('tool_arg_accuracy')}",
        f"  refusal on missing   {fmt('refusal_on_missing_rate')}",
        f"  cost per session     {fmt('cost_per_session_usd')}",
        f"  routing accuracy     {fmt('routing_accuracy')}",
        f"  interruptions {report['interruptions']}, fallbacks {report['fallbacks']}, "
        f"tool timeouts {report['timed_out_tools']}",
        f"  preemptive: {report.get('preemptive_turns', 0)} turns, {report.get('preemptive_discarded', 0)} "
        f"discarded ({report.get('preemptive_wasted_tokens', 0)} tokens wasted)",
    ]
    return "\n".join(lines)
