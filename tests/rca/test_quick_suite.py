"""The quick suite's scorer on the committed recordings: structure only, never accuracy numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.rca import run
from benchmarks.rca._plan import SUITES, suite
from benchmarks.rca._procs import ROOT

QUICK = ROOT / "benchmarks" / "rca" / "data" / "quick"


def _recorded() -> list[Path]:
    return sorted(p.parent for p in QUICK.glob("*/labels.json"))


def test_committed_quick_data_is_small_and_complete() -> None:
    runs = _recorded()
    assert runs, "no committed quick-suite recordings"
    size = sum(f.stat().st_size for f in QUICK.rglob("*") if f.is_file())
    assert size < 10 * 2**20, f"committed quick data is {size / 2**20:.1f} MiB"
    planned = {p.run_id for p in suite("quick")}
    for folder in runs:
        assert folder.name in planned, f"{folder.name} is not a quick-suite run"
        assert (folder / "client.parquet").exists() and any((folder / "telemetry").rglob("*.parquet"))
        labels = json.loads((folder / "labels.json").read_text())
        assert labels["load"]["requests"] > 0
        assert labels["healthy"] == (labels["faults"] == [])


@pytest.mark.slow
def test_quick_suite_scorer_writes_the_report(tmp_path: Path) -> None:
    out, md = tmp_path / "rca_quick.json", tmp_path / "accuracy.md"
    md.write_text("# Diagnosis accuracy\n\nkept text\n")
    assert run.main(["--suite", "quick", "--json", str(out), "--md", str(md)]) == 0
    doc = json.loads(out.read_text())
    assert doc["suite"] == "quick" and len(doc["runs"]) == len(_recorded())
    assert set(doc["calibration"]) == {"low", "medium", "high"}
    workloads = {r["workload"] for r in doc["runs"]}
    assert set(doc["false_alarm"]) == {r["workload"] for r in doc["runs"] if r["healthy"]}
    assert {c["workload"] for c in doc["by_family"]} <= workloads
    for r in doc["runs"]:
        assert r["client"]["requests"] == r["load"]["requests"]
        assert isinstance(r["false_alarm"], bool)
        for f in r["faults"]:
            assert isinstance(f["ac1"], bool) and isinstance(f["ac3"], bool) and isinstance(f["entity_ok"], bool)
            assert f["ac3"] or not f["ac1"]
    text = md.read_text()
    assert "kept text" in text and "<!-- rca-quick:begin -->" in text and "| workload | fault family |" in text
    run.main(["--suite", "quick", "--json", str(out), "--md", str(md)])  # the section is replaced, not appended
    assert md.read_text().count("<!-- rca-quick:begin -->") == 1


def test_suites_have_the_promised_shape() -> None:
    variants, healthy = SUITES["full"]
    assert variants >= 3 and healthy >= 10
    full = suite("full")
    for w in {p.workload for p in full}:
        runs = [p for p in full if p.workload == w]
        assert sum(p.family == "healthy" for p in runs) >= 10
        for fam in {p.family for p in runs} - {"healthy"}:
            assert sum(p.family == fam for p in runs) >= 3
