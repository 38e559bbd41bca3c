"""A periodic job whose runs hurt only the tail (GC pauses stall the requests in flight) is still
named as the root cause, with the GC pauses as its mechanism: real vLLM run in
tests/data/vllm_job_gc_tail (see its README)."""

from __future__ import annotations

from pathlib import Path

from infersight.analysis import connect, diagnose

RUN = Path(__file__).resolve().parents[1] / "data" / "vllm_job_gc_tail"


def test_tail_only_job_damage_is_found_and_chained_through_gc() -> None:
    with connect(RUN) as tel:
        found = diagnose(tel).findings
    summary = [(f.category, round(f.confidence, 2), f.title) for f in found]
    top = found[0]
    assert top.category == "periodic_job_interference", summary
    assert top.root_cause.entity == "payments_full_sync"
    assert top.level == "high", summary
    assert any("GC" in step for step in top.chain), top.chain
    ev = {e.kind: e for e in top.evidence}
    p99_in = ev["p99_while_job_runs_ms"]
    # inside the job's runs the P99 is several times the baseline's (before the incident)
    assert top.symptom.baseline is not None
    assert p99_in.value > 3 * top.symptom.baseline and p99_in.exemplar_trace_ids
    # the GC finding does not stand beside it as a separate, unrelated cause
    assert not any(f.category == "gc_pause" and f.level == "high" for f in found[1:]), summary
