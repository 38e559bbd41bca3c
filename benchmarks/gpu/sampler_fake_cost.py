"""Python cost of one GPU sampler tick and of one request's attribution, with the fake NVML.

What this measures is the sampler's own Python (reader bookkeeping, share derivation, ledger,
listeners) on this CPU machine; NVML itself is the fake's near-free method calls, so the driver
round trips that dominate on a real GPU (20-250 µs a read on the H100 VM, docs/gpu.md) are NOT
in these numbers: the H100 figure is benchmarks/gpu/h100_issue20.py's job.

    python benchmarks/gpu/sampler_fake_cost.py measure              # this checkout, JSON on stdout
    python benchmarks/gpu/sampler_fake_cost.py compare --base DIR   # DIR: another checkout's root
        [--reps 3] [--out benchmarks/results/gpu_sampler_fake_cost.json]

``compare`` alternates base and head runs (ABAB...) in fresh processes so a busy machine's
drift hits both alike, and reports the median of each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _variants(fake_mod: Any) -> dict[str, Any]:
    FakeGpu = fake_mod.FakeGpu
    me, other = os.getpid(), 999_999
    has_shares = "proc_util" in getattr(FakeGpu, "__dataclass_fields__", {})

    def gpu(i: int, two: bool) -> Any:
        kw: dict[str, Any] = {"uuid": f"GPU-{i}", "util_gpu": 60, "power_mw": 400_000,
                              "procs": [(me, 2**30), (other, 2**30)] if two else [(me, 2**30)]}
        if two and has_shares:
            kw["proc_util"] = [(me, 20), (other, 70)]
        return FakeGpu(**kw)

    return {"1gpu_this_process_only": [gpu(0, False)],
            "1gpu_two_processes": [gpu(0, True)],
            "4gpu_two_processes": [gpu(i, True) for i in range(4)]}


def measure(sweeps: int, requests: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from infersight.instrument.gpu import install
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.trace import INVALID_SPAN
    from prometheus_client import CollectorRegistry

    import tests.instrument.gpu.fake_nvml as fake_mod

    out: dict[str, Any] = {}
    for name, gpus in _variants(fake_mod).items():
        plane = install(nvml=fake_mod.FakeNvml(gpus), registry=CollectorRegistry(),
                        meter_provider=MeterProvider())
        s = plane.sampler
        s.stop()  # no thread: time sweep_once() (reads + every listener) on this thread
        s.open()
        for _ in range(50):
            s.sweep_once()
        costs: list[int] = []
        for _ in range(sweeps):
            c0 = time.thread_time_ns()
            s.sweep_once()
            costs.append(time.thread_time_ns() - c0)
        hook = plane.hook
        c0 = time.thread_time_ns()
        for _ in range(requests):
            st = hook.on_request_start(INVALID_SPAN, time.time_ns())
            hook.on_request_end(INVALID_SPAN, st, 0, time.time_ns())
        req_ns = (time.thread_time_ns() - c0) / requests
        plane.shutdown()
        mean_us = statistics.fmean(costs) / 1000
        out[name] = {"sweeps": sweeps, "us_per_sweep_mean": mean_us,
                     "us_per_sweep_median": statistics.median(costs) / 1000,
                     "us_per_sweep_p99": sorted(costs)[int(0.99 * len(costs))] / 1000,
                     "pct_of_one_core_at_10hz": mean_us * 10 / 1e4,
                     "us_per_request_start_end": req_ns / 1000}
    return out


def compare(base: Path, reps: int, sweeps: int, requests: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    for _ in range(reps):
        for label, root in (("base", base), ("head", ROOT)):
            env = dict(os.environ, PYTHONPATH=str(_package_dir(root)))
            res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "measure", "--root", str(root),
                                  "--sweeps", str(sweeps), "--requests", str(requests)],
                                 env=env, capture_output=True, text=True, check=True)
            runs[label].append(json.loads(res.stdout))
    summary: dict[str, Any] = {}
    for label, results in runs.items():
        summary[label] = {v: {k: statistics.median(r[v][k] for r in results) for k in results[0][v]}
                          for v in results[0]}
    return {"runs": runs, "median": summary}


def _package_dir(root: Path) -> Path:
    """A directory with ``infersight/`` assembled from a checkout (its parts are top-level there)."""
    pkg = Path(f"/tmp/infersight-bench-{abs(hash(str(root)))}")
    if not (pkg / "infersight").exists():
        (pkg / "infersight").mkdir(parents=True)
        subprocess.run(f"cp -r {root}/infersight/* {pkg}/infersight/ && "
                       f"for d in instrument collectors analysis demo; do cp -r {root}/$d {pkg}/infersight/$d; done",
                       shell=True, check=True)
    return pkg


def main() -> int:
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("measure", "compare"))
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout measured (its tests/ fake)")
    ap.add_argument("--base", type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sweeps", type=int, default=3000)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    ROOT = args.root.resolve()
    if args.mode == "measure":
        print(json.dumps(measure(args.sweeps, args.requests)))
        return 0
    if args.base is None:
        ap.error("compare needs --base")
    result = {"command": " ".join(["python", "benchmarks/gpu/sampler_fake_cost.py", *sys.argv[1:]]),
              "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "env": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                      "machine": "shared 2-core CI box (busy): fake NVML, Python overhead only"},
              **compare(args.base.resolve(), args.reps, args.sweeps, args.requests)}
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps(result["median"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
