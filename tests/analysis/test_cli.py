"""``infersight diagnose`` end to end through the real CLI shell, and its bad-input handling."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from infersight.cli import main
from tests.analysis._synth import Builder, full_sync


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["diagnose", *args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def sync_db(tmp_path: Path) -> Path:
    b = Builder(seed=5)
    full_sync(b, seconds=300)
    return b.write(tmp_path / "sync.duckdb")


def test_json_names_the_job_with_the_merged_chain(sync_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, "--db", str(sync_db), "--json")
    assert rc == 0, err
    doc = json.loads(out)
    top = doc["findings"][0]
    assert top["category"] == "periodic_job_interference"
    assert top["root_cause"]["entity"] == "payments_full_sync"
    assert "gc_pause" in top["merged"] and top["confidence_level"] == "high"
    assert top["evidence"][0]["exemplar_trace_ids"]
    assert {"category", "title", "root_cause", "symptom", "impact", "effect_size", "confidence", "evidence",
            "counterfactual", "remediation"} <= set(top)


def test_table_and_html_report(sync_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "r.html"
    rc, out, err = _run(capsys, "--db", str(sync_db), "--html", str(report))
    assert rc == 0, err
    assert "periodic_job_interference" in out and "payments_full_sync" in out
    text = report.read_text()
    assert text.count("data:image/png;base64,") >= 2
    assert not re.search(r"(src|href)=['\"]https?:", text)  # nothing loaded from the network
    assert "sli_if_fixed" not in text  # the counterfactual is a sentence, not a raw dict


def test_html_escapes_values_from_span_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = Builder(seed=2)
    evil = "<script>alert(1)</script>"
    full_sync(b, seconds=300)
    for s in b.spans:
        if s["SpanName"] == "payments_full_sync":
            s["SpanAttributes"]["infersight.job.name"] = evil
    db = b.write(tmp_path / "evil.duckdb")
    report = tmp_path / "r.html"
    rc, _, err = _run(capsys, "--db", str(db), "--html", str(report))
    assert rc == 0, err
    text = report.read_text()
    assert evil not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_route_filter_and_since(sync_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "--db", str(sync_db), "--json", "--route", "/v1/predict", "--since", "2m")
    assert rc == 0
    doc = json.loads(out)
    assert doc["route"] == "/v1/predict" and 0 < doc["requests"] < 1500


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err
    assert lines and lines[0].startswith("infersight diagnose: error:"), err
    return err


def test_missing_file_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "--db", str(tmp_path / "nope.duckdb"))
    assert rc == 2 and "nope.duckdb" in _one_line_error(err)


def test_empty_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "empty.duckdb"
    p.write_bytes(b"")
    rc, _, err = _run(capsys, "--db", str(p))
    assert rc in (1, 2)
    _one_line_error(err)


def test_not_a_database_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "text.duckdb"
    p.write_text("hello, not duckdb\n" * 100)
    rc, _, err = _run(capsys, "--db", str(p))
    assert rc == 2
    _one_line_error(err)


def test_foreign_duckdb_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(p))
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.close()
    rc, _, err = _run(capsys, "--db", str(p))
    assert rc == 2 and "not an infersight telemetry database" in _one_line_error(err)


def test_newer_schema_version_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = Builder().write(tmp_path / "new.duckdb", schema_version=99)
    rc, _, err = _run(capsys, "--db", str(p))
    assert rc == 2 and "99" in _one_line_error(err)


def test_schema_only_database_has_no_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = Builder().write(tmp_path / "fresh.duckdb")
    rc, _, err = _run(capsys, "--db", str(p))
    assert rc == 1 and "no spans" in _one_line_error(err)


def test_time_range_without_data(sync_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "--db", str(sync_db), "--since", "2001-01-01T00:00:00Z", "--until", "2001-01-02T00:00:00Z")
    assert rc == 1 and "no requests" in _one_line_error(err) and "data covers" in err


def test_unknown_route_has_no_data(sync_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "--db", str(sync_db), "--route", "/nope'; DROP TABLE otel_traces; --")
    assert rc == 1 and "no requests" in _one_line_error(err)


def test_bad_since_is_usage_error(sync_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "--db", str(sync_db), "--since", "last tuesday")
    assert rc == 2 and "cannot read time" in _one_line_error(err)


def test_names_stay_whole_at_80_columns() -> None:
    # a real terminal of 80 columns: category and root-cause names used to split mid-word
    # (pool_saturati / on); the table keeps them whole and the sentences follow it
    import os
    import subprocess
    import sys

    run = Path(__file__).resolve().parents[1] / "data" / "runs" / "pool_exhaustion"
    res = subprocess.run([sys.executable, "-m", "infersight.cli", "diagnose", "--db", str(run), "--json"],
                         capture_output=True, text=True, timeout=300)
    findings = json.loads(res.stdout)["findings"]
    assert findings
    res = subprocess.run([sys.executable, "-m", "infersight.cli", "diagnose", "--db", str(run)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "80"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    for f in findings:
        assert any(f["category"] in ln for ln in lines), f["category"]
        assert any(f["root_cause"]["entity"] in ln for ln in lines), f["root_cause"]["entity"]
    assert any(ln.startswith("1. ") for ln in lines)  # the first finding's sentence, after the table


def test_report_symptom_line_and_no_empty_charts() -> None:
    # the symptom line showed the counterfactual as a raw dict; an all-zero evidence pair drew
    # an empty "0 vs 0" bar chart
    from types import SimpleNamespace

    from infersight.analysis import Evidence
    from infersight.analysis._report_html import _before_after, _counterfactual

    sentence = _counterfactual({"sli_if_fixed": 139.04, "p99_excess_removed_share": 0.685}, " ms")
    assert sentence == "about 139.0 ms, 68% of the excess removed"
    assert "{" not in sentence
    d = SimpleNamespace(context=object())
    zeros = SimpleNamespace(evidence=[Evidence("loop_blocked_ms", 0.0, 0.0), Evidence("p_value", 0.01)])
    assert _before_after(d, zeros) is None  # type: ignore[arg-type]
    real = SimpleNamespace(evidence=[Evidence("loop_blocked_ms", 0.0, 0.0), Evidence("gc_ms", 12.0, 0.3)])
    img = _before_after(d, real)  # type: ignore[arg-type]
    assert img is not None and img.startswith("data:image/png;base64,")
