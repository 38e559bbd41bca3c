"""Security: loopback by default, the token keeps unauthenticated data out, no prompt/response
text in telemetry, attribute values reach SQL only as data, the HTML report is escaped and loads
nothing from the network."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import grpc
import httpx
import pytest
from fastapi import FastAPI
from infersight.collectors import Collector
from infersight.instrument import configure, instrument_app, uninstrument_app
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from prometheus_client import CollectorRegistry

from benchmarks.ingest.payload import make_request
from tests.instrument.conftest import serve

from ._procs import CollectorProcess

pytestmark = pytest.mark.integration
PB = {"content-type": "application/x-protobuf"}


def _listen_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on ``port``, from /proc/net/tcp{,6} (state 0A)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, hexport = local.rsplit(":", 1)
                if state == "0A" and int(hexport, 16) == port:
                    found.add(addr)
    return found


def test_cli_collector_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    with CollectorProcess(tmp_path / "t.duckdb", extra=["--workers", "0"]) as col:
        for port in (col.http_port, col.grpc_port):
            addrs = _listen_addresses(port)
            assert addrs, f"nothing listens on {port}"
            # 0100007F = 127.0.0.1 (little-endian); ::ffff:127.0.0.1 / ::1 in tcp6; never 0.0.0.0 / ::
            assert all(a in ("0100007F", "0000000000000000FFFF00000100007F",
                             "00000000000000000000000001000000") for a in addrs), addrs


def test_token_refuses_and_stores_nothing_without_it(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    col = CollectorProcess(db, extra=["--token", "s3cret-token", "--workers", "0"])
    with col:
        bodies = {n: make_request(8, seed=n).SerializeToString() for n in range(4)}
        assert httpx.post(col.url + "/v1/traces", content=bodies[0], headers=PB).status_code == 401
        bad = {**PB, "authorization": "Bearer s3cret-tokeX"}
        assert httpx.post(col.url + "/v1/traces", content=bodies[1], headers=bad).status_code == 401
        basic = {**PB, "authorization": "Basic czNjcmV0LXRva2Vu"}
        assert httpx.post(col.url + "/v1/traces", content=bodies[1], headers=basic).status_code == 401
        js = {"content-type": "application/json"}
        assert httpx.post(col.url + "/v1/traces", content=b'{"resourceSpans": []}', headers=js).status_code == 401
        with grpc.insecure_channel(f"127.0.0.1:{col.grpc_port}") as ch:
            stub = trace_service_pb2_grpc.TraceServiceStub(ch)
            req = trace_service_pb2.ExportTraceServiceRequest.FromString(bodies[2])
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(req, timeout=10)
            assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(req, timeout=10, metadata=[("authorization", "Bearer nope")])
            assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert httpx.get(col.url + "/v1/live/otel_traces").status_code == 401
        good = {**PB, "authorization": "Bearer s3cret-token"}
        assert httpx.post(col.url + "/v1/traces", content=bodies[3], headers=good).status_code == 200
    con = duckdb.connect(str(db), read_only=True)
    try:
        services = con.execute('SELECT DISTINCT "TraceId" FROM otel_traces').fetchall()
        n = con.execute("SELECT count(*) FROM otel_traces").fetchone()
    finally:
        con.close()
    assert n is not None and n[0] == 8, "only the authorized request may be stored"
    want = {make_request(8, seed=3).resource_spans[0].scope_spans[0].spans[0].trace_id.hex()}
    assert want <= {r[0] for r in services}
    assert "s3cret-token" not in col.log()


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/generate")
    async def generate(payload: dict[str, str]) -> dict[str, str]:
        return {"text": "RESPONSE-" + payload["prompt"][::-1]}

    return app


def test_prompt_and_response_text_never_reach_the_collector(tmp_path: Path) -> None:
    secret = "PROMPT-card-4111111111111111-confidential"
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None) as col:
        tel = configure("privacy", endpoint=col.url, export_interval_s=0.2, schedule_delay_ms=20,
                        set_global=False)
        app = _app()
        instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                       registry=CollectorRegistry(), instrument_clients=False)
        try:
            with serve(app) as base:
                for _ in range(5):
                    r = httpx.post(base + "/v1/generate", json={"prompt": secret}, timeout=10)
                    assert r.status_code == 200 and "RESPONSE-" in r.text
        finally:
            uninstrument_app(app)
            tel.shutdown(timeout_s=10)
        deadline = time.monotonic() + 20
        dump = ""
        while time.monotonic() < deadline:
            assert col.con is not None
            cur = col.con.cursor()
            try:
                rows = cur.execute("SELECT * FROM otel_traces").fetchall()
                dump = repr(rows) + repr(cur.execute("SELECT * FROM otel_logs").fetchall())
            finally:
                cur.close()
            if len(rows) >= 5:
                break
            time.sleep(0.2)
    assert "/v1/generate" in dump, "the request spans did not arrive"
    for needle in (secret, secret[::-1], "RESPONSE-", "4111111111111111"):
        assert needle not in dump, f"{needle!r} was captured in telemetry"


class _Tags(HTMLParser):
    """Every real tag with its src/href (text that merely looks like a tag is not a tag)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, str | None]] = []
        self.css = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a.get("src") or a.get("href")))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css += data


