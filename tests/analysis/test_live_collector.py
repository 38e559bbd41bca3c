"""diagnose --db <running collector URL>: spans sent by the real OTel SDK exporter to a real
collector on a free port, read back live and diagnosed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from infersight.analysis import connect, diagnose
from infersight.collectors import Collector
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context

from infersight.cli import main

pytestmark = pytest.mark.integration
S = 1_000_000_000
MS = 1_000_000


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    col = Collector(tmp_path / "live.duckdb", http_port=0, grpc_port=0, retention_interval_s=3600)
    col.start()
    try:
        yield col
    finally:
        col.stop()


def _send_incident(url: str) -> None:
    """5 minutes of requests with a job every 60 s: quick at first, then (from the third run) 6 s
    runs that stall the requests with GC pauses."""
    provider = TracerProvider(resource=Resource.create({"service.name": "model-server",
                                                        "service.instance.id": "pod-1"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url + "/v1/traces")))
    tracer = provider.get_tracer("test")
    rng = np.random.default_rng(3)
    t0 = 1_764_000_000 * S
    quick = [(t0 + (k * 60 + 20) * S, t0 + (k * 60 + 20) * S + 200 * MS) for k in range(2)]
    runs = [(t0 + (k * 60 + 20) * S, t0 + (k * 60 + 26) * S) for k in range(2, 5)]
    for s, e in quick + runs:
        job = tracer.start_span("payments_full_sync", kind=SpanKind.INTERNAL, start_time=s,
                                attributes={"infersight.job.name": "payments_full_sync", "infersight.job.rows": 500000})
        job.end(end_time=e)
    # stop-the-world pauses: two a second of a long run, 150-400 ms, seen by every request in flight
    pauses = [(s + j * S // 2 + int(rng.uniform(0, 0.1) * S), int(rng.uniform(150, 400) * MS))
              for s, _ in runs for j in range(12)]
    for st in np.sort(rng.uniform(0, 300, 900)):
        start = t0 + int(st * S)
        own = int(rng.lognormal(np.log(40), 0.25) * MS)
        hit = [(p, d) for p, d in pauses if start <= p < start + own or p <= start < p + d]
        gc_ms = sum(d for _, d in hit) / MS
        dur = own + int(gc_ms * MS)
        span = tracer.start_span("POST /v1/predict", kind=SpanKind.SERVER, start_time=start,
                                 attributes={"http.route": "/v1/predict", "http.response.status_code": 200,
                                             "infersight.gc.pause_ms": gc_ms})
        for p, d in hit:
            span.add_event("gc.pause", {"generation": 2, "duration_ms": d / MS}, timestamp=p)
        child = tracer.start_span("model.forward", context=set_span_in_context(span), start_time=start + MS)
        child.end(end_time=start + dur - MS)
        span.end(end_time=start + dur)
    provider.force_flush()
    provider.shutdown()


def test_diagnose_reads_a_running_collector(collector: Collector, capsys: pytest.CaptureFixture[str]) -> None:
    _send_incident(collector.url)
    with connect(collector.url) as tel:
        assert tel.span_count == 5 + 900 * 2
        d = diagnose(tel)
        found = d.findings
    assert found, d.incident
    assert found[0].category == "periodic_job_interference"
    assert found[0].root_cause.entity == "payments_full_sync"
    rc = main(["diagnose", "--db", collector.url, "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)["findings"][0]["category"] == "periodic_job_interference"
