"""Run the generated Grafana dashboards' PromQL against a live Prometheus.

Reads the dashboard JSON that ``dashboards/build.py`` writes, substitutes the Grafana
variables the way Grafana would for one time range, and asks Prometheus' HTTP API for each
panel's data. :mod:`infersight.analysis._preview_render` draws the result with matplotlib.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from infersight.analysis._errors import NoDataError, SourceError, UsageError

logger = logging.getLogger(__name__)

DEFAULT_BOARDS_DIR = Path(__file__).resolve().parents[1] / "dashboards" / "grafana"
RANGE_PANELS = {"timeseries", "heatmap", "state-timeline"}
INSTANT_PANELS = {"stat", "table"}


@dataclass(frozen=True)
class PanelQuery:
    board_uid: str
    panel_title: str
    panel_type: str
    ref: str
    expr: str
    legend: str = ""
    unit: str = ""
    right_axis: bool = False  # a field override puts this query's series on a right-hand axis

    @property
    def instant(self) -> bool:
        return self.panel_type in INSTANT_PANELS


@dataclass
class Series:
    labels: dict[str, str]
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def finite(self) -> bool:
        return any(math.isfinite(v) for v in self.values)


@dataclass
class PanelData:
    query: PanelQuery
    result_type: str
    series: list[Series]

    def has_finite_value(self) -> bool:
        return any(s.finite() for s in self.series)


@dataclass
class AnnotationData:
    """Times at which a board's annotation query held (Grafana draws a marker at each)."""

    board_uid: str
    name: str
    color: str
    times: list[float]