EVIL = "x'); DROP TABLE otel_traces; -- \" <script>alert(1)</script> <img src=http://evil.example/x.png>"


def _evil_db(tmp_path: Path, fault: str) -> Path:
    from tests.analysis._synth import Builder, with_fault

    b = Builder(seed=11)
    with_fault(b, fault, seconds=480, rps=4)
    swap = {"/v1/predict": "/v1/predict/" + EVIL, "answers": "answers" + EVIL, "payments_db": "pool" + EVIL,
            "risk-service": "risk" + EVIL, "model-server": "svc" + EVIL}

    def fix(s: str) -> str:
        for old, new in swap.items():
            s = s.replace(old, new)
        return s
    for sp in b.spans:
        sp["SpanName"] = fix(sp["SpanName"])
        sp["ServiceName"] = fix(sp["ServiceName"])
        sp["SpanAttributes"] = {k: fix(v) for k, v in sp["SpanAttributes"].items()}
        sp["ResourceAttributes"] = {k: fix(v) for k, v in sp["ResourceAttributes"].items()}
        sp["Events.Attributes"] = [{k: fix(v) for k, v in a.items()} for a in sp["Events.Attributes"]]
    return b.write(tmp_path / f"{fault}.duckdb")


@pytest.mark.parametrize("fault", ["pool", "downstream", "stampede"])
def test_sql_looking_values_are_data_in_detectors_and_html(tmp_path: Path, fault: str) -> None:
    from infersight.analysis import connect, diagnose
    from infersight.analysis._report_html import render

    db = _evil_db(tmp_path, fault)
    con = duckdb.connect(str(db), read_only=True)
    before = con.execute("SELECT count(*) FROM otel_traces").fetchone()
    con.close()
    with connect(db) as tel:
        d = diagnose(tel)
        html = render(d)
    assert d.findings, "the injected fault must still be found with hostile names"
    text = json.dumps([f.to_dict() for f in d.findings])
    if fault in ("pool", "downstream", "stampede"):
        assert "<script>alert(1)</script>" in text, "the hostile entity name should round-trip as data"
    assert "<script>alert(1)</script>" not in html and "<img src=http" not in html
    if "<script>alert(1)</script>" in text:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tags = _Tags()
    tags.feed(html)
    assert not [t for t, _ in tags.tags if t in ("img", "script") and _ is not None and "evil" in _], tags.tags
    remote = [(t, v) for t, v in tags.tags if v and re.match(r"\s*(https?:)?//", v, re.I)]
    assert not remote, f"the report loads from the network: {remote}"
    assert not [t for t, _ in tags.tags if t in ("link", "iframe", "object", "embed")]
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", tags.css, re.I)
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == before
    finally:
        con.close()
