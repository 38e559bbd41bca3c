"""kill -9 the collector at random moments (3 cycles here; 20 in benchmarks/reliability/run.py crash)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._crash import run_crash_cycles

pytestmark = pytest.mark.integration


def test_random_kill9_cycles_lose_no_acknowledged_span(tmp_path: Path) -> None:
    report = run_crash_cycles(tmp_path, cycles=3, seed=11, min_s=0.5, max_s=2.0, min_acked_per_cycle=400)
    assert report.clean_opens == 3, "the DuckDB file must open after every crash"
    assert all(n >= 400 for n in report.acked_per_cycle), f"a cycle acknowledged too little: {report}"
    assert report.lost == 0, f"{report.lost} acknowledged spans lost: {report}"
    assert report.found == report.acknowledged
    assert report.duplicates == 0, f"a span stored twice: {report}"
