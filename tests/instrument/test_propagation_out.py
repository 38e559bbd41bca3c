"""Outgoing W3C traceparent: httpx calls made while serving a request continue its trace."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from infersight.instrument import instrument_app, uninstrument_app

from tests.instrument.conftest import Providers, serve

pytestmark = pytest.mark.integration
pytest.importorskip("opentelemetry.instrumentation.httpx")


def test_httpx_calls_from_a_handler_carry_the_request_trace(providers: Providers) -> None:
    seen: list[str | None] = []
    downstream = FastAPI()

    @downstream.get("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        seen.append(request.headers.get("traceparent"))
        return {}

    app = FastAPI()
    with serve(downstream) as down_url:

        @app.get("/call")
        async def call() -> dict[str, int]:
            async with httpx.AsyncClient() as client:
                resp = await client.get(f"{down_url}/echo")
            return {"status": resp.status_code}

        kwargs = {**providers.kwargs(), "instrument_clients": True}
        instrument_app(app, **kwargs)
        try:
            with serve(app) as url:
                assert httpx.get(f"{url}/call").json() == {"status": 200}
        finally:
            uninstrument_app(app)
    (server,) = [s for s in providers.server_spans() if s.name == "GET /call"]
    assert seen and seen[0] is not None, "the outgoing request must carry a traceparent"
    _version, trace_id, _parent_id, flags = seen[0].split("-")
    assert trace_id == format(server.context.trace_id, "032x")
    assert int(flags, 16) & 0x01, "sampled"
