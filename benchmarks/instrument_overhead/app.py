"""The benchmarked model server, one variant per process (INFERSIGHT_BENCH_VARIANT).

bare        FastAPI, nothing added
contrib     opentelemetry-instrumentation-fastapi + SDK providers exporting OTLP/HTTP to the sink
pfi         prometheus-fastapi-instrumentator (metrics only, /metrics)
infersight  instrument_app(app, ...) full: traces exported + RED metrics + GC + loop lag
infersight-contrib  instrument_app(app, mode="contrib") full
"""

from __future__ import annotations

import os

from fastapi import FastAPI

VARIANT = os.environ.get("INFERSIGHT_BENCH_VARIANT", "bare")
SINK = os.environ.get("INFERSIGHT_BENCH_SINK", "http://127.0.0.1:4318")

app = FastAPI()


@app.get("/predict/{model}")
async def predict(model: str) -> dict[str, object]:
    return {"model": model, "label": "ok", "score": 0.93}


if VARIANT == "contrib":
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "bench"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{SINK}/v1/traces")))
    mp = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{SINK}/v1/metrics"), export_interval_millis=5000)])
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tp, meter_provider=mp)
elif VARIANT == "pfi":
    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator().instrument(app).expose(app)
elif VARIANT in ("infersight", "infersight-contrib"):
    from infersight.instrument import instrument_app

    instrument_app(app, "bench", endpoint=SINK, mode="contrib" if VARIANT == "infersight-contrib" else "lean")
elif VARIANT.startswith("infersight-"):
    # ablations (not in the default set): -nogc, -noloop, -notrace (no spans at all), -nosend (spans
    # made, encoded and batched, the POST skipped), -nometrics (no periodic OTLP metrics export)
    from infersight.instrument import ExportOptions, instrument_app

    state = instrument_app(app, "bench", endpoint=SINK, gc=VARIANT != "infersight-nogc",
                           loop_lag=VARIANT != "infersight-noloop",
                           export=ExportOptions(interval_s=3600.0 if VARIANT == "infersight-nometrics" else 5.0))
    if VARIANT == "infersight-notrace":
        state.tracer = state._lean = None
    elif VARIANT == "infersight-nosend":
        from opentelemetry.exporter.otlp.common.http import _ExportResult

        _client = state._owned_telemetry.span_processor.exporter._client
        _client.export = lambda data: _ExportResult(True, 200, "OK", None)
elif VARIANT != "bare":
    raise SystemExit(f"unknown variant {VARIANT!r}")

_PROBE = os.environ.get("INFERSIGHT_BENCH_PROBE")
if _PROBE:  # stall probe (probe.py): request-start gaps + export/metrics/GC intervals
    import probe
    from infersight.instrument import instrumentation_of

    _state = instrumentation_of(app)
    if _state is not None:
        probe.install(_state)
    app = probe.wrap_asgi(app, _PROBE)  # type: ignore[assignment]
