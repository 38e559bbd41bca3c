"""Detectors on small hand-made telemetry (one mechanism switched on for part of the run).

These pin each detector's logic; whether they name the right cause on real runs is
test_accuracy.py's job (the demo's labelled scenarios, collected through the real collector).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from infersight.analysis import connect, diagnose
from infersight.analysis._finding import Finding

from tests.analysis._synth import FAULT_END_S, FAULT_START_S, T0, Builder, full_sync, with_fault

EXPECTED = {
    "gc": "gc_pause",
    "loop": "event_loop_block",
    "pool": "pool_saturation",
    "downstream": "slow_downstream",
    "stampede": "cache_stampede",
    "miss_storm": "cache_miss_storm",
    "gpu_throttle": "gpu_throttling",
    "gpu_busy": "gpu_saturation",
}


def _findings(tmp_path: Path, fault: str) -> list[Finding]:
    b = Builder(seed=11)
    with_fault(b, fault, seconds=480, rps=4)
    db = b.write(tmp_path / f"{fault}.duckdb")
    with connect(db) as tel:
        return diagnose(tel).findings


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_right_cause_at_rank_one(tmp_path: Path, fault: str) -> None:
    found = _findings(tmp_path, fault)
    assert found, "no findings"
    top = found[0]
    assert top.category == EXPECTED[fault], [(f.category, f.confidence) for f in found]
    assert top.level == "high"
    assert top.exemplars()
    # the window the detector names overlaps the injected fault
    if top.root_cause.start and top.root_cause.end:
        import pandas as pd

        start = pd.Timestamp(top.root_cause.start).value
        end = pd.Timestamp(top.root_cause.end).value
        assert start < T0 + FAULT_END_S * 10**9 and end > T0 + FAULT_START_S * 10**9
    if fault == "gpu_throttle":  # the decoded throttle reason is named, not "None"
        assert "sw_power_cap" in top.title and "None" not in top.title, top.title
    # nothing else claims high confidence
    assert all(f.level != "high" for f in found[1:]), [(f.category, f.confidence) for f in found]


def test_clean_run_has_nothing_above_low(tmp_path: Path) -> None:
    found = _findings(tmp_path, "clean")
    assert all(f.level == "low" for f in found), [(f.category, f.confidence, f.title) for f in found]


def test_job_gc_and_pool_merge_into_one_chain(tmp_path: Path) -> None:
    b = Builder(seed=4)
    full_sync(b, seconds=360)
    with connect(b.write(tmp_path / "s.duckdb")) as tel:
        found = diagnose(tel).findings
    assert [f.category for f in found] == ["periodic_job_interference"]
    job = found[0]
    assert {"gc_pause", "pool_saturation"} <= set(job.merged)
    assert job.chain[0].startswith("job payments_full_sync") and "gen-2 GC" in " ".join(job.chain)
    period = next(e.value for e in job.evidence if e.kind == "job_period_s")
    assert period == pytest.approx(60, abs=1)
    assert job.to_dict() == Finding.from_dict(job.to_dict()).to_dict()
