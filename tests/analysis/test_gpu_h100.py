"""The GPU causes on runs recorded on a real H100 (real NVML, real CUDA; tests/data/gpu_h100)."""

from __future__ import annotations

from pathlib import Path

from infersight.analysis import connect, diagnose

DATA = Path(__file__).resolve().parents[1] / "data" / "gpu_h100"


def test_the_model_on_the_cpu_is_named_on_the_h100_run() -> None:
    with connect(DATA / "cpu_fallback") as tel:
        d = diagnose(tel)
    assert d.found, d.incident
    top = d.findings[0]
    assert top.category == "gpu_idle", [(f.category, f.title) for f in d.findings]
    assert "cuda:0 -> cpu" in top.root_cause.state_change
    assert top.level == "high"
    assert not any(f.category in ("gc_pause", "cpu_contention") for f in d.findings[1:] if f.level != "low")


def test_a_co_located_burner_is_named_but_no_incident_is_claimed() -> None:
    with connect(DATA / "colocated") as tel:
        d = diagnose(tel)
    assert not d.found  # 2.3 -> 5.2 ms P99: a real but immaterial change
    assert all(f.level == "low" for f in d.findings)
    gpu = [f for f in d.findings if f.category == "gpu_saturation"]
    assert gpu and "other processes" in gpu[0].title and "pid" in gpu[0].title, [f.title for f in d.findings]
