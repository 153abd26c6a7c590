"""Renders a simulation report as one self-contained HTML page with inline SVG plots.

No scripts, no external files: the page opens anywhere and can be attached to a review.
"""

from __future__ import annotations

import html
import json
from typing import Any

from sim.plot import cdf_points, line_chart
from sim.report import GATE_KEYS

COLOURS = {"speech": "#2a9d8f", "triage": "#3d7bd9", "reasoning": "#c05fd0", "none": "#999999"}
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f6f7fb;color:#1d2433}
header{background:#1d2433;color:#fff;padding:20px 32px}header h1{margin:0;font-size:22px}
main{padding:24px 32px;max-width:1200px}section{background:#fff;border-radius:10px;padding:18px 22px;
margin-bottom:18px;box-shadow:0 1px 3px #0001}.cards{display:flex;gap:14px;flex-wrap:wrap}
.card{flex:1 1 200px;background:#fff;border-radius:10px;padding:14px 18px;box-shadow:0 1px 3px #0001}
.card b{display:block;font-size:24px}.card span{color:#667}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #e4e6ee;padding:6px 8px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f0f2f8}code{font-size:12px;white-space:pre-wrap}.bad{color:#b3261e}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if key.endswith("_usd"):
        return f"${value:.4f}"
    if key.endswith("_ms"):
        return f"{value:.0f} ms"
    return f"{value:.3f}"


def _bars(
    values: list[tuple[str, float]], *, fmt: str, colour: str, label: str, labelled: bool = False
) -> str:
    width, height, pad = 560, 220, 34
    if not values:
        return "<p>No data.</p>"
    peak = max(v for _, v in values) or 1.0
    bar_w = (width - 2 * pad) / len(values)
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{_esc(label)}">']
    for i, (name, value) in enumerate(values):
        h = (height - 2 * pad) * value / peak
        parts.append(
            f'<rect x="{pad + i * bar_w:.1f}" y="{height - pad - h:.1f}" width="{max(1.0, bar_w - 1):.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{_esc(name)}: {fmt.format(value)}</title></rect>'
        )
        if labelled:
            centre = pad + (i + 0.5) * bar_w
            parts.append(
                f'<text x="{centre:.1f}" y="{height - pad + 14}" font-size="10" text-anchor="middle">'
                f"{_esc(name)}</text>"
                f'<text x="{centre:.1f}" y="{height - pad - h - 4:.1f}" font-size="10" text-anchor="middle">'
                f"{fmt.format(value)}</text>"
            )
    parts.append(
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#333"/>'
    )
    parts.append(f'<text x="{pad}" y="{pad - 10}" font-size="11">max {fmt.format(peak)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return "none" if value is None else str(value)


def render_html(report: dict[str, Any], *, title: str = "voicerouter simulation report") -> str:
    latencies: dict[str, list[float]] = {}
    for call in report["per_call"]:
        for tier, ms in zip(call["tiers"], call["first_token_ms"], strict=False):
            if ms is not None:
                latencies.setdefault(tier or "none", []).append(float(ms))
    cost_bars = [(c["call_id"], float(c["cost_usd"])) for c in report["per_call"]]
    wer_bars = [
        (
            f"{b['wer_from']:.2f}–{b['wer_to']:.2f} ({b['turns']})",
            float(b["tool_arg_accuracy"] or 0),
        )
        for b in report["accuracy_by_wer"]
        if b["turns"]
    ]
    cards = "".join(
        f'<div class="card"><span>{_esc(k.replace("_", " "))}</span>'
        f"<b>{_esc(_fmt(k, report.get(k)))}</b></div>"
        for k in (*GATE_KEYS, "routing_accuracy", "measured_wer")
    )
    rows = "".join(
        "<tr>"
        f"<td>{_esc(f['call_id'])}<br><small>{_esc(f['source'])}</small></td><td>{f['turn']}</td>"
        f"<td>{_esc(f['text'])}<br><small>heard: {_esc(f['heard'])}</small></td>"
        f"<td class=bad>{_esc(', '.join(f['why']))}</td>"
        f"<td>{_esc(f['tier_expected'])} → {_esc(f['tier_routed'])}<br><small>{_esc(f['model'])}</small></td>"
        f"<td><code>{_esc(json.dumps(f['expected_tool']))}</code></td>"
        f"<td><code>{_esc(json.dumps(f['actual_tools']))}</code></td>"
        f"<td>{_esc(f['answer'])}</td></tr>"
        for f in report["failing_turns"]
    )
    tiers = "".join(
        f"<tr><td>{_esc(t)}</td><td>{v['turns']}</td><td>{_esc(v['p50_first_token_ms'])}</td>"
        f"<td>{_esc(v['p95_first_token_ms'])}</td><td>{v['cost_usd']}</td></tr>"
        for t, v in report["per_tier"].items()
    )
    models = "".join(
        f"<tr><td>{_esc(m)}</td><td>{v['turns']}</td><td>{v['cost_usd']}</td></tr>"
        for m, v in report["per_model"].items()
    )
    meta = report.get("meta", {})
    options = "".join(
        f"<tr><th>{_esc(k.replace('_', ' '))}</th><td>{_esc(_plain(v))}</td></tr>"
        for k, v in meta.items()
        if k != "profiles"
    )
    profiles = "".join(
        f"<tr><td>{_esc(m)}</td><td>{_esc(src)}</td></tr>"
        for m, src in sorted(meta.get("profiles", {}).items())
    )
    cdf = line_chart(
        {tier: cdf_points(values) for tier, values in sorted(latencies.items())},
        x_label="first token (ms after the caller stopped)",
        y_label="share of turns",
        markers=False,
    )
    seeds = "".join(
        f"<tr><td>{row['seed']}</td>{''.join(f'<td>{_esc(_fmt(k, row.get(k)))}</td>' for k in GATE_KEYS)}"
        for row in report.get("per_seed", [])
    )
    gate_heads = "".join(f"<th>{_esc(k)}</th>" for k in GATE_KEYS)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{_esc(title)}</title>
<style>{CSS}</style></head><body><header><h1>{_esc(title)}</h1>
<div>{report["calls"]} calls, {report["turns"]} turns, {report["interruptions"]} interruptions,
{report["fallbacks"]} fallbacks</div></header><main>
<div class="cards">{cards}</div>
<section><h2>First-token latency by tier (CDF)</h2>{cdf}</section>
<section><h2>Gate numbers by seed</h2><table><tr><th>seed</th>{gate_heads}</tr>{seeds}</table>
<p><small>One seed's figures move by more than the gate's margins: compare reports of
several seeds with <code>sim compare</code>, which judges paired deltas by their 95 % intervals.</small></p>
</section>
<section><h2>Where the quality figures come from</h2><table><tr><th>model</th><th>profile</th></tr>
{profiles}</table><p><small>"assumed" rates are documented guesses (sim/PROFILES.md); "measured" ones were
fitted by <code>sim calibrate</code> on the run named.</small></p></section>
<section><h2>Run options</h2><table>{options}</table></section>
<section><h2>Cost per call (USD)</h2>
{_bars(cost_bars, fmt="${:.5f}", colour="#3d7bd9", label="cost per call")}</section>
<section><h2>Tool-argument accuracy against word error rate</h2>
{_bars(wer_bars, fmt="{:.3f}", colour="#c05fd0", label="accuracy by WER", labelled=True)}
<p><small>Turns grouped by the word error rate of their own transcript (turns in brackets);
run with --wer to spread them.</small></p>
</section>
<section><h2>By tier</h2><table><tr><th>tier</th><th>turns</th><th>p50 first token ms</th>
<th>p95 first token ms</th><th>cost USD</th></tr>{tiers}</table>
<h2>By model</h2><table><tr><th>model</th><th>turns</th><th>cost USD</th></tr>{models}</table></section>
<section><h2>Failing turns ({len(report["failing_turns"])})</h2><table><tr><th>call</th><th>turn</th>
<th>caller said</th><th>why</th><th>tier</th><th>expected tool call</th><th>actual tool calls</th>
<th>agent answered</th></tr>{rows}</table></section></main></body></html>"""
