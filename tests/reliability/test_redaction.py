"""Secrets that default instrumentation paths used to store, sent through the real path: a real
uvicorn server instrumented in lean and in contrib mode exports (OTLP, real SDK exporters) to a
real collector, and nothing below may be in the stored spans:

* query values on SERVER spans, including a bare ``?SECRET`` without ``=``;
* query values, and ``user:password@``, in the ``url.full`` of outgoing httpx CLIENT spans;
* the raw path of a request that matched no route (an e-mail address in a 404);
* exception messages (types and stack frames are kept).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from infersight.collectors import Collector
from infersight.instrument import configure, instrument_app, uninstrument_app
from infersight.instrument.http._redact import set_capture_exception_messages
from prometheus_client import CollectorRegistry

from tests.instrument.conftest import serve

pytestmark = pytest.mark.integration
SECRETS = ("BARE-SECRET-TOKEN", "sk-live-KEY-123", "PROMPT-text-xyz", "alice@example.com", "pw-hunter2",
           "MSG-card-4111")


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item}")
    async def item(item: str, request: Request) -> dict[str, str]:
        port = request.url.port
        async with httpx.AsyncClient() as client:  # instrumented by instrument_app (clients)
            r = await client.get(f"http://user:pw-hunter2@127.0.0.1:{port}/echo",
                                 params={"api_key": "sk-live-KEY-123", "prompt": "PROMPT-text-xyz"})
        return {"item": item, "echo": str(r.status_code)}

    @app.get("/echo")
    async def echo() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/boom")
    async def boom() -> dict[str, str]:
        prompt = "-".join(("MSG", "card", "4111"))  # a runtime value: the source line shows no secret
        raise ValueError(f"{prompt} in the prompt")

    return app


def _get(url: str) -> int:
    """The test's own requests, through urllib: the process-wide httpx instrumentation would make
    CLIENT spans of them too (the server's outgoing call is the one under test)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _stored(col: Collector, want: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        assert col.con is not None
        cur = col.con.cursor()
        try:
            rel = cur.execute('SELECT "SpanName", "SpanKind", "SpanAttributes", "StatusMessage", '
                              '"Events.Name", "Events.Attributes" FROM otel_traces')
            cols = [d[0] for d in rel.description]
            rows = [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
        finally:
            cur.close()
        if len(rows) >= want:
            break
        time.sleep(0.2)
    return rows


@pytest.fixture(params=["lean", "contrib"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    mode = request.param
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, retention_interval_s=3600) as col:
        tel = configure(f"redact-{mode}", endpoint=col.url, export_interval_s=0.2, schedule_delay_ms=20,
                        set_global=False)
        app = _app()
        instrument_app(app, mode=mode, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                       registry=CollectorRegistry(), instrument_clients=True)
        try:
            with serve(app) as base:
                assert _get(base + "/items/7?BARE-SECRET-TOKEN") == 200
                assert _get(base + "/users/alice@example.com?x=1") == 404
                assert _get(base + "/boom") == 500
        finally:
            uninstrument_app(app)
            tel.shutdown(timeout_s=10)
        # /items (server) + its client call + /echo (server) + /users (404) + /boom
        yield _stored(col, 5)


def test_no_secret_reaches_the_collector(stored: list[dict[str, Any]]) -> None:
    dump = repr(stored)
    assert "/items/{item}" in dump and "ValueError" in dump, f"the spans did not arrive: {dump[:2000]}"
    for secret in SECRETS:
        assert secret not in dump, f"{secret!r} was stored: {dump[:3000]}"


def test_what_is_kept_is_still_useful(stored: list[dict[str, Any]]) -> None:
    client = [r for r in stored if r["SpanKind"] == "Client"]
    assert client, "the outgoing httpx call made no CLIENT span"
    url = client[0]["SpanAttributes"].get("url.full") or client[0]["SpanAttributes"].get("http.url")
    assert url.startswith("http://127.0.0.1:") and "api_key=REDACTED&prompt=REDACTED" in url, url
    items = [r for r in stored if r["SpanAttributes"].get("http.route") == "/items/{item}"]
    assert items and items[0]["SpanAttributes"]["url.query"] == "REDACTED"
    unmatched = [r for r in stored if r["SpanKind"] == "Server" and r["SpanAttributes"].get("http.response.status_code") == "404"]
    assert unmatched and unmatched[0]["SpanAttributes"]["url.path"] == "/{unmatched}", unmatched
    boom = [r for r in stored if "exception" in list(r["Events.Name"])]
    assert boom, "the exception was not recorded"
    ev = dict(boom[0]["Events.Attributes"][list(boom[0]["Events.Name"]).index("exception")])
    assert ev["exception.type"] == "ValueError"
    assert "in boom" in ev["exception.stacktrace"], ev["exception.stacktrace"]


def test_exception_messages_are_recorded_when_asked(tmp_path: Path) -> None:
    set_capture_exception_messages(True)
    try:
        with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, retention_interval_s=3600) as col:
            tel = configure("redact-opt-in", endpoint=col.url, export_interval_s=0.2, schedule_delay_ms=20,
                            set_global=False)
            app = _app()
            instrument_app(app, tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider,
                           registry=CollectorRegistry(), instrument_clients=False)
            try:
                with serve(app) as base:
                    assert _get(base + "/boom") == 500
            finally:
                uninstrument_app(app)
                tel.shutdown(timeout_s=10)
            rows = _stored(col, 1)
    finally:
        set_capture_exception_messages(False)
    assert "MSG-card-4111" in repr(rows)
