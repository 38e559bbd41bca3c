"""Instrumentation overhead: bare FastAPI vs contrib OTel vs prometheus-fastapi-instrumentator vs infersight.

One uvicorn worker pinned to one core (taskset), wrk (closed loop) pinned to another core with
the OTLP sink, variants interleaved (the order rotates every repetition), each run in a fresh
server process. CPU per request = server process CPU time (all threads, exporter threads
included, from /proc) / requests completed. Usage:

    .venv/bin/python benchmarks/instrument_overhead/run.py --reps 3 --duration 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "instrument_overhead.json"
VARIANTS = ("bare", "contrib", "pfi", "infersight", "infersight-contrib")
TICK = os.sysconf("SC_CLK_TCK")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads


def wait_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_uvicorn(app: str, port: int, cpu: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = ["taskset", "-c", cpu, sys.executable, "-m", "uvicorn", app, "--app-dir", str(HERE),
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_sink(port: int, cpu: str) -> subprocess.Popen[bytes]:
    """The OTLP sink (sink.py, a raw asyncio server) pinned to ``cpu``."""
    return subprocess.Popen(["taskset", "-c", cpu, sys.executable, str(HERE / "sink.py"), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def parse_wrk(out: str) -> dict[str, float]:
    res: dict[str, float] = {}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            res[f"p{pct}_ms"] = float(m.group(1)) * _UNITS[m.group(2)]
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["errors"] = float(m.group(1)) if m else 0.0
    return res


def wrk(url: str, cpu: str, duration: float, connections: int) -> str:
    cmd = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", url]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def open_loop_run(port: int, args: argparse.Namespace) -> dict[str, Any]:
    """openloop.py at the fixed rate ``args.open_rate`` (same core as wrk), after the wrk run."""
    cmd = ["taskset", "-c", args.load_cpu, sys.executable, str(HERE / "openloop.py"), "127.0.0.1", str(port),
           "/predict/m1", str(args.open_rate), str(args.duration)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=args.duration + 60).stdout
    return dict(json.loads(out))


def one_run(variant: str, args: argparse.Namespace, sink: str) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "INFERSIGHT_BENCH_VARIANT": variant, "INFERSIGHT_BENCH_SINK": sink,
           "OTEL_EXPORTER_OTLP_ENDPOINT": sink, "PYTHONHASHSEED": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if args.probe_dir is not None:  # stall probe (probe.py), analysed by stalls.py
        args.probe_dir.mkdir(parents=True, exist_ok=True)
        env["INFERSIGHT_BENCH_PROBE"] = str(args.probe_dir / f"{variant}-{len(list(args.probe_dir.glob(variant + '-[0-9]*.json')))}.json")
    proc = start_uvicorn("app:app", port, args.server_cpu, env)
    url = f"http://127.0.0.1:{port}/predict/m1"
    try:
        wait_up(url)
        wrk(url, args.load_cpu, args.warmup, args.connections)
        c0, s0 = cpu_seconds(proc.pid), cpu_seconds(args.sink_pid)
        out = wrk(url, args.load_cpu, args.duration, args.connections)
        c1, s1 = cpu_seconds(proc.pid), cpu_seconds(args.sink_pid)
        open_loop = open_loop_run(port, args) if getattr(args, "open_rate", 0) else None
    finally:
        stop(proc)
    res = parse_wrk(out)
    if open_loop is not None:
        res.update({f"open_{k}": v for k, v in open_loop.items()})
    res["cpu_s"] = c1 - c0
    res["cpu_us_per_req"] = (c1 - c0) / res["requests"] * 1e6 if res["requests"] else float("nan")
    # the sink shares the load generator's core: its CPU can delay wrk (and so the measured latency)
    res["sink_cpu_us_per_req"] = (s1 - s0) / res["requests"] * 1e6 if res["requests"] else float("nan")
    res["variant"] = variant
    return res


def summarize(runs: list[dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in variants:
        rs = [r for r in runs if r["variant"] == v]
        keys = ["cpu_us_per_req", "p50_ms", "p99_ms", "rps"]
        if all("open_p99_ms" in r for r in rs):
            keys += ["open_p50_ms", "open_p99_ms", "open_p999_ms"]
        out[v] = {k: statistics.median(r[k] for r in rs) for k in keys}
        out[v]["runs"] = len(rs)
    if "bare" in out:
        bare = out["bare"]
        for v in variants:
            s = out[v]
            s["added_cpu_us_per_req"] = s["cpu_us_per_req"] - bare["cpu_us_per_req"]
            s["p50_ratio_vs_bare"] = s["p50_ms"] / bare["p50_ms"]
            s["p99_ratio_vs_bare"] = s["p99_ms"] / bare["p99_ms"]
            s["rps_ratio_vs_bare"] = s["rps"] / bare["rps"]
            if "open_p99_ms" in s and "open_p99_ms" in bare:
                s["open_p99_ratio_vs_bare"] = s["open_p99_ms"] / bare["open_p99_ms"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--server-cpu", default="1")
    p.add_argument("--load-cpu", default="0")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--open-loop", type=float, default=0.5, metavar="FRACTION",
                   help="after each wrk run, open-loop load (openloop.py) at FRACTION x bare's wrk rps "
                        "(measured once at the start; 0.5 keeps the instrumented variants below ~70%% "
                        "of their own capacity, contrib excepted); 0 turns it off (so does --probe-dir)")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--probe-dir", type=Path, default=None,
                   help="record request-start gaps and export/GC intervals per run (probe.py, stalls.py)")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    sink_port = free_port()
    sink = start_sink(sink_port, args.load_cpu)
    sink_url = f"http://127.0.0.1:{sink_port}"
    args.sink_pid = sink.pid
    runs: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    try:
        wait_up(f"{sink_url}/count")
        args.open_rate = 0.0
        if args.open_loop > 0 and args.probe_dir is None:  # the probe analyses the wrk run alone  # calibration: bare's saturated throughput sets the open-loop rate
            calib = one_run("bare", args, sink_url)
            args.open_rate = round(args.open_loop * calib["rps"])
            sys.stderr.write(f"open loop at {args.open_rate} req/s ({args.open_loop} x bare {calib['rps']:.0f})\n")
        for rep in range(args.reps):
            order = variants[rep % len(variants):] + variants[:rep % len(variants)]
            for v in order:
                r = one_run(v, args, sink_url)
                r["rep"] = rep
                runs.append(r)
                open_loop = (f"  open p50 {r['open_p50_ms']:.2f} p99 {r['open_p99_ms']:.2f} "
                             f"p99.9 {r['open_p999_ms']:.2f} ms" if "open_p99_ms" in r else "")
                if "open_p99_ms" in r and r["open_achieved_rps"] < 0.95 * r["open_rate"]:
                    open_loop += " (OVERLOADED: the server could not keep up with the rate)"
                sys.stderr.write(f"rep {rep} {v:18s} cpu {r['cpu_us_per_req']:7.1f} us/req  "
                                 f"sink {r['sink_cpu_us_per_req']:5.1f}  "
                                 f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  {r['rps']:.0f} rps{open_loop}\n")
        with urllib.request.urlopen(f"{sink_url}/count", timeout=5) as resp:
            sink_counts = resp.read().decode()
    finally:
        stop(sink)
    summary = summarize(runs, variants)
    versions = {d: metadata.version(d) for d in ("fastapi", "uvicorn", "opentelemetry-sdk",
                                                 "opentelemetry-instrumentation-fastapi",
                                                 "prometheus-fastapi-instrumentator", "prometheus-client")}
    cpu_model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), platform.processor())
    doc = {
        "benchmark": "instrument_overhead",
        "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/instrument_overhead/run.py",
                                                     *(argv if argv is not None else sys.argv[1:])]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "cpu_model": cpu_model, "python": platform.python_version(),
                    "note": "shared 2-core VM; other jobs ran at the same time",
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "params": {"reps": args.reps, "duration_s": args.duration, "warmup_s": args.warmup,
                   "open_loop_fraction": args.open_loop, "open_loop_rps": args.open_rate,
                   "connections": args.connections, "server_cpu": args.server_cpu, "load_cpu": args.load_cpu},
        "versions": versions,
        "sink_received": sink_counts,
        "goal": {"added_cpu_us_per_req_max": 60, "p99_ratio_vs_bare_max": 1.5},
        "summary": summary,
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    for v in variants:
        s = summary[v]
        sys.stderr.write(f"{v:18s} cpu {s['cpu_us_per_req']:7.1f} us/req (+{s.get('added_cpu_us_per_req', 0):6.1f})  "
                         f"p50 {s['p50_ms']:.2f} ms  p99 {s['p99_ms']:.2f} ms (x{s.get('p99_ratio_vs_bare', 1):.2f})  "
                         f"{s['rps']:.0f} rps"
                         + (f"  open p99 {s['open_p99_ms']:.2f} ms (x{s.get('open_p99_ratio_vs_bare', 1):.2f})"
                            if "open_p99_ms" in s else "") + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
