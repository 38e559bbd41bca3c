"""``infersight demo incident``: the make-demo story, end to end.

1. the incident: collector + demo server with ``full_sync`` on + load (a few minutes at most);
2. the diagnosis: ``infersight diagnose --db <run>/telemetry.duckdb`` (or a clear note that the
   analysis part is not installed/available yet — never a pretend answer);
3. the fix: the same load against ``incremental_sync`` (the clean configuration);
4. P99 before/after, from the client and from the toolkit's own telemetry.
Every child process is stopped by PID in ``finally`` blocks, also on Ctrl-C.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from infersight.demo._config import DEFAULT_DATA_DIR
from infersight.demo._measure import measure_window, open_db
from infersight.demo._report import console, run_with_progress
from infersight.demo._scenario import SERVICE_NAME, RunResult
from rich.panel import Panel
from rich.table import Table

STORY = ("A fintech model server's P99 went from ~200 ms to ~2 s at peak. Below, the demo server runs "
         "under open-loop load, healthy at first; then the scheduled payments job starts pulling the whole "
         "500k-row table every 10 s (full_sync); infersight collects its telemetry into DuckDB and diagnoses it; then the fix "
         "(incremental sync by timestamp + an LRU) runs under the same load.")


_MISSING = ("is not available in this build", "needs the [analysis] extra", "No such command")


def diagnose(db: Path) -> str | None:
    """Run ``infersight diagnose`` on ``db`` (a subprocess: the demo never imports the analysis
    part), streaming its output; None, with a clear note, when that command is not available."""
    argv = [sys.executable, "-m", "infersight.cli", "diagnose", "--db", str(db)]
    console.print(f"[b]$ infersight diagnose --db {db}[/b]")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and any(m in proc.stderr for m in _MISSING):
        console.print(Panel("diagnosis not available yet: 'infersight diagnose' (the analysis part) is not "
                            f"available in this build. The telemetry is in {db}", style="yellow"))
        return None
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        console.print(f"[red]infersight diagnose exited with {proc.returncode}[/red]\n{proc.stderr[-2000:]}")
    return proc.stdout


def _server_side(result: RunResult) -> dict[str, Any]:
    """Server-side numbers over the fault's window (the whole run when no fault was on)."""
    faults = result.labels.get("faults") or []
    start = faults[0]["start"] if faults else result.labels["started_at"]
    con = open_db(result.out / "telemetry.duckdb")
    try:
        return measure_window(con, SERVICE_NAME, start, result.labels["ended_at"])
    finally:
        con.close()


def _fmt(v: Any, scale: float = 1.0, unit: str = "") -> str:
    return "-" if v is None else f"{v * scale:,.0f}{unit}"


#: what the two runs are called everywhere the demo prints them (progress bars, the load
#: summaries, the before/after table): the fix run is the `clean` scenario, and used to be shown
#: as "clean" in one table and "incremental_sync" in the other
INCIDENT_LABEL = "full_sync (incident)"
FIX_LABEL = "incremental_sync (fix)"


def before_after(before: RunResult, after: RunResult) -> Table:
    b, a = _server_side(before), _server_side(after)
    t = Table(title="P99 before/after the fix (same open-loop load)")
    t.add_column("measure")
    t.add_column(INCIDENT_LABEL, justify="right")
    t.add_column(FIX_LABEL, justify="right")
    rows = [
        ("client P50 (ms)", _fmt(before.summary.latency_ms["p50"]), _fmt(after.summary.latency_ms["p50"])),
        ("client P99 (ms)", _fmt(before.summary.latency_ms["p99"]), _fmt(after.summary.latency_ms["p99"])),
        ("server P99, chat route (ms)", _fmt(b["request_latency"]["p99_s"], 1e3),
         _fmt(a["request_latency"]["p99_s"], 1e3)),
        ("gen-2 GC pauses >5 ms (count)", str(b["gc_gen2"]["pauses"]), str(a["gc_gen2"]["pauses"])),
        ("gen-2 GC pause total (ms)", _fmt(b["gc_gen2"]["pause_s"], 1e3), _fmt(a["gc_gen2"]["pause_s"], 1e3)),
        ("pool wait P90 (ms)", _fmt(b["pool_wait"]["p90_s"], 1e3), _fmt(a["pool_wait"]["p90_s"], 1e3)),
        ("pool timeouts", str(b["pool_wait"]["timeouts"]), str(a["pool_wait"]["timeouts"])),
        ("sync job runs / max rows",
         f"{b['job.payments_full_sync']['runs']} / {_fmt(b['job.payments_full_sync']['max_rows'])}",
         f"{a['job.payments_incremental_sync']['runs']} / {_fmt(a['job.payments_incremental_sync']['max_rows'])}"),
        ("requests ok / sent", f"{before.summary.ok} / {before.summary.requests}",
         f"{after.summary.ok} / {after.summary.requests}"),
    ]
    for r in rows:
        t.add_row(*r)
    return t


#: the incident run: healthy (incremental sync) first - the baseline the diagnosis compares with -
#: then the job switches to pulling the whole table ("at peak") until the end
INCIDENT_WINDOW = (0.4, 1.0)


def run_incident(out: Path, *, duration: float = 75.0, data_dir: Path = DEFAULT_DATA_DIR) -> int:
    console.rule("[b]infersight demo: the reference incident[/b]")
    console.print(STORY)
    before = run_with_progress("full_sync", out / "full_sync", duration=duration, window=INCIDENT_WINDOW,
                               data_dir=data_dir, label=INCIDENT_LABEL)
    console.rule("[b]diagnosis[/b]")
    diagnose(before.out / "telemetry.duckdb")
    console.rule("[b]the fix: incremental sync by timestamp + LRU[/b]")
    after = run_with_progress("clean", out / "incremental_sync", duration=duration, data_dir=data_dir,
                              label=FIX_LABEL)
    table = before_after(before, after)
    console.print(table)
    (out / "before_after.json").write_text(json.dumps(
        {"before": _server_side(before), "after": _server_side(after),
         "client_p99_ms": {"before": before.summary.latency_ms["p99"], "after": after.summary.latency_ms["p99"]}},
        indent=2, default=str))
    console.print(f"runs, labels and telemetry: {out}/  (open them with infersight.collectors.reader.open_readonly)")
    return 0


__all__ = ["FIX_LABEL", "INCIDENT_LABEL", "before_after", "diagnose", "run_incident"]
