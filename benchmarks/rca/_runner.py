"""One corpus run, live: collector -> services -> open-loop load + faults -> stop by PID -> files.

A run folder holds ``labels.json`` (plan, absolute fault intervals, load counts, timings),
``client.parquet`` (client truth, one row per request) and ``telemetry/`` (the collector's
DuckDB exported with ``infersight export --parquet``); ``logs/`` has every child's output.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.rca import workloads
from benchmarks.rca._load import LoadGen, schedule
from benchmarks.rca._plan import RunPlan
from benchmarks.rca._procs import Child, ChildError, free_port, hog, python

log = logging.getLogger(__name__)
START_MARGIN_S = 4.0  # services are told RCA_T0 = now + this + 2.5 s per service; the load starts then
Status = Callable[[str], None]
Progress = Callable[[int, int], None]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def env_name(service: str) -> str:
    return "RCA_URL_" + service.upper().replace("-", "_").replace(".", "_")


class Run:
    def __init__(self, plan: RunPlan, out: Path) -> None:
        self.plan = plan
        self.out = out
        self.spec = workloads.spec(plan.workload)
        self.children: list[Child] = []
        self.hogs: list[Child] = []

    def _start(self, child: Child, group: list[Child] | None = None) -> Child:
        (self.children if group is None else group).append(child)
        return child

    def start(self, status: Status) -> tuple[str, str, float]:
        logs, db = self.out / "logs", self.out / "telemetry.duckdb"
        status("collector")
        cport = free_port()
        c = self._start(Child("collector", python("-m", "infersight.cli", "collect", "--db", str(db), "--http-port",
                                                   str(cport), "--grpc-port", "-1", "--workers", "0",
                                                   "--log-level", "warning"), logs / "collector.log"))
        c.wait_http(f"http://127.0.0.1:{cport}/healthz", timeout=60)
        otlp = f"http://127.0.0.1:{cport}"
        ports = {s["name"]: free_port() for s in self.spec.SERVICES}
        t0 = time.time() + START_MARGIN_S + 2.5 * len(self.spec.SERVICES)
        base = {env_name(n): f"http://127.0.0.1:{p}" for n, p in ports.items()}
        base |= {"RCA_T0": f"{t0:.3f}", "RCA_SEED": str(self.plan.seed), "RCA_FAULTS": json.dumps(self.plan.faults),
                 "RCA_HEALTHY": json.dumps(self.plan.healthy), "OTEL_EXPORTER_OTLP_ENDPOINT": otlp}
        for s in self.spec.SERVICES:
            name, port = s["name"], ports[s["name"]]
            status(f"starting {name}")
            env = {**base, **{k: str(v) for k, v in s.get("env", {}).items()}, "OTEL_SERVICE_NAME": name,
                   "RCA_PORT": str(port), "RCA_WORKDIR": str(self.out / "work" / name)}
            argv = python("-m", "uvicorn", s["app"], "--host", "127.0.0.1", "--port", str(port),
                          "--log-level", "warning", "--no-access-log")
            child = self._start(Child(name, argv, logs / f"{name}.log", env, cpu=self.plan.pin.get(name)))
            child.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)
        entry = getattr(self.spec, "ENTRY", None) or self.spec.SERVICES[-1]["name"]
        return otlp, f"http://127.0.0.1:{ports[entry]}", t0

    async def _hogs(self, t0: float) -> None:
        async def one(h: dict[str, Any]) -> None:
            await asyncio.sleep(max(0.0, t0 + h["start_s"] - time.time()))
            started = [self._start(hog(f"hog-{h['kind']}-{i}", self.out / "logs", duty=h["duty"], cpu=h.get("cpu"),
                                       nice=h.get("nice", 0)), self.hogs) for i in range(h["count"])]
            h["started_at"] = time.time()
            await asyncio.sleep(max(0.0, t0 + h["start_s"] + h["duration_s"] - time.time()))
            for c in started:
                c.stop()
            h["stopped_at"] = time.time()
        await asyncio.gather(*(one(h) for h in self.plan.hogs))

    async def drive(self, load: LoadGen, t0: float, progress: Progress) -> None:
        arrivals = schedule(self.spec.ROUTES, self.plan.rate, self.plan.duration_s, self.plan.swing, self.plan.seed)
        hogs = asyncio.create_task(self._hogs(t0))
        try:
            await load.run(arrivals, t0, progress)
            await hogs
        finally:
            hogs.cancel()

    def check_alive(self) -> None:
        for c in self.children:
            if not c.alive():
                raise ChildError(f"{c.name} died during the run (exit {c.proc.returncode}):\n{c.tail()}")

    def stop(self) -> None:
        for c in reversed(self.hogs + self.children):
            try:
                c.stop()
            except Exception:
                log.warning("stopping %s (pid %d) failed", c.name, c.pid, exc_info=True)


def execute(plan: RunPlan, out: Path, *, status: Status = lambda s: None,
            progress: Progress = lambda d, s: None) -> dict[str, Any]:
    """Run ``plan`` live into ``out`` (replaced); returns its labels (also written to labels.json)."""
    if out.exists():
        shutil.rmtree(out)
    out = out.resolve()
    out.mkdir(parents=True)
    run = Run(plan, out)
    wall0 = time.time()
    load: LoadGen | None = None
    try:
        otlp, url, t0 = run.start(status)
        startup_s = time.time() - wall0
        load = LoadGen(workload=plan.workload, base_url=url, otlp=otlp, routes=run.spec.ROUTES)
        late_s = max(0.0, time.time() - t0)
        status(f"load {plan.duration_s:g}s at {plan.rate:g}/s")
        asyncio.run(run.drive(load, t0, progress))
        run.check_alive()
        time.sleep(1.0)
    finally:
        status("stopping")
        services = [c for c in run.children if c.name != "collector"]
        for c in reversed(services):
            c.stop()
        if load is not None:
            load.close()
        run.stop()
    assert load is not None
    rows = load.rows
    _write_client(rows, out / "client.parquet")
    status("export --parquet")
    db = out / "telemetry.duckdb"
    subprocess.run(python("-m", "infersight.cli", "export", "--db", str(db), "--parquet", str(out / "telemetry")),
                   check=True, capture_output=True)
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(out / "work", ignore_errors=True)
    labels = _labels(plan, run, t0, rows, startup_s=startup_s, late_s=late_s, wall_s=time.time() - wall0)
    (out / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    return labels


def _write_client(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(rows, key=lambda r: r["scheduled_ns"])
    cols = ["scheduled_ns", "sent_ns", "end_ns", "latency_ms", "send_lag_ms", "method", "route", "status", "error",
            "trace_id"]
    pq.write_table(pa.table({c: [r[c] for r in rows] for c in cols}), path, compression="zstd")


def _labels(plan: RunPlan, run: Run, t0: float, rows: list[dict[str, Any]], **timing: float) -> dict[str, Any]:
    faults = [{**e, "start": iso(t0 + e["start_s"]), "end": iso(t0 + e["start_s"] + e["duration_s"])}
              for e in plan.expected]
    errors = sum(1 for r in rows if r["error"])
    end = max((r["end_ns"] for r in rows), default=int(t0 * 1e9)) / 1e9
    return {
        "run_id": plan.run_id, "workload": plan.workload, "family": plan.family, "variant": plan.variant,
        "seed": plan.seed, "healthy": plan.family == "healthy", "t0": iso(t0), "t0_epoch": round(t0, 3),
        "faults": faults, "plan": plan.to_dict(),
        "services": [s["name"] for s in run.spec.SERVICES],
        "load": {"rate": plan.rate, "swing": plan.swing, "scheduled_s": plan.duration_s, "requests": len(rows),
                 "errors": errors, "started": iso(t0), "ended": iso(end), "duration_s": round(end - t0, 2)},
        "timing": {k: round(v, 2) for k, v in timing.items()},
    }


__all__ = ["execute", "iso"]
