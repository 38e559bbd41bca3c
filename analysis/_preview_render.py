"""Draw dashboard panels as PNGs with matplotlib, laid out like Grafana's 24-column grid.

One PNG per board (``<uid>.png``): time series as lines, heatmaps as bucket-count images,
state timelines as bars where the state is non-zero, stats as big numbers, tables as text.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib
from infersight.analysis._preview import AnnotationData, PanelData, Series
from infersight.analysis._term import PLAIN_TEXT_RC
from matplotlib.axes import Axes
from matplotlib.dates import DateFormatter, date2num
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

ROW_UNIT_IN = 0.32  # inches per Grafana grid row
WIDTH_IN = 20.0


def legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt or fmt == "__auto":
        inner = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
        return inner or labels.get("__name__", "value")
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def fmt_value(v: float, unit: str) -> str:
    if not math.isfinite(v):
        return "n/a"
    if unit == "percentunit":
        return f"{v * 100:.3g} %"
    if unit == "s":
        return f"{v * 1000:.3g} ms" if abs(v) < 1 else f"{v:.3g} s"
    if unit == "bytes":
        for u in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(v) < 1024 or u == "TiB":
                return f"{v:.3g} {u}"
            v /= 1024
    if unit == "hertz":
        return f"{v / 1e6:.4g} MHz"
    if unit == "currencyUSD":
        return f"${v:.4g}"
    suffix = {"watt": " W", "joule": " J", "reqps": " req/s", "ops": "/s"}.get(unit, "")
    return f"{_si(v)}{suffix}"


def _times(s: Series) -> list[float]:
    return [float(date2num(datetime.fromtimestamp(t, tz=timezone.utc))) for t in s.times]


def _si(v: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _formatter(unit: str) -> Any:
    return lambda v, _pos: fmt_value(v, unit)


def _draw_timeseries(ax: Axes, items: Sequence[PanelData]) -> None:
    """Lines on the panel's axis; queries a field override moves to the right get one right-hand
    axis per unit (so seconds, a share and a count are each labelled as what they are), its tick
    labels drawn just inside the plot. One colour cycle over all axes."""
    palette = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    axes: dict[tuple[bool, str], Axes] = {}
    handles: list[Any] = []
    for pd in items:
        key = (pd.query.right_axis, pd.query.unit)
        if key not in axes:
            if not pd.query.right_axis:
                target = ax
            else:
                target = ax.twinx()
                extra = sum(1 for right, _ in axes if right)
                target.spines["right"].set_position(("axes", 1.0 - 0.08 * extra))
                target.spines["right"].set_visible(extra == 0)
                # labels inside the plot, in the colour of the axis' first line
                target.tick_params(axis="y", direction="in", pad=-24,
                                   labelcolor=palette[len(handles) % len(palette)])
            target.yaxis.set_major_formatter(_formatter(pd.query.unit))
            target.tick_params(labelsize=6)
            axes[key] = target
        target = axes[key]
        for s in pd.series:
            label = legend(pd.query.legend, s.labels)[:40]
            if pd.query.right_axis:
                label += " (right)"
            handles += target.plot(_times(s), s.values, linewidth=1.2, label=label,
                                   color=palette[len(handles) % len(palette)])
    if not any(not right for right, _ in axes):
        ax.yaxis.set_major_formatter(_formatter(items[0].query.unit if items else ""))
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))
    if 0 < len(handles) <= 8:
        ax.legend(handles=handles, fontsize=6, loc="upper left")


def _le(s: Series) -> float:
    try:
        return float(s.labels.get("le", "inf"))
    except ValueError:
        return math.inf


def _draw_heatmap(ax: Axes, items: Sequence[PanelData]) -> None:
    series = sorted((s for pd in items for s in pd.series), key=_le)
    if not series:
        return
    times = sorted({t for s in series for t in s.times})
    index = {t: i for i, t in enumerate(times)}
    grid = [[0.0] * len(times) for _ in series]
    for row, s in enumerate(series):
        prev = series[row - 1] if row else None
        prev_at = dict(zip(prev.times, prev.values, strict=False)) if prev else {}
        for t, v in zip(s.times, s.values, strict=False):
            # Prometheus buckets are cumulative: a cell is this bucket minus the one below.
            cell = v - prev_at.get(t, 0.0) if math.isfinite(v) else 0.0
            grid[row][index[t]] = max(cell, 0.0)
    ax.imshow(grid, aspect="auto", origin="lower", cmap="magma", interpolation="nearest")
    labels = [s.labels.get("le", "?") for s in series]
    step = max(1, len(labels) // 6)
    ax.set_yticks(range(0, len(labels), step), labels[::step], fontsize=6)
    ax.set_xticks([])


def _draw_state(ax: Axes, items: Sequence[PanelData]) -> None:
    rows = [(legend(pd.query.legend, s.labels), s) for pd in items for s in pd.series]
    for i, (_name, s) in enumerate(rows):
        t = s.times
        spans = [(t[j], (t[j + 1] if j + 1 < len(t) else t[j] + 1) - t[j])
                 for j, v in enumerate(s.values) if math.isfinite(v) and v > 0]
        ax.broken_barh(spans, (i - 0.4, 0.8), color="#FF9830")
        if not spans:
            ax.broken_barh([(t[0], t[-1] - t[0] or 1)] if t else [], (i - 0.4, 0.8), color="#73BF69")
    ax.set_yticks(range(len(rows)), [n[:30] for n, _ in rows], fontsize=6)
    ax.set_xticks([])


def _draw_stat(ax: Axes, items: Sequence[PanelData]) -> None:
    values = [s.values[-1] for pd in items for s in pd.series if s.values]
    text = fmt_value(values[0], items[0].query.unit) if values else "no data"
    ax.text(0.5, 0.45, text, ha="center", va="center", fontsize=20, transform=ax.transAxes)
    ax.set_axis_off()


def _draw_table(ax: Axes, items: Sequence[PanelData]) -> None:
    lines = [", ".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k not in ("__name__", "job", "instance"))
             for pd in items for s in pd.series][:6]
    ax.text(0.01, 0.9, "\n".join(lines) or "no data", va="top", fontsize=7, family="monospace",
            transform=ax.transAxes)
    ax.set_axis_off()


DRAW = {"timeseries": _draw_timeseries, "heatmap": _draw_heatmap, "state-timeline": _draw_state,
        "stat": _draw_stat, "table": _draw_table}


def _spans(times: Sequence[float]) -> list[tuple[float, float]]:
    """Consecutive marker times merged into (start, end) regions, as Grafana shows them."""
    if not times:
        return []
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    step = min(gaps) if gaps else 1.0
    spans = [[times[0], times[0] + step]]
    for t in times[1:]:
        if t - spans[-1][1] <= step * 0.5:
            spans[-1][1] = t + step
        else:
            spans.append([t, t + step])
    return [(a, b) for a, b in spans]


def _draw_annotations(ax: Axes, annotations: Sequence[AnnotationData]) -> None:
    for ann in annotations:
        for i, (a, b) in enumerate(_spans(ann.times)):
            start, end = (float(date2num(datetime.fromtimestamp(t, tz=timezone.utc))) for t in (a, b))
            ax.axvspan(start, end, color=ann.color, alpha=0.18, linewidth=0, label=ann.name if i == 0 else None)


def render_board(board: dict[str, Any], data: Sequence[PanelData], out: Path,
                 annotations: Sequence[AnnotationData] = ()) -> Path:
    """Write ``out/<uid>.png`` with every panel of ``board`` at its grid position; annotation
    markers are drawn as vertical lines on the board's time-series panels, as Grafana does.
    Label values come from telemetry: drawn as plain text, never as mathtext."""
    with matplotlib.rc_context(PLAIN_TEXT_RC):
        return _render_board(board, data, out, annotations)


def _render_board(board: dict[str, Any], data: Sequence[PanelData], out: Path,
                  annotations: Sequence[AnnotationData]) -> Path:
    annotations = [a for a in annotations if a.board_uid == board["uid"]]
    by_panel: dict[str, list[PanelData]] = defaultdict(list)
    for pd in data:
        if pd.query.board_uid == board["uid"]:
            by_panel[pd.query.panel_title].append(pd)
    panels = board.get("panels", [])
    bottom = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=1)
    header, pad, title = 0.6, 0.12, 0.25  # inches
    height = bottom * ROW_UNIT_IN + header
    fig = Figure(figsize=(WIDTH_IN, height), dpi=80)
    fig.suptitle(board.get("title", board["uid"]), fontsize=14, x=0.01, y=1 - 0.1 / height, ha="left", va="top")

    def rect(g: dict[str, int], top_pad: float) -> tuple[float, float, float, float]:
        """Grafana grid cell -> figure fraction (left, bottom, width, height), padded in inches."""
        left_in = g["x"] / 24 * WIDTH_IN + 4 * pad
        width_in = max(g["w"] / 24 * WIDTH_IN - 5 * pad, 0.1)
        top_in = header + g["y"] * ROW_UNIT_IN + top_pad
        height_in = max(g["h"] * ROW_UNIT_IN - top_pad - 2 * pad, 0.1)
        return (left_in / WIDTH_IN, 1 - (top_in + height_in) / height, width_in / WIDTH_IN, height_in / height)

    for p in panels:
        g = p["gridPos"]
        if p.get("type") == "row":
            left, low, _w, h = rect(g, 0)
            fig.text(left, low + h / 2, p.get("title", ""), fontsize=11, weight="bold", va="center")
            continue
        ax = fig.add_axes(rect(g, title))
        ax.set_title(p.get("title", "")[:70], fontsize=8, loc="left")
        ax.tick_params(labelsize=6)
        items = by_panel.get(p.get("title", ""), [])
        drawer = DRAW.get(p.get("type", ""))
        if not items or drawer is None or not any(pd.series for pd in items):
            ax.text(0.5, 0.5, "no data", ha="center", va="center", color="grey", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        if p.get("type") == "timeseries" and annotations:
            _draw_annotations(ax, annotations)
        drawer(ax, items)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{board['uid']}.png"
    fig.savefig(path)
    logger.info("wrote %s", path)
    return path


__all__ = ["fmt_value", "legend", "render_board"]
