"""A scenario run writes the labelled-run contract: telemetry.duckdb + labels.json."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from infersight.demo import DemoConfigError, run_scenario
from infersight.demo._measure import open_db
from infersight.demo._scenario import gpu_available

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_scenario_run_writes_labels_and_telemetry(tmp_path: Path) -> None:
    out = tmp_path / "slow_downstream"
    result = run_scenario("slow_downstream", out, duration=8, data_dir=tmp_path / "data",
                          server_args=("--rows", "50000"))
    labels = json.loads((out / "labels.json").read_text())
    assert labels == result.labels
    assert labels["scenario"] == "slow_downstream" and labels["service_name"] == "demo-model-server"
    [fault] = labels["faults"]
    assert (fault["fault"], fault["category"], fault["component"]) == \
        ("slow_downstream", "slow_downstream", "risk-service")
    t = {k: datetime.fromisoformat(v) for k, v in
         (("started", labels["started_at"]), ("start", fault["start"]), ("end", fault["end"]),
          ("ended", labels["ended_at"]))}
    assert t["started"] < t["start"] < t["end"] <= t["ended"]
    assert labels["load"]["ok"] > 0 and labels["load"]["requests"] >= labels["load"]["ok"]
    assert not json.loads((out / "pids.json").read_text()) == {}
    con = open_db(out / "telemetry.duckdb")
    try:
        services = {r[0] for r in con.execute("SELECT DISTINCT ServiceName FROM otel_traces").fetchall()}
        assert {"demo-model-server", "risk-service"} <= services
        n = con.execute("SELECT count(*) FROM otel_traces WHERE SpanName LIKE 'chat %'").fetchone()[0]
        assert n >= labels["load"]["by_kind"].get("hot", {}).get("ok", 0)
    finally:
        con.close()


def test_gpu_scenarios_refuse_without_a_gpu(tmp_path: Path) -> None:
    if gpu_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(DemoConfigError, match="GPU"):
        run_scenario("gpu_contention", tmp_path)
