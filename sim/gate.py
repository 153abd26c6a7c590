"""The eval gate: may a candidate configuration replace the baseline?

Each gate number is judged on the paired per-call difference with a bootstrap 95 % interval: it is better
or worse only when the interval excludes zero, and loses badly only when the whole interval lies beyond
its margin. Pass = worse on at most one number and losing badly on none (the candidate is at least as good
on three of four). Reports of one seed have no interval: they are judged on the point figures, with a
warning. Pure: two reports and margins in, a verdict with its table out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sim.paired import align, has_intervals, paired_deltas, unit_keys
from sim.paired import metrics as unit_metrics
from voicerouter.config import GatePolicy

# metric -> (lower is better?, margin field)
GATE_METRICS: dict[str, tuple[bool, str]] = {
    "p95_first_token_ms": (True, "margin_p95_first_token_ms"),
    "tool_arg_accuracy": (False, "margin_tool_arg_accuracy"),
    "refusal_on_missing_rate": (False, "margin_refusal_on_missing_rate"),
    "cost_per_session_usd": (True, "margin_cost_per_session_usd"),
}
EPSILON = 1e-9
NO_INTERVAL_WARNING = (
    "warning: a report ran one seed, so the verdict has no interval: seed noise alone can flip it "
    "(run both with --seeds 10)"
)

Status = Literal["better", "no difference", "worse", "loses badly", "n/a"]


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
    status: Status
    low: float | None = None  # the delta's 95 % interval, when the reports allow one
    high: float | None = None

    @property
    def at_least_as_good(self) -> bool:
        return self.status in ("better", "no difference")

    @property
    def within_margin(self) -> bool:
        return self.status in ("better", "no difference", "worse")


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    metrics: list[MetricVerdict]
    reason: str
    intervals: bool = False
    paired_units: int = 0
    warnings: tuple[str, ...] = ()


def _status(worse_low: float, worse_high: float, margin: float) -> Status:
    """`worse_low..worse_high`: how much worse the candidate is (negative = better)."""
    if worse_low > margin + EPSILON:
        return "loses badly"
    if worse_low > EPSILON:
        return "worse"
    if worse_high < -EPSILON:
        return "better"
    return "no difference"


def _point_verdicts(
    baseline: dict[str, Any], candidate: dict[str, Any], margins: GatePolicy
) -> list[MetricVerdict]:
    verdicts = []
    for metric, (lower_better, margin_field) in gate_metrics(margins).items():
        margin = float(getattr(margins, margin_field))
        base, cand = baseline.get(metric), candidate.get(metric)
        if base is None or cand is None:
            verdicts.append(MetricVerdict(metric, base, cand, None, margin, "n/a"))
            continue
        delta = cand - base
        worse_by = delta if lower_better else -delta
        status: Status = (
            "loses badly"
            if worse_by > margin + EPSILON
            else "worse"
            if worse_by > EPSILON
            else "better"
            if worse_by < -EPSILON
            else "no difference"
        )
        verdicts.append(MetricVerdict(metric, base, cand, delta, margin, status))
    return verdicts


def _interval_verdicts(
    baseline: dict[str, Any], candidate: dict[str, Any], margins: GatePolicy, resamples: int
) -> tuple[list[MetricVerdict], int, list[str]]:
    base_rows, cand_rows = unit_keys(baseline), unit_keys(candidate)
    keys = sorted(base_rows.keys() & cand_rows.keys())
    warnings = []
    unpaired = len(base_rows.keys() ^ cand_rows.keys())
    if unpaired:
        warnings.append(
            f"warning: {unpaired} calls are in only one report; the verdict uses the {len(keys)} in both"
        )
    base_units, cand_units = align(base_rows, keys), align(cand_rows, keys)
    deltas = paired_deltas(base_units, cand_units, resamples=resamples)
    # the paired figures, so that delta = candidate - baseline holds on the table
    ones = np.ones((1, len(keys)))
    base_point, cand_point = unit_metrics(base_units, ones), unit_metrics(cand_units, ones)
    verdicts = []
    for metric, (lower_better, margin_field) in GATE_METRICS.items():
        margin = float(getattr(margins, margin_field))
        d = deltas[metric]
        base, cand = float(base_point[metric][0]), float(cand_point[metric][0])
        if d.delta is None or d.low is None or d.high is None:
            verdicts.append(MetricVerdict(metric, None, None, None, margin, "n/a"))
            continue
        worse = (d.low, d.high) if lower_better else (-d.high, -d.low)
        verdicts.append(
            MetricVerdict(metric, base, cand, d.delta, margin, _status(*worse, margin), d.low, d.high)
        )
    return verdicts, len(keys), warnings


def compare(
    baseline: dict[str, Any], candidate: dict[str, Any], margins: GatePolicy, *, resamples: int = 2000
) -> GateVerdict:
    intervals = has_intervals(baseline) and has_intervals(candidate)
    warnings: list[str] = []
    units = 0
    if intervals:
        verdicts, units, warnings = _interval_verdicts(baseline, candidate, margins, resamples)
        if units == 0:
            intervals = False
            warnings.append("warning: the reports share no call: judged on the point figures")
    if not intervals:
        verdicts = _point_verdicts(baseline, candidate, margins)
        warnings.append(NO_INTERVAL_WARNING)
    assumed = sorted(
        {
            model
            for report in (baseline, candidate)
            for model, source in ((report.get("meta") or {}).get("profiles") or {}).items()
            if source == "assumed" and model != "offline"
        }
    )
    if assumed:
        warnings.append(
            "note: quality deltas come from assumed error rates for "
            + ", ".join(assumed)
            + " (sim/PROFILES.md)"
        )
    worse = [v.metric for v in verdicts if not v.at_least_as_good]
    badly = [v.metric for v in verdicts if not v.within_margin]
    good = len(verdicts) - len(worse)
    passed = len(worse) <= 1 and not badly
    if passed:
        reason = f"candidate at least as good on {good} of 4 and within margin on the rest"
    else:
        parts = []
        if len(worse) > 1:
            parts.append(f"worse on {len(worse)} of 4 ({', '.join(worse)})")
        if badly:
            parts.append(f"beyond the margin on {', '.join(badly)}")
        reason = "; ".join(parts)
    return GateVerdict(passed, verdicts, reason, intervals, units, tuple(warnings))


def format_number(metric: str, value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    sign = "+" if signed and value >= 0 else ""
    if metric.endswith("_usd"):
        return f"{sign}{value:.5f}"
    if metric.endswith("_ms"):
        return f"{sign}{value:.0f}"
    return f"{sign}{value:.4f}"


_STATUS_TEXT = {
    "better": "better",
    "no difference": "no difference",
    "worse": "WORSE",
    "loses badly": "WORSE, beyond the margin",
    "n/a": "n/a (missing)",
}


def format_verdict(verdict: GateVerdict) -> str:
    rows = [
        f"{'metric':24} {'baseline':>9} {'candidate':>9} {'delta':>9} {'95% interval':>21} "
        f"{'margin':>8}  verdict"
    ]
    for v in verdict.metrics:

        def num(value: float | None, metric: str = v.metric) -> str:
            return format_number(metric, value)

        interval = (
            f"[{format_number(v.metric, v.low, True)}, {format_number(v.metric, v.high, True)}]"
            if v.low is not None
            else "none"
        )
        rows.append(
            f"{v.metric:24} {num(v.baseline):>9} {num(v.candidate):>9} "
            f"{format_number(v.metric, v.delta, True):>9} {interval:>21} {num(v.margin):>8}  "
            f"{_STATUS_TEXT[v.status]}"
        )
    if verdict.intervals:
        rows.append(f"paired on {verdict.paired_units} calls x seeds; intervals: bootstrap over them")
    rows.extend(verdict.warnings)
    rows.append(("PASS: " if verdict.passed else "FAIL: ") + verdict.reason)
    return "\n".join(rows)
