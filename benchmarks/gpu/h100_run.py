"""Evidence run for the GPU plane on a real NVIDIA GPU (made for the H100 device machine).

One process, four phases, one JSON file:

1. cost of NVML calls and of one sampler sweep (a 6-call sweep, the plane's fast and slow sweeps);
2. CPU share of the sampler thread at 10 Hz and 100 Hz (thread CPU time / wall time);
3. a bf16 matmul loop between two idle stretches: utilisation, power, energy, clocks,
   P-state, temperature, clock-event reasons and per-process memory must move/show;
4. a small model (stack of bf16 Linear layers) served by FastAPI through
   ``instrument_app(app, gpu=True)`` under closed-loop load: the energy on the request
   spans is compared with the device's own energy counter over the same window.

Run (what benchmarks/results/gpu_h100.json was made with; see benchmarks/gpu/README.md):

    python3 benchmarks/gpu/h100_run.py --out "$OUT"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
import traceback
from typing import Any

from infersight.instrument import GpuOptions


def _q(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def _stats(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {}
    return {"n": len(xs), "min": min(xs), "median": statistics.median(xs), "mean": statistics.fmean(xs),
            "p99": _q(xs, 0.99), "max": max(xs)}


def _time_call(fn: Any, reps: int) -> dict[str, float]:
    ns: list[float] = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        fn()
        ns.append((time.perf_counter_ns() - t0) / 1000.0)
    return {"median_us": statistics.median(ns), "p99_us": _q(ns, 0.99), "reps": reps}


# --- phase 1 -------------------------------------------------------------------------------
def phase_call_costs(pynvml: Any) -> dict[str, Any]:
    from infersight.instrument.gpu._nvml import NvmlApi
    from infersight.instrument.gpu._reader import NvmlReader

    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    n = pynvml
    calls = {
        "utilization": lambda: n.nvmlDeviceGetUtilizationRates(h),
        "memory_v2": lambda: n.nvmlDeviceGetMemoryInfo(h, n.nvmlMemory_v2),
        "power": lambda: n.nvmlDeviceGetPowerUsage(h),
        "power_instant_field": lambda: n.nvmlDeviceGetFieldValues(h, [n.NVML_FI_DEV_POWER_INSTANT]),
        "energy": lambda: n.nvmlDeviceGetTotalEnergyConsumption(h),
        "sm_clock": lambda: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM),
        "mem_clock": lambda: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM),
        "clock_event_reasons": lambda: n.nvmlDeviceGetCurrentClocksEventReasons(h),
        "temperature": lambda: n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU),
        "pstate": lambda: n.nvmlDeviceGetPerformanceState(h),
        "power_limit": lambda: n.nvmlDeviceGetEnforcedPowerLimit(h),
        "max_sm_clock": lambda: n.nvmlDeviceGetMaxClockInfo(h, n.NVML_CLOCK_SM),
        "processes": lambda: n.nvmlDeviceGetComputeRunningProcesses(h),
    }
    out: dict[str, Any] = {"per_call": {}}
    for name, fn in calls.items():
        try:
            out["per_call"][name] = _time_call(fn, 500)
        except Exception as exc:
            out["per_call"][name] = {"error": repr(exc)}
    try:
        out["per_call"]["pcie_tx"] = _time_call(lambda: n.nvmlDeviceGetPcieThroughput(h, n.NVML_PCIE_UTIL_TX_BYTES), 10)
    except Exception as exc:
        out["per_call"]["pcie_tx"] = {"error": repr(exc)}

    def six() -> None:
        n.nvmlDeviceGetUtilizationRates(h)
        n.nvmlDeviceGetMemoryInfo(h)
        n.nvmlDeviceGetPowerUsage(h)
        n.nvmlDeviceGetTotalEnergyConsumption(h)
        n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM)
        n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU)

    def six_no_energy() -> None:
        n.nvmlDeviceGetUtilizationRates(h)
        n.nvmlDeviceGetMemoryInfo(h)
        n.nvmlDeviceGetPowerUsage(h)
        n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM)
        n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU)
        n.nvmlDeviceGetCurrentClocksEventReasons(h)

    out["six_call_sweep_with_energy"] = _time_call(six, 1000)
    out["six_call_sweep_without_energy"] = _time_call(six_no_energy, 2000)
    # The same calls at the sampler's cadence (10 Hz): NVML answers a tight loop from a short
    # cache, so the cold cost per call (thread CPU and wall) is what a sampler really pays.
    cold: dict[str, dict[str, list[float]]] = {k: {"cpu_us": [], "wall_us": []} for k in calls}
    wake_cpu: list[float] = []
    ev = threading.Event()
    for _ in range(30):
        c0 = time.thread_time_ns()
        ev.wait(0.1)
        wake_cpu.append((time.thread_time_ns() - c0) / 1000.0)
        for name, fn in calls.items():
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            try:
                fn()
            except Exception:
                continue
            cold[name]["cpu_us"].append((time.thread_time_ns() - c0) / 1000.0)
            cold[name]["wall_us"].append((time.perf_counter_ns() - w0) / 1000.0)
    out["cold_per_call_at_10hz"] = {k: {"cpu_us_median": statistics.median(v["cpu_us"]),
                                        "wall_us_median": statistics.median(v["wall_us"])}
                                    for k, v in cold.items() if v["cpu_us"]}
    out["idle_wakeup_cpu_us_median"] = statistics.median(wake_cpu)
    reader = NvmlReader(NvmlApi(pynvml))
    reader.open()
    out["plane_fast_sweep"] = _time_call(lambda: reader.read(slow=False), 2000)
    out["plane_slow_sweep"] = _time_call(lambda: reader.read(slow=True), 20)
    reader_pcie = NvmlReader(NvmlApi(pynvml), pcie=True)
    reader_pcie.open()
    out["plane_slow_sweep_with_pcie"] = _time_call(lambda: reader_pcie.read(slow=True), 10)
    reader_pcie.close()
    out["plane_fast_fields"] = [f.name for f in reader.devices[0].fast]
    out["plane_slow_fields"] = [f.name for f in reader.devices[0].slow]
    out["read_errors"] = {f"{k[0]}:{k[1]}": v for k, v in reader.read_errors.items()}
    # reader.close() would nvmlShutdown; NVML init is reference-counted, so it is safe.
    reader.close()
    return out


# --- phase 2 -------------------------------------------------------------------------------
def phase_cpu_share(seconds: float) -> dict[str, Any]:
    from infersight.instrument.gpu._attribution import Ledger
    from infersight.instrument.gpu._otel import OtelExport
    from infersight.instrument.gpu._sampler import GpuSampler
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

    out: dict[str, Any] = {}
    devnull = open(os.devnull, "w")  # noqa: SIM115
    configs = (("10hz", 10, False, 10.0), ("100hz", 100, False, 10.0),
               ("10hz_energy_every_1s", 10, False, 1.0), ("10hz_full_res_otlp", 10, True, 10.0))
    for key, hz, otlp, energy_s in configs:
        s = GpuSampler(interval_s=1.0 / hz, energy_interval_s=energy_s)
        ledger = Ledger()
        s.add_listener(ledger.on_sweep)
        export = None
        if otlp:  # full-resolution OTLP: the SDK collects after every sweep on this thread
            export = OtelExport(s, ledger=ledger, metric_exporter=ConsoleMetricExporter(out=devnull))
            s.on_stop(export.shutdown)
        assert s.start(), "sampler did not start"
        if export is not None:
            export.start()
        seq0 = s.last.seq
        w0, p0 = time.monotonic(), time.process_time()
        time.sleep(seconds)
        wall, proc = time.monotonic() - w0, time.process_time() - p0
        sweeps = s.last.seq - seq0
        cpu = s.cpu_s
        s.stop()
        out[key] = {"seconds": wall, "sweeps": sweeps, "achieved_hz": sweeps / wall,
                          "sampler_thread_cpu_s": cpu,
                          "sampler_cpu_share_of_one_core_pct": 100.0 * cpu / wall,
                          "process_cpu_share_of_one_core_pct": 100.0 * proc / wall,
                          "cpu_per_sweep_us": 1e6 * cpu / max(1, sweeps)}
    return out


# --- phase 3 -------------------------------------------------------------------------------
def phase_matmul(pynvml: Any, idle_s: float, load_s: float) -> dict[str, Any]:
    import torch
    from infersight.instrument.gpu._nvml import decode_reasons, reason_bits
    from infersight.instrument.gpu._sampler import GpuSampler

    sweeps: list[Any] = []
    s = GpuSampler(interval_s=0.1)
    s.add_listener(sweeps.append)
    assert s.start()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    marks: dict[str, int] = {"run_start": time.time_ns()}
    e_run0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    hold = torch.empty(4 * 2**30, dtype=torch.uint8, device="cuda")  # 4 GiB: shows in memory
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    torch.cuda.synchronize()
    time.sleep(idle_s)
    marks["load_start"] = time.time_ns()
    e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    iters = 0
    t_end = time.monotonic() + load_s
    while time.monotonic() < t_end:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()
        iters += 20
    e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    marks["load_end"] = time.time_ns()
    time.sleep(idle_s)
    e_run1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    marks["run_end"] = time.time_ns()
    cpu_s, nsw = s.cpu_s, len(sweeps)
    s.stop()
    del hold
    tflops = iters * 2 * 8192**3 / load_s / 1e12
    bits = reason_bits(pynvml)

    def sel(lo: int, hi: int) -> list[Any]:
        return [sw for sw in sweeps if lo <= sw.t_ns < hi and sw.devices]

    phases = {"idle_before": sel(marks["run_start"], marks["load_start"]),
              "load": sel(marks["load_start"] + 300_000_000, marks["load_end"]),
              "idle_after": sel(marks["load_end"] + 1_000_000_000, marks["run_end"])}
    out: dict[str, Any] = {"matmul_iters": iters, "matmul_tflops": tflops,
                           "sampler_cpu_share_pct": 100.0 * cpu_s / (len(sweeps) * 0.1) if sweeps else None,
                           "sweeps": nsw, "phases": {}}
    for name, sws in phases.items():
        d0 = [sw.devices[0] for sw in sws]

        def col(key: str, d0: list[Any] = d0) -> list[float]:
            return [d.values[key] for d in d0 if key in d.values]

        reasons: dict[str, int] = {}
        for d in d0:
            for r in decode_reasons(d.reasons or 0, bits):
                reasons[r] = reasons.get(r, 0) + 1
        pids = {}
        for d in d0:
            for pid, mem in d.processes or ():
                pids[str(pid)] = max(pids.get(str(pid), 0), mem)
        out["phases"][name] = {
            "samples": len(d0), "util_gpu": _stats(col("util_gpu")), "util_mem": _stats(col("util_mem")),
            "power_w": _stats(col("power_w")), "sm_clock_mhz": _stats([x / 1e6 for x in col("sm_clock_hz")]),
            "mem_clock_mhz": _stats([x / 1e6 for x in col("mem_clock_hz")]), "temp_c": _stats(col("temp_c")),
            "pstate": _stats(col("pstate")), "mem_used_gib": _stats([x / 2**30 for x in col("mem_used")]),
            "clock_event_reasons_seen": reasons, "processes_max_mem_bytes": pids,
        }
    # energy counter vs power integrated over every sample of the whole run (idle, load, idle):
    # the same integral the request attribution uses
    run = [sw for sw in sweeps if marks["run_start"] <= sw.t_ns <= marks["run_end"] and sw.devices]
    p_int = 0.0
    for x, y in zip(run, run[1:], strict=False):
        dt = (y.t_ns - x.t_ns) / 1e9
        p_int += 0.5 * (x.devices[0].values["power_w"] + y.devices[0].values["power_w"]) * dt
    e_run = [sw.devices[0].values["energy_j"] for sw in run if "energy_j" in sw.devices[0].values]
    span_s = (run[-1].t_ns - run[0].t_ns) / 1e9 if run else 0.0
    run_s = (marks["run_end"] - marks["run_start"]) / 1e9
    counter = (e_run1 - e_run0) / 1000.0
    out["energy"] = {"load_counter_delta_j": (e1 - e0) / 1000.0,
                     "run_counter_delta_j": counter, "run_seconds": run_s,
                     "run_power_integrated_j": p_int, "integrated_span_s": span_s,
                     "run_power_integrated_scaled_to_run_j": p_int * run_s / span_s if span_s else None,
                     "energy_counter_monotonic": all(y >= x for x, y in zip(e_run, e_run[1:], strict=False))}
    me = str(os.getpid())
    lp = out["phases"]["load"]
    ip = out["phases"]["idle_before"]
    all_reasons = set(lp["clock_event_reasons_seen"]) | set(ip["clock_event_reasons_seen"])
    out["checks"] = {
        "utilization_moves": lp["util_gpu"]["median"] >= 0.9 and out["phases"]["idle_after"]["util_gpu"]["median"] <= 0.1,
        "power_moves": lp["power_w"]["median"] > ip["power_w"]["median"] + 100.0,
        "energy_counter_moves": out["energy"]["load_counter_delta_j"] > 100.0 and out["energy"]["energy_counter_monotonic"],
        "power_integral_within_10pct_of_energy_counter": abs(
            (out["energy"]["run_power_integrated_scaled_to_run_j"] or 0) / counter - 1.0) < 0.10 if counter else False,
        "sm_clock_moves": lp["sm_clock_mhz"]["median"] > ip["sm_clock_mhz"]["min"],
        "reasons_decode": bool(all_reasons) and all(not r.startswith("bit_") for r in all_reasons),
        "process_memory_shows_this_process": lp["processes_max_mem_bytes"].get(me, 0) >= 4 * 2**30,
    }
    out["pid"] = os.getpid()
    return out


# --- phase 4 -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def phase_serving(pynvml: Any, split: str, seconds: float, concurrency: int) -> dict[str, Any]:
    import httpx
    import torch
    import uvicorn
    from fastapi import FastAPI
    from infersight.instrument import instrument_app, uninstrument_app
    from infersight.instrument.gpu import attribute
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry

    torch.manual_seed(0)
    layers = [torch.nn.Linear(8192, 8192, bias=False) for _ in range(16)]
    model = torch.nn.Sequential(*layers).to("cuda", torch.bfloat16).eval()
    app = FastAPI()

    @app.post("/infer")
    def infer(n: int) -> dict[str, Any]:  # sync: runs in the threadpool, requests overlap
        tokens = n * 256
        attribute(tokens=tokens)
        with torch.inference_mode():
            x = torch.randn(tokens, 8192, dtype=torch.bfloat16, device="cuda")
            y = model(x)
            torch.cuda.synchronize()
        return {"tokens": tokens, "checksum": float(y[0, 0])}

    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    mreader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[mreader])
    reg = CollectorRegistry()
    state = instrument_app(app, tracer_provider=tp, meter_provider=mp, registry=reg,
                           gpu=GpuOptions(interval_s=0.1, split=split, instance_type="p5.48xlarge"),
                           instrument_clients=False)
    plane = next(h._plane for h in state.hooks if hasattr(h, "_plane"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    sizes = (4, 8, 16, 32)
    with httpx.Client(timeout=30) as c:
        for i in range(12):  # warm-up (cuBLAS handles, allocator)
            c.post(f"{url}/infer", params={"n": sizes[i % 4]}).raise_for_status()
    time.sleep(0.3)
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    t_start = time.time_ns()
    e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    idle0, attr0 = plane.ledger.idle_energy_j, plane.ledger.attributed_energy_j
    stop_at = time.monotonic() + seconds
    errors: list[str] = []

    def client(k: int) -> None:
        i = k
        with httpx.Client(timeout=30) as c:
            while time.monotonic() < stop_at:
                try:
                    c.post(f"{url}/infer", params={"n": sizes[i % 4]}).raise_for_status()
                except Exception as exc:  # keep going, report
                    errors.append(repr(exc))
                i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    t_end = time.time_ns()
    time.sleep(0.25)  # let the sampler take one more sweep (ledger correction)
    idle1, attr1 = plane.ledger.idle_energy_j, plane.ledger.attributed_energy_j
    metrics_text = httpx.get(f"{url}/metrics").text
    server.should_exit = True
    th.join(10)
    mdata = mreader.get_metrics_data()
    otel_names = sorted({m.name for rm in mdata.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
                         if m.name.startswith(("hw.", "infersight.gpu"))}) if mdata else []
    from opentelemetry.trace import SpanKind

    req = [s for s in spans.get_finished_spans()
           if s.kind == SpanKind.SERVER and s.attributes and "infersight.gpu.energy_j" in s.attributes
           and s.start_time >= t_start and s.end_time <= t_end]
    by_n: dict[int, list[Any]] = {}
    for s in req:
        tokens = int(s.attributes.get("infersight.gpu.tokens", 0))
        by_n.setdefault(tokens, []).append(s)
    per_size = {str(k): {"requests": len(v),
                         "energy_j_mean": statistics.fmean(float(s.attributes["infersight.gpu.energy_j"]) for s in v),
                         "latency_ms_mean": statistics.fmean((s.end_time - s.start_time) / 1e6 for s in v),
                         "cost_usd_mean": statistics.fmean(float(s.attributes.get("infersight.gpu.cost_usd", 0)) for s in v),
                         "cost_per_1k_tokens_usd_mean": statistics.fmean(
                             float(s.attributes.get("infersight.gpu.cost_per_1k_tokens_usd", 0)) for s in v)}
                for k, v in sorted(by_n.items())}
    measured = (e1 - e0) / 1000.0
    attributed = sum(float(s.attributes["infersight.gpu.energy_j"]) for s in req)
    sample = dict(req[len(req) // 2].attributes) if req else {}
    prom_lines = [ln for ln in metrics_text.splitlines()
                  if ln.startswith(("infersight_gpu_up", "infersight_gpu_power_watts", "infersight_gpu_utilization_ratio",
                                    "infersight_gpu_attributed_energy_joules_total", "infersight_gpu_throttled"))]
    plane_cpu = plane.sampler.cpu_s
    uninstrument_app(app)  # runs the plane's shutdown (sampler thread stops)
    return {
        "split": split, "concurrency": concurrency, "seconds": (t_end - t_start) / 1e9, "requests": len(req),
        "client_errors": errors[:5], "measured_energy_j": measured, "span_energy_sum_j": attributed,
        "span_energy_over_measured": attributed / measured if measured else None,
        "ledger_idle_energy_j_in_window": idle1 - idle0, "ledger_attributed_j_in_window": attr1 - attr0,
        "spans_plus_idle_over_measured": (attributed + idle1 - idle0) / measured if measured else None,
        "per_token_count": per_size, "example_span_attributes": {k: (list(v) if isinstance(v, tuple) else v)
                                                                 for k, v in sample.items()},
        "prometheus_sample": prom_lines[:12], "otel_metric_names": otel_names,
        "sampler_cpu_s": plane_cpu,
        "checks": {"span_energy_within_10pct_of_counter": abs(attributed / measured - 1.0) < 0.10 if measured else False,
                   "prometheus_up_1": any(ln.strip() == "infersight_gpu_up 1.0" for ln in prom_lines),
                   "otel_hw_metrics": {"hw.power", "hw.energy", "hw.gpu.utilization"} <= set(otel_names)},
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--quick", action="store_true", help="shorter phases (smoke test)")
    args = ap.parse_args()
    import pynvml
    import torch

    scale = 0.3 if args.quick else 1.0
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    result: dict[str, Any] = {
        "command": "python3 benchmarks/gpu/h100_run.py --out $OUT" + (" --quick" if args.quick else ""),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "env": {"python": platform.python_version(), "torch": torch.__version__,
                "gpu": str(pynvml.nvmlDeviceGetName(h)), "driver": str(pynvml.nvmlSystemGetDriverVersion()),
                "nvidia_ml_py": getattr(pynvml, "__version__", "13.615.71 (carried wheel)"),
                "cpu_count": os.cpu_count(), "kernel": platform.release()},
    }
    path = os.path.join(args.out, "gpu_h100.json")

    def save() -> None:
        with open(path, "w") as f:
            json.dump(result, f, indent=1, default=str)

    phases = [
        ("call_costs", lambda: phase_call_costs(pynvml)),
        ("cpu_share", lambda: phase_cpu_share(8.0 * scale)),
        ("matmul", lambda: phase_matmul(pynvml, 3.0 * scale, 10.0 * scale)),
        ("serving_equal", lambda: phase_serving(pynvml, "equal", 15.0 * scale, 4)),
        ("serving_tokens", lambda: phase_serving(pynvml, "tokens", 15.0 * scale, 4)),
    ]
    for name, fn in phases:
        t0 = time.monotonic()
        try:
            result[name] = fn()
        except Exception:
            result[name] = {"error": traceback.format_exc()}
        result[name]["phase_wall_s"] = time.monotonic() - t0
        print(f"== {name} done in {time.monotonic() - t0:.1f}s", flush=True)
        save()
    checks = {f"{p}.{k}": v for p in ("matmul", "serving_equal", "serving_tokens")
              for k, v in result.get(p, {}).get("checks", {}).items()}
    result["checks"] = checks
    result["all_checks_pass"] = bool(checks) and all(checks.values())
    save()
    print(json.dumps({"checks": checks}, indent=1))
    return 0 if result["all_checks_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
