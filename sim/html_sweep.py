"""The page of a `sim sweep`: the cost-quality curve with its RouteLLM figures and the table of settings.

Self-contained (inline SVG and CSS): it opens offline and can be attached to a review.
"""

from __future__ import annotations

import html
from typing import Any

from sim.html import CSS
from sim.plot import line_chart


def render_sweep_html(figures: dict[str, Any]) -> str:
    metric = figures["metric"]
    rows = figures["settings"]
    pgr_curve = [
        (0.0, 0.0),
        *((r["strong_share"], r["pgr"]) for r in rows if r["pgr"] is not None),
        (1.0, 1.0),
    ]
    quality = [(r["cost_per_session_usd"], r[metric]) for r in rows]
    refs = [
        (figures["weak"]["cost_per_session_usd"], figures["weak"][metric]),
        (figures["strong"]["cost_per_session_usd"], figures["strong"][metric]),
    ]
    table = "".join(
        f"<tr><td>{r['value']:g}</td><td>{r[metric]}</td><td>{r['pgr']}</td><td>{r['strong_share']:.1%}</td>"
        f"<td>${r['cost_per_session_usd']:.5f}</td><td>{r['p95_first_token_ms']}</td></tr>"
        for r in rows
    )
    param = html.escape(figures["param"])
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sweep {param}</title>
<style>{CSS}</style></head><body><header><h1>Sweep of {param}</h1>
<div>APGR {figures["apgr"]} · CPT(50%) {figures["cpt_50"]} · CPT(80%) {figures["cpt_80"]}
(share of turns on the strong models) · quality = {html.escape(metric)}</div></header><main>
<section><h2>Performance gap recovered against share of strong-model turns</h2>
{line_chart({"PGR": pgr_curve}, x_label="share of turns on the strong (reasoning) models", y_label="PGR")}
</section><section><h2>Cost against quality</h2>
{
        line_chart(
            {param: quality, "all-small / all-premium": refs},
            x_label="cost per session (USD)",
            y_label=html.escape(metric),
        )
    }
</section><section><h2>Settings</h2><table><tr><th>{param}</th><th>{html.escape(metric)}</th><th>PGR</th>
<th>strong share</th><th>cost / session</th><th>p95 first token ms</th></tr>{table}</table></section>
</main></body></html>"""
