"""Accuracy on the demo's labelled runs (tests/data/runs/<scenario>/{otel_*.parquet, labels.json}).

The runs are real: the demo server with its fault switched on, load from the load generator,
telemetry through the real collector. For every fault run the labelled category must be the
top finding; the clean run must have nothing above low confidence.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from infersight.analysis import connect, diagnose

RUNS = Path(__file__).resolve().parents[1] / "data" / "runs"


def _sources() -> list[tuple[Path, Path]]:
    out = []
    for labels in sorted(RUNS.glob("*/labels.json")) if RUNS.is_dir() else []:
        folder = labels.parent
        db = folder / "telemetry.duckdb"
        out.append((folder, folder if any(folder.glob("otel_*.parquet")) else db))
    return out


SOURCES = _sources()

# Runs where the diagnosis is known to fall short today (docs/accuracy.md says why). Strict: if
# one starts passing (better detectors, or re-recorded runs), the test fails so this list shrinks.
# These runs were recorded for the v1 analysis: 40 s of load with the fault from 12 s on, so after
# the process's warm-up only ~8 s of baseline remain; analysis v2 compares the fault with that
# baseline and needs more of it (the RCA corpus, benchmarks/rca, is what v2 is judged on).
_SHORT = "recorded with ~8 s of baseline before the fault (v1 runs): "
KNOWN_MISSES = {
    "cache_stampede": _SHORT + "the stampede ranks second behind the CPU contention its loads cause",
    "event_loop_block": _SHORT + "the change is not significant (scan p ~0.02)",
    "cold_cache": _SHORT + "the miss storm's link to the CPU contention is not measured on so few steps",
    "pool_exhaustion": _SHORT + "the pool ranks second behind CPU contention",
    "gpu_idle": "the GPU idles for the whole run: a steady state, not a change (v2 reports no incident; "
                "a utilisation drop against a baseline is what gpu_idle needs)",
}


def _params() -> list[object]:
    out: list[object] = []
    for folder, source in SOURCES:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[folder.name])] if folder.name in KNOWN_MISSES else []
        out.append(pytest.param(folder, source, id=folder.name, marks=marks))
    return out


@pytest.mark.skipif(not SOURCES, reason=f"no labelled runs committed under {RUNS} yet")
@pytest.mark.parametrize(("folder", "source"), _params())
def test_labelled_run(folder: Path, source: Path) -> None:
    labels = json.loads((folder / "labels.json").read_text())
    with connect(source) as tel:
        found = diagnose(tel).findings
    summary = [(f.category, round(f.confidence, 2), f.title) for f in found]
    expected = [f["category"] for f in labels.get("faults", [])]
    if not expected:
        assert all(f.level == "low" for f in found), summary
        return
    assert found and found[0].category == expected[0], summary
    assert found[0].level != "low", summary
    assert found[0].exemplars(), "the top finding names exemplar traces"
