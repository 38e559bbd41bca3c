"""Sustained OTLP/HTTP protobuf ingest: infersight vs Arize Phoenix (SQLite), same payloads, one run.

    .venv/bin/python -m benchmarks.ingest.run --duration 20 --clients 4 \\
        --phoenix-venv /tmp/phoenix-venv --out benchmarks/results/ingest.json

Per target: spans/s acknowledged (infersight acknowledges after commit; for Phoenix, which
acknowledges before writing, also the rate at which spans reach its SQLite file), request
latency p50/p99, peak RSS; for infersight additionally bytes per span on disk (a separate pass
that stores each unique span exactly once) and peak RSS under a 1 GiB burst.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.ingest._client import build_pool, client_main
from benchmarks.ingest._targets import Infersight, Phoenix, RssSampler, phoenix_exe


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Clients:
    """Client processes that build their payload pools once and are reused for every target."""

    def __init__(self, n: int, bodies: int, spans: int) -> None:
        self.spans = spans
        self.bodies = bodies
        self.n = n

    def run(self, port: int, duration: float, max_requests: int | None = None) -> dict[str, Any]:
        ctx = mp.get_context("spawn")
        pipes, procs = [], []
        for i in range(self.n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=client_main, args=(child, i, port, self.bodies, self.spans), daemon=True)
            p.start()
            pipes.append(parent)
            procs.append(p)
        for pipe in pipes:
            pipe.recv()  # pools built
        t0 = time.perf_counter()
        for pipe in pipes:
            pipe.send({"duration": duration, "max_requests": max_requests})
        results = [pipe.recv() for pipe in pipes]
        elapsed = time.perf_counter() - t0
        for p in procs:
            p.join(30)
        lat = [x for r in results for x in r["latencies"]]
        statuses: dict[str, int] = {}
        for r in results:
            for k, v in r["statuses"].items():
                statuses[str(k)] = statuses.get(str(k), 0) + v
        acked = sum(r["acked_spans"] for r in results)
        return {"elapsed_s": round(elapsed, 2), "requests": sum(r["requests"] for r in results),
                "statuses": statuses, "acked_spans": acked, "acked_spans_per_s": round(acked / elapsed),
                "latency_p50_ms": round(_pct(lat, 0.50) * 1e3, 1), "latency_p99_ms": round(_pct(lat, 0.99) * 1e3, 1),
                "latency_max_ms": round(max(lat) * 1e3, 1) if lat else None}


def sustained(target: Any, clients: Clients, duration: float) -> dict[str, Any]:
    with RssSampler(target.proc.pid) as rss:
        res = clients.run(target.port, duration)
    res["rss_peak_mb"] = round(rss.peak / 2**20, 1)
    res["rss_median_mb"] = round(statistics.median(rss.samples) / 2**20, 1) if rss.samples else None
    res["server_cpu_s"] = round(rss.cpu, 1)
    res["server_cpu_utilisation"] = round(rss.cpu / res["elapsed_s"], 2)  # 2.0 = both cores
    res["acked_spans_per_server_cpu_s"] = round(res["acked_spans"] / rss.cpu) if rss.cpu else None
    return res


def burst(workdir: Path, gib: float, conns: int, extra: list[str]) -> dict[str, Any]:
    """``gib`` GiB of spans arriving at once over ``conns`` connections (16 MiB bodies)."""
    pool = build_pool(99, 32, 512)
    body = b"".join(pool[i % len(pool)] for i in range(170))  # concatenated messages = one big request
    n_bodies = max(1, int(gib * 2**30 / len(body)))
    col = Infersight(workdir, extra)
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    todo = list(range(n_bodies))

    def worker() -> None:
        c = http.client.HTTPConnection("127.0.0.1", col.port, timeout=300)
        while True:
            with lock:
                if not todo:
                    break
                todo.pop()
            try:
                c.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
                r = c.getresponse()
                r.read()
                code = str(r.status)
            except (OSError, http.client.HTTPException) as exc:
                code = type(exc).__name__
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", col.port, timeout=300)
            with lock:
                statuses[code] = statuses.get(code, 0) + 1
        c.close()

    with RssSampler(col.proc.pid, 0.05) as rss:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    healthy = col.proc.poll() is None
    col.stop()
    return {"bytes_sent": n_bodies * len(body), "body_mb": round(len(body) / 2**20, 1), "connections": conns,
            "statuses": statuses, "elapsed_s": round(elapsed, 1), "rss_peak_mb": round(rss.peak / 2**20, 1),
            "alive_after": healthy}


def storage(workdir: Path, clients: Clients, extra: list[str]) -> dict[str, Any]:
    """Every unique span of the client pools stored once; bytes per span of the closed DuckDB file."""
    col = Infersight(workdir, extra)
    res = clients.run(col.port, duration=600, max_requests=clients.bodies)
    col.stop()
    stored = col.stored()
    return {"spans": stored, "acked_spans": res["acked_spans"], "file_bytes": col.disk_bytes(),
            "bytes_per_span": round(col.disk_bytes() / max(stored, 1), 1),
            "otlp_protobuf_bytes_per_span": round(len(build_pool(0, 1, clients.spans)[0]) / clients.spans, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--spans", type=int, default=512, help="spans per request")
    ap.add_argument("--bodies", type=int, default=100, help="unique request bodies per client")
    ap.add_argument("--phoenix-venv", default="/tmp/phoenix-venv")
    ap.add_argument("--phoenix-duration", type=float, default=None)
    ap.add_argument("--burst-gib", type=float, default=1.0)
    ap.add_argument("--collector-args", default="", help="extra flags for infersight collect, e.g. '--workers 2'")
    ap.add_argument("--skip", default="", help="comma list of: sustained,storage,burst,phoenix")
    ap.add_argument("--out", default="benchmarks/results/ingest.json")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    clients = Clients(args.clients, args.bodies, args.spans)
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.ingest.run", *(argv or sys.argv[1:])]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_at_start": os.getloadavg()},
        "workload": {"spans_per_request": args.spans, "clients": args.clients, "unique_bodies_per_client": args.bodies,
                     "spans_per_trace": "3-11", "attributes_per_span": "~6", "transport": "OTLP/HTTP protobuf"},
    }
    with tempfile.TemporaryDirectory(prefix="infersight-bench-") as tmp:
        work = Path(tmp)
        (work / "a").mkdir()
        extra = args.collector_args.split()
        result["workload"]["collector_args"] = extra
        if "sustained" not in skip:
            col = Infersight(work / "a", extra)
            try:
                result["infersight"] = sustained(col, clients, args.duration)
            finally:
                col.stop()
            result["infersight"]["stored_spans"] = col.stored()
            print("infersight", json.dumps(result["infersight"]), flush=True)
        if "storage" not in skip:
            (work / "s").mkdir()
            result["infersight_storage"] = storage(work / "s", clients, extra)
            print("storage", json.dumps(result["infersight_storage"]), flush=True)
        if "burst" not in skip:
            (work / "b").mkdir()
            result["infersight_burst"] = burst(work / "b", args.burst_gib, 16, extra)
            print("burst", json.dumps(result["infersight_burst"]), flush=True)
        exe = phoenix_exe(args.phoenix_venv)
        if "phoenix" in skip:
            result["phoenix"] = {"skipped": "--skip phoenix"}
        elif exe is None:
            result["phoenix"] = {"skipped": f"no phoenix executable in {args.phoenix_venv}"}
        else:
            ph = None
            for attempt in range(3):  # free ports can be taken by a neighbour between pick and bind
                (work / f"p{attempt}").mkdir()
                try:
                    ph = Phoenix(work / f"p{attempt}", exe)
                    break
                except RuntimeError as exc:
                    log = (work / f"p{attempt}" / "phoenix.log").read_text(errors="replace")[-600:]
                    result["phoenix"] = {"skipped": f"phoenix did not start: {exc}", "log_tail": log}
            if ph is not None:
                try:
                    pres = sustained(ph, clients, args.phoenix_duration or args.duration)
                    t_end = time.perf_counter()
                    last, stable_since = -1, time.perf_counter()
                    while time.perf_counter() - t_end < 300:
                        n = ph.stored()
                        if n != last:
                            last, stable_since = n, time.perf_counter()
                        if n >= pres["acked_spans"] or time.perf_counter() - stable_since > 60:
                            break
                        time.sleep(1)
                    drain = time.perf_counter() - t_end
                    pres["stored_spans"] = last
                    pres["stored_spans_per_s"] = round(last / (pres["elapsed_s"] + drain))
                    pres["drain_s"] = round(drain, 1)
                    pres["bytes_per_span"] = round(ph.disk_bytes() / max(last, 1), 1)
                    result["phoenix"] = pres
                finally:
                    ph.stop()
                print("phoenix", json.dumps(result["phoenix"]), flush=True)
    ours, theirs = result.get("infersight", {}), result.get("phoenix", {})
    if theirs.get("acked_spans_per_s") and ours:
        result["ratio_acked_spans_per_s"] = round(ours["acked_spans_per_s"] / theirs["acked_spans_per_s"], 1)
    if theirs.get("stored_spans_per_s") and ours:
        result["ratio_vs_phoenix_stored_spans_per_s"] = round(ours["acked_spans_per_s"] / theirs["stored_spans_per_s"], 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