def load_boards(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every ``*.json`` dashboard in ``directory`` (default: the repository's dashboards/grafana)."""
    directory = directory or DEFAULT_BOARDS_DIR
    if not directory.is_dir():
        raise UsageError(f"no dashboards folder at {directory} (pass --dashboards DIR)")
    boards = []
    for path in sorted(directory.glob("*.json")):
        try:
            board = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(board, dict) or "uid" not in board or "panels" not in board:
            raise UsageError(f"{path} is not a Grafana dashboard (no uid/panels)")
        boards.append(board)
    if not boards:
        raise UsageError(f"no dashboards (*.json) in {directory}")
    return boards


def panel_queries(board: Mapping[str, Any]) -> Iterator[PanelQuery]:
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            continue
        unit = str(panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""))
        by_ref: dict[str, dict[str, Any]] = {}  # field overrides matched by query (byFrameRefID)
        for ov in panel.get("fieldConfig", {}).get("overrides", []):
            if ov.get("matcher", {}).get("id") == "byFrameRefID":
                props = {p.get("id"): p.get("value") for p in ov.get("properties", [])}
                by_ref.setdefault(str(ov["matcher"].get("options")), {}).update(props)
        for t in panel.get("targets", []):
            if t.get("expr"):
                ref = str(t.get("refId", "A"))
                props = by_ref.get(ref, {})
                yield PanelQuery(str(board["uid"]), str(panel.get("title", "")), str(panel.get("type")),
                                 ref, str(t["expr"]), str(t.get("legendFormat", "")),
                                 str(props.get("unit", unit)), props.get("custom.axisPlacement") == "right")


def _duration(seconds: float) -> str:
    return f"{max(1, int(round(seconds)))}s"


def substitute(expr: str, *, range_s: float, step_s: float, scrape_s: float = 15.0,
               variables: Mapping[str, str] | None = None) -> str:
    """Replace Grafana's variables as Grafana does for a dashboard over ``range_s`` seconds.

    ``$__rate_interval`` = max(step + scrape interval, 4 x scrape interval); template variables
    not given default to ``.*`` (the "All" value of every multi-value variable).
    """
    builtins = {
        "__rate_interval": _duration(max(step_s + scrape_s, 4 * scrape_s)),
        "__interval": _duration(step_s),
        "__range": _duration(range_s),
        "__range_s": str(int(range_s)),
    }
    given = dict(variables or {})

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in builtins:
            return builtins[name]
        return given.get(name, ".*")

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


class PrometheusClient:
    """The two HTTP API calls the preview needs; every failure becomes a clear SourceError."""

    def __init__(self, base_url: str, *, client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        try:
            resp = self._client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach Prometheus at {self.base_url}: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            raise SourceError(f"{url} answered HTTP {resp.status_code} without JSON: is this Prometheus?") from None
        if body.get("status") != "success":
            raise SourceError(f"Prometheus rejected {params.get('query')!r}: "
                              f"{body.get('errorType')}: {body.get('error')}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise SourceError(f"{url}: unexpected answer {body!r:.200}")
        return data

    def query(self, expr: str, at: float) -> tuple[str, list[Series]]:
        data = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        return data.get("resultType", ""), _parse(data)

    def query_range(self, expr: str, start: float, end: float, step: float) -> tuple[str, list[Series]]:
        data = self._get("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}",
                                                 "end": f"{end:.3f}", "step": f"{step:g}"})
        return data.get("resultType", ""), _parse(data)


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise SourceError(f"Prometheus returned a non-numeric sample value {v!r}") from None


def _parse(data: Mapping[str, Any]) -> list[Series]:
    kind, result = data.get("resultType"), data.get("result")
    out: list[Series] = []
    if kind == "scalar" and isinstance(result, list):
        return [Series({}, [float(result[0])], [_float(result[1])])]
    for item in result or []:
        s = Series(dict(item.get("metric", {})))
        points = item.get("values") if kind == "matrix" else [item.get("value")]
        for t, v in points or []:
            s.times.append(float(t))
            s.values.append(_float(v))
        out.append(s)
    return out


def fetch_panels(client: PrometheusClient, boards: list[dict[str, Any]], *, end: float, range_s: float,
                 step_s: float, scrape_s: float = 15.0, variables: Mapping[str, str] | None = None,
                 only: set[str] | None = None) -> list[PanelData]:
    """Every panel query of ``boards`` (or of the uids in ``only``) evaluated over the range."""
    out: list[PanelData] = []
    chosen = [b for b in boards if not only or b["uid"] in only]
    if only and not chosen:
        raise UsageError(f"no dashboard with uid {sorted(only)}; have {[b['uid'] for b in boards]}")
    for board in chosen:
        for q in panel_queries(board):
            expr = substitute(q.expr, range_s=range_s, step_s=step_s, scrape_s=scrape_s, variables=variables)
            if q.instant:
                kind, series = client.query(expr, end)
            else:
                kind, series = client.query_range(expr, end - range_s, end, step_s)
            out.append(PanelData(q, kind, series))
    if out and not any(p.series for p in out):
        raise NoDataError("every panel query came back empty: is Prometheus scraping an "
                          "infersight-instrumented server (check its targets page)?")
    return out


def fetch_annotations(client: PrometheusClient, boards: list[dict[str, Any]], *, end: float, range_s: float,
                      step_s: float, scrape_s: float = 15.0, variables: Mapping[str, str] | None = None,
                      only: set[str] | None = None) -> list[AnnotationData]:
    """Evaluate every enabled Prometheus annotation of ``boards`` over the range."""
    out: list[AnnotationData] = []
    for board in boards:
        if only and board["uid"] not in only:
            continue
        for ann in board.get("annotations", {}).get("list", []):
            if not ann.get("expr") or not ann.get("enable", True):
                continue
            expr = substitute(str(ann["expr"]), range_s=range_s, step_s=step_s, scrape_s=scrape_s,
                              variables=variables)
            _kind, series = client.query_range(expr, end - range_s, end, step_s)
            times = sorted({t for s in series for t, v in zip(s.times, s.values, strict=False) if math.isfinite(v)})
            out.append(AnnotationData(str(board["uid"]), str(ann.get("name", "")),
                                      str(ann.get("iconColor", "red")), times))
    return out


__all__ = ["AnnotationData", "PanelData", "PanelQuery", "PrometheusClient", "Series", "fetch_annotations", "fetch_panels", "load_boards",
           "panel_queries", "substitute"]
