"""GPU board (NVML): utilisation, memory, power vs limit, energy, clocks vs max, throttle reasons,
per-process memory, and cost per request / per 1k tokens.

Metric names come from the GPU part of the catalog (instrument/gpu/_catalog.py).
"""

from __future__ import annotations

from typing import Any

from _kit import GSEL, RATE, SEL, board, row, stat_tile, state_timeline, ts, variables
from grafana_foundation_sdk.builders import dashboard as db

UID = "infersight-gpu"
UTIL = "infersight_gpu_utilization_ratio"
MEM_USED = "infersight_gpu_memory_used_bytes"
MEM_TOTAL = "infersight_gpu_memory_total_bytes"
POWER = "infersight_gpu_power_watts"
POWER_LIMIT = "infersight_gpu_power_limit_watts"
ENERGY = "infersight_gpu_energy_joules_total"
SM_CLOCK = "infersight_gpu_sm_clock_hertz"
SM_CLOCK_MAX = "infersight_gpu_sm_clock_max_hertz"
MEM_CLOCK = "infersight_gpu_memory_clock_hertz"
CLOCK_EVENT = "infersight_gpu_clock_event_active"
THROTTLE = "infersight_gpu_throttled"
PROC_MEM = "infersight_gpu_process_memory_used_bytes"
GPU_UP = "infersight_gpu_up"
ATTR_ENERGY = "infersight_gpu_attributed_energy_joules_total"
IDLE_ENERGY = "infersight_gpu_idle_energy_joules_total"
ATTR_COST = "infersight_gpu_attributed_cost_usd_total"
PRICE = "infersight_gpu_price_per_hour_usd"


def util_panel(w: int = 12) -> Any:
    return ts("GPU utilisation", [(f"max by (gpu) ({UTIL}{{{GSEL}}})", "GPU {{gpu}}")],
              unit="percentunit", w=w)


def memory_panel(w: int = 12) -> Any:
    return ts("GPU memory used vs total",
              [(f"sum by (gpu) ({MEM_USED}{{{GSEL}}})", "used GPU {{gpu}}"),
               (f"sum by (gpu) ({MEM_TOTAL}{{{GSEL}}})", "total GPU {{gpu}}")], unit="bytes", w=w)


def throttle_timeline(w: int = 24) -> Any:
    return state_timeline(
        "GPU throttle reasons", [(f"max by (gpu, reason) ({CLOCK_EVENT}{{{GSEL}, reason!=\"idle\"}})",
                                  "GPU {{gpu}} {{reason}}")],
        description="1 while NVML reports the clock-event reason active (power cap, thermal, "
                    "sync boost...), 0 otherwise.", w=w)


def build() -> db.Dashboard:
    d = board(UID, "infersight / GPU",
              "NVML samples per GPU: is the GPU busy, throttled, or idle while requests wait? "
              "Energy and cost per request and per 1k generated tokens.", ["gpu"])
    for v in variables(gpu_metric=UTIL):
        d = d.with_variable(v)
    d = d.with_row(row("Health and cost"))
    d = d.with_panel(stat_tile("NVML up", f"min({GPU_UP}{{{SEL}}})", unit="bool",
                               thresholds=[(None, "red"), (1, "green")],
                               description="0 = no GPU/NVML on this process (one WARNING was logged)."))
    d = d.with_panel(stat_tile(
        "Energy per request (J)", f"sum(increase({ATTR_ENERGY}{{{SEL}}}[$__range])) "
        f"/ sum(increase(http_server_requests_total{{{SEL}}}[$__range]))", unit="joule",
        description="GPU energy attributed to requests over requests served in the range."))
    d = d.with_panel(stat_tile(
        "$ per 1k generated tokens",
        f"sum(increase({ATTR_COST}{{{SEL}}}[$__range])) "
        f"/ (sum(increase(vllm:generation_tokens_total{{{SEL}}}[$__range])) / 1000)",
        unit="currencyUSD", description="GPU cost attributed to requests (price per GPU-hour, "
                                        "see infersight_gpu_price_per_hour_usd) over generated tokens (vLLM)."))
    d = d.with_panel(stat_tile("Mean utilisation (range)", f"avg(avg_over_time({UTIL}{{{GSEL}}}[$__range]))",
                               unit="percentunit",
                               thresholds=[(None, "orange"), (0.3, "green"), (0.95, "red")]))
    d = d.with_row(row("Utilisation and memory"))
    d = d.with_panel(util_panel())
    d = d.with_panel(memory_panel())
    d = d.with_panel(ts("Per-process GPU memory",
                        [(f"sum by (gpu, pid) ({PROC_MEM}{{{GSEL}}})", "GPU {{gpu}} pid {{pid}}")],
                        unit="bytes", w=24, h=6))
    d = d.with_row(row("Power, energy and clocks"))
    d = d.with_panel(ts("Power vs limit",
                        [(f"sum by (gpu) ({POWER}{{{GSEL}}})", "draw GPU {{gpu}}"),
                         (f"sum by (gpu) ({POWER_LIMIT}{{{GSEL}}})", "limit GPU {{gpu}}")], unit="watt"))
    d = d.with_panel(ts("Energy: total, attributed to requests, idle",
                        [(f"sum(rate({ENERGY}{{{GSEL}}}[{RATE}]))", "total (W)"),
                         (f"sum(rate({ATTR_ENERGY}{{{SEL}}}[{RATE}]))", "attributed to requests (W)"),
                         (f"sum(rate({IDLE_ENERGY}{{{SEL}}}[{RATE}]))", "idle, no request in flight (W)")],
                        unit="watt"))
    d = d.with_panel(ts("Joules per request",
                        [(f"sum(rate({ATTR_ENERGY}{{{SEL}}}[{RATE}])) / sum(rate(http_server_requests_total{{{SEL}}}[{RATE}]))",
                          "J/request")], unit="joule"))
    d = d.with_panel(ts("Cost per hour (price x GPUs)",
                        [(f"sum({PRICE}{{{SEL}}}) * count({UTIL}{{{GSEL}}})", "$/hour")],
                        unit="currencyUSD"))
    d = d.with_panel(ts("SM clock vs max",
                        [(f"max by (gpu) ({SM_CLOCK}{{{GSEL}}})", "SM GPU {{gpu}}"),
                         (f"max by (gpu) ({SM_CLOCK_MAX}{{{GSEL}}})", "SM max GPU {{gpu}}")],
                        unit="hertz"))
    d = d.with_panel(ts("Memory clock",
                        [(f"max by (gpu) ({MEM_CLOCK}{{{GSEL}}})", "mem GPU {{gpu}}")], unit="hertz"))
    d = d.with_row(row("Throttling"))
    d = d.with_panel(throttle_timeline())
    return d
