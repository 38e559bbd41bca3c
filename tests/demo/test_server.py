"""The demo server on a real uvicorn (plus the real downstream service), with injected providers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from infersight.demo import ServerConfig, create_app
from infersight.demo._downstream import build_risk_db, create_downstream_app
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from tests.conftest import free_port
from tests.demo.conftest import serve

pytestmark = pytest.mark.integration
SYSTEM = "You are a helpful assistant for a payments company. Answer briefly and never reveal card numbers."


def small_config(tmp: Path, **kw: Any) -> ServerConfig:
    base: dict[str, Any] = dict(d_model=64, n_layers=2, n_heads=4, d_ff=128, max_seq=512, rows=20_000,
                                users=2_000, db_path=str(tmp / "payments.sqlite"), sync_period=1.0,
                                writer_rate=5.0)
    base.update(kw)
    return ServerConfig(**base)


def providers() -> dict[str, Any]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return {"tracer_provider": tp, "meter_provider": MeterProvider(metric_readers=[InMemoryMetricReader()]),
            "registry": CollectorRegistry(), "exporter": exporter}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("demo-server")
    down = providers()
    down_app = create_downstream_app(build_risk_db(tmp / "risk.sqlite", rows=20_000, accounts=2_000),
                                     **{k: v for k, v in down.items() if k != "exporter"})
    with serve(down_app, free_port()) as down_url:
        prov = providers()
        app = create_app(small_config(tmp, downstream_url=down_url),
                         **{k: v for k, v in prov.items() if k != "exporter"})
        with serve(app, free_port()) as url:
            yield {"url": url, "spans": prov["exporter"], "registry": prov["registry"], "app": app}


def chat_body(content: str, **kw: Any) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}],
            "max_tokens": 16, "user": "17", **kw}


def spans_named(stack: dict[str, Any], prefix: str) -> list[Any]:
    return [s for s in stack["spans"].get_finished_spans() if s.name.startswith(prefix)]


def test_chat_generates_then_serves_from_the_response_cache(stack: dict[str, Any]) -> None:
    reg, model = stack["registry"], stack["app"].state.demo.model_name

    def gen_ai(name: str, **labels: str) -> float:
        return reg.get_sample_value(name, {"gen_ai_request_model": model, **labels}) or 0.0

    ttft0 = gen_ai("gen_ai_server_time_to_first_token_seconds_count")
    out0 = gen_ai("gen_ai_client_token_usage_sum", gen_ai_token_type="output")
    with httpx.Client(timeout=60) as c:
        first = c.post(stack["url"] + "/v1/chat/completions", json=chat_body("Why was I charged twice?"))
        second = c.post(stack["url"] + "/v1/chat/completions", json=chat_body("Why was I charged twice?"))
    # both answers (generated, then cached) report TTFT and tokens as gen_ai metrics
    assert gen_ai("gen_ai_server_time_to_first_token_seconds_count") - ttft0 == 2
    assert gen_ai("gen_ai_client_token_usage_sum", gen_ai_token_type="output") - out0 == 32
    assert first.status_code == 200, first.text
    a, b = first.json(), second.json()
    assert a["usage"]["completion_tokens"] == 16 and a["choices"][0]["message"]["content"]
    assert a["choices"][0]["message"] == b["choices"][0]["message"]
    lookups = [s for s in spans_named(stack, "cache.lookup response_cache")]
    assert [s.attributes["cache.hit"] for s in lookups[-2:]] == [False, True]


def test_streaming_yields_the_same_text_as_a_plain_request(stack: dict[str, Any]) -> None:
    body = chat_body("Explain a chargeback to the customer.", temperature=0.8, seed=7)
    with httpx.Client(timeout=60) as c:
        plain = c.post(stack["url"] + "/v1/chat/completions", json=body).json()
        parts, usage = [], None
        with c.stream("POST", stack["url"] + "/v1/chat/completions",
                      json={**body, "stream": True, "stream_options": {"include_usage": True}}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                parts.append(chunk["choices"][0]["delta"].get("content", ""))
                usage = chunk.get("usage") or usage
    assert "".join(parts) == plain["choices"][0]["message"]["content"]
    assert usage is not None and usage["completion_tokens"] == 16


def test_gen_ai_spans_and_attributes(stack: dict[str, Any]) -> None:
    with httpx.Client(timeout=60) as c:
        for q in ("How do I reset my password?", "What does a pending authorization mean?"):
            assert c.post(stack["url"] + "/v1/chat/completions", json=chat_body(q)).status_code == 200
    chats = [s for s in spans_named(stack, "chat ") if s.attributes.get("cache.hit") is False]
    last = chats[-1]
    attrs = last.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.usage.input_tokens"] > 20 and attrs["gen_ai.usage.output_tokens"] == 16
    assert 0 < attrs["gen_ai.server.time_to_first_token"] <= (last.end_time - last.start_time) / 1e9
    assert attrs["infersight.prefix_cache.hit_tokens"] >= 16  # the shared system prompt was reused
    children = {s.name: s for s in stack["spans"].get_finished_spans()
                if s.parent is not None and s.parent.span_id == last.context.span_id}
    assert {"gen_ai.queue", "gen_ai.prefill", "gen_ai.decode", "moderation", "risk_check"} <= set(children)
    assert children["gen_ai.prefill"].attributes["infersight.prefix_cache.hit_tokens"] >= 16
    assert children["gen_ai.queue"].end_time <= children["gen_ai.prefill"].start_time + 1
    deadline = time.monotonic() + 10  # the SERVER span ends after the response went out
    while True:
        server = [s for s in stack["spans"].get_finished_spans() if s.context.span_id == last.parent.span_id]
        if server or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert server and server[0].kind.name == "SERVER"
    # the downstream call is a traced client call inside risk_check, and a pool.acquire span was recorded
    assert spans_named(stack, "pool.acquire")


def test_embeddings_are_unit_vectors_and_cached(stack: dict[str, Any]) -> None:
    with httpx.Client(timeout=60) as c:
        r1 = c.post(stack["url"] + "/v1/embeddings", json={"input": ["refund status", "wire transfer"]})
        r2 = c.post(stack["url"] + "/v1/embeddings", json={"input": "refund status"})
    data = r1.json()["data"]
    assert len(data) == 2 and len(data[0]["embedding"]) == 64
    assert abs(sum(x * x for x in data[0]["embedding"]) - 1.0) < 1e-3
    assert r2.json()["data"][0]["embedding"] == data[0]["embedding"]
    hits = [s.attributes["cache.hit"] for s in spans_named(stack, "cache.lookup embedding_cache")]
    assert hits[-1] is True and False in hits


@pytest.mark.parametrize("body,needle", [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "role"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
    ({"messages": [{"role": "user", "content": "x " * 600}], "max_tokens": 100}, "context"),
])
def test_bad_requests_get_clear_400s(stack: dict[str, Any], body: dict[str, Any], needle: str) -> None:
    r = httpx.post(stack["url"] + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 400 and needle in r.json()["error"]["message"]


def test_admin_faults_switch_and_reject_unknown(stack: dict[str, Any]) -> None:
    url = stack["url"] + "/admin/faults"
    assert httpx.post(url, json={"enable": ["nope"]}).status_code == 400
    on = httpx.post(url, json={"enable": ["pool_exhaustion"]}).json()
    assert "pool_exhaustion" in on["active"] and stack["app"].state.demo.pool.size == 1
    off = httpx.post(url, json={"disable": ["pool_exhaustion"]}).json()
    assert not off["active"] and off["history"][-1]["fault"] == "pool_exhaustion"
    assert stack["app"].state.demo.pool.size == 8


def test_metrics_and_sync_job_are_exposed(stack: dict[str, Any]) -> None:
    deadline = time.monotonic() + 10
    while not spans_named(stack, "payments_incremental_sync") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert spans_named(stack, "payments_incremental_sync")
    text = httpx.get(stack["url"] + "/metrics").text
    assert 'infersight_cache_requests_total{cache="response_cache",result="hit"}' in text
    assert "db_client_connection_wait_time_seconds_count" in text
    assert httpx.get(stack["url"] + "/healthz").status_code == 200
