"""The plugin's NVML path in one process, without vLLM: real GPU (H100) or a fake NVML (CI).

    python tests/vllm/gpu_nvml_check.py [--fake] [--out result.json]

Starts the plugin runtime as vLLM's API server would (role ``api_server``, the GPU sampler,
the token-share ledger reading ``vllm:prompt_tokens``/``vllm:generation_tokens`` from the
Prometheus registry, in-memory exporters instead of OTLP), then plays vLLM: GPU work while
the token counters move, and an ``llm_request`` span per request ended after the fact with
``start_time`` = arrival. Scenario: three requests one after the other (different lengths),
then two requests batched together (1 and 3 tokens per step), with idle gaps. Prints (and
writes) JSON: what each enriched span carries, the NVML energy counter's movement in each
window, and the GPU metrics that were exported.

With ``--fake`` the GPU is ``tests/instrument/gpu/fake_nvml.FakeGpu`` whose energy counter a
thread advances at 300 W while "busy" and 60 W idle, so CI checks the arithmetic.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import Counter

ROOT = Path(__file__).resolve().parents[2]


class _Collect(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, float] = {}

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
               ) -> MetricExportResult:
        for rm in metrics_data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    points = list(getattr(m.data, "data_points", []))
                    if points and hasattr(points[-1], "value"):
                        self.names[m.name] = float(points[-1].value)
                    else:
                        self.names.setdefault(m.name, float("nan"))
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


class _FakeWork:
    """A fake GPU whose energy counter moves at 300 W while busy, 60 W when idle."""

    def __init__(self) -> None:
        import importlib.util  # by path: the repo root on sys.path would shadow the installed package

        spec = importlib.util.spec_from_file_location(
            "fake_nvml", ROOT / "tests" / "instrument" / "gpu" / "fake_nvml.py")
        assert spec is not None and spec.loader is not None
        fake = importlib.util.module_from_spec(spec)
        sys.modules["fake_nvml"] = fake  # dataclasses resolve annotations through sys.modules
        spec.loader.exec_module(fake)
        self.gpu = fake.FakeGpu()
        self.nvml = fake.FakeNvml([self.gpu])
        self.busy = False
        self._stop = threading.Event()
        threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.005):
            now = time.monotonic()
            watts = 300.0 if self.busy else 60.0
            self.gpu.power_mw = int(watts * 1000)
            self.gpu.energy_mj += int(watts * (now - last) * 1000)
            last = now

    def step(self) -> None:
        self.busy = True
        time.sleep(0.01)

    def idle(self) -> None:
        self.busy = False


class _TorchWork:
    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.nvml = None  # the real pynvml
        self.a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)

    def step(self) -> None:
        for _ in range(8):
            self.a @ self.a
        self.torch.cuda.synchronize()

    def idle(self) -> None:
        self.torch.cuda.synchronize()


def _span(arrival: int, prompt: int, completion: int, request_id: str) -> None:
    e2e = (time.time_ns() - arrival) / 1e9
    span = trace.get_tracer("vllm.tracing.otel").start_span(
        "llm_request", kind=SpanKind.SERVER, start_time=arrival)
    span.set_attributes({"gen_ai.request.id": request_id, "gen_ai.usage.prompt_tokens": prompt,
                         "gen_ai.usage.completion_tokens": completion, "gen_ai.latency.e2e": e2e,
                         "gen_ai.latency.time_in_queue": 0.0, "gen_ai.latency.time_in_model_prefill": 0.0,
                         "gen_ai.latency.time_in_model_decode": e2e})
    span.end()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fake", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    os.environ.setdefault("INFERSIGHT_GPU_PRICE_PER_HOUR", "3.90")
    work: Any = _FakeWork() if args.fake else _TorchWork()

    from infersight.instrument.vllm import _runtime as _vllm_runtime

    prompt = Counter("vllm:prompt_tokens", "Number of prefill tokens processed.", ["model_name", "engine"])
    generation = Counter("vllm:generation_tokens", "Number of generation tokens processed.",
                         ["model_name", "engine"])
    spans, metrics = InMemorySpanExporter(), _Collect()
    state = _vllm_runtime.start("api_server", argv=["vllm", "serve", "tiny"], nvml=work.nvml,
                                span_exporter=spans, metric_exporter=metrics)
    sampler = state.sampler
    sweeps: list[tuple[int, float, float]] = []  # (t_ns, watts, energy counter J or nan)
    sampler.add_listener(lambda sw: sweeps.append((
        sw.t_ns, sum(d.values.get("power_w", 0.0) for d in sw.devices if d.parent is None),
        sum(d.values.get("energy_j", float("nan")) for d in sw.devices if d.parent is None))))
    windows: dict[str, tuple[int, int]] = {}

    def request(rid: str, steps: int, tokens_per_step: dict[str, int]) -> None:
        arrival = time.time_ns()
        prompt.labels("tiny", "0").inc(8 * len(tokens_per_step))
        for _ in range(steps):
            work.step()
            generation.labels("tiny", "0").inc(sum(tokens_per_step.values()))
        for name, per_step in tokens_per_step.items():
            _span(arrival, 8, steps * per_step, name)
            windows[name] = (arrival, time.time_ns())

    time.sleep(0.6)
    work.idle()
    scale = 1 if args.fake else 5
    for i, steps in enumerate((20, 40, 80)):
        request(f"seq-{i}", steps * scale, {f"seq-{i}": 1})
        work.idle()
        time.sleep(0.5)
    request("batch", 60 * scale, {"batch-a": 1, "batch-b": 3})
    work.idle()
    time.sleep(0.6)
    state.telemetry.tracer_provider.force_flush()
    state.telemetry.meter_provider.force_flush()

    def power_energy(a: int, b: int) -> float:  # trapezoid over the sweeps inside [a, b]
        pts = [(t, w) for t, w, _ in sweeps if a <= t <= b]
        return sum((w0 + w1) / 2 * (t1 - t0) / 1e9 for (t0, w0), (t1, w1) in zip(pts, pts[1:], strict=False))

    # the sampler reads the energy counter every 10 s and carries the value in between: keep
    # the sweep of each fresh read (the value changed), so both sides cover the same interval
    counter: list[tuple[int, float]] = []
    for t, _, e in sweeps:
        if e == e and (not counter or e != counter[-1][1]):
            counter.append((t, e))
    out: dict[str, Any] = {"fake": args.fake, "device": sampler.last.devices[0].name if sampler.last.devices else "",
                           "sweeps": len(sweeps), "requests": {}}
    if len(counter) >= 2:
        (t0, e0), (t1, e1) = counter[0], counter[-1]
        out["run"] = {"seconds": (t1 - t0) / 1e9, "energy_counter_j": e1 - e0,
                      "integrated_power_j": power_energy(t0, t1)}
    for span in spans.get_finished_spans():
        if span.name != "llm_request" or span.attributes is None:
            continue
        rid = str(span.attributes["gen_ai.request.id"])
        a, b = windows[rid]
        out["requests"][rid] = {
            "wall_s": (b - a) / 1e9,
            "tokens": int(str(span.attributes["gen_ai.usage.prompt_tokens"]))
            + int(str(span.attributes["gen_ai.usage.completion_tokens"])),
            "power_integrated_in_window_j": power_energy(a, b),
            **{k.removeprefix("infersight.gpu."): v for k, v in span.attributes.items()
               if k.startswith("infersight.gpu.")},
            "gc_pause_ms": span.attributes.get("infersight.gc.pause_ms"),
        }
    out["gpu_metrics"] = {k: v for k, v in sorted(metrics.names.items())
                          if k.startswith(("hw.", "infersight.gpu"))}
    _vllm_runtime.stop()
    text = json.dumps(out, indent=1, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
