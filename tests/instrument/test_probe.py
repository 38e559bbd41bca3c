"""``infersight probe``: a fixed-rate, open-loop prober exporting CLIENT spans (real server, real OTLP)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from infersight.instrument import ConfigurationError
from infersight.instrument.client import ClientSpans
from infersight.instrument.probe import ProbeConfig, Prober, Rolling, percentiles

from infersight.cli import cli
from tests.instrument.conftest import OtlpReceiver, serve


def _stalling_app(at_s: float, stall_s: float) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def stall() -> None:
            await asyncio.sleep(at_s)
            time.sleep(stall_s)  # the loop is blocked: /healthz waits in the socket meanwhile

        task = asyncio.create_task(stall())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.mark.integration
def test_probes_are_client_spans_and_see_a_blocked_loop(otlp_receiver: tuple[OtlpReceiver, str]) -> None:
    receiver, otlp = otlp_receiver
    spans = ClientSpans("svc-probe", role="probe", endpoint=otlp, schedule_delay_ms=100)
    rolling = Rolling()
    with serve(_stalling_app(at_s=0.5, stall_s=0.6)) as url:
        prober = Prober(ProbeConfig(url=url, rate=20, duration=1.5), spans, on_result=rolling.add)
        results = prober.run()
    spans.shutdown()
    assert len(results) == 30  # a fixed schedule: 20/s for 1.5 s, whatever the server did
    assert [round(r.scheduled, 3) for r in results] == [round(i * 0.05, 3) for i in range(30)]
    ok = [r for r in results if r.latency_ms is not None]
    assert len(ok) >= 28 and all(r.status == 200 for r in ok)
    # open loop: every probe scheduled during the 600 ms stall counts it from its scheduled time
    assert len([r for r in ok if r.latency_ms is not None and r.latency_ms >= 100]) >= 5
    assert percentiles(results)["max_ms"] >= 300  # type: ignore[operator]
    snap = rolling.snapshot(2.0)
    assert snap["n"] == 30 and snap["p99_ms"] is not None
    exported = receiver.spans()
    assert len(exported) == 30
    res, scope, span = exported[0]
    res_attrs = {kv.key: kv.value.string_value for kv in res.attributes}
    assert res_attrs["service.name"] == "svc-probe" and res_attrs["infersight.role"] == "probe"
    assert span.kind == span.SPAN_KIND_CLIENT and span.name == "GET /healthz" and scope.name == "infersight.client"
    starts = sorted(s.start_time_unix_nano for _, _, s in exported)
    gaps = {round((b - a) / 1e6) for a, b in zip(starts, starts[1:], strict=False)}
    assert gaps == {50}, "spans start at the scheduled times, 50 ms apart"


@pytest.mark.integration
def test_probe_cli_prints_rolling_percentiles() -> None:
    with serve(_stalling_app(at_s=60, stall_s=0)) as url:
        result = CliRunner().invoke(cli, ["probe", url, "--duration", "1.2", "--no-spans", "--print-every", "0.5"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "p99=" in lines[0] and "/healthz" in lines[0]
    assert "12 probes of" in lines[-1] and "0 failed" in lines[-1]


def test_probe_cli_errors_are_clear() -> None:
    r = CliRunner().invoke(cli, ["probe", "localhost:8000", "--no-spans"])
    assert r.exit_code == 2 and "http(s) URL" in r.output
    r = CliRunner().invoke(cli, ["--help"])
    assert "probe" in r.output
    with pytest.raises(ConfigurationError, match="path"):
        ProbeConfig(url="http://127.0.0.1:1", path="healthz")


@pytest.mark.integration
def test_an_unreachable_server_is_counted_not_fatal(port: int) -> None:
    prober = Prober(ProbeConfig(url=f"http://127.0.0.1:{port}", rate=20, duration=0.3, timeout=0.5))
    results = prober.run()
    assert len(results) == 6 and all(r.latency_ms is None and r.error for r in results)
