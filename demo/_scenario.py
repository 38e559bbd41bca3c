"""Labelled scenario runs: collector + redis + downstream + demo server + load, on free ports.

A run writes ``<out>/telemetry.duckdb`` (the collector's file) and ``<out>/labels.json``: which
fault was on, when (ISO 8601, UTC, as the server switched it), its Finding category and the
component it lives in, plus the load summary — so detectors can be scored against the truth.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from infersight.demo._config import DEFAULT_DATA_DIR
from infersight.demo._errors import DemoConfigError, ProcessError
from infersight.demo._faults import FAULTS
from infersight.demo._load import LoadConfig, LoadSummary, run_load
from infersight.demo._procs import Child, free_port, python_argv, start_collector, start_redis

log = logging.getLogger(__name__)
SERVICE_NAME = "demo-model-server"
WARMUP_S = 4.0


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: tuple[str, ...] = ()
    description: str = ""
    # fault on/off as fractions of the run (None: all run); the stretch before it is the healthy
    # baseline the analysis compares the incident with
    window: tuple[float, float] | None = (0.4, 0.95)
    rate: float = 6.0
    ramp_to: float | None = None
    server_args: tuple[str, ...] = ()


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("clean", (), "No fault: incremental sync, warm caches, healthy pool and downstream."),
    Scenario("full_sync", ("full_sync",), "The reference incident: the payments job pulls the whole table."),
    Scenario("gc_storm", ("gc_storm",), "Allocation bursts of container objects on the request path."),
    Scenario("cache_stampede", ("cache_stampede",), "Synchronized TTL expiry of hot keys, no single-flight.",
             rate=6.0, server_args=("--cache-ttl", "5")),
    Scenario("cold_cache", ("cold_cache",), "Response/prefix caches flushed and shrunk: a miss storm."),
    Scenario("pool_exhaustion", ("pool_exhaustion",), "Pool of one connection under rising load.",
             rate=4.0, ramp_to=10.0),
    Scenario("slow_downstream", ("slow_downstream",), "The risk service scans its table on every call."),
    Scenario("event_loop_block", ("event_loop_block",), "Moderation runs on the event loop."),
    Scenario("gpu_contention", ("gpu_contention",), "A co-located GPU burner (GPU machines only)."),
    Scenario("gpu_idle", ("gpu_idle",), "Model on CPU while the GPU idles (GPU machines only).", window=None),
)}


@dataclass
class RunResult:
    out: Path
    labels: dict[str, Any]
    summary: LoadSummary


def _iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), timezone.utc).isoformat()


def gpu_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


class Stack:
    """The processes of one run; ``close()`` stops every one of them by PID (idempotent)."""

    def __init__(self, out: Path, *, faults_at_start: tuple[str, ...] = (), server_args: tuple[str, ...] = (),
                 data_dir: Path = DEFAULT_DATA_DIR) -> None:
        self.out = out
        self.db = out / "telemetry.duckdb"
        self.children: list[Child] = []
        self.faults_at_start = faults_at_start
        self.server_args = server_args
        self.data_dir = data_dir
        self.collector_port = self.server_port = self.downstream_port = 0

    def start(self, status: Callable[[str], None] = lambda s: None) -> None:
        logs = self.out / "logs"
        for p in (self.db, self.db.with_name(self.db.name + ".wal")):
            p.unlink(missing_ok=True)
        status("starting the collector")
        self.collector_port = free_port()
        start_collector(self.db, self.collector_port, logs, register=self._register)
        otlp = f"http://127.0.0.1:{self.collector_port}"
        redis_url = ""
        redis_port = free_port()
        redis = start_redis(redis_port, logs, register=self._register)
        if redis is not None:
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
        status("starting the downstream risk service")
        self.downstream_port = free_port()
        ds = Child("downstream", python_argv("-m", "infersight.demo", "downstream", "--port", str(self.downstream_port),
                                             "--otlp-endpoint", otlp, "--data-dir", str(self.data_dir)),
                   logs / "downstream.log")
        self._register(ds)
        ds.wait_http(f"http://127.0.0.1:{self.downstream_port}/healthz", timeout=90)
        status("starting the demo model server (first start builds the 500k-row payment table)")
        self.server_port = free_port()
        argv = ["-m", "infersight.demo", "serve", "--port", str(self.server_port), "--otlp-endpoint", otlp,
                "--downstream-url", f"http://127.0.0.1:{self.downstream_port}", "--data-dir", str(self.data_dir),
                *self.server_args]
        if redis_url:
            argv += ["--redis-url", redis_url]
        for f in self.faults_at_start:
            argv += ["--fault", f]
        srv = Child("server", python_argv(*argv), logs / "server.log")
        self._register(srv)
        srv.wait_http(f"{self.url}/healthz", timeout=180)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def check_alive(self) -> None:
        for c in self.children:
            if not c.alive():
                raise ProcessError(f"{c.name} died (exit {c.proc.returncode}):\n{c.tail()}")

    def _register(self, child: Child) -> None:
        """Track a child (so close() stops it) and record every PID in ``pids.json``."""
        self.children.append(child)
        (self.out / "pids.json").write_text(json.dumps({c.name: c.pid for c in self.children}))

    def close(self) -> None:
        """Server first (flushes its telemetry), then downstream and redis, the collector last.

        A second Ctrl-C or SIGTERM while stopping is ignored, so no child is left behind.
        """
        main = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
        try:
            for c in reversed(self.children):
                try:
                    c.stop()
                except Exception:
                    log.warning("stopping %s (pid %d) failed", c.name, c.pid, exc_info=True)
            self.children.clear()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def _toggle(url: str, fault: str, on: bool) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(f"{url}/admin/faults", json={"enable" if on else "disable": [fault]})
        r.raise_for_status()
        state = r.json()
    if on:
        return str(state["active"][fault])
    return str([h for h in state["history"] if h["fault"] == fault][-1]["end"])


async def _drive(stack: Stack, sc: Scenario, duration: float, rate: float | None,
                 progress: Callable[[float, int, int], None] | None,
                 seed: int) -> tuple[LoadSummary, list[dict[str, Any]], str]:
    load = LoadConfig(url=stack.url, rate=rate or sc.rate, duration=duration, ramp_to=sc.ramp_to, seed=seed)
    # warm-up (connections, caches, first allocations): its telemetry lands before started_at
    await run_load(LoadConfig(url=stack.url, rate=load.rate, duration=WARMUP_S, seed=seed + 1000))
    windows: list[dict[str, Any]] = []
    started = _iso()

    async def faults() -> None:
        if sc.window is None:
            for f in sc.faults:
                windows.append({"fault": f, "start": started, "end": None})
            return
        await asyncio.sleep(sc.window[0] * duration)
        for f in sc.faults:
            windows.append({"fault": f, "start": await _toggle(stack.url, f, True), "end": None})
        await asyncio.sleep((sc.window[1] - sc.window[0]) * duration)
        for w in windows:
            w["end"] = await _toggle(stack.url, w["fault"], False)

    ftask = asyncio.create_task(faults())
    try:
        summary = await run_load(load, progress)
        await ftask
    finally:
        ftask.cancel()
    ended = _iso()
    for w in windows:
        w["end"] = w["end"] or ended
    return summary, windows, started


def run_scenario(name: str, out: str | Path, *, duration: float = 40.0, rate: float | None = None,
                 whole_run: bool = False, window: tuple[float, float] | None = None, seed: int = 0,
                 data_dir: Path = DEFAULT_DATA_DIR,
                 server_args: tuple[str, ...] = (), status: Callable[[str], None] = lambda s: None,
                 progress: Callable[[float, int, int], None] | None = None) -> RunResult:
    """Run scenario ``name`` for ``duration`` s and write ``telemetry.duckdb`` + ``labels.json`` in ``out``.

    ``whole_run`` keeps the fault on for the whole run, ``window`` (fractions of the run) replaces
    the scenario's fault window. Every process is stopped by PID before this returns or raises.
    """
    if name not in SCENARIOS:
        raise DemoConfigError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    sc = SCENARIOS[name]
    if any(FAULTS[f].needs_gpu for f in sc.faults) and not gpu_available():
        raise DemoConfigError(f"scenario {name!r} needs a CUDA GPU and PyTorch (pip install torch)")
    if whole_run or window is not None:
        sc = Scenario(sc.name, sc.faults, sc.description, None if whole_run else window, sc.rate, sc.ramp_to,
                      sc.server_args)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    at_start = sc.faults if sc.window is None else ()
    stack = Stack(out, faults_at_start=at_start, server_args=(*sc.server_args, *server_args), data_dir=data_dir)
    try:
        stack.start(status)
        status(f"warming up for {WARMUP_S:g}s, then driving load for {duration:g}s")
        summary, windows, started = asyncio.run(_drive(stack, sc, duration, rate, progress, seed))
        stack.check_alive()
    finally:
        status("stopping (server, downstream, redis, collector)")
        stack.close()
    labels = {
        "scenario": name, "description": sc.description, "service_name": SERVICE_NAME,
        "started_at": started, "ended_at": summary_end(summary), "duration_s": duration,
        "faults": [{"fault": w["fault"], "category": FAULTS[w["fault"]].category,
                    "component": FAULTS[w["fault"]].component, "start": w["start"], "end": w["end"]}
                   for w in windows],
        "load": asdict(summary) | {"timeline": None},
        "db": stack.db.name,
    }
    (out / "labels.json").write_text(json.dumps(labels, indent=2))
    (out / "load.json").write_text(summary.to_json())
    return RunResult(out, labels, summary)


def summary_end(summary: LoadSummary) -> str:
    return _iso(summary.ended_at)


__all__ = ["SCENARIOS", "RunResult", "Scenario", "Stack", "gpu_available", "run_scenario"]
