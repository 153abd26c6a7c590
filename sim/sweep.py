"""`sim sweep`: one numeric config key stepped over a range, each setting replayed, read as a cost-quality
curve with RouteLLM's measures (Ong et al., 2024, arXiv:2406.18665).

PGR (performance gap recovered) of a setting = (quality - weak) / (strong - weak), the weak and strong
references being every turn on the small chain and every turn on the premium chain. The curve puts
PGR against the share of turns answered by the strong models (those the strong reference uses and the weak
one never does); APGR is the area under it (PGR averaged over ten evenly spaced shares), and CPT(x %)
is the smallest share of strong-model turns at which PGR reaches x %. Pure: reports in, figures out.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.replay import RunOptions
    from sim.script import CallScript

APGR_POINTS = 10


class SweepError(ValueError):
    pass


def parse_param(text: str) -> tuple[str, list[float]]:
    """`routing.escalate_below_confidence=0.3:0.95:8` -> the key and 8 evenly spaced values."""
    key, eq, span = text.partition("=")
    parts = span.split(":")
    if not eq or len(parts) != 3 or not key.strip():
        raise SweepError(
            f"--param {text!r}: expected KEY=FROM:TO:STEPS, e.g. routing.escalate_below_confidence=0.3:0.95:8"
        )
    try:
        low, high, steps = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError as exc:
        raise SweepError(f"--param {text!r}: FROM and TO are numbers, STEPS a whole number") from exc
    if steps < 2:
        raise SweepError(f"--param {text!r}: STEPS must be at least 2")
    return key.strip(), [round(low + (high - low) * i / (steps - 1), 6) for i in range(steps)]


def overlay(base_path: str | None, key: str, value: float) -> str:
    """A config (TOML text) that is the base file with `key` set to `value`."""
    data: dict[str, Any] = tomllib.loads(Path(base_path).read_text(encoding="utf-8")) if base_path else {}
    *tables, leaf = key.split(".")
    node = data
    for table in tables:
        node = node.setdefault(table, {})
        if not isinstance(node, dict):
            raise SweepError(f"--param {key}: {table} is not a table")
    node[leaf] = int(value) if float(value).is_integer() and isinstance(node.get(leaf), int) else value
    return _dump(data)


def _dump(data: dict[str, Any], prefix: str = "") -> str:
    plain = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and plain else []
    lines += [f"{k} = {_value(v)}" for k, v in plain.items()]
    for name, table in tables.items():
        lines.append(_dump(table, f"{prefix}.{name}" if prefix else name))
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return repr(value)


def strong_share(report: dict[str, Any], strong_models: set[str]) -> float:
    """Share of answered turns that a strong model answered."""
    per_model = report.get("per_model", {})
    total = sum(row["turns"] for model, row in per_model.items() if model != "none")
    strong = sum(row["turns"] for model, row in per_model.items() if model in strong_models)
    return round(strong / total, 4) if total else 0.0


def strong_models(weak: dict[str, Any], strong: dict[str, Any]) -> set[str]:
    """The models the strong reference uses and the weak one never does."""
    return set(strong.get("per_model", {})) - set(weak.get("per_model", {})) - {"none"}


def _interpolate(points: list[tuple[float, float]], x: float) -> float:
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1] if x > points[-1][0] else points[0][1]


def curve(
    settings: list[tuple[float, dict[str, Any]]], weak: dict[str, Any], strong: dict[str, Any], metric: str
) -> dict[str, Any]:
    """PGR of every setting, APGR and CPT(50 %)/CPT(80 %) of the curve they draw."""
    r_weak, r_strong = float(weak[metric]), float(strong[metric])
    gap = r_strong - r_weak
    models = strong_models(weak, strong)
    rows = []
    for value, report in settings:
        quality = float(report[metric])
        rows.append(
            {
                "value": value,
                metric: quality,
                "pgr": round((quality - r_weak) / gap, 4) if gap else None,
                "strong_share": strong_share(report, models),
                "cost_per_session_usd": report["cost_per_session_usd"],
                "p95_first_token_ms": report["p95_first_token_ms"],
            }
        )
    figures: dict[str, Any] = {
        "metric": metric,
        "strong_models": sorted(models),
        "weak": {
            metric: r_weak,
            "cost_per_session_usd": weak["cost_per_session_usd"],
            "strong_share": strong_share(weak, models),
        },
        "strong": {
            metric: r_strong,
            "cost_per_session_usd": strong["cost_per_session_usd"],
            "strong_share": strong_share(strong, models),
        },
        "settings": rows,
        "apgr": None,
        "cpt_50": None,
        "cpt_80": None,
    }
    if not gap:
        figures["note"] = f"weak and strong references have the same {metric}: no gap to recover"
        return figures
    ends = [(figures["weak"]["strong_share"], 0.0), (figures["strong"]["strong_share"], 1.0)]
    points = sorted([*ends, *((r["strong_share"], r["pgr"]) for r in rows)])
    shares = [i / APGR_POINTS for i in range(1, APGR_POINTS + 1)]
    figures["apgr"] = round(sum(_interpolate(points, s) for s in shares) / len(shares), 4)
    for target, name in ((0.5, "cpt_50"), (0.8, "cpt_80")):
        figures[name] = _crossing(points, target)
    return figures


def _crossing(points: list[tuple[float, float]], target: float) -> float | None:
    """The smallest strong share where the curve reaches `target` PGR (linear between points)."""
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if y0 >= target:
            return round(x0, 4)
        if y1 >= target:
            return round(x0 + (x1 - x0) * (target - y0) / (y1 - y0), 4)
    return None


def run_sweep(
    scripts: Sequence[CallScript],
    key: str,
    values: list[float],
    *,
    base_config: str | None,
    weak: str,
    strong: str,
    metric: str,
    options: RunOptions,
    workers: int = 1,
    progress: Callable[[float, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Replay `scripts` under each value of `key` (over `base_config`) and the two references."""
    from sim.replay import run_scripts
    from sim.report import build_report

    def replayed(config_path: str | None) -> dict[str, Any]:
        run = dataclasses.replace(options, config_path=config_path)
        report = build_report(run_scripts(scripts, run, workers=workers))
        if metric not in report:
            raise SweepError(f"--metric {metric!r}: not a figure of the report")
        return report

    settings = []
    with tempfile.TemporaryDirectory() as folder:
        for value in values:
            path = Path(folder) / f"{key}={value}.toml"
            path.write_text(overlay(base_config, key, value), encoding="utf-8")
            settings.append((value, replayed(str(path))))
            if progress:
                progress(value, settings[-1][1])
    return {"param": key, **curve(settings, replayed(weak), replayed(strong), metric)}
