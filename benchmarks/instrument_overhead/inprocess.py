"""In-process companion of run.py: CPU per request of the ASGI stack alone, no sockets.

Each variant runs in a fresh interpreter (same app.py, same sink for OTLP), drives the app
directly through ASGI ``(scope, receive, send)`` calls on one event loop (yielding to the loop
between requests, so loop-lag and export threads run as in a server), and reports process
CPU time (all threads, exporter included) per request. Less realistic than wrk, but far less
sensitive to other load on a shared machine. Usage:

    .venv/bin/python benchmarks/instrument_overhead/inprocess.py --reps 5 --requests 5000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import VARIANTS, free_port, start_sink, stop, wait_up  # noqa: E402

CHILD = r"""
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
import app as bench
N = int(sys.argv[2])
SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
         "scheme": "http", "path": "/predict/m1", "raw_path": b"/predict/m1", "query_string": b"",
         "root_path": "", "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")],
         "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}

async def main():
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        pass
    for _ in range(500):
        await bench.app(dict(SCOPE), receive, send)
        await asyncio.sleep(0)
    t0 = time.process_time()
    for _ in range(N):
        await bench.app(dict(SCOPE), receive, send)
        await asyncio.sleep(0)
    return (time.process_time() - t0) / N * 1e6

print(json.dumps({"cpu_us_per_req": asyncio.run(main())}))
"""


def _shim(tree: Path) -> Path:
    """A directory whose ``infersight`` package is ``tree``'s (its folders mapped as setup.py does);
    on PYTHONPATH it wins over the editable install (whose finder comes after the path finder)."""
    import tempfile

    tree = tree.resolve()
    root = Path(tempfile.mkdtemp(prefix="infersight-base-"))
    pkg = root / "infersight"
    pkg.mkdir()
    for entry in (tree / "infersight").iterdir():
        (pkg / entry.name).symlink_to(entry)
    for folder in ("instrument", "collectors", "analysis", "demo"):
        (pkg / folder).symlink_to(tree / folder)
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--cpu", default="1")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--output", type=Path, default=HERE.parent / "results" / "instrument_overhead_inprocess.json")
    p.add_argument("--baseline-tree", type=Path, default=None,
                   help="A/B: also run every variant as VARIANT@base importing infersight from this source "
                        "tree (e.g. `git archive main | tar -x -C DIR`), interleaved with the current one")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    base_path = _shim(args.baseline_tree) if args.baseline_tree is not None else None
    if base_path is not None:
        variants = [x for v in variants for x in (v, f"{v}@base")]
    sink_port = free_port()
    sink = start_sink(sink_port, "0")
    sink_url = f"http://127.0.0.1:{sink_port}"
    runs: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    try:
        wait_up(f"{sink_url}/count")
        for rep in range(args.reps):
            order = variants[rep % len(variants):] + variants[:rep % len(variants)]
            for v in order:
                env = {**os.environ, "INFERSIGHT_BENCH_VARIANT": v.removesuffix("@base"),
                       "INFERSIGHT_BENCH_SINK": sink_url, "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url,
                       "PYTHONHASHSEED": "0"}
                if v.endswith("@base") and base_path is not None:
                    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(base_path), env.get("PYTHONPATH")]))
                out = subprocess.run(["taskset", "-c", args.cpu, sys.executable, "-c", CHILD, str(HERE),
                                      str(args.requests)], env=env, capture_output=True, text=True, timeout=300,
                                     cwd=HERE)  # not the repo root: its infersight/ would shadow PYTHONPATH
                if out.returncode != 0:
                    raise RuntimeError(f"{v}: {out.stderr[-2000:]}")
                r = json.loads(out.stdout.strip().splitlines()[-1]) | {"variant": v, "rep": rep}
                runs.append(r)
                sys.stderr.write(f"rep {rep} {v:18s} {r['cpu_us_per_req']:7.1f} us/req\n")
    finally:
        stop(sink)
    summary: dict[str, Any] = {}
    for v in variants:
        xs = [r["cpu_us_per_req"] for r in runs if r["variant"] == v]
        summary[v] = {"median_cpu_us_per_req": statistics.median(xs), "min_cpu_us_per_req": min(xs), "runs": len(xs)}
    for v in variants:  # each tree's variants against its own bare
        bare = "bare@base" if v.endswith("@base") else "bare"
        if bare in summary:
            summary[v]["added_median_us"] = summary[v]["median_cpu_us_per_req"] - summary[bare]["median_cpu_us_per_req"]
            summary[v]["added_min_us"] = summary[v]["min_cpu_us_per_req"] - summary[bare]["min_cpu_us_per_req"]
    doc = {"benchmark": "instrument_overhead_inprocess",
           "command": ".venv/bin/python benchmarks/instrument_overhead/inprocess.py " + " ".join(
               argv if argv is not None else sys.argv[1:]),
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                       "note": "shared 2-core VM; other jobs ran at the same time"},
           "params": {"reps": args.reps, "requests": args.requests, "cpu": args.cpu},
           "goal": {"added_cpu_us_per_req_max": 60},
           "summary": summary, "runs": runs}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    for v in variants:
        s = summary[v]
        sys.stderr.write(f"{v:18s} median {s['median_cpu_us_per_req']:7.1f} us/req (+{s.get('added_median_us', 0):6.1f})  "
                         f"min {s['min_cpu_us_per_req']:7.1f} (+{s.get('added_min_us', 0):6.1f})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
