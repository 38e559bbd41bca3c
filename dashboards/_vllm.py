"""vLLM board: vLLM's own metrics (vllm:*) next to the runtime and GPU panels.

The vllm: families are not in infersight's catalog; they are allowlisted, with their types, in
external_metrics.yml (checked against vLLM 0.32), so a typo still fails ``build.py --check``.
"""

from __future__ import annotations

import _gpu
from _kit import RATE, SEL, board, row, stat_tile, ts, variables
from grafana_foundation_sdk.builders import dashboard as db

UID = "infersight-vllm"
V = 'job=~"$job", instance=~"$instance"'


def _hq(p: float, fam: str) -> str:
    return f"histogram_quantile({p}, sum by (le) (rate({fam}_bucket{{{V}}}[{RATE}])))"


def build() -> db.Dashboard:
    d = board(UID, "infersight / vLLM",
              "vLLM's scheduler and KV cache next to what Python and the GPU did: queueing, "
              "preemptions, prefix-cache hits, TTFT and inter-token latency.", ["vllm"])
    for v in variables(gpu_metric=_gpu.UTIL):
        d = d.with_variable(v)
    d = d.with_row(row("Scheduler and KV cache"))
    d = d.with_panel(stat_tile("KV cache usage", f"max(vllm:kv_cache_usage_perc{{{V}}})",
                               unit="percentunit", thresholds=[(None, "green"), (0.8, "orange"), (0.95, "red")]))
    d = d.with_panel(stat_tile("Waiting requests", f"sum(vllm:num_requests_waiting{{{V}}})", unit="short",
                               thresholds=[(None, "green"), (1, "orange"), (10, "red")]))
    d = d.with_panel(stat_tile("Preemptions (range)", f"sum(increase(vllm:num_preemptions_total{{{V}}}[$__range]))",
                               unit="short", thresholds=[(None, "green"), (1, "orange")]))
    d = d.with_panel(stat_tile(
        "Prefix-cache hit rate (range)",
        f"sum(increase(vllm:prefix_cache_hits_total{{{V}}}[$__range])) / sum(increase(vllm:prefix_cache_queries_total{{{V}}}[$__range]))",
        unit="percentunit"))
    d = d.with_panel(ts("Running and waiting requests",
                        [(f"sum(vllm:num_requests_running{{{V}}})", "running"),
                         (f"sum(vllm:num_requests_waiting{{{V}}})", "waiting")], unit="short"))
    d = d.with_panel(ts("KV cache usage and preemptions",
                        [(f"max(vllm:kv_cache_usage_perc{{{V}}})", "KV cache used"),
                         (f"sum(rate(vllm:num_preemptions_total{{{V}}}[{RATE}]))", "preemptions/s")]))
    d = d.with_panel(ts("Prefix-cache hit rate",
                        [(f"sum(rate(vllm:prefix_cache_hits_total{{{V}}}[{RATE}])) / sum(rate(vllm:prefix_cache_queries_total{{{V}}}[{RATE}]))",
                          "hit rate")], unit="percentunit"))
    d = d.with_panel(ts("Tokens per second",
                        [(f"sum(rate(vllm:prompt_tokens_total{{{V}}}[{RATE}]))", "prompt"),
                         (f"sum(rate(vllm:generation_tokens_total{{{V}}}[{RATE}]))", "generated")], unit="short"))
    d = d.with_row(row("Latency"))
    d = d.with_panel(ts("Time to first token P50 / P99",
                        [(_hq(0.5, "vllm:time_to_first_token_seconds"), "P50"),
                         (_hq(0.99, "vllm:time_to_first_token_seconds"), "P99")], unit="s"))
    d = d.with_panel(ts("Inter-token latency P50 / P99",
                        [(_hq(0.5, "vllm:inter_token_latency_seconds"), "P50"),
                         (_hq(0.99, "vllm:inter_token_latency_seconds"), "P99")], unit="s"))
    d = d.with_panel(ts("Queue time P99 and end-to-end P99",
                        [(_hq(0.99, "vllm:request_queue_time_seconds"), "queue P99"),
                         (_hq(0.99, "vllm:e2e_request_latency_seconds"), "e2e P99")], unit="s"))
    d = d.with_panel(ts("Finished requests by reason",
                        [(f"sum by (finished_reason) (rate(vllm:request_success_total{{{V}}}[{RATE}]))",
                          "{{finished_reason}}")], unit="reqps"))
    d = d.with_row(row("Runtime and GPU (same job)"))
    d = d.with_panel(ts("GC pause share and event-loop lag P99",
                        [(f"sum(rate(infersight_gc_pause_duration_seconds_sum{{{SEL}}}[{RATE}]))", "GC pause share"),
                         (f"histogram_quantile(0.99, sum by (le) (rate(infersight_event_loop_lag_seconds_bucket{{{SEL}}}[{RATE}])))",
                          "loop lag P99 (s)")]))
    d = d.with_panel(_gpu.util_panel(w=12))
    d = d.with_panel(_gpu.memory_panel(w=12))
    d = d.with_panel(_gpu.throttle_timeline(w=12))
    return d
