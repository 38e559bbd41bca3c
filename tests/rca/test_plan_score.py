"""Run plans are reproducible from their seed; the scorer's matching rules."""

from __future__ import annotations

from benchmarks.rca._plan import plan
from benchmarks.rca._score import entity_matches, score_fault


def test_a_plan_is_reproducible_from_its_seed_and_variants_differ() -> None:
    a, b = plan("payments", "gc_job", 1), plan("payments", "gc_job", 1)
    assert a.to_dict() == b.to_dict()
    others = [plan("payments", "gc_job", v) for v in (2, 3)]
    assert len({str(p.faults) for p in (a, *others)}) == 3


def test_every_fault_has_a_healthy_baseline_and_ends_inside_the_run() -> None:
    for fam in ("gc_job", "slow_http", "two_faults", "cpu_contention"):
        for v in (1, 2, 3):
            p = plan("payments", fam, v)
            assert p.expected, fam
            for e in p.expected:
                assert e["start_s"] >= 20 and e["start_s"] + e["duration_s"] <= p.duration_s + 1e-6
    assert plan("payments", "two_faults", 1).expected[0]["family"] != plan("payments", "two_faults", 1).expected[1]["family"]


def test_healthy_runs_carry_the_harmless_extras() -> None:
    runs = [plan("payments", "healthy", v) for v in range(1, 11)]
    assert all(r.healthy["job_period_s"] and not r.faults and not r.expected for r in runs)
    assert any(r.swing for r in runs) and any(h["nice"] == 19 for r in runs for h in r.hogs)


def test_entity_matching_uses_service_or_entity_normalised() -> None:
    exp = {"category": ["slow_downstream"], "entity": "payments-risk", "service": "payments-risk", "family": "x"}
    assert entity_matches("Payments_Risk", exp)
    assert entity_matches("POST payments-risk /v1/risk", exp)
    assert not entity_matches("payments-api", exp)
    assert not entity_matches("", exp)
    ranked = [{"category": "gc_pause", "confidence": 0.9, "root_cause": {"entity": "python gc"}},
              {"category": "slow_downstream", "confidence": 0.5, "root_cause": {"entity": "x", "service": "payments-risk"}}]
    s = score_fault(ranked, exp)
    assert (s["rank"], s["ac1"], s["ac3"], s["entity_ok"], s["rank_right"], s["confidence"]) == (2, False, True, True, 2, 0.5)
