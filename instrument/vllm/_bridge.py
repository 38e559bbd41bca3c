"""vLLM's own Prometheus metrics, also sent over OTLP so they land in DuckDB.

vLLM keeps its ``vllm:*`` families in the API server's ``prometheus_client`` registry, which
only a Prometheus scrape reads. The analysis needs a few of them next to the spans (queue
depth, KV-cache usage, preemptions, prefix-cache hits vs queries, token counters), so the
plugin registers OTel observable instruments that read those families from the registry at
each metric export (no extra thread, nothing on the request path). Names: ``vllm:x`` becomes
``vllm.x`` (OTel names have no ``:``); counters lose ``_total``; labels become attributes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

logger = logging.getLogger(__name__)

#: Prometheus family -> its type; all exist in vLLM 0.32's /metrics (benchmarks/results/vllm_metrics.txt)
BRIDGED: dict[str, str] = {
    "vllm:num_requests_running": "gauge",
    "vllm:num_requests_waiting": "gauge",
    "vllm:kv_cache_usage_perc": "gauge",
    "vllm:num_preemptions": "counter",
    "vllm:prefix_cache_queries": "counter",
    "vllm:prefix_cache_hits": "counter",
    "vllm:prompt_tokens": "counter",
    "vllm:prompt_tokens_cached": "counter",
    "vllm:generation_tokens": "counter",
    "vllm:request_success": "counter",
}


def otel_name(prom_name: str) -> str:
    return "vllm." + prom_name.split(":", 1)[1]


def _reader(registry: Any, sample: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        out = []
        try:
            for family in registry.restricted_registry([sample]).collect():
                for s in family.samples:
                    if s.name == sample:
                        out.append(Observation(s.value, dict(s.labels)))
        except Exception:  # a scrape problem must never break the export
            logger.debug("infersight: reading %s failed", sample, exc_info=True)
        return out

    return observe


def bridge_vllm_metrics(meter_provider: MeterProvider, registry: Any = None) -> list[str]:
    """Register the observable instruments; returns the OTLP names registered."""
    import prometheus_client

    reg = registry if registry is not None else prometheus_client.REGISTRY
    meter = meter_provider.get_meter("infersight.vllm.bridge")
    names = []
    for prom, kind in BRIDGED.items():
        name = otel_name(prom)
        if kind == "gauge":
            meter.create_observable_gauge(name, callbacks=[_reader(reg, prom)], unit="1")
        else:
            meter.create_observable_counter(name, callbacks=[_reader(reg, f"{prom}_total")], unit="1")
        names.append(name)
    return names


__all__ = ["BRIDGED", "bridge_vllm_metrics", "otel_name"]
