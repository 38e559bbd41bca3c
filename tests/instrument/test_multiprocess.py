"""PROMETHEUS_MULTIPROC_DIR: several worker processes, one /metrics, GC metrics survive."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

WORKER = textwrap.dedent("""
    import asyncio, gc, sys
    import httpx
    from fastapi import FastAPI
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry
    from infersight.instrument import instrument_app, uninstrument_app

    app = FastAPI()

    @app.get("/work")
    async def work():
        gc.collect(2)
        return {}

    instrument_app(app, tracer_provider=TracerProvider(), meter_provider=MeterProvider(),
                   registry=CollectorRegistry(), instrument_clients=False, loop_lag=False)

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
            for _ in range(int(sys.argv[1])):
                assert (await client.get("/work")).status_code == 200
            if sys.argv[2] == "scrape":
                resp = await client.get("/metrics")
                sys.stdout.write(resp.text)

    asyncio.run(main())
    uninstrument_app(app)
""")


def _run(env: dict[str, str], n: int, mode: str) -> str:
    out = subprocess.run([sys.executable, "-c", WORKER, str(n), mode], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _value(text: str, prefix: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(prefix):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_workers_share_one_exposition_with_gc_metrics(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    _run(env, 3, "quiet")  # worker 1
    text = _run(env, 2, "scrape")  # worker 2 serves /metrics for both
    assert _value(text, 'http_server_requests_total{http_request_method="GET",http_route="/work"') == 5
    assert _value(text, 'cpython_gc_collections_total{generation="2"}') >= 5, \
        "GC counters are summed over workers (prometheus_client's python_gc_* are not)"
    assert _value(text, "infersight_gc_pause_duration_seconds_count") >= 5
    assert "python_gc_objects_collected_total" not in text
    assert 'infersight_runtime_info{' in text
