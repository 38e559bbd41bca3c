"""Reading back what an h100_issue20.py phase captured: request spans from the OTLP dump, client
latencies, Prometheus lines, and the before/during/after numbers the summary reports."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from _issue20_load import Sample, read_frames

SERVICE = "issue20-gpu-server"


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def server_spans(out: Path) -> list[dict[str, Any]]:
    """SERVER ``POST /infer`` spans of the model server: start/end ns + attributes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans: list[dict[str, Any]] = []
    for frame in read_frames(out / "traces.otlp.pb"):
        req = ExportTraceServiceRequest.FromString(frame)
        for rs in req.resource_spans:
            res = {a.key: _value(a.value) for a in rs.resource.attributes}
            if res.get("service.name") != SERVICE:
                continue
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    attrs = {a.key: _value(a.value) for a in sp.attributes}
                    spans.append({"name": sp.name, "kind": sp.kind, "start": sp.start_time_unix_nano,
                                  "end": sp.end_time_unix_nano, "attrs": attrs,
                                  "events": [e.name for e in sp.events]})
    return spans


def q(xs: list[float], p: float) -> float | None:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else None


def segment(spans: list[dict[str, Any]], samples: list[Sample], t0: int, t1: int,
            inside: bool = False) -> dict[str, Any]:
    """Requests that started in [t0, t1) (``inside``: started and ended in it): energy and GPU
    time billed, latencies, OOMs."""
    req = [s for s in spans if s["name"] == "POST /infer" and t0 <= s["start"] < t1
           and (not inside or s["end"] <= t1) and "infersight.gpu.energy_j" in s["attrs"]]
    cli = [s for s in samples if t0 <= s.scheduled_ns < t1 and (not inside or s.end_ns <= t1)]
    e = [float(s["attrs"]["infersight.gpu.energy_j"]) for s in req]
    g = [float(s["attrs"]["infersight.gpu.seconds"]) for s in req]
    lat = [c.latency_ms for c in cli if c.status == 200]

    def mean(xs: list[float]) -> float | None:
        return statistics.fmean(xs) if xs else None

    return {"requests_spans": len(req), "requests_client": len(cli),
            "client_errors": sum(1 for c in cli if c.status != 200),
            "energy_j_sum": sum(e), "energy_j_per_request": mean(e), "gpu_s_per_request": mean(g),
            "other_util_mean": mean([float(s["attrs"].get("infersight.gpu.other_util_mean", 0)) for s in req]),
            "self_util_mean": mean([float(s["attrs"].get("infersight.gpu.self_util_mean", 0)) for s in req]),
            "gpu_work_false": sum(1 for s in req if s["attrs"].get("infersight.gpu.work") is False),
            "ooms_on_spans": sum(int(s["attrs"].get("infersight.gpu.ooms", 0)) for s in req),
            "alloc_retries_on_spans": sum(int(s["attrs"].get("infersight.gpu.alloc_retries", 0)) for s in req),
            "memory_used_max_bytes": max((float(s["attrs"].get("infersight.gpu.memory_used_max_bytes", 0))
                                          for s in req), default=None),
            "latency_ms_p50": q(lat, 0.5), "latency_ms_p99": q(lat, 0.99),
            "model_devices": sorted({str(s["attrs"].get("infersight.model.device", "")) for s in req})}


def ledger_delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Energy between two /_bench/stats snapshots: the device counter vs the ledger's split."""
    if not a.get("gpu_plane") or a.get("energy_counter_j") is None:
        return {}
    counter = b["energy_counter_j"] - a["energy_counter_j"]
    cons = {k: b["consumer_energy_j"][k] - a["consumer_energy_j"][k] for k in a["consumer_energy_j"]}
    secs = {k: b["consumer_seconds"][k] - a["consumer_seconds"][k] for k in a["consumer_seconds"]}
    att = b["attributed_energy_j"] - a["attributed_energy_j"]
    idle = b["idle_energy_j"] - a["idle_energy_j"]
    wall = (b["t_ns"] - a["t_ns"]) / 1e9

    def ratio(x: float) -> float | None:
        return x / counter if counter else None

    return {"seconds": wall, "counter_j": counter, "consumer_energy_j": cons, "consumer_gpu_s": secs,
            "attributed_j": att, "idle_j": idle,
            "self_other_idle_over_counter": ratio(sum(cons.values())),
            "attributed_over_counter": ratio(att),
            "attributed_idle_other_over_counter": ratio(att + idle + cons.get("other", 0.0)),
            "other_share": ratio(cons.get("other", 0.0)),
            "sampler_cpu_pct_of_core": 100 * (b["sampler_cpu_s"] - a["sampler_cpu_s"]) / wall if wall else None}


def prom_lines(text: str, *names: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(names)]


__all__ = ["ledger_delta", "prom_lines", "q", "segment", "server_spans"]
