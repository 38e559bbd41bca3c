"""Every panel's PromQL against a real Prometheus (Debian package) with real data.

Prometheus (exemplar storage on, 1 s scrapes, the repository's rules at 1 s) scrapes:
- ``app``: a small model server instrumented with ``instrument_app`` and infersight's job,
  cache and pool helpers (_workload_app.py: a periodic full-sync job, a feature cache, a
  2-connection pool), under closed-loop load: HTTP, GC, loop lag, jobs, caches, pools, runtime;
- ``demo``: the reference demo server (``infersight demo serve --fault full_sync``) under
  ``infersight demo load``; the overview, runtime and incident boards are also checked with
  ``job="demo"`` alone;
- ``collector``: a real ``infersight collect`` receiving the demo server's OTLP telemetry: its
  own /metrics fill the overview's Collector row;
- ``vllm``: the /metrics text recorded from a real ``vllm serve`` run
  (benchmarks/results/vllm_metrics.txt) replayed with growing counters: vllm: panels;
- ``gpu``: a /metrics text recorded from the GPU plane on a real GPU (see GPU_RECORDING),
  replayed the same way: GPU panels.
Each panel query must come back non-empty, of the type its panel expects (matrix for graphs,
vector for stats/tables), with at least one finite value. The test reports, per panel, which
source validated it (``validated_by``), and dashboards.md lists it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from infersight.analysis._preview import PrometheusClient, fetch_annotations, fetch_panels, load_boards

from tests.conftest import free_port

from ._prom import ReplayTarget, fast_rules, prometheus, wait_targets_up
from .conftest import DASHBOARDS, ROOT, load_build, need_binary

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

VLLM_RECORDING = ROOT / "benchmarks" / "results" / "vllm_metrics.txt"
GPU_RECORDING = ROOT / "tests" / "dashboards" / "data" / "gpu_metrics_recorded.txt"
WORKLOAD = Path(__file__).with_name("_workload_app.py")
DEMO_BOARDS = ("infersight-overview", "infersight-runtime", "infersight-incident")
# Timeouts need the pool_exhaustion fault; the demo's hooks and exporter don't fail here.
DEMO_MAY_BE_EMPTY = {
    "infersight-incident / Pool timeouts and wait P95 / A",
    "infersight-runtime / Pool timeouts per second / A",
}
LOAD_SECONDS = 20.0


def _source(names: set[str], gpu_names: set[str]) -> str:
    if any(n.startswith("vllm:") for n in names):
        return "recorded vLLM /metrics"
    if names & gpu_names:
        return "recorded GPU /metrics"
    return "live demo server"  # the workload app and/or the demo server


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready in {timeout} s: {log.read_text()[-3000:]}")


def _load(base: str, seconds: float, workers: int = 6) -> int:
    """Closed-loop load: mostly /predict, some 500s and 404s; returns requests sent."""
    stop = time.monotonic() + seconds
    sent = [0] * workers

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, timeout=5) as c:
            i = 0
            while time.monotonic() < stop:
                path = "/fail" if i % 25 == 7 else "/nope" if i % 40 == 3 else f"/predict/m{i % 3}"
                c.get(path)
                i += 1
            sent[k] = i

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(sent)


def test_every_panel_query_returns_typed_data(tmp_path: Path) -> None:
    binary = need_binary("prometheus")
    assert VLLM_RECORDING.is_file(), f"missing {VLLM_RECORDING}"
    assert GPU_RECORDING.is_file(), f"missing {GPU_RECORDING}"
    build = load_build()
    catalog = {s.name: s for s in __import__("infersight.instrument.metrics.catalog", fromlist=["CATALOG"]).CATALOG}
    gpu_names = {n for s in catalog.values() if s.source == "gpu" for n in s.series_names()}

    port, demo_port, collector_port = free_port(), free_port(), free_port()
    app_log, demo_log, collector_log = tmp_path / "workload.log", tmp_path / "demo.log", tmp_path / "collector.log"
    with collector_log.open("wb") as log:
        collector = subprocess.Popen(
            [sys.executable, "-m", "infersight.cli", "collect", "--db", str(tmp_path / "t.duckdb"), "--http-port",
             str(collector_port), "--grpc-port", "-1", "--workers", "0", "--no-ui", "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT)
    with app_log.open("wb") as log:
        server = subprocess.Popen([sys.executable, str(WORKLOAD), str(port)], stdout=log, stderr=subprocess.STDOUT)
    with demo_log.open("wb") as log:  # the reference server, full-sync fault, small table
        demo = subprocess.Popen(
            [sys.executable, "-m", "infersight.cli", "demo", "serve", "--port", str(demo_port), "--fault", "full_sync",
             "--rows", "20000", "--sync-period", "4", "--data-dir", str(tmp_path),
             "--otlp-endpoint", f"http://127.0.0.1:{collector_port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{collector_port}/healthz", collector, collector_log)
        _wait_http(f"http://127.0.0.1:{port}/readyz", server, app_log)
        _wait_http(f"http://127.0.0.1:{demo_port}/readyz", demo, demo_log, timeout=90)
        with ReplayTarget(VLLM_RECORDING.read_text()).serve() as vllm_addr, \
                ReplayTarget(GPU_RECORDING.read_text()).serve() as gpu_addr:
            jobs = {"app": [f"127.0.0.1:{port}"], "demo": [f"127.0.0.1:{demo_port}"], "vllm": [vllm_addr],
                    "gpu": [gpu_addr], "collector": [f"127.0.0.1:{collector_port}"]}
            rules = fast_rules(DASHBOARDS / "rules", tmp_path)
            with prometheus(binary, tmp_path, jobs, rules) as url:
                wait_targets_up(url, set(jobs))
                demo_load = subprocess.Popen(
                    [sys.executable, "-m", "infersight.cli", "demo", "load", "--url", f"http://127.0.0.1:{demo_port}",
                     "--rate", "5", "--duration", str(LOAD_SECONDS), "--no-spans"], stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
                assert _load(f"http://127.0.0.1:{port}", LOAD_SECONDS, workers=4) > 100
                for _ in range(5):  # clients send bad requests too: the demo's 4xx for the error panel
                    r = httpx.post(f"http://127.0.0.1:{demo_port}/v1/chat/completions", content=b"{not json",
                                   headers={"content-type": "application/json"}, timeout=10)
                    assert 400 <= r.status_code < 500
                _, err = demo_load.communicate(timeout=LOAD_SECONDS + 60)
                assert demo_load.returncode == 0, err.decode()[-2000:]
                time.sleep(3)  # two more scrapes and rule evaluations
                client = PrometheusClient(url)
                try:
                    boards, end = load_boards(DASHBOARDS / "grafana"), time.time()
                    window = {"end": end, "range_s": LOAD_SECONDS + 10, "step_s": 1.0}
                    data = fetch_panels(client, boards, scrape_s=1, **window)
                    demo_data = fetch_panels(client, boards, scrape_s=1, variables={"job": "demo"},
                                             only=set(DEMO_BOARDS), **window)
                    marks = fetch_annotations(client, boards, scrape_s=1, **window)
                    exemplars = httpx.get(f"{url}/api/v1/query_exemplars", params={
                        "query": "http_server_request_duration_seconds_bucket",
                        "start": str(time.time() - 120), "end": str(time.time())}, timeout=10).json()
                finally:
                    client.close()
    finally:
        _stop(server)
        _stop(demo)
        _stop(collector)

    # The demo server alone (job="demo") fills every overview/runtime/incident panel except
    # those that need a fault it doesn't run here (pool timeouts: only under contention), vLLM
    # or a GPU.
    demo_empty = sorted(f"{pd.query.board_uid} / {pd.query.panel_title} / {pd.query.ref}" for pd in demo_data
                        if not pd.has_finite_value() and _source(build.metric_names(pd.query.expr), gpu_names)
                        == "live demo server")
    assert set(demo_empty) <= DEMO_MAY_BE_EMPTY, demo_empty
    # The overview's Generation row fills for the demo (record_generation's gen_ai metrics), not only
    # for vLLM: with job="demo" no vllm: series can match.
    gen = [pd for pd in demo_data if pd.query.board_uid == "infersight-overview"
           and pd.query.panel_title in ("Time to first token P50 / P99", "Tokens per second")]
    assert len(gen) == 4 and all(pd.has_finite_value() for pd in gen), \
        [(pd.query.panel_title, pd.query.ref, pd.series) for pd in gen]

    report: dict[str, list[str]] = {}
    failures: list[str] = []
    for pd in data:
        q = pd.query
        where = f"{q.board_uid} / {q.panel_title} / {q.ref}"
        want = "vector" if q.instant else "matrix"
        names = build.metric_names(q.expr)
        report.setdefault(_source(names, gpu_names), []).append(where)
        if pd.result_type != want:
            failures.append(f"{where}: result type {pd.result_type}, want {want}")
        elif not pd.series:
            failures.append(f"{where}: empty result for {q.expr}")
        elif not pd.has_finite_value():
            failures.append(f"{where}: only NaN/Inf values for {q.expr}")
    (tmp_path / "validated_by.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: len(v) for k, v in report.items()}))
    assert not failures, "\n".join(failures)
    assert report.get("recorded GPU /metrics") and report.get("recorded vLLM /metrics")
    # Incident annotations: every job run, gen-2 GC pause and throttle episode is marked.
    assert {m.name for m in marks} == {"Job runs", "Gen-2 GC pauses", "GPU throttling"}
    for m in marks:
        assert m.times, f"annotation {m.name!r} marked nothing"
    # The job's own name arrives as job_name, untouched (no clash with the target's `job`).
    runs = next(pd for pd in data if pd.query.panel_title == "Job runs by job and status")
    assert {s.labels.get("job_name") for s in runs.series} >= {"payments_full_sync"}
    assert not any("exported_job" in s.labels for s in runs.series)

    # Job runs are 8 s apart in the workload: their markers must form separate regions, not one.
    (jobs,) = [m for m in marks if m.name == "Job runs"]
    regions = 1 + sum(1 for a, b in zip(jobs.times, jobs.times[1:], strict=False) if b - a > 1.5)
    assert regions >= 2, f"job-run markers merge into one region: {jobs.times}"

    # Exemplars: the latency buckets carry trace ids that the P99 panels link to.
    assert exemplars["status"] == "success"
    trace_ids = [e["labels"].get("trace_id") for s in exemplars["data"] for e in s["exemplars"]]
    assert trace_ids and all(t and len(t) == 32 for t in trace_ids)
    assert all(math.isfinite(float(e["value"])) for s in exemplars["data"] for e in s["exemplars"])
