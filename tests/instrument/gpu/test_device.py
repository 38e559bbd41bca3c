"""The model-device fact: declared by the app, re-read from the model, exported, changes seen."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from infersight.instrument import configure, declare_model_device, instrument_app, uninstrument_app
from infersight.instrument.runtime._device import CHANGE_SPAN, MODEL_DEVICES
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.instrument.conftest import Providers, TestClient, make_app


class Model:
    """What the plane reads of a torch module: its parameters' device (CI has no torch)."""

    def __init__(self, device: str) -> None:
        self.device_now = device

    def parameters(self) -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(device=self.device_now)


def _gauge(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("infersight_model_device{")]


def test_a_model_moved_to_the_cpu_is_seen_exported_and_spanned(
        providers: Providers, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    instrument_app(app, **providers.kwargs(), gc=False, loop_lag=False)
    model = Model("cuda:0")
    assert declare_model_device(model, name="llm") == "cuda:0"
    with TestClient(app) as client:
        before = _gauge(client.get("/metrics").text)
        model.device_now = "cpu"  # the app's fallback moved the weights
        with caplog.at_level(logging.WARNING, logger="infersight.instrument"):
            after = _gauge(client.get("/metrics").text)  # the scrape re-reads the model
    assert before == ['infersight_model_device{device="cuda:0",device_type="cuda",model="llm",source="module"} 1.0']
    assert after == ['infersight_model_device{device="cpu",device_type="cpu",model="llm",source="module"} 1.0']
    assert any("moved" in r.getMessage() or "was cuda:0" in r.getMessage() for r in caplog.records)
    changes = [s for s in providers.spans.get_finished_spans() if s.name == CHANGE_SPAN]
    assert [(s.attributes["infersight.model.device.previous"], s.attributes["infersight.model.device"])
            for s in changes] == [("", "cuda:0"), ("cuda:0", "cpu")]
    assert changes[1].parent is None and changes[1].start_time == changes[1].end_time
    providers.reader.collect()
    points = [p for _, m in providers.otel_metrics()["infersight.model.device"] for p in m.data.data_points]
    assert [(p.attributes["infersight.model.device"], p.value) for p in points] == [("cpu", 1)]
    uninstrument_app(app)


def test_declaring_the_same_device_again_is_not_a_change(providers: Providers) -> None:
    MODEL_DEVICES.bind(providers.tracer_provider)
    try:
        declare_model_device("cuda", name="m")
        declare_model_device("cuda:0", name="m")
        declare_model_device("cpu", name="m")
    finally:
        MODEL_DEVICES.bind(None)
    changes = [s for s in providers.spans.get_finished_spans() if s.name == CHANGE_SPAN]
    assert [s.attributes["infersight.model.device"] for s in changes] == ["cuda:0", "cpu"]
    assert MODEL_DEVICES.on_gpu() is False


def test_a_declaration_before_configure_is_a_resource_attribute() -> None:
    declare_model_device("cuda:1", name="m")
    tel = configure("svc", span_exporter=InMemorySpanExporter(), set_global=False)
    try:
        assert tel.resource.attributes["infersight.model.device"] == "cuda:1"
    finally:
        tel.shutdown()


def test_values_that_name_no_device_are_refused() -> None:
    with pytest.raises(ValueError, match="device"):
        declare_model_device(object())
    with pytest.raises(ValueError, match="empty"):
        declare_model_device("  ")


def test_torch_cuda_availability_is_read_only_when_torch_is_loaded(
        providers: Providers, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    instrument_app(app, **providers.kwargs(), gc=False, loop_lag=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    with TestClient(app) as client:
        absent = [ln for ln in client.get("/metrics").text.splitlines()
                  if ln.startswith("infersight_torch_cuda_available ")]
        monkeypatch.setitem(sys.modules, "torch",
                            SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False)))
        present = [ln for ln in client.get("/metrics").text.splitlines()
                   if ln.startswith("infersight_torch_cuda_available ")]
    uninstrument_app(app)
    assert absent == [] and present == ["infersight_torch_cuda_available 0.0"]
