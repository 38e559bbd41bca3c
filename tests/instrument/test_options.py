"""instrument_app's typed options: checked when made, True/False shorthands, the old flat keywords
still accepted with a DeprecationWarning naming their replacement."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from infersight.instrument import (
    ConfigurationError,
    ExportOptions,
    GcOptions,
    GpuOptions,
    HealthOptions,
    LoopLagOptions,
    instrument_app,
    instrumentation_of,
    uninstrument_app,
)
from infersight.instrument._options import resolve

from tests.instrument.conftest import Providers


@pytest.mark.parametrize("make,field", [
    (lambda: GcOptions(event_threshold_ms=-1), "event_threshold_ms"),
    (lambda: LoopLagOptions(interval_s=0), "interval_s"),
    (lambda: LoopLagOptions(blocked_threshold_s=float("nan")), "blocked_threshold_s"),
    (lambda: HealthOptions(live_path="healthz"), "live_path"),
    (lambda: HealthOptions(timeout_s=-2), "timeout_s"),
    (lambda: GpuOptions(split="tokenz"), "split"),  # type: ignore[arg-type]
    (lambda: GpuOptions(interval_s=0), "interval_s"),
    (lambda: ExportOptions(log_level="LOUD"), "log_level"),
])
def test_bad_values_fail_when_the_option_is_made(make: object, field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        make()  # type: ignore[operator]


def test_shorthands_and_defaults() -> None:
    o = resolve(gc=False, loop_lag=True, health=None, gpu=True, privacy=None, export=None, legacy={})
    assert not o.gc.enabled and o.loop_lag.enabled and o.gpu.enabled and o.health.live_path == "/healthz"
    o = resolve(gc=True, loop_lag=True, health=None, gpu=False, privacy=None, export=None, legacy={})
    assert not o.gpu.enabled and o.export.lean_spans
    with pytest.raises(ConfigurationError, match="GcOptions"):
        resolve(gc=LoopLagOptions(), loop_lag=True, health=None, gpu=False, privacy=None, export=None,  # type: ignore[arg-type]
                legacy={})


def test_old_flat_keywords_still_work_with_a_deprecation_warning(providers: Providers) -> None:
    app = FastAPI()
    with pytest.warns(DeprecationWarning, match=r"loop_lag=LoopLagOptions\(interval_s=...\)"):
        state = instrument_app(app, loop_lag_interval_s=0.05, gc=False, **providers.kwargs())
    assert state.loop is not None and state.loop.interval_s == 0.05
    uninstrument_app(app)
    app = FastAPI()
    with pytest.warns(DeprecationWarning, match="health=HealthOptions"):
        instrument_app(app, health_paths=("/live", None), gc=False, loop_lag=False, **providers.kwargs())
    state2 = instrumentation_of(app)
    assert state2 is not None and (state2.live_path, state2.ready_path) == ("/live", None)
    uninstrument_app(app)


def test_unknown_keywords_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="gcc"):
        instrument_app(FastAPI(), gcc=False)


def test_gpu_options_map_onto_the_plane() -> None:
    kw = GpuOptions(interval_s=0.05, price_per_gpu_hour=2.0, split="tokens").install_kwargs()
    assert kw["interval_s"] == 0.05 and kw["price_per_gpu_hour"] == 2.0 and kw["split"] == "tokens"
    assert "enabled" not in kw and "devices" not in kw
