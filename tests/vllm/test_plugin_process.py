"""The plugin in a real process (no vLLM): OTLP to a real collector, read back from DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import query, wait_for

SCRIPT = Path(__file__).with_name("vllm_like_process.py")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

pytestmark = pytest.mark.integration


def _run(collector: Any, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFERSIGHT_"))}
    environ.update({"INFERSIGHT_OTLP_ENDPOINT": collector.url, "OTEL_METRIC_EXPORT_INTERVAL": "300",
                    "OTEL_SERVICE_NAME": "vllm-like", **env})
    return subprocess.run([sys.executable, str(SCRIPT), "serve", *args], env=environ, text=True,
                          capture_output=True, timeout=60)


def _attrs(col: Any, name: str) -> dict[str, str]:
    rows = query(col, 'SELECT "SpanAttributes" FROM otel_traces WHERE "SpanName" = ? AND "TraceId" = ?',
                 [name, TRACE_ID])
    return dict(rows[0][0]) if rows else {}


def test_api_server_process_sends_enriched_vllm_spans_and_runtime_metrics(collector: Any) -> None:
    proc = _run(collector)
    assert proc.returncode == 0, proc.stderr
    attrs = wait_for(lambda: _attrs(collector, "llm_request"))
    assert attrs["gen_ai.request.id"] == "chatcmpl-like-1"
    assert float(attrs["infersight.gc.pause_ms"]) > 0 and int(attrs["infersight.gc.pause_count"]) >= 1
    assert float(attrs["infersight.event_loop.blocked_ms"]) >= 100  # the 150 ms block in the request
    rows = query(collector, 'SELECT "SpanName", "ParentSpanId" FROM otel_traces WHERE "TraceId" = ? '
                 'ORDER BY "Timestamp"', [TRACE_ID])
    names = [r[0] for r in rows]
    assert sorted(names) == sorted(["llm_request", "vllm.preprocess", "vllm.queue", "vllm.prefill",
                                    "vllm.decode"])
    parent = query(collector, 'SELECT "SpanId", "ParentSpanId" FROM otel_traces WHERE "SpanName" = ?',
                   ["llm_request"])[0]
    assert parent[1] == "00f067aa0ba902b7"  # the client's span
    assert all(r[1] == parent[0] for r in rows if r[0].startswith("vllm."))

    metrics = query(collector, 'SELECT DISTINCT "MetricName", "ResourceAttributes"[\'infersight.process.role\'], '
                    '"ServiceName" FROM otel_metrics_histogram')
    assert ("infersight.gc.pause.duration", "api_server", "vllm-like") in metrics
    assert ("infersight.event_loop.lag", "api_server", "vllm-like") in metrics


def test_opt_out_env_var_sends_nothing(collector: Any) -> None:
    proc = _run(collector, INFERSIGHT_VLLM_DISABLE="1")
    assert proc.returncode == 0, proc.stderr
    assert query(collector, "SELECT count(*) FROM otel_metrics_histogram")[0][0] == 0
    assert query(collector, "SELECT count(*) FROM otel_traces")[0][0] == 0


def test_a_startup_failure_is_one_warning_and_the_process_runs_on(collector: Any) -> None:
    proc = _run(collector, INFERSIGHT_OTLP_ENDPOINT="not-a-url")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "infersight vLLM plugin off" in line]
    assert len(warnings) == 1, proc.stderr
    assert "not-a-url" in warnings[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_engine_core_reports_under_its_own_role_and_pid(collector: Any) -> None:
    proc = _run(collector, "--fork")
    assert proc.returncode == 0, proc.stderr
    child_pid = proc.stdout.split("child pid ")[1].split()[0]

    def roles() -> dict[str, set[str]]:
        rows = query(collector, 'SELECT DISTINCT "ResourceAttributes"[\'infersight.process.role\'], '
                     '"ResourceAttributes"[\'process.pid\'] FROM otel_metrics_sum')
        out: dict[str, set[str]] = {}
        for role, pid in rows:
            out.setdefault(role, set()).add(pid)
        return out

    found = wait_for(lambda: "engine_core" in roles() and roles())
    assert found["engine_core"] == {child_pid}
    assert child_pid not in found["api_server"]  # the inherited exporter sent nothing
