"""``infersight diagnose``: run the detectors over a telemetry source and show what they find.

Exit codes (the map of :mod:`infersight._errors`): 0 ran (findings or not), 1 no data in the
source/window, 2 bad input (unreadable, foreign or newer database, bad arguments). Errors are one
line on stderr, ``infersight diagnose: error: ...``, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from infersight.analysis._term import text
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from infersight.analysis._diagnose import Diagnosis

from infersight._fail import fail

diagnose_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Name the root cause of latency/cost problems in a telemetry DB.")

_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}


@diagnose_app.command()
def diagnose(
    db: Annotated[str, typer.Option("--db", help="DuckDB file, Parquet directory or collector URL.")],
    since: Annotated[str | None, typer.Option(help="Start: a duration back from the newest data "
                                                   "(30m, 1h) or an ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="End: a duration back from the newest data or an ISO time.")] = None,
    route: Annotated[str | None, typer.Option(help="Only requests of this http.route.")] = None,
    baseline: Annotated[str | None, typer.Option(help="Compare with this stretch of time, START..END (ISO times "
                                                      "or durations back from the newest data); default: the "
                                                      "same length of time before the change the data shows.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON on stdout.")] = False,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report.")] = None,
    top: Annotated[int, typer.Option(help="Show at most this many findings in the table.")] = 10,
    token: Annotated[str | None, typer.Option(envvar="INFERSIGHT_TOKEN", show_envvar=False,
                                              help="Bearer token of a running collector (--db URL or a "
                                                   "DB it holds); default $INFERSIGHT_TOKEN.")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Run every detector over the telemetry in --db and rank the root causes found."""
    err = Console(stderr=True)
    logging.basicConfig(level=logging.DEBUG if debug else logging.ERROR)
    try:
        from infersight.analysis._diagnose import diagnose as run
        from infersight.analysis._telemetry import connect
    except ImportError as exc:  # pragma: no cover - the lazy CLI shell already checks the extra
        raise fail("diagnose", exc, code=2) from None
    try:
        with err.status("opening telemetry", spinner="dots") as status:
            tel = connect(db, since=since, until=until, route=route, baseline=baseline, token=token)
            try:
                result = run(tel, progress=lambda m: status.update(text(m)))
                if html_out is not None:
                    status.update("writing HTML report")
                    from infersight.analysis._report_html import render

                    html_out.write_text(render(result), encoding="utf-8")
            finally:
                tel.close()
    except Exception as exc:  # one line in the format every subcommand uses; --debug: the traceback
        if debug:
            raise
        raise fail("diagnose", exc) from None
    for name, msg in result.errors.items():
        err.print(Text.assemble(("warning:", "yellow"), " ", text(f"detector {name} failed: {msg}")), highlight=False)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_table(Console(), result, top)
    if html_out is not None:
        err.print(text(f"report written to {html_out}"), highlight=False)


def _print_table(console: Console, result: object, top: int) -> None:
    from infersight.analysis._diagnose import Diagnosis

    assert isinstance(result, Diagnosis)
    inc = result.incident
    console.print(text(f"{result.requests} requests ({result.route or 'all routes'}); latency from "
                       f"{result.latency_source}"), highlight=False)
    if result.client_p99_ms is not None and result.server_p99_ms is not None:
        console.print(text(f"client-seen P99 {result.client_p99_ms:.0f} ms, server-span P99 "
                           f"{result.server_p99_ms:.0f} ms"), highlight=False)
    if result.probe:
        b, i = result.probe["baseline"], result.probe["incident"]
        console.print(text(f"prober-seen P99 {b['p99_ms']:.0f} -> {i['p99_ms']:.0f} ms ({i['requests']} probes, "
                           f"{i['failures']} failed)"), highlight=False)
    if inc is None or not inc.found:
        console.print(text(f"No incident found: {inc.reason if inc else 'no requests'}. Nothing to explain "
                           "(a finding is a change against a baseline)."), highlight=False)
        if not result.findings:
            return
        console.print(text(f"{len(result.findings)} low-confidence lead(s) on the weaker change seen:"), style="dim")
    if inc is None:  # no requests to compare, yet findings (GPU, jobs): show them without an incident
        _print_findings(console, result, top)
        return
    d = inc.to_dict()
    console.print(text(f"Incident from {d['onset']} to {d['end']}: {inc.reason}"), highlight=False)
    console.print(text(f"baseline {d['baseline']['start']} .. {d['baseline']['end']} ({inc.baseline_source}); "
                       f"scan p = {inc.scan_p_value:.2g}"), highlight=False)
    if not result.findings:
        console.print("No finding explains the change with enough evidence.", highlight=False)
        return
    _print_findings(console, result, top)


def _print_findings(console: Console, result: Diagnosis, top: int) -> None:
    table = Table(title="Root causes, ranked by impact x confidence")
    # names stay whole at 80 columns (they used to split mid-word: pool_saturati/on); each
    # finding's sentence follows the table, numbered, wrapped at word boundaries
    for col in ("#", "category", "confidence", "P99 excess"):
        table.add_column(col, no_wrap=True)
    table.add_column("root cause", overflow="fold")
    for i, f in enumerate(result.findings[:top], 1):
        # every cell is a Text: telemetry names are shown as they are, never parsed as markup
        table.add_row(str(i), text(f.category), text(f"{f.level} {f.confidence:.2f}", _STYLE[f.level]),
                      f"{f.excess_share:.0%}", text(f.root_cause.entity))
    console.print(table)
    for i, f in enumerate(result.findings[:top], 1):
        console.print(text(f"{i}. {f.title}"), highlight=False)
    best = result.findings[0]
    if best.chain:
        console.print(text("chain: " + " -> ".join(best.chain)), highlight=False)
    if best.exemplars():
        console.print(text("exemplar traces: " + ", ".join(best.exemplars()[:3])), highlight=False)
    for r in best.remediation:
        console.print(text(f"fix: {r}"), highlight=False)


__all__ = ["diagnose_app"]
