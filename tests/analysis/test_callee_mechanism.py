"""A traced downstream service whose own time rose: its own telemetry says why.

Recorded runs of the chain workload (gateway -> orders -> pricing/inventory/catalog, each its own
process instrumented with ``instrument_app``), the faulty code really run: ``cpu_heavy`` burns CPU
in pricing's handler (its CPU per request rises: cpu_contention), ``slow_http`` makes catalog wait
without computing (its CPU does not rise: slow_downstream), ``gc_storm`` builds cyclic garbage in
orders (its GC pauses rise: gc_pause). Scored with the corpus scorer, as the benchmark does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.rca._score import score_run

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "tests" / "data" / "rca_full"
QUICK = ROOT / "benchmarks" / "rca" / "data" / "quick"


@pytest.mark.parametrize(("folder", "category"), [
    (FULL / "chain.cpu_heavy.1", "cpu_contention"),
    (FULL / "chain.slow_http.1", "slow_downstream"),
    (QUICK / "chain.gc_storm.1", "gc_pause"),
])
def test_the_callees_own_telemetry_names_the_mechanism(folder: Path, category: str) -> None:
    row = score_run(folder)
    (fault,) = row["faults"]
    assert fault["ac1"], (fault, [(f["category"], f["entity"]) for f in row["findings"][:3]])
    top = row["findings"][0]
    assert top["category"] == category and top["service"] == fault["target"]
    assert top["level"] in ("medium", "high")
