"""Paired per-call bootstrap of the gate numbers: how far a candidate's figures sit from the baseline's.

The unit is one call under one seed offset, present in both reports; resampling units keeps a call's turns
together and pairs the two configs on the same caller. Pure numpy on report data; never runs a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

RESAMPLES = 2000
CHUNK = 250  # resamples per block: bounds the (resamples x turns) weight matrix of the p95 interval
CONFIDENCE = 0.95

Key = tuple[str, int]


@dataclass(frozen=True)
class Units:
    """One report's per-call figures, aligned to a shared list of unit keys."""

    tool_ok: npt.NDArray[np.float64]
    tool_den: npt.NDArray[np.float64]
    refusal_ok: npt.NDArray[np.float64]
    refusal_den: npt.NDArray[np.float64]
    cost_usd: npt.NDArray[np.float64]
    first_token_ms: npt.NDArray[np.float64]  # every turn's value, sorted
    first_token_unit: npt.NDArray[np.intp]  # the unit each sorted value belongs to


def unit_keys(report: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    """(call_id, seed offset) -> per-call row: run k of one report pairs with run k of the other."""
    rows = report.get("per_call") or []
    first_seed = min((int(row.get("seed", 0)) for row in rows), default=0)
    return {(str(row["call_id"]), int(row.get("seed", 0)) - first_seed): row for row in rows}


def has_intervals(report: dict[str, Any]) -> bool:
    """A report can carry intervals when it ran more than one seed and kept its per-call rows."""
    return len(report.get("seeds") or []) > 1 and bool(report.get("per_call"))


def align(rows: dict[Key, dict[str, Any]], keys: Sequence[Key]) -> Units:
    tool_ok, tool_den, ref_ok, ref_den, cost = [], [], [], [], []
    values: list[float] = []
    owners: list[int] = []
    for index, key in enumerate(keys):
        row = rows[key]
        tool_ok.append(float(row.get("tool_calls_correct", 0)))
        tool_den.append(float(row.get("tool_calls_expected", 0) + row.get("wrong_extra_calls", 0)))
        refusals = [ok for ok in row.get("refusals_ok", []) if ok is not None]
        ref_ok.append(float(sum(bool(ok) for ok in refusals)))
        ref_den.append(float(len(refusals)))
        cost.append(float(row.get("cost_usd", 0.0)))
        for ms in row.get("first_token_ms", []):
            if ms is not None:
                values.append(float(ms))
                owners.append(index)
    order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
    return Units(
        tool_ok=np.asarray(tool_ok),
        tool_den=np.asarray(tool_den),
        refusal_ok=np.asarray(ref_ok),
        refusal_den=np.asarray(ref_den),
        cost_usd=np.asarray(cost),
        first_token_ms=np.asarray(values, dtype=np.float64)[order],
        first_token_unit=np.asarray(owners, dtype=np.intp)[order],
    )


def _ratio(num: npt.NDArray[np.float64], den: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _p95(units: Units, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Nearest-rank 95th percentile of first-token times under each row of unit weights."""
    if units.first_token_ms.size == 0:
        return np.full(weights.shape[0], np.nan)
    per_value = weights[:, units.first_token_unit]
    cumulative = np.cumsum(per_value, axis=1)
    total = cumulative[:, -1]
    rank = np.maximum(1.0, np.ceil(0.95 * total - 1e-9))
    index = np.argmax(cumulative >= rank[:, None], axis=1)
    result = units.first_token_ms[index]
    return np.where(total > 0, result, np.nan)


def metrics(units: Units, weights: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float64]]:
    """The four gate numbers under each row of unit weights (a row of ones is the report itself)."""
    count = weights.sum(axis=1)
    return {
        "p95_first_token_ms": _p95(units, weights),
        "tool_arg_accuracy": _ratio(weights @ units.tool_ok, weights @ units.tool_den),
        "refusal_on_missing_rate": _ratio(weights @ units.refusal_ok, weights @ units.refusal_den),
        "cost_per_session_usd": _ratio(weights @ units.cost_usd, count),
    }


@dataclass(frozen=True)
class PairedDelta:
    delta: float | None
    low: float | None
    high: float | None


def paired_deltas(
    baseline: Units, candidate: Units, *, resamples: int = RESAMPLES, seed: int = 0
) -> dict[str, PairedDelta]:
    """Candidate minus baseline for each gate number, with a percentile bootstrap interval."""
    n = baseline.cost_usd.size
    ones = np.ones((1, n))
    point_base, point_cand = metrics(baseline, ones), metrics(candidate, ones)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[npt.NDArray[np.float64]]] = {key: [] for key in point_base}
    remaining = resamples
    while remaining > 0:
        size = min(CHUNK, remaining)
        remaining -= size
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        base, cand = metrics(baseline, weights), metrics(candidate, weights)
        for key in draws:
            draws[key].append(cand[key] - base[key])
    tail = (1 - CONFIDENCE) / 2 * 100
    out: dict[str, PairedDelta] = {}
    for key, parts in draws.items():
        delta = float(point_cand[key][0] - point_base[key][0])
        values = np.concatenate(parts)
        values = values[~np.isnan(values)]
        if np.isnan(delta) or values.size == 0:
            out[key] = PairedDelta(None, None, None)
            continue
        low, high = np.percentile(values, [tail, 100 - tail])
        out[key] = PairedDelta(delta, float(low), float(high))
    return out
