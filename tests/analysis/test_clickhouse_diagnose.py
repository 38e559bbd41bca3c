"""The same diagnosis on ClickHouse as on DuckDB: every committed sample run (tests/data/runs/*,
notebooks/data/*), copied with ``infersight export --clickhouse`` into the OTel Collector
ClickHouse exporter's tables (its own DDL, run by the real ClickHouse engine in chDB), gives the
same incident decision and the same findings (category, entity, rank; confidence within 0.01).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from infersight.analysis import connect, diagnose

from infersight.cli import main
from tests.analysis._clickhouse import SAMPLE_RUNS, db_name, run_id


@pytest.fixture(scope="module")
def chdb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb_diag")


def _summary(source: str) -> tuple[bool, list[tuple[str, str, float]]]:
    with connect(source) as tel:
        result = diagnose(tel).to_dict()
    assert not result.get("detector_errors"), result.get("detector_errors")
    found = bool(result.get("incident", {}).get("found"))
    return found, [(f["category"], f["root_cause"]["entity"], float(f["confidence"])) for f in result["findings"]]


@pytest.mark.parametrize("run", SAMPLE_RUNS, ids=run_id)
def test_same_findings_on_clickhouse(chdb_root: Path, run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"chdb:{chdb_root}?database={db_name(run)}"
    assert main(["export", "--db", str(run), "--clickhouse", url]) == 0
    assert "otel_traces=" in capsys.readouterr().out
    duck_found, duck = _summary(str(run))
    ch_found, ch = _summary(url)
    assert ch_found == duck_found
    assert [(c, e) for c, e, _ in ch] == [(c, e) for c, e, _ in duck]
    for (c, e, a), (_, _, b) in zip(duck, ch, strict=True):
        assert abs(a - b) <= 0.01, f"{c} {e}: confidence {a} on DuckDB, {b} on ClickHouse"


def test_cli_diagnose_json_on_chdb(chdb_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = next(p for p in SAMPLE_RUNS if p.name == "full_sync")
    url = f"chdb:{chdb_root}?database=cli_full_sync"
    assert main(["export", "--db", str(run), "--clickhouse", url]) == 0
    capsys.readouterr()
    assert main(["diagnose", "--db", url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["source"] == url and doc["incident"]["found"]
    assert doc["findings"][0]["category"] == "periodic_job_interference"
