"""``infersight import | export | diagnose`` of the installed wheel, on files a user would have:
an existing collector database, OTLP JSON and Jaeger files, a recorded demo run, and a database
that a running (installed) collector holds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests._wheel import InstalledVenv
from tests.reliability._procs import CollectorProcess

from ._sdk import send_batches

pytestmark = [pytest.mark.integration, pytest.mark.installed]
ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "tests" / "data" / "runs" / "full_sync"  # telemetry of the real faulty demo server
JAEGER = {"data": [{
    "traceID": "00000000000000000000000000abcdef",
    "spans": [{"traceID": "abcdef", "spanID": "0000000000000001", "operationName": "GET /score",
               "references": [], "startTime": 1_700_000_000_000_000, "duration": 1500, "processID": "p1",
               "tags": [{"key": "span.kind", "type": "string", "value": "server"}]}],
    "processes": {"p1": {"serviceName": "scorer", "tags": []}},
}]}
OTLP_JSON = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "imp"}}]},
                                "scopeSpans": [{"spans": [{
                                    "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
                                    "name": "imported", "kind": 2, "startTimeUnixNano": "1700000000000000000",
                                    "endTimeUnixNano": "1700000000500000000"}]}]}]}


def _run(installed: InstalledVenv, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INFERSIGHT_TOKEN")}
    return subprocess.run([str(installed.cli), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=env)


def _count(db: Path, sql: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(sql).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def test_import_into_an_existing_database_and_export(installed: InstalledVenv, tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    with CollectorProcess(db, cli=[str(installed.cli)], extra=["--workers", "0"], grpc=False) as col:
        acked = send_batches(col.url, None, batches=2, size=20)
    assert len(acked) == 40
    (tmp_path / "otlp.json").write_text(json.dumps(OTLP_JSON))
    (tmp_path / "jaeger.json").write_text(json.dumps(JAEGER))
    res = _run(installed, "import", "--db", str(db), str(tmp_path / "otlp.json"), str(tmp_path / "jaeger.json"),
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "accepted=2" in res.stdout, res.stdout
    assert _count(db, "SELECT count(*) FROM otel_traces") == 42
    res = _run(installed, "export", "--db", str(db), "--parquet", str(tmp_path / "pq"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    got = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{tmp_path}/pq/otel_traces/**/*.parquet')").fetchone()
    assert got == (42,)


def test_diagnose_a_recorded_run_in_the_terminal_and_as_html(installed: InstalledVenv, tmp_path: Path) -> None:
    res = _run(installed, "diagnose", "--db", str(RUN), "--html", str(tmp_path / "r.html"), cwd=tmp_path)
    assert res.returncode == 0 and "Root causes" in res.stdout, res.stdout + res.stderr  # every SQL file found
    html = (tmp_path / "r.html").read_text()
    assert "<html" in html.lower() and "<img" in html  # plots embedded


def test_diagnose_a_database_the_installed_collector_holds(installed: InstalledVenv, tmp_path: Path) -> None:
    """Load a recorded run into a collector file, start the installed collector on it again (a
    restart on an existing DB after a clean stop: the installed collector could not do this
    when collectors/migrations/ was not packaged), and diagnose through it as JSON (sidecar ->
    live reads)."""
    db = tmp_path / "held.duckdb"
    col = CollectorProcess(db, cli=[str(installed.cli)], extra=["--workers", "0"], grpc=False)
    col.start()
    assert col.stop() == 0  # the installed collector created the schema
    con = duckdb.connect(str(db))
    for table in ("otel_traces", "otel_metrics_gauge", "otel_metrics_sum", "otel_metrics_histogram"):
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet('{RUN}/{table}.parquet')")
    con.close()
    with col:
        send_batches(col.url, None, batches=1, size=10)
        res = _run(installed, "diagnose", "--db", str(db), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["requests"] > 100 and out["findings"], out
