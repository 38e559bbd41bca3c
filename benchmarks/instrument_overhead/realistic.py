"""Overhead on a realistic request: pool acquire, two DB queries, a cache lookup and an outbound
HTTP call (``app_realistic.py``), bare vs OTel contrib vs infersight, side by side.

Two measurements, variants interleaved (the order rotates every repetition), each run in a fresh
process pinned to one core (``--server-cpu``); the OTLP sink, which also answers the outbound
HTTP call, and the load generator share the other core (``--load-cpu``):

* in-process: the app driven through ASGI calls in one interpreter (the outbound call and the
  exports still go over sockets), CPU per request = process CPU time (all threads, exporters
  included) / requests. Added CPU / spans per request = the cost of one span.
* open loop: a real uvicorn server, requests at a fixed rate (``openloop.py``; latency from the
  scheduled time when every connection was busy) well below every variant's capacity; p50/p99.

    .venv/bin/python benchmarks/instrument_overhead/realistic.py --reps 3 --requests 3000 --rate 100 --duration 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import free_port, start_sink, start_uvicorn, stop, wait_up  # noqa: E402

VARIANTS = ("bare", "contrib", "infersight")
RESULTS = HERE.parent / "results" / "instrument_overhead_realistic.json"

CHILD = r"""
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
import app_realistic as bench
from opentelemetry import trace
N = int(sys.argv[2])
SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
         "scheme": "http", "path": "/pay/7", "raw_path": b"/pay/7", "query_string": b"",
         "root_path": "", "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")],
         "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
status = []

async def main():
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
    for i in range(300):
        s = dict(SCOPE); s["path"] = f"/pay/{i}"; s["raw_path"] = s["path"].encode()
        await bench.app(s, receive, send)
    t0 = time.process_time()
    for i in range(N):
        s = dict(SCOPE); s["path"] = f"/pay/{i}"; s["raw_path"] = s["path"].encode()
        await bench.app(s, receive, send)
        await asyncio.sleep(0)
    return (time.process_time() - t0) / N * 1e6

cpu = asyncio.run(main())
print(json.dumps({"cpu_us_per_req": cpu, "ok": status.count(200), "requests": len(status)}))
"""

SPANS = r"""
import asyncio, json, os, sys
sys.path.insert(0, sys.argv[1])
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
mem = InMemorySpanExporter()
if os.environ["INFERSIGHT_BENCH_VARIANT"] == "infersight":  # a global provider: instrument_app uses it
    counting = TracerProvider()
    counting.add_span_processor(SimpleSpanProcessor(mem))
    trace.set_tracer_provider(counting)
import app_realistic as bench
if bench.VARIANT == "contrib":
    bench.tp.add_span_processor(SimpleSpanProcessor(mem))
SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
         "scheme": "http", "path": "/pay/3", "raw_path": b"/pay/3", "query_string": b"", "root_path": "",
         "headers": [(b"host", b"x")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
async def main():
    async def receive(): return {"type": "http.request", "body": b"", "more_body": False}
    async def send(m): pass
    for _ in range(10):
        await bench.app(dict(SCOPE), receive, send)
asyncio.run(main())
print(json.dumps({"spans_per_request": len(mem.get_finished_spans()) / 10,
                  "names": sorted({s.name for s in mem.get_finished_spans()})}))
"""


def _env(variant: str, sink: str) -> dict[str, str]:
    env = {**os.environ, "INFERSIGHT_BENCH_VARIANT": variant, "INFERSIGHT_BENCH_SINK": sink,
           "OTEL_EXPORTER_OTLP_ENDPOINT": sink, "PYTHONHASHSEED": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def _child(code: str, variant: str, sink: str, cpu: str, *extra: str) -> dict[str, Any]:
    out = subprocess.run(["taskset", "-c", cpu, sys.executable, "-W", "ignore", "-c", code, str(HERE), *extra],
                         env=_env(variant, sink), capture_output=True, text=True, timeout=600, cwd=HERE)
    if out.returncode != 0:
        raise RuntimeError(f"{variant}: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def open_loop(variant: str, args: argparse.Namespace, sink: str) -> dict[str, Any]:
    port = free_port()
    proc = start_uvicorn("app_realistic:app", port, args.server_cpu, _env(variant, sink))
    try:
        wait_up(f"http://127.0.0.1:{port}/pay/1")
        cmd = ["taskset", "-c", args.load_cpu, sys.executable, str(HERE / "openloop.py"), "127.0.0.1", str(port)]
        for seconds in ("2", str(args.duration)):  # a short warm-up run, then the measured one
            done = subprocess.run([*cmd, "/pay/1", str(args.rate), seconds], capture_output=True, text=True,
                                  timeout=float(seconds) + 120)
            if done.returncode != 0:
                raise RuntimeError(f"{variant}: open loop failed: {done.stderr[-2000:]}")
    finally:
        stop(proc)
    return dict(json.loads(done.stdout))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--requests", type=int, default=3000, help="in-process requests per run")
    p.add_argument("--rate", type=float, default=100.0, help="open-loop requests per second (0: skip)")
    p.add_argument("--duration", type=float, default=20.0, help="open-loop seconds per run")
    p.add_argument("--server-cpu", default="1")
    p.add_argument("--load-cpu", default="0")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    sink_port = free_port()
    sink_proc = start_sink(sink_port, args.load_cpu)
    sink = f"http://127.0.0.1:{sink_port}"
    runs: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    try:
        wait_up(f"{sink}/count")
        spans = {v: _child(SPANS, v, sink, args.server_cpu) for v in variants if v != "bare"}
        for rep in range(args.reps):
            order = variants[rep % len(variants):] + variants[:rep % len(variants)]
            for v in order:
                r: dict[str, Any] = {"variant": v, "rep": rep, "loadavg": os.getloadavg()[0]}
                r.update(_child(CHILD, v, sink, args.server_cpu, str(args.requests)))
                if args.rate > 0:
                    r.update({f"open_{k}": x for k, x in open_loop(v, args, sink).items()})
                runs.append(r)
                sys.stderr.write(f"rep {rep} {v:11s} cpu {r['cpu_us_per_req']:7.1f} us/req"
                                 + (f"  open p50 {r['open_p50_ms']:.2f} p99 {r['open_p99_ms']:.2f} ms"
                                    if "open_p99_ms" in r else "") + "\n")
    finally:
        stop(sink_proc)
    summary: dict[str, Any] = {}
    for v in variants:
        rs = [r for r in runs if r["variant"] == v]
        s: dict[str, Any] = {"cpu_us_per_req": statistics.median(r["cpu_us_per_req"] for r in rs),
                             "cpu_us_per_req_min": min(r["cpu_us_per_req"] for r in rs), "runs": len(rs)}
        if all("open_p99_ms" in r for r in rs):
            for k in ("open_p50_ms", "open_p99_ms", "open_p999_ms", "open_achieved_rps"):
                s[k] = statistics.median(r[k] for r in rs)
        if v in spans:
            s["spans_per_request"] = spans[v]["spans_per_request"]
            s["span_names"] = spans[v]["names"]
        summary[v] = s
    if "bare" in summary:
        bare = summary["bare"]
        for v in variants:
            s = summary[v]
            s["added_cpu_us_per_req"] = s["cpu_us_per_req"] - bare["cpu_us_per_req"]
            s["added_cpu_us_per_req_min"] = s["cpu_us_per_req_min"] - bare["cpu_us_per_req_min"]
            if s.get("spans_per_request"):
                s["added_cpu_us_per_span"] = s["added_cpu_us_per_req"] / s["spans_per_request"]
                s["added_cpu_us_per_span_min"] = s["added_cpu_us_per_req_min"] / s["spans_per_request"]
            if "open_p99_ms" in s and "open_p99_ms" in bare:
                s["open_p50_ratio_vs_bare"] = s["open_p50_ms"] / bare["open_p50_ms"]
                s["open_p99_ratio_vs_bare"] = s["open_p99_ms"] / bare["open_p99_ms"]
    doc = {
        "benchmark": "instrument_overhead_realistic",
        "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/instrument_overhead/realistic.py",
                                                     *(argv if argv is not None else sys.argv[1:])]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "shared 2-core VM; other jobs ran at the same time (loadavg below)",
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "params": vars(args) | {"output": str(args.output)},
        "goal": {"added_cpu_us_per_span_max": 10, "open_p99_ratio_vs_bare_max": 1.1},
        "summary": summary,
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    for v in variants:
        s = summary[v]
        sys.stderr.write(f"{v:11s} cpu {s['cpu_us_per_req']:7.1f} us/req (+{s.get('added_cpu_us_per_req', 0):6.1f}; "
                         f"{s.get('added_cpu_us_per_span', 0):5.1f}/span over {s.get('spans_per_request', 0)} spans)"
                         + (f"  open p99 {s['open_p99_ms']:.2f} ms (x{s.get('open_p99_ratio_vs_bare', 1):.2f})"
                            if "open_p99_ms" in s else "") + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
