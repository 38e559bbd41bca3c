"""The Jaeger query API (/api) against the Jaeger UI JSON model, with real traces of a demo run.

The model is Jaeger's ``model/json`` (what the Jaeger UI and Grafana's Jaeger data source read):
trace {traceID, spans, processes}; span {traceID, spanID, operationName, references[{refType,
traceID, spanID}], startTime (us), duration (us), tags[{key, type, value}], logs[{timestamp,
fields}], processID}; process {serviceName, tags}; every answer wrapped in {data, total, limit,
offset, errors}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from infersight.collectors import Collector
from infersight.collectors._jaeger import jaeger_to_otlp
from infersight.collectors._jaeger_api import parse_go_duration

from tests._runs import run_db

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
TYPES = {"string": str, "bool": bool, "int64": int, "float64": float}


@pytest.fixture(scope="module")
def col(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    db = run_db("full_sync", tmp_path_factory.mktemp("jaeger") / "t.duckdb")
    with Collector(db, http_port=0, grpc_port=None, retention_interval_s=3600) as c:
        yield c


def get(col: Collector, path: str, status: int = 200, **params: Any) -> dict[str, Any]:
    r = httpx.get(col.url + path, params=params, timeout=30)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    doc = r.json()
    assert set(doc) == {"data", "total", "limit", "offset", "errors"}
    return dict(doc)


def check_kv(kv: dict[str, Any]) -> None:
    assert set(kv) == {"key", "type", "value"}
    assert isinstance(kv["key"], str) and kv["key"]
    assert kv["type"] in TYPES
    assert type(kv["value"]) is TYPES[kv["type"]], kv


def check_trace(trace: dict[str, Any]) -> None:
    """Every field of the Jaeger UI model, with its type and cross-references."""
    assert set(trace) == {"traceID", "spans", "processes", "warnings"}
    assert HEX32.match(trace["traceID"])
    ids = {s["spanID"] for s in trace["spans"]}
    assert len(ids) == len(trace["spans"])
    for pid, proc in trace["processes"].items():
        assert re.match(r"^p\d+$", pid)
        assert isinstance(proc["serviceName"], str) and proc["serviceName"]
        for kv in proc["tags"]:
            check_kv(kv)
            assert kv["key"] != "service.name"
    for sp in trace["spans"]:
        assert {"traceID", "spanID", "operationName", "references", "startTime", "duration", "tags", "logs",
                "processID", "flags", "warnings"} == set(sp)
        assert sp["traceID"] == trace["traceID"]
        assert HEX16.match(sp["spanID"])
        assert isinstance(sp["operationName"], str)
        assert isinstance(sp["startTime"], int) and 1.5e15 < sp["startTime"] < 4e15  # microseconds
        assert isinstance(sp["duration"], int) and sp["duration"] >= 0
        assert sp["processID"] in trace["processes"]
        for ref in sp["references"]:
            assert ref["refType"] in ("CHILD_OF", "FOLLOWS_FROM")
            assert HEX32.match(ref["traceID"]) and HEX16.match(ref["spanID"])
        for kv in sp["tags"]:
            check_kv(kv)
        for log in sp["logs"]:
            assert isinstance(log["timestamp"], int)
            assert log["fields"][0]["key"] == "event"
            for kv in log["fields"]:
                check_kv(kv)


def test_services_and_operations(col: Collector) -> None:
    doc = get(col, "/api/services")
    assert doc["data"] == ["demo-model-server", "risk-service"] and doc["total"] == 2 and doc["errors"] is None
    ops = get(col, "/api/services/demo-model-server/operations")["data"]
    assert "POST /v1/chat/completions" in ops and "payments_full_sync" in ops and ops == sorted(ops)
    typed = get(col, "/api/operations", service="demo-model-server", spanKind="server")["data"]
    assert {"name": "POST /v1/chat/completions", "spanKind": "server"} in typed
    assert all(o["spanKind"] == "server" for o in typed)
    assert get(col, "/api/services/nope/operations")["data"] == []


def test_search_returns_whole_traces_in_the_model(col: Collector) -> None:
    doc = get(col, "/api/traces", service="demo-model-server", operation="POST /v1/chat/completions",
              minDuration="1s", limit=5)
    traces = doc["data"]
    assert 1 <= len(traces) <= 5 and doc["total"] == len(traces)
    for t in traces:
        check_trace(t)
        match = [s for s in t["spans"] if s["operationName"] == "POST /v1/chat/completions"
                 and t["processes"][s["processID"]]["serviceName"] == "demo-model-server"]
        assert match and max(s["duration"] for s in match) >= 1_000_000
        # a whole trace: the downstream's server span and the in-process children came along
        services = {t["processes"][s["processID"]]["serviceName"] for s in t["spans"]}
        assert services == {"demo-model-server", "risk-service"}
        by_id = {s["spanID"]: s for s in t["spans"]}
        for s in t["spans"]:
            for ref in s["references"]:
                if ref["refType"] == "CHILD_OF":
                    parent = by_id[ref["spanID"]]  # every parent is in the trace
                    assert parent["startTime"] <= s["startTime"] + 1


def test_search_filters(col: Collector) -> None:
    tags = json.dumps({"http.route": "/v1/embeddings"})
    traces = get(col, "/api/traces", service="demo-model-server", tags=tags, limit=50)["data"]
    assert traces
    for t in traces:
        assert any(kv == {"key": "http.route", "type": "string", "value": "/v1/embeddings"}
                   for s in t["spans"] for kv in s["tags"])
    # start/end (us) bound the spans' start; an empty window finds nothing
    first = min(s["startTime"] for s in traces[0]["spans"])
    assert get(col, "/api/traces", service="demo-model-server", start=1, end=first // 10)["data"] == []
    # maxDuration below every chat request: no chat trace comes back through the chat operation
    assert get(col, "/api/traces", service="demo-model-server", operation="POST /v1/chat/completions",
               maxDuration="1us")["data"] == []
    kinds = get(col, "/api/traces", service="risk-service", tag="span.kind:server", limit=3)["data"]
    assert kinds and all(any(kv["key"] == "span.kind" and kv["value"] == "server" for s in t["spans"]
                             for kv in s["tags"]) for t in kinds)


def test_trace_by_id_events_and_status(col: Collector) -> None:
    t = get(col, "/api/traces", service="demo-model-server", operation="POST /v1/chat/completions",
            minDuration="1s", limit=1)["data"][0]
    tid = t["traceID"]
    one = get(col, f"/api/traces/{tid}")["data"]
    assert len(one) == 1 and one[0]["traceID"] == tid
    check_trace(one[0])
    assert len(one[0]["spans"]) == len(t["spans"])
    assert get(col, f"/api/traces/{tid.upper()}")["data"][0]["traceID"] == tid
    assert get(col, "/api/traces", traceID=tid)["data"][0]["traceID"] == tid
    # span events become logs (the slow requests of this run carry event_loop.blocked / gc.pause)
    events = {f["value"] for s in one[0]["spans"] for log in s["logs"] for f in log["fields"] if f["key"] == "event"}
    assert events & {"event_loop.blocked", "gc.pause"}
    server = next(s for s in one[0]["spans"] if s["operationName"] == "POST /v1/chat/completions")
    assert {"key": "span.kind", "type": "string", "value": "server"} in server["tags"]
    assert {"key": "http.response.status_code", "type": "int64", "value": 200} in server["tags"]


def test_round_trip_through_the_jaeger_importer(col: Collector) -> None:
    # what the API serves, infersight's own Jaeger importer reads back into the same spans
    t = get(col, "/api/traces", service="demo-model-server", minDuration="500ms", limit=1)["data"][0]
    req = jaeger_to_otlp({"data": [t]})
    spans = [(sp.span_id.hex(), sp.parent_span_id.hex(), sp.name, (sp.end_time_unix_nano - sp.start_time_unix_nano)
              // 1000) for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    want = []
    for s in t["spans"]:
        parent = next((r["spanID"] for r in s["references"] if r["refType"] == "CHILD_OF"), "")
        want.append((s["spanID"], parent, s["operationName"], s["duration"]))
    assert sorted(spans) == sorted(want)
    services = {a.value.string_value for rs in req.resource_spans for a in rs.resource.attributes
                if a.key == "service.name"}
    assert services == {"demo-model-server", "risk-service"}


def test_errors(col: Collector) -> None:
    assert get(col, "/api/traces", 400)["errors"][0]["msg"] == "parameter 'service' is required"
    bad = get(col, "/api/traces", 400, service="x", minDuration="fast")
    assert bad["errors"][0]["code"] == 400
    assert "invalid duration" in bad["errors"][0]["msg"]
    assert "integer" in get(col, "/api/traces", 400, service="x", start="yesterday")["errors"][0]["msg"]
    assert "tags" in get(col, "/api/traces", 400, service="x", tags="{nope")["errors"][0]["msg"]
    assert "key:value" in get(col, "/api/traces", 400, service="x", tag="novalue")["errors"][0]["msg"]
    missing = get(col, "/api/traces/" + "ab" * 16, 404)
    assert missing["errors"][0]["traceID"] == "ab" * 16
    assert get(col, "/api/traces/not-hex", 400)["errors"][0]["code"] == 400
    assert httpx.post(col.url + "/api/services").status_code == 405
    assert get(col, "/api/dependencies", endTs=1, lookback=1000)["data"] == []


@pytest.mark.parametrize("text,ns", [("300ms", 300_000_000), ("1.5s", 1_500_000_000), ("1m30s", 90 * 10**9),
                                     ("250us", 250_000), ("250µs", 250_000), ("10ns", 10), ("2h", 7200 * 10**9),
                                     ("0", 0)])
def test_go_durations(text: str, ns: int) -> None:
    assert parse_go_duration(text) == ns


def test_token_and_browser_cookie(tmp_path: Path) -> None:
    db = run_db("clean", tmp_path / "t.duckdb")
    with Collector(db, http_port=0, grpc_port=None, token="s3cret") as c:
        assert httpx.get(c.url + "/api/services").status_code == 401
        ok = httpx.get(c.url + "/api/services", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["data"]
        # the cookie /ui/login sets works for reads (GET), never for writes
        assert httpx.get(c.url + "/api/services", cookies={"infersight_token": "s3cret"}).status_code == 200
        assert httpx.get(c.url + "/api/services", cookies={"infersight_token": "wrong"}).status_code == 401
        r = httpx.post(c.url + "/v1/traces", content=b"", cookies={"infersight_token": "s3cret"},
                       headers={"content-type": "application/x-protobuf"})
        assert r.status_code == 401
