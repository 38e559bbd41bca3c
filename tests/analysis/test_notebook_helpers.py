"""infersight.analysis.notebook_helpers: the queries the notebooks share, on hand-made frames
and on the committed sample runs (real collector output under notebooks/data)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from infersight.analysis import UsageError, connect, diagnose
from infersight.analysis import notebook_helpers as nh

matplotlib.use("agg")
DATA = Path(__file__).resolve().parents[2] / "notebooks" / "data"


def _frame(*spans: tuple[int, int]) -> pd.DataFrame:
    return pd.DataFrame({"start_ns": [s for s, _ in spans], "end_ns": [e for _, e in spans]})


def test_all_is_pinned() -> None:
    assert sorted(nh.__all__) == [
        "FEATURES", "autocorrelation", "cache_hit_ratio", "feature", "findings_table", "gpu_request_costs",
        "gpu_samples", "in_flight", "job_periods", "label_intervals", "label_windows", "latency_summary",
        "overlaps", "read_labels", "requests", "shade", "stampede_evidence",
    ]


def test_overlaps_half_open_intervals_and_grace() -> None:
    reqs = _frame((0, 5), (10, 20), (30, 40), (41, 42), (100, 101))
    jobs = _frame((15, 30), (3, 4))
    assert nh.overlaps(reqs, jobs).tolist() == [True, True, False, False, False]
    # a 2 ns grace stretches [15, 30) to [15, 32): the request starting at 30 now overlaps
    assert nh.overlaps(reqs, jobs, grace_ms=2e-6).tolist() == [True, True, True, False, False]
    assert not nh.overlaps(reqs, _frame()).any()


def test_in_flight_counts_requests_running_at_each_start() -> None:
    reqs = _frame((0, 10), (5, 15), (12, 20), (20, 21))
    assert nh.in_flight(reqs).tolist() == [1, 2, 2, 1]


def test_autocorrelation_finds_the_period() -> None:
    x = np.sin(np.arange(200) * 2 * np.pi / 10)
    acf = nh.autocorrelation(x, max_lag=15).set_index("lag")["acf"]
    assert acf.loc[range(3, 15)].idxmax() == 10
    assert acf.loc[5] < -0.9
    assert nh.autocorrelation(np.ones(20), 5)["acf"].isna().all()


def test_latency_summary_and_windows() -> None:
    reqs = pd.DataFrame({"start_ns": [0, 1, 2, 3, 10, 11], "duration_ms": [1.0, 2.0, 3.0, 4.0, 50.0, 70.0]})
    labels = nh.label_windows(reqs, {"fault": (10, 20)})
    assert labels.tolist() == ["outside"] * 4 + ["fault"] * 2
    s = nh.latency_summary(reqs, labels)
    assert s.loc["outside", "requests"] == 4 and s.loc["fault", "requests"] == 2
    assert s.loc["outside", "p50_ms"] == pytest.approx(np.median([1, 2, 3, 4]))
    assert s.loc["fault", "max_ms"] == 70.0


def test_label_intervals_and_job_periods() -> None:
    labels = {"faults": [{"fault": "full_sync", "start": "2026-01-01T00:00:00+00:00",
                          "end": "2026-01-01T00:00:01+00:00"}]}
    lo, hi = nh.label_intervals(labels)["full_sync"]
    assert hi - lo == 1_000_000_000
    assert nh.label_intervals(None) == {}
    jobs = pd.DataFrame({"job": ["a"] * 3 + ["b"], "start_ns": [0, 12_000_000_000, 24_000_000_000, 5],
                         "duration_ms": [100.0, 300.0, 200.0, 1.0], "rows": [10.0, 10.0, 10.0, None]})
    p = nh.job_periods(jobs).set_index("job")
    assert p.loc["a", "runs"] == 3 and p.loc["a", "period_s"] == 12.0 and p.loc["a", "period_cv"] == 0.0
    assert p.loc["a", "mean_duration_ms"] == 200.0 and p.loc["a", "mean_rows"] == 10.0
    assert np.isnan(p.loc["b", "period_s"])


def test_feature_rejects_unknown_names() -> None:
    with connect(DATA / "full_sync") as tel, pytest.raises(UsageError, match="unknown feature"):
        nh.feature(tel, "f_requests; DROP TABLE x")


def test_requests_and_features_on_a_sample_run() -> None:
    with connect(DATA / "full_sync") as tel:
        reqs = nh.requests(tel)
        chat = nh.requests(tel, route="/v1/chat/completions")
        assert 0 < len(chat) < len(reqs) and set(chat["trace_id"]) <= set(reqs["trace_id"])
        assert (reqs["duration_ms"] > 0).all() and reqs["start_ns"].is_monotonic_increasing
        assert (reqs["end"] > reqs["start"]).all()
        jobs = nh.feature(tel, "jobs")
        (counted,) = tel.con.execute(
            "SELECT count(*) FROM stg_spans WHERE attrs['infersight.job.name'] IS NOT NULL").fetchall()
        assert len(jobs) == counted[0] > 0
        gc = nh.feature(tel, "runtime_events")
        assert {"gc"} <= set(gc["kind"]) and (gc["end_ns"] >= gc["start_ns"]).all()


def test_cache_helpers_agree_with_the_lookups() -> None:
    with connect(DATA / "cache_stampede") as tel:
        calls = nh.feature(tel, "cache_calls")
        ratio = nh.cache_hit_ratio(tel, step="5s")
        per_cache = ratio.groupby("cache")[["lookups", "hits"]].sum()
        direct = calls.groupby("cache")["hit"].agg(["size", "sum"])
        assert per_cache["lookups"].to_dict() == direct["size"].to_dict()
        assert per_cache["hits"].to_dict() == direct["sum"].to_dict()
        ev = nh.stampede_evidence(tel, step="5s")
        misses = calls[~calls["hit"] & calls["key"].notna()].groupby("cache").size()
        assert ev.groupby("cache")["misses"].sum().to_dict() == misses.to_dict()
        assert (ev["concurrent_duplicates"] <= ev["misses"]).all()


def test_gpu_helpers_on_the_h100_run() -> None:
    with connect(DATA / "gpu_h100") as tel:
        s = nh.gpu_samples(tel)
        assert len(s) > 10 and s["util"].between(0, 1).all()
        assert (s["power_w"] <= s["power_limit_w"] * 1.05).all()
        c = nh.gpu_request_costs(tel)
        assert len(c) > 100 and (c["gpu_seconds"] > 0).all() and (c["tokens"] > 0).all()
        # what the spans were given cannot exceed what the card's energy counter measured
        measured = float(s["energy_j"].max() - s["energy_j"].min())
        assert 0 < c["energy_j"].sum() <= measured * 1.05
    with connect(DATA / "full_sync") as tel:
        assert nh.gpu_samples(tel).empty and nh.gpu_request_costs(tel).empty


def test_findings_table_from_telemetry_or_diagnosis() -> None:
    with connect(DATA / "full_sync") as tel:
        t1 = nh.findings_table(tel)
        t2 = nh.findings_table(diagnose(tel))
    assert list(t1.columns) == ["category", "confidence", "level", "p99_excess_explained", "title", "chain", "fix"]
    assert t1["category"].tolist() == t2["category"].tolist() and len(t1) > 0


def test_read_labels_and_shade(tmp_path: Path) -> None:
    labels = nh.read_labels(DATA / "full_sync")
    assert labels is not None and labels["scenario"] == "full_sync"
    assert nh.read_labels(tmp_path) is None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(pd.to_datetime([0, 10_000_000_000], unit="ns", utc=True), [0, 1])
    nh.shade(ax, [(1_000_000_000, 2_000_000_000), (5_000_000_000, 6_000_000_000)], label="x")
    assert len(ax.patches) == 2 and [h.get_label() for h in ax.get_legend_handles_labels()[0]] == ["x"]
    plt.close(fig)
