"""The demo server under load with a black-holed collector: every request still succeeds, the
drops are counted, memory does not grow, spans flow again when the collector returns.
(The latency comparison with a healthy twin is reported by benchmarks/reliability/run.py
blackhole, not asserted here: tests never fail on wall-clock time.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._blackhole import run_blackhole

pytestmark = pytest.mark.integration


def test_black_holed_collector_costs_the_server_nothing_and_recovers(tmp_path: Path) -> None:
    r = run_blackhole(tmp_path, seconds=20.0, rate=3.0)
    assert r.black_hole_connections > 0, "the exporter never reached the black hole"
    assert r.blackholed["requests"] >= 20
    assert r.blackholed["ok"] == r.blackholed["requests"], f"requests failed: {r.blackholed}"
    assert r.healthy["ok"] == r.healthy["requests"], f"requests failed on the healthy twin: {r.healthy}"
    # every span not delivered is counted: the exporter gives up on a batch after its 10 s timeout
    # (and a full 2048-span queue overwrites the oldest), so a 20 s run has drops to show
    assert r.dropped_spans > 0, f"spans were lost to the black hole but none counted: {r.dropped_spans}"
    # bounded: the black-holed server holds no more than its healthy twin under the same load
    # (the demo's own caches and sync jobs grow both alike; a telemetry backlog would not)
    assert r.rss_second_half_max_mib < r.rss_healthy_twin_max_mib + 64, \
        f"RSS grows beyond the healthy twin's ({r.rss_healthy_twin_max_mib} MiB): {r.rss_mib}"
    assert r.recovered_spans > 0 and r.recovery_s >= 0, "no spans arrived after the collector returned"
