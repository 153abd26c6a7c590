"""The page of a `sim compare`: the verdict, each gate number's delta with its 95 % interval, and a forest
plot of the intervals in units of their margins (0 = no change, 1 = the margin; right = worse).

Self-contained (inline SVG and CSS): it opens offline and can be attached to a review.
"""

from __future__ import annotations

import html

from sim.gate import GATE_METRICS, GateVerdict, MetricVerdict, format_number
from sim.html import CSS
from sim.plot import nice_ticks


def _worse_by(v: MetricVerdict) -> tuple[float, float, float] | None:
    """(low, point, high) of how much worse the candidate is, in margins."""
    if v.delta is None or not v.margin:
        return None
    lower_better = GATE_METRICS[v.metric][0]
    sign = 1.0 if lower_better else -1.0
    low = v.low if v.low is not None else v.delta
    high = v.high if v.high is not None else v.delta
    ends = sorted((sign * low / v.margin, sign * high / v.margin))
    return ends[0], sign * v.delta / v.margin, ends[1]


def forest_plot(verdict: GateVerdict, width: int = 620) -> str:
    rows = [(v.metric, _worse_by(v)) for v in verdict.metrics]
    spans = [r for _, r in rows if r is not None]
    if not spans:
        return "<p>No intervals.</p>"
    low = min(-1.5, *(s[0] for s in spans))
    high = max(1.5, *(s[2] for s in spans))
    ticks = nice_ticks(low, high, 6)
    left, right, row_h, top = 190, 20, 34, 10
    height = top + row_h * len(rows) + 40

    def sx(x: float) -> float:
        return left + (x - ticks[0]) / (ticks[-1] - ticks[0]) * (width - left - right)

    out = [f'<svg width="{width}" height="{height}" role="img" aria-label="gate intervals" font-size="11">']
    for t in ticks:
        out.append(f'<line x1="{sx(t):.1f}" y1="{top}" x2="{sx(t):.1f}" y2="{height - 34}" stroke="#eee"/>')
        out.append(f'<text x="{sx(t):.1f}" y="{height - 20}" text-anchor="middle">{t:g}</text>')
    for x, colour in ((0.0, "#333"), (1.0, "#b3261e")):
        out.append(
            f'<line x1="{sx(x):.1f}" y1="{top}" x2="{sx(x):.1f}" y2="{height - 34}" stroke="{colour}"/>'
        )
    out.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 4}" text-anchor="middle">'
        "how much worse the candidate is, in margins (red line: the margin)</text>"
    )
    for i, (metric, span) in enumerate(rows):
        y = top + row_h * i + row_h / 2
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{html.escape(metric)}</text>')
        if span is None:
            continue
        lo, point, hi = span
        colour = "#b3261e" if lo > 0 else "#2a9d8f" if hi < 0 else "#3d7bd9"
        out.append(f'<line x1="{sx(lo):.1f}" y1="{y:.1f}" x2="{sx(hi):.1f}" y2="{y:.1f}" stroke="{colour}" '
                   'stroke-width="3"/>')  # fmt: skip
        out.append(f'<circle cx="{sx(point):.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
    out.append("</svg>")
    return "".join(out)


def _interval(v: MetricVerdict) -> str:
    if v.low is None or v.high is None:
        return "none"
    return f"[{format_number(v.metric, v.low, True)}, {format_number(v.metric, v.high, True)}]"


def render_gate_html(verdict: GateVerdict, baseline: str, candidate: str) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(v.metric)}</td><td>{format_number(v.metric, v.baseline)}</td>"
        f"<td>{format_number(v.metric, v.candidate)}</td><td>{format_number(v.metric, v.delta, True)}</td>"
        f"<td>{_interval(v)}"
        f"</td><td>{format_number(v.metric, v.margin)}</td><td>{html.escape(v.status)}</td></tr>"
        for v in verdict.metrics
    )
    notes = "".join(f"<li>{html.escape(w)}</li>" for w in verdict.warnings)
    outcome = "PASS" if verdict.passed else "FAIL"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>gate: {outcome}</title>
<style>{CSS}</style></head><body><header><h1>Gate: {outcome}</h1><div>{html.escape(verdict.reason)} ·
baseline {html.escape(baseline)} · candidate {html.escape(candidate)}</div></header><main>
<section><h2>Intervals</h2>{forest_plot(verdict)}<p><small>Paired on {verdict.paired_units} calls × seeds;
95 % bootstrap intervals. A number is worse only when its whole interval is right of 0, beyond the margin
only when it is right of the red line.</small></p></section>
<section><h2>Gate numbers</h2><table><tr><th>metric</th><th>baseline</th><th>candidate</th><th>delta</th>
<th>95 % interval</th><th>margin</th><th>verdict</th></tr>{rows}</table><ul>{notes}</ul></section>
</main></body></html>"""
