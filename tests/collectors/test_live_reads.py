"""open_readonly while the collector runs: by URL, by DB path (sidecar), with since=, with a token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from infersight.collectors import Collector, StorageError, open_readonly

from benchmarks.ingest.payload import make_request

from .conftest import PB

pytestmark = pytest.mark.integration


def _send(col: Collector, n: int, seed: int, start_ns: int, headers: dict[str, str] | None = None) -> None:
    body = make_request(n, seed=seed, start_ns=start_ns).SerializeToString()
    r = httpx.post(col.url + "/v1/traces", content=body, headers={**PB, **(headers or {})})
    assert r.status_code == 200


def test_live_read_sees_every_acknowledged_row(collector: Collector) -> None:
    _send(collector, 50, 1, 10**18)
    con = open_readonly(collector.url)
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (50,)
    _send(collector, 25, 2, 2 * 10**18)
    assert open_readonly(collector.url).execute("SELECT count(*) FROM otel_traces").fetchone() == (75,)
    recent = open_readonly(collector.url, since_ns=2 * 10**18)
    assert recent.execute("SELECT count(*) FROM otel_traces").fetchone() == (25,)
    for table in ("otel_logs", "otel_metrics_gauge", "otel_metrics_histogram"):
        assert recent.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    cols = {r[0]: r[1] for r in con.execute("DESCRIBE otel_traces").fetchall()}
    assert cols["Timestamp"] == "TIMESTAMP_NS" and cols["SpanAttributes"] == "MAP(VARCHAR, VARCHAR)"


def test_db_path_of_a_running_collector_reads_live(collector: Collector) -> None:
    _send(collector, 10, 3, 10**18)
    con = open_readonly(collector.db_path)
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (10,)


def test_token_for_live_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, token="tk") as col:
        _send(col, 5, 4, 10**18, {"authorization": "Bearer tk"})
        with pytest.raises(StorageError, match="401"):
            open_readonly(col.url)
        assert open_readonly(col.url, token="tk").execute("SELECT count(*) FROM otel_traces").fetchone() == (5,)
        monkeypatch.setenv("INFERSIGHT_TOKEN", "tk")
        assert open_readonly(col.url).execute("SELECT count(*) FROM otel_traces").fetchone() == (5,)


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        open_readonly(tmp_path / "missing.duckdb")
    with pytest.raises(StorageError, match="no otel_"):
        open_readonly(tmp_path)
    with pytest.raises(StorageError):
        open_readonly("http://127.0.0.1:9/")  # nothing listens on the discard port
