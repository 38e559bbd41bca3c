"""Small inline SVG charts (no JavaScript, no CDN): sparklines, a line chart, a scatter plot.

Every function returns ``markupsafe.Markup`` whose text came only from numbers and from
values escaped here, so templates can insert it as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

Num = float | None


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp  # pragma: no cover - the loop always returns


def _fmt(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g}k" if v % 1000 == 0 else f"{v:,.0f}"
    return f"{v:g}"


def _path(values: Sequence[Num], x0: float, y0: float, w: float, h: float, vmax: float) -> str:
    n = max(1, len(values) - 1)
    parts: list[str] = []
    pen_up = True
    for i, v in enumerate(values):
        if v is None:
            pen_up = True
            continue
        x = x0 + w * i / n
        y = y0 + h - h * min(v, vmax) / vmax
        parts.append(f"{'M' if pen_up else 'L'}{x:.1f},{y:.1f}")
        pen_up = False
    return " ".join(parts)


def sparkline(values: Sequence[Num], *, w: int = 120, h: int = 24, color: str = "#4e79a7") -> Markup:
    vals = [v for v in values if v is not None]
    if not vals:
        return Markup(f'<svg class="spark" width="{w}" height="{h}"></svg>')
    vmax = max(vals) or 1.0
    d = _path(values, 1, 2, w - 2, h - 4, vmax)
    return Markup(f'<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">'
                  f'<title>max {escape(_fmt(round(vmax, 1)))}</title>'
                  f'<path d="{d}" fill="none" stroke="{escape(color)}" stroke-width="1.5"/></svg>')


def line_chart(series: Sequence[tuple[str, Sequence[Num], str]], x_labels: Sequence[str], *, title: str,
               unit: str = "", w: int = 560, h: int = 180) -> Markup:
    """Lines over shared buckets; ``x_labels`` are drawn at the start, middle and end."""
    # the legend: one row per two series under the axis (labels are "service route")
    legend_rows = -(-len(series) // 2)
    h += 16 * legend_rows
    left, right, top, bottom = 48, 8, 22, 28 + 16 * legend_rows
    pw, ph = w - left - right, h - top - bottom
    vals = [v for _, values, _ in series for v in values if v is not None]
    vmax = _nice_max(max(vals) if vals else 0.0)
    out = [f'<svg class="chart" viewBox="0 0 {w} {h}" preserveAspectRatio="xMinYMin meet" role="img">',
           f'<text x="{left}" y="14" class="chart-title">{escape(title)}</text>']
    for i in range(5):
        v = vmax * i / 4
        y = top + ph - ph * i / 4
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                   f'{escape(_fmt(round(v, 3)))}{escape(unit)}</text>')
    n = len(x_labels)
    for idx in sorted({0, n // 2, n - 1} if n else set()):
        x = left + pw * idx / max(1, n - 1)
        anchor = "start" if idx == 0 else ("end" if idx == n - 1 else "middle")
        out.append(f'<text x="{x:.1f}" y="{top + ph + 16}" class="axis" text-anchor="{anchor}">'
                   f'{escape(x_labels[idx])}</text>')
    for label, values, color in series:
        d = _path(values, left, top, pw, ph, vmax)
        if d:
            out.append(f'<path d="{d}" fill="none" stroke="{escape(color)}" stroke-width="1.6">'
                       f'<title>{escape(label)}</title></path>')
    for i, (label, _values, color) in enumerate(series):
        x = left + (pw / 2) * (i % 2)
        y = top + ph + 32 + 16 * (i // 2)
        short = label if len(label) <= 44 else label[:43] + "\u2026"
        out.append(f'<rect x="{x:.1f}" y="{y - 8}" width="9" height="9" fill="{escape(color)}"/>'
                   f'<text x="{x + 13:.1f}" y="{y}" class="axis legend">{escape(short)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def scatter(points: Sequence[tuple[int, float, str, bool]], *, from_ns: int, to_ns: int, title: str,
            w: int = 1300, h: int = 170) -> Markup:
    """Duration (ms, y, log scale) against start time (x); each dot links to ``href``."""
    left, right, top, bottom = 56, 10, 20, 18
    pw, ph = w - left - right, h - top - bottom
    ys = [p[1] for p in points if p[1] > 0]
    lo = 10 ** math.floor(math.log10(min(ys))) if ys else 1.0
    hi = 10 ** math.ceil(math.log10(max(ys))) if ys else 10.0
    hi = max(hi, lo * 10)
    span = max(1, to_ns - from_ns)
    out = [f'<svg class="chart" viewBox="0 0 {w} {h}" preserveAspectRatio="xMinYMin meet" role="img">',
           f'<text x="{left}" y="13" class="chart-title">{escape(title)}</text>']
    decades = int(round(math.log10(hi / lo)))
    for i in range(decades + 1):
        v = lo * 10**i
        y = top + ph - ph * i / max(1, decades)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">{escape(_fmt(v))} ms</text>')
    for start, ms, href, err in points:
        x = left + pw * min(1.0, max(0.0, (start - from_ns) / span))
        y = top + ph - ph * (math.log10(max(ms, lo) / lo) / math.log10(hi / lo))
        cls = "dot err" if err else "dot"
        out.append(f'<a href="{escape(href)}"><circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" class="{cls}">'
                   f'<title>{escape(f"{ms:,.1f} ms")}</title></circle></a>')
    out.append("</svg>")
    return Markup("".join(out))


__all__ = ["line_chart", "scatter", "sparkline"]
