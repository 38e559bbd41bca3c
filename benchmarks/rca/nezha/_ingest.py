"""Send converted Nezha data through a real ``infersight collect`` (OTLP/HTTP protobuf) into one DuckDB."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.rca.nezha._cases import NS, Case
from benchmarks.rca.nezha._convert import log_requests, metric_request, read_rows, trace_requests

METRIC_LEAD_NS = 10 * 60 * NS  # metric samples from 10 min before the first span (a baseline for them)
_READY = re.compile(r"ready: http (http://\S+)")


class Collector:
    """``infersight collect`` as a child process on a free loopback port, stopped by its PID."""

    def __init__(self, db: Path, log: Path) -> None:
        self.db, self.log = db, log
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Collector:
        argv = [sys.executable, "-m", "infersight.cli", "collect", "--db", str(self.db), "--http-port", "0",
                "--grpc-port", "-1", "--workers", "0", "--log-level", "warning"]
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the ready line, or EOF when it failed to start
        m = _READY.search(line)
        if not m:
            self._stop()
            raise RuntimeError(f"collector did not start: {line.strip()!r}; see {self.log}")
        self.url = m.group(1)
        return self

    def post(self, client: httpx.Client, signal_path: str, body: bytes) -> None:
        for attempt in range(20):
            r = client.post(f"{self.url}/v1/{signal_path}", content=body,
                            headers={"content-type": "application/x-protobuf"})
            if r.status_code == 200:
                return
            if r.status_code not in (429, 503):
                raise RuntimeError(f"collector answered {r.status_code} on /v1/{signal_path}: {r.text[:300]}")
            time.sleep(float(r.headers.get("retry-after", "0.5") or 0.5) * (1 + attempt / 4))
        raise RuntimeError(f"collector kept refusing /v1/{signal_path}")

    def _stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.proc.returncode not in (0, -signal.SIGTERM):
            raise RuntimeError(f"collector exited {self.proc.returncode}; see {self.log}")

    def __exit__(self, *exc: object) -> None:
        self._stop()


@dataclass
class Ingested:
    spans: int
    logs: int
    metric_points: int
    start_ns: int
    end_ns: int


def ingest_case(case: Case, db: Path, *, advance: Callable[[int], Any] | None = None) -> Ingested:
    """Convert one case's files and post them to a fresh collector writing ``db`` (replaced if present)."""
    for stale in (db, Path(str(db) + ".wal")):
        stale.unlink(missing_ok=True)
    spans = read_rows(case.trace_files, ("TraceID", "SpanID"))
    logs = read_rows(case.log_files, ("TimeUnixNano", "PodName", "Log"))
    start = min(int(r["StartTimeUnixNano"]) for r in spans)
    end = max(int(r["EndTimeUnixNano"]) for r in spans)
    metrics = metric_request(case.metric_dir, start - METRIC_LEAD_NS, end + 60 * NS)
    tick = advance or (lambda _n: None)
    with Collector(db, db.with_suffix(".collector.log")) as col, httpx.Client(timeout=120) as client:
        for req in trace_requests(spans):
            col.post(client, "traces", req.SerializeToString())
            tick(sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans))
        for lreq in log_requests(logs):
            col.post(client, "logs", lreq.SerializeToString())
        col.post(client, "metrics", metrics.SerializeToString())
    points = sum(len(m.gauge.data_points) for rm in metrics.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics)
    return Ingested(spans=len(spans), logs=len(logs), metric_points=points, start_ns=start, end_ns=end)


def span_count(case: Case) -> int:
    return len(read_rows(case.trace_files, ("TraceID", "SpanID")))


def ingest_all(cases: Iterable[Case], cache: Path) -> dict[str, Ingested]:
    cache.mkdir(parents=True, exist_ok=True)
    return {c.case_id: ingest_case(c, cache / f"{c.case_id}.duckdb") for c in cases}


__all__ = ["Collector", "Ingested", "ingest_all", "ingest_case", "span_count"]
