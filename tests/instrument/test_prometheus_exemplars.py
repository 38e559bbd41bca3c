"""A real Prometheus (exemplar storage on) scrapes /metrics and keeps our trace ids as exemplars."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from infersight.instrument import instrument_app, uninstrument_app

from tests.conftest import free_port
from tests.instrument.conftest import Providers, make_app, serve

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]
PROMETHEUS = shutil.which("prometheus")


@pytest.mark.skipif(PROMETHEUS is None, reason="needs the Debian prometheus package (make system-deps)")
def test_prometheus_stores_trace_id_exemplars_of_the_duration_histogram(providers: Providers,
                                                                        tmp_path: Path) -> None:
    app = make_app()
    instrument_app(app, **providers.kwargs())
    try:
        with serve(app) as url:
            target = url.removeprefix("http://")
            config = tmp_path / "prometheus.yml"
            config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: infersight\n"
                              f"    static_configs:\n      - targets: ['{target}']\n")
            prom_port = free_port()
            log = (tmp_path / "prometheus.log").open("wb")
            proc = subprocess.Popen(
                [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--enable-feature=exemplar-storage"],
                stdout=subprocess.DEVNULL, stderr=log)
            try:
                with httpx.Client(base_url=url) as client:
                    for i in range(5):
                        client.get(f"/items/{i}")
                found: set[str] = set()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not found:
                    time.sleep(1)
                    if proc.poll() is not None:
                        raise RuntimeError((tmp_path / "prometheus.log").read_text()[-2000:])
                    try:
                        resp = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/query_exemplars", params={
                            "query": "http_server_request_duration_seconds_bucket",
                            "start": time.time() - 300, "end": time.time() + 60}, timeout=5)
                    except httpx.TransportError:
                        continue
                    for series in resp.json().get("data") or []:
                        found |= {e["labels"].get("trace_id", "") for e in series["exemplars"]}
            finally:
                proc.terminate()
                proc.wait(20)
                log.close()
    finally:
        uninstrument_app(app)
    trace_ids = {format(s.context.trace_id, "032x") for s in providers.server_spans()}
    assert found, "Prometheus kept no exemplars"
    assert found <= trace_ids, "exemplars must be trace ids of our SERVER spans"
