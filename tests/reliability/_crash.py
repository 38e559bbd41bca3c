"""kill -9 the collector at random moments while real OTel SDK exporters send; count what survives.

Used by tests/reliability/test_crash.py (a few cycles) and benchmarks/reliability/run.py crash
(20 cycles, JSON result).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._procs import CollectorProcess


class _Keep(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


@dataclass
class CrashReport:
    cycles: int
    acknowledged: int = 0
    found: int = 0
    lost: int = 0
    duplicates: int = 0
    unacknowledged_attempted: int = 0
    unacknowledged_found: int = 0
    rows: int = 0
    clean_opens: int = 0
    kill_after_s: list[float] = field(default_factory=list)
    acked_per_cycle: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Senders:
    """One HTTP and one gRPC SDK exporter, each sending 200-span batches in a loop until stopped."""

    def __init__(self, col: CollectorProcess, tp: TracerProvider, keep: _Keep, lock: threading.Lock,
                 acked: set[str], failed: set[str]) -> None:
        self.exporters: list[SpanExporter] = [
            HttpSpanExporter(endpoint=f"{col.url}/v1/traces", timeout=2),
            GrpcSpanExporter(endpoint=f"127.0.0.1:{col.grpc_port}", insecure=True, timeout=2),
        ]
        self.stop = threading.Event()
        self.tracer = tp.get_tracer("reliability.crash")
        self.keep, self.lock, self.acked, self.failed = keep, lock, acked, failed
        self.threads = [threading.Thread(target=self._run, args=(e, n), daemon=True)
                        for e, n in zip(self.exporters, ("http", "grpc"), strict=True)]
        for t in self.threads:
            t.start()

    def _run(self, exporter: SpanExporter, name: str) -> None:
        while not self.stop.is_set():
            with self.lock:
                for i in range(200):
                    with self.tracer.start_as_current_span(f"{name}-{i}"):
                        pass
                batch = list(self.keep.spans)
                self.keep.spans.clear()
            ids = {format(s.context.span_id, "016x") for s in batch if s.context}
            ok = exporter.export(batch) is SpanExportResult.SUCCESS
            with self.lock:
                (self.acked if ok else self.failed).update(ids)
            if not ok:
                return  # the collector is gone: this sender's cycle is over

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)
        for e in self.exporters:
            e.shutdown()


def _open_cleanly(db: Path) -> set[str]:
    """Open the file exactly as a user would after a crash (WAL replay), read every span id."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("PRAGMA database_size").fetchall()
        return {r[0] for r in con.execute('SELECT "SpanId" FROM otel_traces').fetchall()}
    finally:
        con.close()


def run_crash_cycles(workdir: Path, cycles: int, *, seed: int = 0, min_s: float = 0.3,
                     max_s: float = 3.0, min_acked_per_cycle: int = 0,
                     cli: Sequence[str] | None = None) -> CrashReport:
    """``min_acked_per_cycle``: the kill waits (up to 60 s more) until this many spans of the
    cycle were acknowledged, so a slow machine still tests something. ``cli``: how to run
    infersight (default: this checkout; tests/installed passes the installed wheel's executable)."""
    rng = random.Random(seed)
    db = workdir / "crash.duckdb"
    col = CollectorProcess(db, cli=cli)
    keep = _Keep()
    tp = TracerProvider(resource=Resource.create({"service.name": "reliability-crash"}))
    tp.add_span_processor(keep)
    lock = threading.Lock()
    acked: set[str] = set()
    failed: set[str] = set()
    report = CrashReport(cycles=cycles)
    t_start = time.monotonic()
    for _ in range(cycles):
        col.start()
        before = len(acked)
        senders = _Senders(col, tp, keep, lock, acked, failed)
        delay = rng.uniform(min_s, max_s)
        time.sleep(delay)
        deadline = time.monotonic() + 60
        while len(acked) - before < min_acked_per_cycle and time.monotonic() < deadline:
            time.sleep(0.01)
        col.kill9()  # requests are in flight right now
        senders.close()
        report.kill_after_s.append(round(delay, 3))
        report.acked_per_cycle.append(len(acked) - before)
        stored = _open_cleanly(db)  # raises if the file does not open after the crash
        report.clean_opens += 1
        lost_now = acked - stored
        if lost_now:
            report.lost = len(lost_now)
            break
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute('SELECT count(*), count(DISTINCT "SpanId") FROM otel_traces').fetchone()
        stored = {r[0] for r in con.execute('SELECT "SpanId" FROM otel_traces').fetchall()}
    finally:
        con.close()
    assert rows is not None
    report.rows = int(rows[0])
    report.duplicates = int(rows[0]) - int(rows[1])
    report.acknowledged = len(acked)
    report.found = len(acked & stored)
    report.lost = len(acked - stored)
    report.unacknowledged_attempted = len(failed)
    report.unacknowledged_found = len(failed & stored)
    report.seconds = round(time.monotonic() - t_start, 1)
    tp.shutdown()
    return report
