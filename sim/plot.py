"""Inline SVG charts with real axes: ticks at round numbers, labelled axes, a legend. No scripts, no CDN.

Pure string building: data in, an `<svg>` element out.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

PALETTE = ("#3d7bd9", "#c05fd0", "#2a9d8f", "#e76f51", "#999999")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering low..high (1, 2 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < high - step * 1e-9:  # the last tick reaches past the highest value
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _label(value: float) -> str:
    return f"{value:g}"


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    x_label: str,
    y_label: str,
    width: int = 620,
    height: int = 300,
    markers: bool = True,
) -> str:
    """One line per series (points sorted by x), on shared axes with ticks and a legend."""
    points = [p for values in series.values() for p in values]
    if not points:
        return "<p>No data.</p>"
    left, right, top, bottom = 62, 16, 14, 46
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / ((y1 - y0) or 1) * (height - top - bottom)

    out = [f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(y_label)} against '
           f'{html.escape(x_label)}" font-size="11">']  # fmt: skip
    for t in x_ticks:
        out.append(
            f'<line x1="{sx(t):.1f}" y1="{top}" x2="{sx(t):.1f}" y2="{height - bottom}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{sx(t):.1f}" y="{height - bottom + 14}" text-anchor="middle">{_label(t)}</text>'
        )
    for t in y_ticks:
        out.append(
            f'<line x1="{left}" y1="{sy(t):.1f}" x2="{width - right}" y2="{sy(t):.1f}" stroke="#eee"/>'
        )
        out.append(f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    base = height - bottom
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#333"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#333"/>')
    middle = (left + width - right) / 2
    out.append(f'<text x="{middle}" y="{height - 8}" text-anchor="middle">{html.escape(x_label)}</text>')
    out.append(
        f'<text transform="translate(14 {(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">'
        f"{html.escape(y_label)}</text>"
    )
    for i, (name, values) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        ordered = sorted(values)
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ordered)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if markers:
            out.extend(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>' for x, y in ordered
            )
        out.append(f'<text x="{left + 8}" y="{top + 12 + 14 * i}" fill="{colour}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def cdf_points(values: Sequence[float], max_points: int = 120) -> list[tuple[float, float]]:
    """The empirical CDF of `values` as (value, share of values <= it), thinned to about `max_points`."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return []
    stride = max(1, n // max_points)
    points = [(ordered[i], (i + 1) / n) for i in range(0, n, stride)]
    if points[-1][1] < 1.0:
        points.append((ordered[-1], 1.0))
    return points
