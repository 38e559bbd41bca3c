"""``infersight dashboards``: preview the Grafana boards as PNGs from a live Prometheus."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from infersight.analysis._errors import UsageError

from infersight._fail import cli_errors
from infersight._units import parse_duration

dashboards_app = typer.Typer(help="Preview the infersight Grafana dashboards without Grafana.",
                             no_args_is_help=True, add_completion=False)


def _seconds(text: str, option: str) -> float:
    return parse_duration(text, error=UsageError, what=option)


@dashboards_app.callback()
def _main() -> None:
    """Preview the infersight Grafana dashboards without Grafana."""


@dashboards_app.command()
def preview(
    prometheus: Annotated[str, typer.Option(help="Prometheus base URL")] = "http://127.0.0.1:9090",
    out: Annotated[Path, typer.Option(help="folder for the PNGs")] = Path("dashboard-previews"),
    board: Annotated[list[str] | None, typer.Option(help="board uid (repeatable); default: all")] = None,
    range_: Annotated[str, typer.Option("--range", help="time range ending now, e.g. 30m")] = "30m",
    step: Annotated[str, typer.Option(help="query resolution")] = "15s",
    scrape_interval: Annotated[str, typer.Option(help="Prometheus scrape interval (for $__rate_interval)")] = "15s",
    var: Annotated[list[str] | None, typer.Option(help="template variable NAME=VALUE (repeatable)")] = None,
    dashboards: Annotated[Path | None, typer.Option(help="folder with the dashboard JSON")] = None,
) -> None:
    """Render each board's panels from live Prometheus data into OUT/<uid>.png."""
    from infersight.analysis._preview import PrometheusClient, fetch_annotations, fetch_panels, load_boards
    from infersight.analysis._preview_render import render_board

    with cli_errors("dashboards"):
        variables = {}
        for item in var or []:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise UsageError(f"--var wants NAME=VALUE, got {item!r}")
            variables[name] = value
        boards = load_boards(dashboards)
        only = set(board or [])
        client = PrometheusClient(prometheus)
        try:
            end, range_s, step_s = time.time(), _seconds(range_, "--range"), _seconds(step, "--step")
            scrape_s = _seconds(scrape_interval, "--scrape-interval")
            data = fetch_panels(client, boards, end=end, range_s=range_s, step_s=step_s,
                                scrape_s=scrape_s, variables=variables, only=only or None)
            marks = fetch_annotations(client, boards, end=end, range_s=range_s, step_s=step_s,
                                      scrape_s=scrape_s, variables=variables, only=only or None)
        finally:
            client.close()
        for b in boards:
            if not only or b["uid"] in only:
                path = render_board(b, data, out, marks)
                empty = sum(1 for pd in data if pd.query.board_uid == b["uid"] and not pd.series)
                typer.echo(f"{path}  ({empty} empty queries)" if empty else str(path))


__all__ = ["dashboards_app"]
