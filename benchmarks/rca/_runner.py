"""One corpus run, live: collector -> services -> open-loop load + faults -> stop by PID -> files.

A run folder holds ``labels.json`` (plan, absolute fault intervals, load counts, timings),
``client.parquet`` (client truth, one row per request) and ``telemetry/`` (the collector's
DuckDB exported with ``infersight export --parquet``); ``logs/`` has every child's output.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from benchmarks.rca import workloads
from benchmarks.rca._load import LoadGen, schedule
from benchmarks.rca._plan import RunPlan
from benchmarks.rca._procs import Child, ChildError, free_port, hog, python

log = logging.getLogger(__name__)
START_MARGIN_S = 6.0  # services are told RCA_T0 = now + this + 3 s per service; the load starts then
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
        self.urls: dict[str, str] = {}

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
        t0 = time.time() + START_MARGIN_S + 3.0 * len(self.spec.SERVICES)
        base = {env_name(n): f"http://127.0.0.1:{p}" for n, p in ports.items()}
        base |= {"RCA_T0": f"{t0:.3f}", "RCA_SEED": str(self.plan.seed), "RCA_FAULTS": json.dumps(self.plan.faults),
                 "RCA_HEALTHY": json.dumps(self.plan.healthy), "OTEL_EXPORTER_OTLP_ENDPOINT": otlp}
        for s in self.spec.SERVICES:
            name, port = s["name"], ports[s["name"]]
            status(f"starting {name}")
            env = {**base, **{k: str(v) for k, v in s.get("env", {}).items()}, "OTEL_SERVICE_NAME": name,
                   "RCA_PORT": str(port), "RCA_WORKDIR": str(self.out / "work" / name)}
            argv = python(*_fill(s["argv"], port, otlp, base)) if "argv" in s else python(
                "-m", "uvicorn", s["app"], "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--no-access-log")
            child = self._start(Child(name, argv, logs / f"{name}.log", env, cpu=self.plan.pin.get(name)))
            child.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)
        entry = getattr(self.spec, "ENTRY", None) or self.spec.SERVICES[-1]["name"]
        self.urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        return otlp, self.urls[entry], t0

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

    async def _admin(self, t0: float) -> None:
        """Faults a service switches through its admin endpoint (the demo server), not RCA_FAULTS."""
        async def one(f: dict[str, Any], admin: dict[str, str]) -> None:
            url = f"{self.urls[f['target']]}{admin.get('path', '/admin/faults')}"
            async with httpx.AsyncClient(timeout=30) as client:
                for key, at in (("enable", f["start_s"]), ("disable", f["start_s"] + f["duration_s"])):
                    await asyncio.sleep(max(0.0, t0 + at - time.time()))
                    (await client.post(url, json={key: [admin["fault"]]})).raise_for_status()
        await asyncio.gather(*(one(f, self.spec.FAULTS[f["family"]]["admin"]) for f in self.plan.faults
                               if "admin" in self.spec.FAULTS.get(f["family"], {})))

    async def drive(self, load: LoadGen, t0: float, load_t0: float, progress: Progress) -> None:
        """Faults and hogs keep RCA_T0 as their origin; a late start shifts only the arrivals (no burst)."""
        arrivals = schedule(self.spec.ROUTES, self.plan.rate, self.plan.duration_s, self.plan.swing, self.plan.seed)
        side = asyncio.gather(self._hogs(t0), self._admin(t0))
        try:
            await load.run(arrivals, load_t0, progress)
            await side
        finally:
            side.cancel()

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


def _fill(argv: list[str], port: int, otlp: str, env: dict[str, str]) -> list[str]:
    """A service given as an argv (instead of an ASGI app): {port}, {otlp}, {url:<service>} filled in."""
    out = []
    for a in argv:
        a = a.replace("{port}", str(port)).replace("{otlp}", otlp)
        for m in re.findall(r"\{url:([^}]+)\}", a):
            a = a.replace(f"{{url:{m}}}", env[env_name(m)])
        out.append(a)
    return out


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
        load_t0 = max(t0, time.time() + 0.05)
        late_s = load_t0 - t0 if load_t0 > t0 + 0.05 else 0.0
        status(f"load {plan.duration_s:g}s at {plan.rate:g}/s")
        asyncio.run(run.drive(load, t0, load_t0, progress))
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
    for p in (db, db.with_name(db.name + ".wal"), db.with_name(db.name + ".collector.json")):
        p.unlink(missing_ok=True)
    compact(out / "telemetry")
    shutil.rmtree(out / "work", ignore_errors=True)
    labels = _labels(plan, run, t0, rows, startup_s=startup_s, late_s=late_s, wall_s=time.time() - wall0)
    (out / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    return labels


def compact(folder: Path) -> None:
    """One zstd Parquet file per table (``otel_traces.parquet``, ...) instead of the export's
    service/date/hour partitions: the same rows (the partition columns are derived from
    ServiceName/Timestamp), ~5x smaller to commit; ``connect()`` reads both layouts. Idempotent."""
    import duckdb

    for d in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("otel_")):
        files = [str(f) for f in sorted(d.rglob("*.parquet"))]
        if files:
            tmp = folder / f"{d.name}.parquet.tmp"
            with duckdb.connect() as con:
                con.execute(f"COPY (SELECT * FROM read_parquet({files!r}, hive_partitioning = false, "
                            f"union_by_name = true) ORDER BY ALL) TO '{tmp}' "
                            "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 19)")
            tmp.replace(folder / f"{d.name}.parquet")
        shutil.rmtree(d)


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
    start = t0 + timing.get("late_s", 0.0)
    end = max((r["end_ns"] for r in rows), default=int(start * 1e9)) / 1e9
    return {
        "run_id": plan.run_id, "workload": plan.workload, "family": plan.family, "variant": plan.variant,
        "seed": plan.seed, "healthy": not plan.expected, "t0": iso(t0), "t0_epoch": round(t0, 3),
        "faults": faults, "plan": plan.to_dict(),
        "services": [s["name"] for s in run.spec.SERVICES],
        "load": {"rate": plan.rate, "swing": plan.swing, "scheduled_s": plan.duration_s, "requests": len(rows),
                 "errors": errors, "started": iso(start), "ended": iso(end), "duration_s": round(end - start, 2)},
        "timing": {k: round(v, 2) for k, v in timing.items()},
    }


__all__ = ["compact", "execute", "iso"]
