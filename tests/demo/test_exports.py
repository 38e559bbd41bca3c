"""The public surface of infersight.demo is pinned."""

from __future__ import annotations

import infersight.demo as demo


def test_all_is_pinned() -> None:
    assert sorted(demo.__all__) == sorted([
        "FAULTS", "SCENARIOS", "DemoConfigError", "ConnectionPool", "DemoError", "DownstreamError", "Engine",
        "Fault", "GenRequest", "KVCache", "LoadConfig", "LoadSummary", "ModelConfig", "NumpyDecoder",
        "PoolTimeout", "PrefixCache", "ProcessError", "Scenario", "ServerConfig", "Tokenizer", "create_app",
        "run_load", "run_scenario", "OpenLoopRequest", "RequestRecord", "run_open_loop", "write_requests_csv",
    ])


def test_every_name_resolves() -> None:
    for name in demo.__all__:
        assert getattr(demo, name) is not None


def test_catalog_covers_the_issue_faults_with_design_categories() -> None:
    categories = {"periodic_job_interference", "gc_pause", "cache_miss_storm", "cache_stampede",
                  "pool_saturation", "slow_downstream", "event_loop_block", "gpu_saturation", "gpu_idle"}
    assert {f.category for f in demo.FAULTS.values()} == categories
    assert "clean" in demo.SCENARIOS and not demo.SCENARIOS["clean"].faults
    for sc in demo.SCENARIOS.values():
        assert set(sc.faults) <= set(demo.FAULTS)
