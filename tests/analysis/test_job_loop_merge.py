"""A job absorbs an event-loop finding only when the loop stalls while the job runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from infersight.analysis import connect, diagnose

from tests.analysis._synth import MS, T0, Builder, S

PERIOD_S, RUN_S = 60, 6


def _run(tmp_path: Path, loop_offset_s: int) -> list[tuple[str, list[str]]]:
    """A 6-s job every 60 s; requests arriving in the RUN_S seconds *before* ``loop_offset_s``
    past a run's start are held until 0.5-2 s after that point by a 150-400 ms loop block (so
    with offset 0 the blocks fall inside the runs, but the requests they stall arrived before)."""
    b = Builder(seed=7)
    seconds = 420
    for k in range(seconds // PERIOD_S):
        st = T0 + (k * PERIOD_S + 20) * S
        b.span(b.new_id(32), "payments_full_sync", st, RUN_S * S, attrs={"infersight.job.name": "payments_full_sync"})
    starts = T0 + np.sort(b.rng.uniform(0, seconds * S, seconds * 5)).astype(np.int64)
    for st in (int(x) for x in starts):
        phase = ((st - T0) // S - 20) % PERIOD_S
        blocked = (loop_offset_s - RUN_S) % PERIOD_S <= phase < (loop_offset_s - RUN_S) % PERIOD_S + RUN_S
        loop_ms = float(b.rng.uniform(150, 400)) if blocked else 0.0
        own = int(b.rng.lognormal(np.log(40), 0.25) * MS)
        at = st
        if blocked:  # the block lands 0.5-2 s after the offset point, while the request waits
            point = T0 + (20 + ((st - T0) // S - 20 + RUN_S) // PERIOD_S * PERIOD_S + loop_offset_s) * S
            at = point + int(b.rng.uniform(0.5, 2.0) * S)
        in_run = 0 <= phase < RUN_S  # the job also takes CPU from requests that arrive during a run
        dur = (at - st) + own + int(loop_ms * MS) + (int(b.rng.uniform(150, 300) * MS) if in_run else 0)
        ev = [(at, "event_loop.blocked", {"lag_ms": f"{loop_ms:.1f}", "stack": 'File "/app/job.py", line 3, in pull'})]
        b.request("/v1/predict", st, dur, attrs={"infersight.gc.pause_ms": "0"}, events=ev if blocked else [])
    with connect(b.write(tmp_path / "j.duckdb")) as tel:
        found = diagnose(tel).findings
    return [(f.category, f.merged) for f in found]


def test_loop_blocks_inside_job_runs_join_the_job_chain(tmp_path: Path) -> None:
    found = _run(tmp_path, loop_offset_s=0)
    jobs = [merged for c, merged in found if c == "periodic_job_interference"]
    assert jobs, found
    assert "event_loop_block" in jobs[0], found
    assert all(c != "event_loop_block" for c, _ in found), found


def test_loop_blocks_between_runs_stay_separate(tmp_path: Path) -> None:
    found = _run(tmp_path, loop_offset_s=30)
    assert any(c == "event_loop_block" for c, _ in found), found
    assert all("event_loop_block" not in merged for _, merged in found), found
