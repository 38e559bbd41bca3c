"""Small helpers over grafana-foundation-sdk so each board file reads as a list of panels.

Every panel queries the ``${datasource}`` variable; every selector carries the job/instance
variables (``SEL``), HTTP panels also the route (``RSEL``), GPU panels the gpu (``GSEL``).
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import prometheus as pb
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
SEL = 'job=~"$job", instance=~"$instance"'
RSEL = SEL + ', http_route=~"$route"'
GSEL = SEL + ', gpu=~"$gpu"'
RATE = "$__rate_interval"

# Links from panels to the findings of `infersight diagnose` for the same time window: the
# collector's web UI runs it on its live data (/ui/findings takes Grafana's epoch-ms bounds).
REPORT_LINK_TITLE = "infersight findings for this time range"
REPORT_LINK_URL = "${report_url}?from=${__from}&to=${__to}"
REPORT_URL_DEFAULT = "http://127.0.0.1:4318/ui/findings"


def query(expr: str, legend: str = "", *, ref: str = "A", exemplar: bool = False,
          instant: bool = False, fmt: str | None = None) -> pb.Dataquery:
    q = pb.Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    if exemplar:
        q = q.exemplar(True)
    if instant:
        q = q.instant()
    if fmt == "heatmap":
        q = q.format(PromQueryFormat.HEATMAP)
    elif fmt == "table":
        q = q.format(PromQueryFormat.TABLE)
    return q


def _targets(panel: Any, queries: list[tuple[str, str]] | list[pb.Dataquery], **kw: Any) -> Any:
    for i, q in enumerate(queries):
        if isinstance(q, tuple):
            q = query(q[0], q[1], ref=chr(ord("A") + i), **kw)
        panel = panel.with_target(q)
    return panel


def _common(panel: Any, title: str, description: str, unit: str, w: int, h: int,
            report_link: bool) -> Any:
    panel = panel.title(title).description(description).datasource(DS).span(w).height(h)
    if unit:
        panel = panel.unit(unit)
    if report_link:
        panel = panel.data_links([db.DashboardLink(REPORT_LINK_TITLE).url(REPORT_LINK_URL)
                                  .target_blank(True)])
    return panel


def ts(title: str, queries: list[tuple[str, str]] | list[pb.Dataquery], *, unit: str = "",
       description: str = "", w: int = 12, h: int = 8, exemplar: bool = False,
       report_link: bool = False, stack: bool = False, bars: bool = False) -> timeseries.Panel:
    """A time series panel; ``exemplar=True`` asks Prometheus for trace exemplars."""
    p = _common(timeseries.Panel(), title, description, unit, w, h, report_link)
    p = _targets(p, queries, exemplar=exemplar)
    p = p.fill_opacity(15 if stack else 5).line_width(1)
    if stack:
        from grafana_foundation_sdk.builders.common import StackingConfig
        from grafana_foundation_sdk.models.common import StackingMode

        p = p.stacking(StackingConfig().mode(StackingMode.NORMAL))
    if bars:
        from grafana_foundation_sdk.models.common import GraphDrawStyle

        p = p.draw_style(GraphDrawStyle.BARS)
    return p


def stat_tile(title: str, expr: str, *, unit: str = "", description: str = "", w: int = 6,
              h: int = 4, thresholds: list[tuple[float | None, str]] | None = None,
              report_link: bool = False) -> stat.Panel:
    """A single-number tile (instant query) with optional colour thresholds."""
    p = _common(stat.Panel(), title, description, unit, w, h, report_link)
    p = p.with_target(query(expr, title, instant=True))
    if thresholds:
        steps = [dm.Threshold(value=v, color=c) for v, c in thresholds]
        p = p.thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps))
    return p


def heat(title: str, expr: str, *, unit: str = "s", description: str = "", w: int = 12,
         h: int = 8) -> heatmap.Panel:
    """A heatmap of a Prometheus histogram's bucket rates (``format=heatmap``)."""
    p = _common(heatmap.Panel(), title, description, "", w, h, False)
    p = p.with_target(query(expr, "{{le}}", fmt="heatmap"))
    p = p.y_axis(heatmap.YAxisConfig().unit(unit))
    return p


def state_timeline(title: str, queries: list[tuple[str, str]], *, description: str = "",
                   w: int = 24, h: int = 6) -> statetimeline.Panel:
    p = _common(statetimeline.Panel(), title, description, "", w, h, False)
    return _targets(p, queries)


def info_table(title: str, expr: str, *, description: str = "", w: int = 24, h: int = 5) -> table.Panel:
    p = _common(table.Panel(), title, description, "", w, h, False)
    return p.with_target(query(expr, "", instant=True, fmt="table"))


def row(title: str) -> db.Row:
    return db.Row(title)


def variables(*, route: bool = False, gpu_metric: str | None = None) -> list[Any]:
    """${datasource}, job, instance (+ route, gpu) template variables."""
    refresh = dm.VariableRefresh.ON_TIME_RANGE_CHANGED
    out: list[Any] = [
        db.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        db.QueryVariable("job").label("Job").datasource(DS).query("label_values(up, job)")
        .multi(True).include_all(True).all_value(".*").refresh(refresh),
        db.QueryVariable("instance").label("Instance").datasource(DS)
        .query('label_values(up{job=~"$job"}, instance)')
        .multi(True).include_all(True).all_value(".*").refresh(refresh),
    ]
    if route:
        out.append(db.QueryVariable("route").label("Route").datasource(DS)
                   .query('label_values(http_server_request_duration_seconds_count{job=~"$job"}, http_route)')
                   .multi(True).include_all(True).all_value(".*").refresh(refresh))
    if gpu_metric:
        out.append(db.QueryVariable("gpu").label("GPU").datasource(DS)
                   .query(f'label_values({gpu_metric}{{job=~"$job"}}, gpu)')
                   .multi(True).include_all(True).all_value(".*").refresh(refresh))
    out.append(db.TextBoxVariable("report_url").label("Findings URL (the collector's /ui/findings)")
               .default_value(REPORT_URL_DEFAULT))
    return out


def series_unit(panel: Any, ref: str, unit: str, *, label: str = "", bars: bool = False) -> Any:
    """Give query ``ref``'s series their own unit on a right-hand axis (a field override), so a
    panel can show seconds next to a share or a count without mislabelling either."""
    props = [dm.DynamicConfigValue(id_val="unit", value=unit),
             dm.DynamicConfigValue(id_val="custom.axisPlacement", value="right")]
    if label:
        props.append(dm.DynamicConfigValue(id_val="custom.axisLabel", value=label))
    if bars:
        props += [dm.DynamicConfigValue(id_val="custom.drawStyle", value="bars"),
                  dm.DynamicConfigValue(id_val="custom.fillOpacity", value=40)]
    return panel.override_by_query(ref, props)


def board(uid: str, title: str, description: str, tags: list[str]) -> db.Dashboard:
    links: list[Any] = [db.DashboardLink("infersight boards").type(dm.DashboardLinkType.DASHBOARDS)
             .tags(["infersight"]).as_dropdown(True).include_vars(True).keep_time(True)]
    return (db.Dashboard(title).uid(uid).description(description).tags(["infersight", *tags])
            .refresh("10s").time("now-30m", "now").timezone("browser").editable()
            .tooltip(dm.DashboardCursorSync.CROSSHAIR).links(links))


def annotation(name: str, expr: str, color: str) -> db.AnnotationQuery:
    """A Prometheus annotation: every step where ``expr`` has a sample becomes a marker."""
    return db.AnnotationQuery().name(name).datasource(DS).enable(True).icon_color(color).expr(expr)
