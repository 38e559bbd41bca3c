"""Rich terminal output of the demo CLI: load summaries, the catalog, scenario progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infersight.demo._config import DEFAULT_DATA_DIR
from infersight.demo._faults import FAULTS
from infersight.demo._load import LoadSummary
from infersight.demo._scenario import SCENARIOS, RunResult, run_scenario
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def print_summary(s: LoadSummary, title: str = "load summary") -> None:
    t = Table(title=title)
    for col in ("kind", "requests", "ok", "p50 ms", "p90 ms", "p99 ms", "max ms"):
        t.add_column(col, justify="right" if col != "kind" else "left")
    rows: list[tuple[str, dict[str, Any]]] = [(k, v) for k, v in s.by_kind.items()]
    for kind, v in rows:
        lat = v["latency_ms"]
        t.add_row(kind, str(v["requests"]), str(v["ok"]), _ms(lat["p50"]), _ms(lat["p90"]), _ms(lat["p99"]),
                  _ms(lat["max"]))
    lat = s.latency_ms
    t.add_row("[b]all[/b]", str(s.requests), str(s.ok), _ms(lat["p50"]), _ms(lat["p90"]), _ms(lat["p99"]),
              _ms(lat["max"]))
    console.print(t)
    if s.errors:
        console.print(f"errors: {s.errors}")
    console.print(f"achieved {s.achieved_rps:.1f} ok req/s (target {s.target_rate:g}"
                  f"{'' if s.ramp_to is None else f' -> {s.ramp_to:g}'}); stream TTFT p50 "
                  f"{_ms(s.ttft_ms['p50'])} ms, p99 {_ms(s.ttft_ms['p99'])} ms")


def print_catalog() -> None:
    # two columns, names whole at any width (at 80 columns a five-column table split them
    # mid-word); the details wrap at word boundaries
    t = Table(title="infersight demo scenarios", show_lines=True)
    t.add_column("scenario", no_wrap=True)
    t.add_column("fault -> finding category (component), what it does", ratio=1)
    for sc in SCENARIOS.values():
        if not sc.faults:
            t.add_row(sc.name, sc.description)
        for f in sc.faults:
            fault = FAULTS[f]
            gpu = " [GPU only]" if fault.needs_gpu else ""
            t.add_row(sc.name, f"{f} -> {fault.category} ({fault.component})\n{fault.description}{gpu}")
    console.print(t)


def run_with_progress(name: str, out: Path, *, duration: float, rate: float | None = None,
                      whole_run: bool = False, window: tuple[float, float] | None = None,
                      data_dir: Path = DEFAULT_DATA_DIR, label: str | None = None) -> RunResult:
    """Run scenario ``name`` with a progress bar and print its load summary, both titled
    ``label`` (default: the scenario's name)."""
    label = label or name
    with Progress(TextColumn("[b]{task.fields[scenario]}[/b]"), BarColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("run", total=duration, scenario=label, info="starting")

        def status(text: str) -> None:
            bar.update(task, info=text)

        def progress(elapsed: float, sent: int, done: int) -> None:
            bar.update(task, completed=min(elapsed, duration), info=f"load: sent {sent}, done {done}")

        result = run_scenario(name, out, duration=duration, rate=rate, whole_run=whole_run, window=window,
                              data_dir=data_dir,
                              status=status, progress=progress)
        bar.update(task, completed=duration, info=f"done: {out}")
    print_summary(result.summary, title=f"{label}: client-side latency (open loop)")
    return result


__all__ = ["console", "print_catalog", "print_summary", "run_with_progress"]
