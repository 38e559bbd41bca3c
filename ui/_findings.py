"""``/ui/findings``: ``infersight.analysis.diagnose`` on the live data of a chosen time range.

The collector's database is held open for writing, so the analysis cannot open the file; a
run copies the window's rows (plus as much data again before it, for a baseline) to a Parquet
folder with DuckDB's COPY (filters pushed into the scan), opens that folder with the public
``infersight.analysis.connect``, runs ``diagnose`` and renders the same HTML as
``infersight diagnose --html``, with exemplar trace ids linking to ``/ui/trace/<id>``.

Runs happen on one background thread at a time (a page shows "running" and refreshes until the
result is there); finished results are kept for ranges that lie wholly in the past, and for
a minute for ranges that reach the newest data (new spans keep arriving there).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ._time import iso

log = logging.getLogger(__name__)
TRACE_URL = "/ui/trace/{trace_id}"
_TABLES = {"otel_traces": "Timestamp", "otel_logs": "Timestamp", "otel_metrics_gauge": "TimeUnix",
           "otel_metrics_sum": "TimeUnix", "otel_metrics_histogram": "TimeUnix"}
LIVE_TTL_S = 60.0


@dataclass
class Job:
    from_ns: int
    to_ns: int
    live: bool
    state: str = "queued"  # queued | running | done | failed
    step: str = "starting"
    html: str = ""
    message: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def say(self, step: str) -> None:
        self.step = step


def snapshot(con: duckdb.DuckDBPyConnection, folder: Path, lo_ns: int, hi_ns: int) -> dict[str, int]:
    """Copy every otel table's rows with time in [lo, hi) to ``folder/<table>.parquet``."""
    counts: dict[str, int] = {}
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    for table, col in _TABLES.items():
        if table not in present:
            continue
        target = str(folder / f"{table}.parquet").replace("'", "''")
        # identifiers come from _TABLES and the path from mkdtemp; the time bounds are parameters
        row = con.execute(f'COPY (SELECT * FROM "{table}" WHERE "{col}" >= make_timestamp_ns($lo) '
                          f'AND "{col}" < make_timestamp_ns($hi)) TO \'{target}\' (FORMAT parquet)',
                          {"lo": lo_ns, "hi": hi_ns}).fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def run_diagnosis(call: Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any], job: Job, *,
                  source: str = "the collector's live data") -> None:
    """Snapshot, diagnose, render; fills ``job`` (never raises). ``source`` names the data in
    the report (instead of the temporary snapshot folder)."""
    job.state = "running"
    folder = Path(tempfile.mkdtemp(prefix="infersight-findings-"))
    try:
        try:
            from infersight.analysis import AnalysisError, NoDataError, connect, diagnose
            from infersight.analysis._report_html import render
        except ImportError as exc:
            job.state, job.message = "failed", (f"the findings page needs the [analysis] extra ({exc.name} is "
                                                "missing): pip install 'infersight[analysis]'")
            return
        lead = job.to_ns - job.from_ns
        job.say("copying the time range out of the live database")
        counts = call(lambda con: snapshot(con, folder, job.from_ns - lead, job.to_ns))
        if not counts.get("otel_traces"):
            job.state, job.message = "failed", "no spans in this time range"
            return
        job.say("opening the snapshot")
        try:
            tel = connect(str(folder), since=iso(job.from_ns, ms=False), until=iso(job.to_ns, ms=False))
            try:
                result = diagnose(tel, progress=job.say)
                job.say("rendering the report")
                job.html = render(result, trace_url=TRACE_URL).replace(str(folder), source)
                job.findings = result.to_dict()["findings"]
            finally:
                tel.close()
        except NoDataError as exc:
            job.state, job.message = "failed", str(exc).replace(str(folder), "this time range")
            return
        except AnalysisError as exc:
            job.state, job.message = "failed", str(exc).replace(str(folder), "the snapshot")
            return
        job.state = "done"
    except Exception as exc:  # noqa: BLE001 - shown on the page, logged with its traceback
        log.warning("findings for %s..%s failed", iso(job.from_ns), iso(job.to_ns), exc_info=True)
        job.state, job.message = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        job.finished = time.monotonic()
        shutil.rmtree(folder, ignore_errors=True)


class Findings:
    """Starts, queues and remembers diagnosis runs (one at a time, ``keep`` results)."""

    def __init__(self, call: Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any], *, keep: int = 8,
                 clock: Callable[[], float] = time.monotonic, source: str = "the collector's live data") -> None:
        self._call = call
        self._source = source
        self._keep = keep
        self._clock = clock
        self._jobs: OrderedDict[tuple[int, int], Job] = OrderedDict()
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()

    def get(self, from_ns: int, to_ns: int, *, latest_ns: int | None) -> Job:
        key = (from_ns, to_ns)
        with self._lock:
            job = self._jobs.get(key)
            stale = (job is not None and job.live and job.finished is not None
                     and self._clock() - job.finished > LIVE_TTL_S)
            if job is None or stale or job.state == "failed" and job.finished is not None \
                    and self._clock() - job.finished > 5:
                live = latest_ns is None or to_ns > latest_ns
                job = self._jobs[key] = Job(from_ns, to_ns, live)
                threading.Thread(target=self._run, args=(job,), name="infersight-findings", daemon=True).start()
            self._jobs.move_to_end(key)
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
            return job

    def _run(self, job: Job) -> None:
        if not self._one_at_a_time.acquire(blocking=False):
            job.say("waiting for another diagnosis to finish")
            self._one_at_a_time.acquire()
        try:
            run_diagnosis(self._call, job, source=self._source)
        finally:
            self._one_at_a_time.release()


__all__ = ["Findings", "Job", "run_diagnosis", "snapshot"]
