"""The catalog is the source of truth: /metrics, OTLP names and docs/metrics.md agree with it."""

from __future__ import annotations

import gc
from pathlib import Path

from infersight.instrument import (
    LoopLagOptions,
    instrument_app,
    traced_cache,
    traced_job,
    traced_pool_acquire,
)
from infersight.instrument.metrics._runtime_specs import METRICS
from infersight.instrument.metrics.catalog import CATALOG, all_series_names
from prometheus_client.parser import text_string_to_metric_families

from tests.instrument.conftest import Providers, TestClient, make_app
from tools.metrics_doc import main as doc_main
from tools.metrics_doc import render

REPO = Path(__file__).resolve().parents[2]


def test_docs_metrics_md_is_generated_from_the_catalog(tmp_path: Path) -> None:
    assert (REPO / "docs" / "metrics.md").read_text(encoding="utf-8") == render(), \
        "docs/metrics.md is stale: run python tools/metrics_doc.py"
    stale = tmp_path / "metrics.md"
    stale.write_text("old")
    assert doc_main(["--check", "--output", str(stale)]) == 1
    assert doc_main(["--output", str(stale)]) == 0 and doc_main(["--check", "--output", str(stale)]) == 0
    for spec in CATALOG:
        assert f"`{spec.name}`" in render()


def test_metrics_endpoint_exposes_exactly_the_runtime_catalog(providers: Providers) -> None:
    app = make_app()
    state = instrument_app(app, loop_lag=LoopLagOptions(interval_s=0.01), **providers.kwargs())
    kw = {"tracer_provider": providers.tracer_provider, "meter_provider": providers.meter_provider,
          "registry": providers.registry}
    traced_job("j", **kw)(lambda: [1])()
    traced_cache("c", **kw).get_or_load("k", lambda: 1)
    with traced_pool_acquire("p", **kw):
        pass
    with TestClient(app) as client:
        client.get("/items/1")
        client.get("/readyz")
        gc.collect()
        text = client.get("/metrics").text
    exposed = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert exposed <= all_series_names(), sorted(exposed - all_series_names())
    families = {f.name for f in text_string_to_metric_families(text)}
    for spec in METRICS:
        if spec.source == "host":  # OTLP only: prometheus_client's process collector covers /metrics
            assert spec.name not in families, spec.name
            continue
        base = spec.name + ("_info" if spec.type == "info" else "")
        assert base in families or spec.name in families, spec.name
    assert state.gc is not None
    providers.reader.collect()
    emitted = set(providers.otel_metrics())
    declared = {s.otel_name for s in CATALOG if s.otel_name}
    assert emitted <= declared, sorted(emitted - declared)
    assert "process.cpu.time" in emitted  # system.cpu.utilization needs two collections (a delta)
    assert {"http.server.request.duration", "cpython.gc.collections", "infersight.gc.pause.duration",
            "infersight.job.duration", "infersight.cache.requests", "db.client.connection.wait_time"} <= emitted


def test_runtime_specs_are_well_formed() -> None:
    for spec in METRICS:
        assert spec.name == spec.name.lower() and " " not in spec.name
        if spec.unit == "s":
            assert spec.name.endswith("_seconds"), spec.name
        if spec.type == "counter":
            assert not spec.name.endswith("_total"), spec.name
        if spec.type == "histogram":
            assert spec.buckets and list(spec.buckets) == sorted(spec.buckets), spec.name
        assert "trace_id" not in spec.labels and "path" not in spec.labels


def test_no_catalog_label_clashes_with_a_prometheus_target_label() -> None:
    # Prometheus attaches `job`/`instance` (and the operator namespace/pod/...) to every
    # scraped series; a metric's own label of that name would be renamed to `exported_<name>`.
    target = {"job", "instance", "namespace", "service", "pod", "container", "endpoint", "le"}
    for spec in CATALOG:
        assert not target & set(spec.labels), (spec.name, sorted(target & set(spec.labels)))
