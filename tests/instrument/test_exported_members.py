"""The public surface of infersight.instrument is pinned (changing it is a decision, not an accident)."""

from __future__ import annotations

import infersight.instrument as instrument


def test_all_is_pinned() -> None:
    assert sorted(instrument.__all__) == sorted([
        "LRU", "AlreadyInstrumentedError", "ConfigurationError", "InstrumentError", "Instrumentation",
        "JobRun", "Lookup", "ReadinessCheck", "RequestHook", "Telemetry", "TracedCache",
        "add_readiness_check", "configure", "current_job", "declare_model_device", "instrument_app", "instrumentation_of",
        "key_hash", "lru_cached", "record_generation", "record_gpu_oom", "traced_cache", "traced_job", "traced_pool_acquire", "uninstrument_app",
    ])


def test_every_name_in_all_exists_and_errors_share_one_root() -> None:
    for name in instrument.__all__:
        assert hasattr(instrument, name), name
    for exc in (instrument.ConfigurationError, instrument.AlreadyInstrumentedError):
        assert issubclass(exc, instrument.InstrumentError)
