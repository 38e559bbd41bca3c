"""Where the GPU sampler's CPU goes at 10 Hz on a real GPU, and what cheaper sweeps cost.

    PYTHONPATH=/tmp/pkg:/tmp/site python3 benchmarks/gpu/sampler_probe.py --out "$OUT"

Runs the real :class:`GpuSampler` (real pynvml) for ``--seconds`` per variant, variants
interleaved over ``--reps`` rounds, idle GPU and under a matmul burner, and reports the sampler
thread's CPU per sweep split into: each NVML field read, the listeners (the request-attribution
ledger), and the rest of ``sweep_once``. Also probes ``nvmlDeviceGetSamples`` (the driver's own
sample buffers: how many samples per second, and what a read costs) as an alternative to waking up
at 10 Hz. Writes ``sampler_probe.json``.
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
from collections import defaultdict
from pathlib import Path
from typing import Any

BURNER = ("import time, torch\n"
          "a = torch.randn(8192, 8192, dtype=torch.bfloat16, device='cuda')\n"
          "end = time.monotonic() + {seconds}\n"
          "while time.monotonic() < end:\n"
          "    for _ in range(20):\n"
          "        a @ a\n"
          "    torch.cuda.synchronize()\n")


def _timed_fields(fields: list[Any], acc: dict[str, float]) -> list[Any]:
    from dataclasses import replace

    def wrap(f: Any) -> Any:
        fn = f.fn

        def timed(n: Any, h: Any, v: Any) -> None:
            c0 = time.thread_time_ns()
            try:
                fn(n, h, v)
            finally:
                acc[f.name] += time.thread_time_ns() - c0
        return timed
    return [replace(f, fn=wrap(f)) for f in fields]


def run_variant(name: str, fast_names: list[str] | None, listener: bool, seconds: float) -> dict[str, Any]:
    """``fast_names`` None: the sampler's own tiers; else these fields every sweep (10 Hz) and
    utilisation/memory taken out of their slower tiers (the design before the re-tiering)."""
    from infersight.instrument.gpu import _reader as R
    from infersight.instrument.gpu._attribution import Ledger
    from infersight.instrument.gpu._sampler import GpuSampler

    s = GpuSampler(interval_s=0.1)
    assert s.open(), "no GPU"
    acc: dict[str, float] = defaultdict(float)
    by_name = {f.name: f for f in (*R.FAST, *R.UTIL, *R.SLOW)}
    for dev in s._reader.devices:  # type: ignore[union-attr]
        if fast_names is not None:
            dev.fast = [by_name[k] for k in fast_names]
            dev.util = [f for f in dev.util if f.name not in fast_names]
            dev.slow = [f for f in dev.slow if f.name not in fast_names]
        dev.fast = _timed_fields(list(dev.fast), acc)
        dev.util = _timed_fields(list(dev.util), acc)
        dev.slow = _timed_fields(list(dev.slow), acc)
    if listener:
        ledger = Ledger()

        def timed_listener(sweep: Any) -> None:
            c0 = time.thread_time_ns()
            ledger.on_sweep(sweep)
            acc["listener:ledger"] += time.thread_time_ns() - c0
        s.add_listener(timed_listener)
    s.start()
    seq0, cpu0 = s.last.seq, s.cpu_s
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    sweeps, cpu = s.last.seq - seq0, s.cpu_s - cpu0
    s.stop()
    n = max(1, sweeps)
    parts = {k: round(v / 1000.0 / n, 2) for k, v in acc.items()}  # per sweep, averaged over all sweeps
    return {"variant": name, "fast_fields": [f.name for f in dev.fast], "listener": listener,
            "sweeps": sweeps, "wall_s": round(wall, 3), "cpu_per_sweep_us": round(1e6 * cpu / n, 1),
            "sampler_cpu_share_pct": round(100.0 * cpu / wall, 4), "parts_us_per_sweep": parts}


def probe_wakeups(reps: int = 50) -> dict[str, Any]:
    cpu = []
    for _ in range(reps):
        c0 = time.thread_time_ns()
        time.sleep(0.1)
        cpu.append((time.thread_time_ns() - c0) / 1000.0)
    return {"time_sleep_0.1s_thread_cpu_us_median": statistics.median(cpu), "reps": reps}


def probe_samples(seconds: float = 5.0) -> dict[str, Any]:
    import pynvml as n

    n.nvmlInit()
    h = n.nvmlDeviceGetHandleByIndex(0)
    kinds = {"power": n.NVML_TOTAL_POWER_SAMPLES, "gpu_util": n.NVML_GPU_UTILIZATION_SAMPLES,
             "mem_util": n.NVML_MEMORY_UTILIZATION_SAMPLES, "sm_clock": n.NVML_PROCESSOR_CLK_SAMPLES}
    out: dict[str, Any] = {}
    for key, kind in kinds.items():
        last = 0
        counts, gaps, cpu = [], [], []
        try:
            _, first = n.nvmlDeviceGetSamples(h, kind, 0)
            last = max((x.timeStamp for x in first), default=0)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(1.0)
                c0 = time.thread_time_ns()
                _, got = n.nvmlDeviceGetSamples(h, kind, last)
                cpu.append((time.thread_time_ns() - c0) / 1000.0)
                ts = sorted(x.timeStamp for x in got if x.timeStamp > last)
                counts.append(len(ts))
                gaps += [(b - a) / 1000.0 for a, b in zip(ts, ts[1:], strict=False)]
                if ts:
                    last = ts[-1]
            out[key] = {"samples_per_s_median": statistics.median(counts) if counts else None,
                        "gap_ms_median": statistics.median(gaps) if gaps else None,
                        "gap_ms_max": max(gaps) if gaps else None,
                        "read_cpu_us_median": statistics.median(cpu) if cpu else None}
        except Exception as exc:  # NotSupported on some boards
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    n.nvmlShutdown()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    variants: list[tuple[str, list[str] | None, bool]] = [
        ("tiers_with_ledger", None, True),
        ("tiers_no_listener", None, False),
        ("all_fast_at_10hz_with_ledger", ["utilization", "memory", "power", "sm_clock", "clock_event_reasons"], True),
        ("power_and_reasons_only_no_listener", ["power", "clock_event_reasons"], False),
    ]
    result: dict[str, Any] = {"command": " ".join(["python3", *sys.argv]), "python": platform.python_version(),
                              "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        import pynvml as n

        n.nvmlInit()
        h = n.nvmlDeviceGetHandleByIndex(0)
        result["gpu"] = str(n.nvmlDeviceGetName(h))
        result["driver"] = str(n.nvmlSystemGetDriverVersion())
        n.nvmlShutdown()
    except Exception as exc:
        result["gpu_error"] = repr(exc)
    result["wakeups"] = probe_wakeups()
    runs: list[dict[str, Any]] = []
    for load in ("idle", "burner"):
        burner = None
        if load == "burner":
            total = args.reps * len(variants) * (args.seconds + 1.5) + 15
            burner = subprocess.Popen([sys.executable, "-c", BURNER.format(seconds=total)])
            time.sleep(8.0)  # CUDA context + first kernels
        for rep in range(args.reps):
            order = variants[rep % len(variants):] + variants[:rep % len(variants)]
            for name, fast, listener in order:
                r = run_variant(name, fast, listener, args.seconds)
                r.update(load=load, rep=rep)
                runs.append(r)
                print(json.dumps(r), flush=True)
        if load == "burner":
            result["samples_api_under_load"] = probe_samples()
            print(json.dumps(result["samples_api_under_load"]), flush=True)
        if burner is not None:
            burner.terminate()
            burner.wait(10)
    result["runs"] = runs
    summary: dict[str, Any] = {}
    for load in ("idle", "burner"):
        for name, _, _ in variants:
            xs = [r["cpu_per_sweep_us"] for r in runs if r["variant"] == name and r["load"] == load]
            if xs:
                summary[f"{load}:{name}"] = {"cpu_per_sweep_us_median": statistics.median(xs),
                                             "share_pct_at_10hz": round(statistics.median(xs) / 1000.0, 4)}
    result["summary"] = summary
    (args.out / "sampler_probe.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
