"""GPU causes read off each request (analysis/detectors/_gpu_requests.py) on runs of the real
issue-20 GPU server with the fake NVML (tests/data/gpu_fake/README.md)."""

from __future__ import annotations

from pathlib import Path

from infersight.analysis import connect, diagnose

DATA = Path(__file__).resolve().parents[1] / "data" / "gpu_fake"


def _top(run: str) -> list:
    with connect(DATA / run) as tel:
        d = diagnose(tel)
    assert d.found, d.incident
    return d.findings


def test_model_on_the_cpu_is_named_before_the_cpu_time_it_causes() -> None:
    found = _top("cpu_fallback")
    top = found[0]
    assert top.category == "gpu_idle", [(f.category, f.title) for f in found]
    assert "cuda:0 -> cpu" in top.root_cause.state_change  # the device change the plane recorded
    assert "cpu_contention" in top.merged  # the CPU time is the consequence, folded into the chain
    assert top.level != "low"


def test_memory_pressure_names_the_process_holding_the_memory() -> None:
    found = _top("memory_pressure")
    top = found[0]
    assert top.category == "gpu_memory_pressure", [(f.category, f.title) for f in found]
    assert "pid" in top.root_cause.entity and "other" in top.root_cause.entity
    assert not any(f.category == "gpu_idle" for f in found)  # pressure takes precedence over idle
