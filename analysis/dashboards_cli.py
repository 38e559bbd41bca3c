"""``infersight dashboards``: preview the Grafana boards as PNGs from a live Prometheus."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from infersight.analysis._errors import AnalysisError, UsageError

dashboards_app = typer.Typer(help="Preview the infersight Grafana dashboards without Grafana.",
                             no_args_is_help=True, add_completion=False)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> float:
    try:
        return float(text[:-1]) * _UNITS[text[-1]] if text[-1] in _UNITS else float(text)
    except (ValueError, IndexError):
        raise UsageError(f"bad duration {text!r}: use e.g. 90s, 30m, 2h") from None


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

    try:
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
            end, range_s, step_s = time.time(), _seconds(range_), _seconds(step)
            data = fetch_panels(client, boards, end=end, range_s=range_s, step_s=step_s,
                                scrape_s=_seconds(scrape_interval), variables=variables, only=only or None)
            marks = fetch_annotations(client, boards, end=end, range_s=range_s, step_s=step_s,
                                      scrape_s=_seconds(scrape_interval), variables=variables, only=only or None)
        finally:
            client.close()
        for b in boards:
            if not only or b["uid"] in only:
                path = render_board(b, data, out, marks)
                empty = sum(1 for pd in data if pd.query.board_uid == b["uid"] and not pd.series)
                typer.echo(f"{path}  ({empty} empty queries)" if empty else str(path))
    except AnalysisError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None  # the click shell does not catch typer.Exit


__all__ = ["dashboards_app"]
