"""Attribute the server's stalls recorded by probe.py (``run.py --probe-dir DIR``).

A stall is a gap between two consecutive request starts longer than ``--min-ms`` while wrk
kept every connection busy. Each stall is attributed to the recorded intervals that overlap
it (span export, its HTTP POST, OTLP metric collection/export, GC by generation, GC drain,
loop-lag record); "none" means nothing recorded overlapped (other processes, the OS, or a
cause the probe does not watch). Usage:

    .venv/bin/python benchmarks/instrument_overhead/stalls.py DIR [--min-ms 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any


def analyse(doc: dict[str, Any], min_ms: float, skip_s: float) -> dict[str, Any]:
    starts = doc["starts_ns"]
    if len(starts) < 2:
        return {"requests": len(starts)}
    t_first = starts[0] + int(skip_s * 1e9)
    starts = [s for s in starts if s >= t_first]
    # a gap longer than 1 s is the pause between the warm-up and the measured wrk run
    gaps = [(a, b) for a, b in zip(starts, starts[1:], strict=False) if b - a < 1_000_000_000]
    lens = sorted((b - a) / 1e6 for a, b in gaps)
    events = doc["events"]
    by_kind: dict[str, list[float]] = defaultdict(list)
    cpu_by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, t0, t1, cpu, _size in events:
        if t0 >= t_first:
            by_kind[kind].append((t1 - t0) / 1e6)
            cpu_by_kind[kind].append(cpu / 1e6)
    stalls: dict[str, list[float]] = defaultdict(list)
    for a, b in gaps:
        ms = (b - a) / 1e6
        if ms < min_ms:
            continue
        kinds = sorted({k for k, t0, t1, _c, _s in events if t0 < b and t1 > a})
        stalls["+".join(kinds) or "none"].append(ms)
    span = (starts[-1] - starts[0]) / 1e9 if len(starts) > 1 else 0.0
    return {
        "requests": len(starts), "seconds": span,
        "gap_ms": {"p50": lens[len(lens) // 2], "p99": lens[int(len(lens) * 0.99)],
                   "p999": lens[int(len(lens) * 0.999)], "max": lens[-1]},
        "stall_ms_total": sum(sum(v) for v in stalls.values()),
        "stalls": {k: {"n": len(v), "total_ms": sum(v), "max_ms": max(v)} for k, v in
                   sorted(stalls.items(), key=lambda kv: -sum(kv[1]))},
        "events": {k: {"n": len(v), "wall_ms_median": statistics.median(v), "wall_ms_max": max(v),
                       "cpu_ms_median": statistics.median(cpu_by_kind[k]), "cpu_ms_max": max(cpu_by_kind[k])}
                   for k, v in sorted(by_kind.items())},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path)
    p.add_argument("--min-ms", type=float, default=3.0)
    p.add_argument("--skip-s", type=float, default=1.5, help="ignore the warm-up at the start")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    for path in sorted(args.dir.glob("*.json")):
        res = analyse(json.loads(path.read_text()), args.min_ms, args.skip_s)
        if args.json:
            print(json.dumps({path.stem: res}))
            continue
        if "gap_ms" not in res:
            print(f"{path.stem}: {res['requests']} requests")
            continue
        g = res["gap_ms"]
        print(f"{path.stem}: {res['requests']} req in {res['seconds']:.1f} s  gap p50 {g['p50']:.2f}  "
              f"p99 {g['p99']:.2f}  p99.9 {g['p999']:.2f}  max {g['max']:.1f} ms  "
              f"stalls >= {args.min_ms} ms: {res['stall_ms_total']:.0f} ms")
        for k, v in res["stalls"].items():
            print(f"    stall {k:40s} n {v['n']:4d}  total {v['total_ms']:7.1f} ms  max {v['max_ms']:6.1f} ms")
        for k, v in res["events"].items():
            print(f"    event {k:20s} n {v['n']:5d}  wall median {v['wall_ms_median']:7.2f} max {v['wall_ms_max']:7.2f} ms"
                  f"  cpu median {v['cpu_ms_median']:6.2f} max {v['cpu_ms_max']:6.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
