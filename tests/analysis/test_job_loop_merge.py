"""A job absorbs an event-loop finding only when the loop stalls while the job runs.

Telemetry as the instrumentation writes it (docs/metrics.md): every loop block is an
``event_loop.blocked`` span with its interval; a request that arrived during a block starts its
span after it and carries ``infersight.loop.queued_ms``; a request in flight is stretched and
carries an ``event_loop.blocked`` event. The job runs every 60 s from the start; from CHANGE_S on
its runs get long and the loop blocks begin (the incident; the quiet first half is the baseline).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from infersight.analysis import connect, diagnose

from tests.analysis._synth import MS, T0, Builder, S

PERIOD_S, RUN_S = 60, 6
CHANGE_S = 200
SECONDS = 420


def _run(tmp_path: Path, loop_offset_s: int) -> list[tuple[str, list[str]]]:
    """Blocks of 300-600 ms every second for RUN_S seconds, ``loop_offset_s`` after each long run's start."""
    b = Builder(seed=7)
    blocks: list[tuple[int, int]] = []
    for k in range(SECONDS // PERIOD_S):
        st = T0 + (k * PERIOD_S + 20) * S
        full = (st - T0) >= CHANGE_S * S
        b.span(b.new_id(32), "payments_full_sync", st, RUN_S * S if full else 200 * MS,
               attrs={"infersight.job.name": "payments_full_sync"})
        if full:
            for j in range(RUN_S):
                bs = st + (loop_offset_s + j) * S
                be = bs + int(b.rng.uniform(300, 600) * MS)
                blocks.append((bs, be))
                attrs = {"infersight.loop.blocked_ms": f"{(be - bs) / MS:.1f}"}
                if loop_offset_s == 0:
                    attrs["infersight.job.name"] = "payments_full_sync"
                b.span(b.new_id(32), "event_loop.blocked", bs, be - bs, attrs=attrs)
    arrivals = T0 + np.sort(b.rng.uniform(0, SECONDS * S, SECONDS * 5)).astype(np.int64)
    for arrival in (int(x) for x in arrivals):
        own = int(b.rng.lognormal(np.log(40), 0.25) * MS)
        start, queued, stretch, events = arrival, 0.0, 0, []
        for bs, be in blocks:
            if bs <= arrival < be:  # arrived during the block: its span starts when the loop is free
                start, queued = be, (be - arrival) / MS
            elif arrival < bs < arrival + own:  # in flight: stretched by the block
                stretch += be - bs
                events.append((bs, "event_loop.blocked", {"lag_ms": f"{(be - bs) / MS:.1f}"}))
        attrs = {"infersight.gc.pause_ms": "0"}
        if queued:
            attrs |= {"infersight.loop.queued_ms": f"{queued:.1f}",
                      "infersight.request.arrival_source": "loop-block-estimate"}
        b.request("/v1/predict", start, own + stretch, attrs=attrs, events=events)
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
