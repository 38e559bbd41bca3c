"""record_generation: TTFT and token counts on /metrics, over OTLP and on the current span."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from infersight.instrument import record_generation
from infersight.instrument.metrics.catalog import BY_NAME

from tests.instrument.conftest import Providers


def _kw(p: Providers) -> dict[str, Any]:
    return {"meter_provider": p.meter_provider, "registry": p.registry}


def _points(p: Providers, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
    (( _scope, metric),) = p.otel_metrics()[name]
    return {tuple(sorted(dp.attributes.items())): dp for dp in metric.data.data_points}


def test_generation_lands_on_metrics_otlp_and_the_span(providers: Providers) -> None:
    tracer = providers.tracer_provider.get_tracer("t")
    with tracer.start_as_current_span("chat"):
        record_generation(ttft_s=0.25, input_tokens=120, output_tokens=30, model="tiny", **_kw(providers))
    record_generation(ttft_s=0.75, input_tokens=80, output_tokens=10, model="tiny", **_kw(providers))
    reg = providers.registry
    ttft = "gen_ai_server_time_to_first_token_seconds"
    assert reg.get_sample_value(f"{ttft}_count", {"gen_ai_request_model": "tiny"}) == 2
    assert reg.get_sample_value(f"{ttft}_sum", {"gen_ai_request_model": "tiny"}) == pytest.approx(1.0)
    assert reg.get_sample_value(f"{ttft}_bucket", {"gen_ai_request_model": "tiny", "le": "0.5"}) == 1
    tokens = "gen_ai_client_token_usage_sum"
    assert reg.get_sample_value(tokens, {"gen_ai_request_model": "tiny", "gen_ai_token_type": "input"}) == 200
    assert reg.get_sample_value(tokens, {"gen_ai_request_model": "tiny", "gen_ai_token_type": "output"}) == 40

    providers.reader.collect()
    spec = BY_NAME["gen_ai_client_token_usage"]
    by_attrs = _points(providers, spec.otel_name or "")
    out = by_attrs[(("gen_ai.request.model", "tiny"), ("gen_ai.token.type", "output"))]
    assert (out.count, out.sum) == (2, 40)
    ttft_points = _points(providers, "gen_ai.server.time_to_first_token")
    (pt,) = ttft_points.values()
    assert pt.count == 2 and pt.sum == pytest.approx(1.0)
    assert list(pt.explicit_bounds) == list(BY_NAME[ttft].buckets or ())

    (span,) = providers.spans.get_finished_spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 120
    assert span.attributes["gen_ai.usage.output_tokens"] == 30


def test_partial_and_bad_values_are_skipped_never_raised(providers: Providers,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="infersight.instrument.helpers._genai"):
        record_generation(output_tokens=5, **_kw(providers))  # no TTFT, no model
        record_generation(ttft_s=float("nan"), input_tokens=-3, output_tokens="7", model="m",  # type: ignore[arg-type]
                          **_kw(providers))
    reg = providers.registry
    assert reg.get_sample_value("gen_ai_client_token_usage_sum",
                                {"gen_ai_request_model": "unknown", "gen_ai_token_type": "output"}) == 5
    assert reg.get_sample_value("gen_ai_server_time_to_first_token_seconds_count",
                                {"gen_ai_request_model": "m"}) is None
    assert reg.get_sample_value("gen_ai_client_token_usage_count",
                                {"gen_ai_request_model": "m", "gen_ai_token_type": "input"}) is None
    assert sum("not a finite number" in r.getMessage() for r in caplog.records) == 3
