"""The eval gate: may a candidate configuration replace the baseline?

Pass = the candidate is at least as good on three of the four gate numbers and no worse than the
configured margin on the fourth. Pure: two reports and margins in, a verdict with its table out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicerouter.config import GatePolicy

# metric -> (lower is better?, margin field)
GATE_METRICS: dict[str, tuple[bool, str]] = {
    "p95_first_token_ms": (True, "margin_p95_first_token_ms"),
    "tool_arg_accuracy": (False, "margin_tool_arg_accuracy"),
    "refusal_on_missing_rate": (False, "margin_refusal_on_missing_rate"),
    "cost_per_session_usd": (True, "margin_cost_per_session_usd"),
}
EPSILON = 1e-9


def gate_metrics(margins: GatePolicy) -> dict[str, tuple[bool, str]]:
    """The gate's four numbers; with `gate.latency = "first_audio"` latency is what the caller hears."""
    if margins.latency != "first_audio":
        return GATE_METRICS
    return {
        ("p95_first_audio_ms" if k == "p95_first_token_ms" else k): (
            (True, "margin_p95_first_audio_ms") if k == "p95_first_token_ms" else v
        )
        for k, v in GATE_METRICS.items()
    }


@dataclass(frozen=True)
class MetricVerdict:
    metric: str
    baseline: float | None
    candidate: float | None
    delta: float | None
    margin: float
    at_least_as_good: bool
    within_margin: bool


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    metrics: list[MetricVerdict]
    reason: str


def compare(baseline: dict[str, Any], candidate: dict[str, Any], margins: GatePolicy) -> GateVerdict:
    verdicts = []
    for metric, (lower_better, margin_field) in gate_metrics(margins).items():
        margin = float(getattr(margins, margin_field))
        base, cand = baseline.get(metric), candidate.get(metric)
        if base is None or cand is None:
            verdicts.append(MetricVerdict(metric, base, cand, None, margin, False, False))
            continue
        delta = cand - base
        worse_by = delta if lower_better else -delta
        verdicts.append(
            MetricVerdict(
                metric, base, cand, delta, margin, worse_by <= EPSILON, worse_by <= margin + EPSILON
            )
        )
    good = sum(v.at_least_as_good for v in verdicts)
    all_within = all(v.within_margin for v in verdicts)
    passed = good >= 3 and all_within
    if passed:
        reason = f"candidate at least as good on {good} of 4 and within margin on the rest"
    else:
        failing = [v.metric for v in verdicts if not v.within_margin]
        reason = (
            f"candidate at least as good on only {good} of 4"
            if good < 3
            else f"worse than the margin on {', '.join(failing)}"
        )
        if good < 3 and failing:
            reason += f"; worse than the margin on {', '.join(failing)}"
    return GateVerdict(passed=passed, metrics=verdicts, reason=reason)


def format_verdict(verdict: GateVerdict) -> str:
    def num(metric: str, value: float | None) -> str:
        if value is None:
            return "n/a"
        if metric.endswith("_usd"):
            return f"{value:.5f}"
        if metric.endswith("_ms"):
            return f"{value:.0f}"
        return f"{value:.4f}"

    rows = [f"{'metric':26} {'baseline':>10} {'candidate':>10} {'delta':>10} {'margin':>9}  verdict"]
    for v in verdict.metrics:
        delta = "n/a" if v.delta is None else ("+" if v.delta >= 0 else "") + num(v.metric, v.delta)
        mark = "better/equal" if v.at_least_as_good else ("within margin" if v.within_margin else "WORSE")
        rows.append(
            f"{v.metric:26} {num(v.metric, v.baseline):>10} {num(v.metric, v.candidate):>10} {delta:>10} "
            f"{num(v.metric, v.margin):>9}  {mark}"
        )
    rows.append(("PASS: " if verdict.passed else "FAIL: ") + verdict.reason)
    return "\n".join(rows)
