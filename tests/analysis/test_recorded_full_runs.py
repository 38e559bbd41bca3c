"""Mechanisms seen failing on recorded corpus runs (the faulty code really run), scored with the
corpus scorer as the benchmark does.

A traced downstream service whose own time rose: its own telemetry says why. Recorded runs of
the chain workload (gateway -> orders -> pricing/inventory/catalog, each its own
process instrumented with ``instrument_app``), the faulty code really run: ``cpu_heavy`` burns CPU
in pricing's handler (its CPU per request rises: cpu_contention), ``slow_http`` makes catalog wait
without computing (its CPU does not rise: slow_downstream), ``gc_storm`` builds cyclic garbage in
orders (its GC pauses rise: gc_pause).

A connection pool starved (payments: a reconciliation job holds the SQLAlchemy QueuePool's
connections): SQLAlchemy's OTel instrumentation traces the checkout as a DB ``connect`` span
beside infersight's ``pool.acquire`` span, over the same wait; that wait is the pool's
(pool_saturation), not the database's (it used to be blamed on ``db sqlite``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.rca._score import score_run

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "tests" / "data" / "rca_full"
QUICK = ROOT / "benchmarks" / "rca" / "data" / "quick"


@pytest.mark.parametrize(("folder", "category", "entity"), [
    (FULL / "chain.cpu_heavy.1", "cpu_contention", "pricing"),
    (FULL / "chain.slow_http.1", "slow_downstream", "catalog"),
    (QUICK / "chain.gc_storm.1", "gc_pause", "orders"),
    (FULL / "payments.pool_starvation.3", "pool_saturation", "payments-db"),
])
def test_the_mechanism_is_named_at_rank_one(folder: Path, category: str, entity: str) -> None:
    row = score_run(folder)
    (fault,) = row["faults"]
    assert fault["ac1"], (fault, [(f["category"], f["entity"]) for f in row["findings"][:3]])
    top = row["findings"][0]
    assert top["category"] == category and top["entity"] == entity, top
    assert top["level"] in ("medium", "high")
