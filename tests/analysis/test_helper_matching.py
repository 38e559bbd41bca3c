"""The analysis matches infersight's helpers by the attributes they declare: a root span that is a
cache lookup, a pool wait or a query is not a job, and a job's rows come from its own queries."""

from __future__ import annotations

from pathlib import Path

from infersight.analysis import connect

from tests.analysis._synth import MS, T0, Builder, S


def test_root_helper_spans_are_not_jobs_and_rows_reach_the_job(tmp_path: Path) -> None:
    b = Builder(seed=3)
    for i in range(20):
        b.request("/v1/predict", T0 + i * S, 20 * MS)
    # a job whose own queries nest in its trace (traced_job makes its span current)
    tid = b.new_id(32)
    job = b.span(tid, "nightly_sync", T0 + 2 * S, 900 * MS, attrs={"infersight.job.name": "nightly_sync"})
    for k in range(3):
        b.span(tid, "SELECT payments", T0 + 2 * S + k * 100 * MS, 50 * MS, parent=job, kind="Client",
               attrs={"db.system.name": "sqlite", "db.response.returned_rows": "100"})
    # helpers' spans made outside any trace: roots, but not jobs
    b.span(b.new_id(32), "cache.lookup features", T0 + 3 * S, 2 * MS, attrs={"cache.name": "features", "cache.hit": "false"})
    b.span(b.new_id(32), "pool.acquire", T0 + 4 * S, 2 * MS, attrs={"db.client.connection.pool.name": "db"})
    b.span(b.new_id(32), "SELECT 1", T0 + 5 * S, 2 * MS, attrs={"db.system": "sqlite"})
    # an app's own scheduler span without infersight: still a job
    b.span(b.new_id(32), "apscheduler tick", T0 + 6 * S, 30 * MS)
    db = b.write(tmp_path / "t.duckdb")
    with connect(str(db)) as tel:
        tel.build_features()
        jobs = tel.query("features/jobs")
    assert sorted(jobs["job"]) == ["apscheduler tick", "nightly_sync"]
    rows = dict(zip(jobs["job"], jobs["rows"], strict=True))
    assert rows["nightly_sync"] == 300
