"""The GPU plane on a machine with several GPUs: every device sampled and labelled on its own.

    PYTHONPATH=/tmp/pkg:/tmp/site python3 benchmarks/gpu/multi_gpu_check.py --out "$OUT"

Real NVML, real PyTorch: a matmul burner runs on the *last* GPU only while the sampler runs on
all of them; the checks say the busy device (and only it) shows utilisation, power and the
burner's process, that ``devices=[...]`` restricts sampling, and that Prometheus and OTLP carry
one series per device. Writes ``gpu_multi.json``; exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BURNER = ("import time, torch\n"
          "dev = torch.device('cuda', {index})\n"
          "a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)\n"
          "print('ready', flush=True)\n"
          "end = time.monotonic() + {seconds}\n"
          "while time.monotonic() < end:\n"
          "    for _ in range(20):\n"
          "        a @ a\n"
          "    torch.cuda.synchronize(dev)\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    from infersight.instrument.gpu._otel import OtelExport
    from infersight.instrument.gpu._prom import GpuCollector
    from infersight.instrument.gpu._sampler import GpuSampler
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from prometheus_client import CollectorRegistry, generate_latest

    out: dict[str, Any] = {"command": " ".join(["python3", *sys.argv])}
    s = GpuSampler(interval_s=0.1)
    assert s.start(), "no GPU"
    names = s.device_names
    n = len(names)
    out["devices"] = list(names)
    busy = n - 1
    burner = subprocess.Popen([sys.executable, "-c", BURNER.format(index=busy, seconds=20)],
                              stdout=subprocess.PIPE, text=True)
    ready = burner.stdout.readline().strip() if burner.stdout else ""
    time.sleep(4.0)
    sweep = s.last
    by_label = {d.label: d for d in sweep.devices}
    out["sweep"] = {d.label: {"uuid": d.uuid, "util_gpu": d.values.get("util_gpu"),
                              "power_w": d.values.get("power_w"), "sm_clock_hz": d.values.get("sm_clock_hz"),
                              "processes": d.processes} for d in sweep.devices}
    reg = CollectorRegistry()
    reg.register(GpuCollector(s))
    prom = generate_latest(reg).decode()
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    OtelExport(s, meter_provider=mp)
    data = reader.get_metrics_data()
    util_points = [p for rm in (data.resource_metrics if data is not None else []) for sm in rm.scope_metrics for m in sm.metrics
                   if m.name == "hw.gpu.utilization" for p in m.data.data_points]
    only = GpuSampler(interval_s=0.1, devices=[busy])
    only.open()
    only_sweep = only.sweep_once()
    only.stop()
    burner.wait(30)
    s.stop()
    mp.shutdown()
    others = [by_label[str(i)] for i in range(n - 1) if str(i) in by_label]
    busy_dev = by_label.get(str(busy))
    checks = {
        "several_gpus": n >= 2,
        "burner_started": ready == "ready",
        "every_device_sampled_with_its_own_uuid": len(by_label) == n and len({d.uuid for d in sweep.devices}) == n,
        "busy_device_is_busy": busy_dev is not None and (busy_dev.values.get("util_gpu") or 0) >= 0.9,
        "other_devices_idle": all((d.values.get("util_gpu") or 0) <= 0.1 for d in others),
        "busy_device_draws_more_power": busy_dev is not None and all(
            (busy_dev.values.get("power_w") or 0) > (d.values.get("power_w") or 0) + 50 for d in others),
        "burner_process_on_the_busy_device_only": busy_dev is not None and any(
            pid == burner.pid for pid, _ in (busy_dev.processes or ())) and all(
            pid != burner.pid for d in others for pid, _ in (d.processes or ())),
        "prometheus_one_series_per_device": all(f'gpu="{i}"' in prom or f'gpu_index="{i}"' in prom
                                                for i in range(n)),
        "otlp_one_point_per_device": len({(p.attributes or {}).get("gpu.index") for p in util_points}) == n,
        "devices_option_restricts": [d.label for d in only_sweep.devices] == [str(busy)],
    }
    out["prometheus_util_lines"] = [ln for ln in prom.splitlines() if ln.startswith("infersight_gpu_utilization")]
    out["checks"] = checks
    out["all_checks_pass"] = all(checks.values())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_multi.json").write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps({"devices": out["devices"], "checks": checks}, indent=1))
    return 0 if out["all_checks_pass"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
