"""Prober-seen latency (infersight probe's CLIENT spans) next to the incident, before and after."""

from __future__ import annotations

from pathlib import Path

from infersight.analysis import connect, diagnose

from tests.analysis._synth import MS, T0, Builder, S, full_sync


def test_probe_latency_is_reported_for_the_baseline_and_the_incident(tmp_path: Path) -> None:
    b = Builder(seed=4)
    full_sync(b, seconds=360)  # quick job runs, then from 180 s on long runs that stall requests
    for k in range(0, 360 * 10):  # /healthz at 10 Hz, slower while the long runs go on
        st = T0 + k * S // 10
        slow = (st - T0) >= 180 * S and ((st - T0) // S - 20) % 60 < 6
        b.span(b.new_id(32), "GET /healthz", st, (300 if slow else 2) * MS, kind="Client",
               service="infersight-probe", resource={"service.name": "infersight-probe", "infersight.role": "probe"})
    with connect(b.write(tmp_path / "p.duckdb")) as tel:
        d = diagnose(tel)
    assert d.found and d.probe is not None
    assert d.probe["incident"]["p99_ms"] > 10 * d.probe["baseline"]["p99_ms"]
    assert d.to_dict()["probe"]["baseline"]["requests"] > 100
