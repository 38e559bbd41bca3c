"""Probe on the H100: cold (10 Hz cadence) cost of alternative NVML reads for the sampler.

Compares memory info v1/v2, the field-values API (instantaneous power, energy counter) with
the plain calls, and the CPU a sleeping thread pays per wake-up (Event.wait vs time.sleep).
Also records instant vs averaged power while a matmul starts and stops (the attribution
reads power; NVML's nvmlDeviceGetPowerUsage is a 1 s average on Hopper).

    python3 benchmarks/gpu/h100_probe.py --out "$OUT"
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from typing import Any


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    args = ap.parse_args()
    import pynvml as n
    import torch

    n.nvmlInit()
    h = n.nvmlDeviceGetHandleByIndex(0)
    fi = n.NVML_FI_DEV_POWER_INSTANT, n.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION

    def fv(ids: list[int]) -> Any:
        vals = n.nvmlDeviceGetFieldValues(h, ids)
        return [(v.nvmlReturn, v.value.ullVal if v.valueType == n.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
                 else v.value.uiVal, v.latencyUsec, v.timestamp) for v in vals]

    calls = {
        "memory_v1": lambda: n.nvmlDeviceGetMemoryInfo(h),
        "memory_v2": lambda: n.nvmlDeviceGetMemoryInfo(h, n.nvmlMemory_v2),
        "utilization": lambda: n.nvmlDeviceGetUtilizationRates(h),
        "power_usage": lambda: n.nvmlDeviceGetPowerUsage(h),
        "energy_api": lambda: n.nvmlDeviceGetTotalEnergyConsumption(h),
        "fv_power_instant": lambda: fv([fi[0]]),
        "fv_energy": lambda: fv([fi[1]]),
        "fv_power_instant_and_energy": lambda: fv(list(fi)),
    }
    out: dict[str, Any] = {"fv_sample": {k: str(calls[k]()) for k in
                                         ("fv_power_instant", "fv_energy", "fv_power_instant_and_energy")}}
    cold: dict[str, list[float]] = {k: [] for k in calls}
    ev = threading.Event()
    wake_ev: list[float] = []
    wake_sleep: list[float] = []
    for i in range(40):
        c0 = time.thread_time_ns()
        if i % 2:
            ev.wait(0.1)
            wake_ev.append((time.thread_time_ns() - c0) / 1000)
        else:
            time.sleep(0.1)
            wake_sleep.append((time.thread_time_ns() - c0) / 1000)
        for k, fn in calls.items():
            c0 = time.thread_time_ns()
            try:
                fn()
            except Exception as exc:
                out.setdefault("errors", {})[k] = repr(exc)
                continue
            cold[k].append((time.thread_time_ns() - c0) / 1000)
    out["cold_cpu_us_median"] = {k: statistics.median(v) for k, v in cold.items() if v}
    out["wake_cpu_us_median"] = {"event_wait": statistics.median(wake_ev),
                                 "time_sleep": statistics.median(wake_sleep)}
    # instant vs averaged power across a load step
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    trace: list[tuple[float, float, float, str]] = []
    stop = threading.Event()
    phase = ["idle"]

    def sample() -> None:
        t0 = time.monotonic()
        while not stop.wait(0.05):
            try:
                inst = fv([fi[0]])[0][1] / 1000
            except Exception:
                inst = float("nan")
            trace.append((time.monotonic() - t0, n.nvmlDeviceGetPowerUsage(h) / 1000, inst, phase[0]))

    th = threading.Thread(target=sample)
    th.start()
    time.sleep(1.0)
    phase[0] = "load"
    t_end = time.monotonic() + 3.0
    while time.monotonic() < t_end:
        for _ in range(10):
            a @ a
        torch.cuda.synchronize()
    phase[0] = "idle"
    time.sleep(2.0)
    stop.set()
    th.join()
    out["power_trace_s_avg_w_instant_w"] = [(round(t, 2), round(p, 1), round(q, 1), ph) for t, p, q, ph in trace]
    with open(os.path.join(args.out, "gpu_h100_probe.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: out[k] for k in ("cold_cpu_us_median", "wake_cpu_us_median", "fv_sample")}, indent=1))
    print(out.get("errors"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
