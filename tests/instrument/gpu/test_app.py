"""instrument_app(app, gpu=True) end to end: a real uvicorn server, real OTel SDK, fake NVML."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from infersight.instrument import GpuOptions, instrument_app, uninstrument_app
from infersight.instrument.gpu import attribute

from tests.instrument.conftest import Providers
from tests.instrument.gpu.fake_nvml import NVML_ERROR_DRIVER_NOT_LOADED, FakeGpu, FakeNvml

pytestmark = pytest.mark.integration


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/infer")
    def infer(n: int) -> dict[str, int]:  # sync: runs in the threadpool, like a torch handler
        attribute(tokens=n)
        time.sleep(0.02)
        return {"tokens": n}

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"attributed": attribute(tokens=1)}

    return app


class _Server:
    def __init__(self, app: FastAPI, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def fake_busy() -> FakeNvml:
    return FakeNvml([FakeGpu(util_gpu=80, power_mw=400_000)])


def test_requests_carry_gpu_energy_and_cost(providers: Providers, port: int,
                                            fake_busy: FakeNvml) -> None:
    app = _app()
    instrument_app(app, **providers.kwargs(),
                   gpu=GpuOptions(nvml=fake_busy, interval_s=0.01, price_per_gpu_hour=3.6, split="tokens"),
                   gc=False, loop_lag=False)
    with _Server(app, port) as srv, httpx.Client(timeout=10) as c:
        for n in (100, 300, 100, 300):
            assert c.post(f"{srv.url}/infer", params={"n": n}).status_code == 200
        metrics = c.get(f"{srv.url}/metrics").text
    uninstrument_app(app)
    spans = [s for s in providers.server_spans() if s.attributes.get("http.route") == "/infer"]
    assert len(spans) == 4
    for s in spans:
        a = s.attributes
        dur = (s.end_time - s.start_time) / 1e9
        # alone on a GPU drawing a constant 400 W, the request owns all of it while it runs
        assert 0.02 <= a["infersight.gpu.seconds"] <= dur  # the handler sleeps 20 ms
        assert a["infersight.gpu.energy_j"] == pytest.approx(400.0 * a["infersight.gpu.seconds"])
        assert a["infersight.gpu.power_mean_w"] == pytest.approx(400.0)
        assert a["infersight.gpu.cost_usd"] == pytest.approx(a["infersight.gpu.seconds"] * 3.6 / 3600)
        assert a["infersight.gpu.cost_per_1k_tokens_usd"] == pytest.approx(
            a["infersight.gpu.cost_usd"] * 1000 / a["infersight.gpu.tokens"])
        assert a["infersight.gpu.util_mean"] == pytest.approx(0.8)
        assert a["infersight.gpu.throttled"] is False
    assert {s.attributes["infersight.gpu.tokens"] for s in spans} == {100, 300}
    assert "infersight_gpu_up 1.0" in metrics
    assert 'infersight_gpu_power_watts{gpu="0"' in metrics


def test_no_driver_one_warning_up_0_and_the_server_serves(
        providers: Providers, port: int, caplog: pytest.LogCaptureFixture) -> None:
    app = _app()
    with caplog.at_level(logging.WARNING):
        instrument_app(app, **providers.kwargs(),
                       gpu=GpuOptions(nvml=FakeNvml(init_error=NVML_ERROR_DRIVER_NOT_LOADED)),
                       gc=False, loop_lag=False)
    with _Server(app, port) as srv, httpx.Client(timeout=10) as c:
        r = c.get(f"{srv.url}/ping")
        assert r.status_code == 200 and r.json() == {"attributed": False}
        metrics = c.get(f"{srv.url}/metrics").text
    uninstrument_app(app)
    assert "infersight_gpu_up 0.0" in metrics
    assert "infersight_gpu_power_watts" not in metrics.replace("# HELP infersight_gpu_power_watts", "") \
        .replace("# TYPE infersight_gpu_power_watts", "")
    gpu_warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "GPU" in r.getMessage()]
    assert len(gpu_warnings) == 1
    span = providers.server_spans()[0]
    assert not any(k.startswith("infersight.gpu.") for k in span.attributes)
