"""One tiny live run of the payments workload, end to end (collector, services, load, fault, export)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from benchmarks.rca._plan import plan
from benchmarks.rca._runner import execute
from benchmarks.rca._score import score_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_payments_code_defect_run_end_to_end(tmp_path: Path) -> None:
    p = plan("payments", "code_defect", 1, compact=True)
    p.rate, p.duration_s = 6.0, 14.0
    for f in (*p.faults, *p.expected):
        f["start_s"], f["duration_s"] = 6.0, 8.0
        f["params"] = {"error_rate": 1.0}
    labels = execute(p, tmp_path / p.run_id)
    out = tmp_path / p.run_id
    client = pd.read_parquet(out / "client.parquet")
    assert len(client) == labels["load"]["requests"] > 20
    t0 = labels["t0_epoch"] * 1e9
    refunds = client[client["route"] == "/v1/refunds"]
    before = refunds[refunds["scheduled_ns"] < t0 + 5.5e9]
    during = refunds[(refunds["scheduled_ns"] > t0 + 6.5e9) & (refunds["scheduled_ns"] < t0 + 13.5e9)]
    assert (before["status"] == 200).all() and (during["status"] == 500).all()
    assert not during.empty
    spans = duckdb.sql(f"SELECT ServiceName, SpanKind, TraceId, SpanId, ParentSpanId, SpanAttributes "
                       f"FROM read_parquet('{out}/telemetry/otel_traces.parquet')").df()
    load = spans[spans["ServiceName"] == "payments-load"]
    assert len(load) == len(client) and set(load["SpanKind"]) == {"Client"}
    server = spans[(spans["ServiceName"] == "payments-api") & (spans["SpanKind"] == "Server")]
    assert set(server["ParentSpanId"]) & set(load["SpanId"]), "SERVER spans are children of the CLIENT spans"
    row = score_run(out)
    assert row["client"]["requests"] == len(client) and len(row["faults"]) == 1
