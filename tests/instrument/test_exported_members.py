"""The public surface of infersight.instrument is pinned (changing it is a decision, not an accident)."""

from __future__ import annotations

import infersight.instrument as instrument


def test_all_is_pinned() -> None:
    assert sorted(instrument.__all__) == sorted([
        "LRU", "AlreadyInstrumentedError", "ConfigurationError", "InstrumentError", "Instrumentation",
        "JobRun", "Lookup", "ReadinessCheck", "RequestHook", "TelemetryProviders", "TracedCache",
        "ExportOptions", "GcOptions", "GpuOptions", "HealthOptions", "LoopLagOptions", "PrivacyOptions",
        "add_readiness_check", "configure", "current_job", "declare_model_device", "instrument_app", "instrumentation_of",
        "key_hash", "lru_cached", "record_generation", "record_gpu_oom", "traced_cache", "traced_job", "traced_pool_acquire", "uninstrument_app",
    ])


def test_every_name_in_all_exists_and_errors_share_one_root() -> None:
    for name in instrument.__all__:
        assert hasattr(instrument, name), name
    for exc in (instrument.ConfigurationError, instrument.AlreadyInstrumentedError):
        assert issubclass(exc, instrument.InstrumentError)


def test_every_public_name_documents_itself() -> None:
    # help(traced_job) used to print nothing; every public name says what it does
    import inspect
    from pathlib import Path

    documented = [n for n in instrument.__all__
                  if inspect.isclass(getattr(instrument, n)) or inspect.isfunction(getattr(instrument, n))]
    assert len(documented) >= 20  # ReadinessCheck is a type alias (Callable): typing owns its __doc__
    missing = [name for name in documented if not (getattr(instrument, name).__doc__ or "").strip()]
    assert not missing, missing
    for name in ("traced_job", "lru_cached", "record_generation", "current_job"):
        doc = getattr(instrument, name).__doc__
        assert len(doc) > 150 and "    " in doc, (name, doc)  # more than a line: usage and what it records
    guide = (Path(__file__).resolve().parents[2] / "docs" / "instrument.md").read_text()
    for name in ("instrument_app", "traced_job", "current_job", "traced_cache", "lru_cached",
                 "traced_pool_acquire", "record_generation", "configure"):
        assert f"`{name}" in guide, name
