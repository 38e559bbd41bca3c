"""Bad input: a short mutation-fuzz budget over every decoder (the >= 10^6 run is
benchmarks/reliability/run.py fuzz), and hostile requests over HTTP to a real collector process:
the right status for each, the collector keeps serving, memory stays bounded."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import httpx
import pytest

from benchmarks.ingest.payload import make_request

from ._fuzz import hostile_requests, run_fuzz
from ._procs import CollectorProcess

MAX_BODY = 4 << 20


def test_mutation_fuzz_never_crashes_a_decoder() -> None:
    n = int(os.environ.get("INFERSIGHT_FUZZ_INPUTS", "30000"))
    report = run_fuzz(n, seed=int(os.environ.get("INFERSIGHT_FUZZ_SEED", "7")))
    assert report.inputs == n
    assert report.crashes == 0, report.crash_samples[:3]
    assert report.accepted_requests > 0 and report.decode_errors > 0, "the mutator explores both sides"


@pytest.mark.integration
def test_hostile_requests_get_the_right_status_and_bounded_memory(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    with CollectorProcess(db, grpc=False, extra=["--max-body", "4MiB", "--log-level", "warning"]) as col:
        idle = col.rss()
        peak = idle
        with httpx.Client(base_url=col.url, timeout=60) as client:
            for name, body, headers, allowed in hostile_requests(MAX_BODY):
                r = client.post("/v1/traces", content=body, headers=headers)
                assert r.status_code in allowed, f"{name}: {r.status_code} {r.text[:200]}"
                peak = max(peak, col.rss())
                assert client.get("/healthz").status_code == 200, f"collector unhealthy after {name}"
            ok = client.post("/v1/traces", content=make_request(8, seed=5).SerializeToString(),
                             headers={"content-type": "application/x-protobuf"})
            assert ok.status_code == 200
        # the gzip bomb inflates to 8x --max-body and must never be buffered whole
        assert peak - idle < 32 * MAX_BODY + (64 << 20), f"RSS grew {(peak - idle) >> 20} MiB"
        assert "Traceback" not in col.log(), col.log()[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    try:
        sizes = [r[0] for r in con.execute('SELECT cardinality("SpanAttributes") FROM otel_traces').fetchall()]
        good = con.execute('SELECT count(*) FROM otel_traces WHERE "SpanName" <> \'n\'').fetchone()
    finally:
        con.close()
    assert 100_000 in sizes, "the span with 100k attributes is stored whole"
    assert good == (8,), "the well-formed request after the hostile ones is stored"
