"""What an app with no collector prints: where telemetry goes, one warning, one line when it is back.

A real app process (subprocess, logging not configured, as a user's would be) exports through
infersight's ``configure()`` to a port where nothing listens, then a real collector starts on
that port. Its stderr is exactly three infersight lines, none of the SDK's per-retry warnings
(there used to be one every ~2 s: 25 in 45 s), and the lost spans are counted.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration

APP = textwrap.dedent("""
    import sys, time
    from infersight.instrument import configure
    from infersight.instrument.export._processor import dropped_spans_total
    port, db = int(sys.argv[1]), sys.argv[2]
    tel = configure("quiet-app", endpoint=f"http://127.0.0.1:{port}", export_interval_s=0.5,
                    schedule_delay_ms=100, export_timeout_s=1)
    tracer = tel.tracer_provider.get_tracer("t")

    def spans(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with tracer.start_as_current_span("work"):
                pass
            time.sleep(0.05)

    spans(3)  # nothing listens: every export fails, the SDK retries
    lost = dropped_spans_total()
    from infersight.collectors import Collector
    with Collector(db, http_port=port, grpc_port=None):
        spans(2)
        tel.shutdown(timeout_s=5)
    print(f"lost={lost}", flush=True)
""")


def test_one_line_where_one_warning_down_one_line_back(tmp_path: Path) -> None:
    port = free_port()
    res = subprocess.run([sys.executable, "-c", APP, str(port), str(tmp_path / "t.duckdb")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    ours = [ln for ln in lines if "infersight:" in ln and ".duckdb" not in ln]  # not the collector's own
    sdk = [ln for ln in lines if ln not in ours and ("Transient error" in ln or "Failed to export" in ln)]
    assert not sdk, lines
    assert len(ours) == 3, lines
    assert ours[0] == f"INFO: infersight: service 'quiet-app' sends traces and metrics over OTLP/HTTP to " \
                      f"http://127.0.0.1:{port}"
    assert ours[1].startswith(f"WARNING: infersight: cannot deliver telemetry to http://127.0.0.1:{port} (")
    assert "infersight_exporter_dropped_spans_total" in ours[1]
    assert ours[2].startswith(f"INFO: infersight: telemetry reaches http://127.0.0.1:{port} again (")
    lost = int(res.stdout.strip().split("lost=")[1])
    assert lost > 0  # the counter: spans of the failed exports


def test_a_configured_application_gets_the_lines_through_its_own_logging(tmp_path: Path) -> None:
    # root logging configured (JSON, files, ...): infersight adds no output of its own
    code = ("import logging, sys\n"
            "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='APP %(name)s %(message)s')\n"
            "from infersight.instrument import configure\n"
            f"tel = configure('cfg-app', endpoint='http://127.0.0.1:{free_port()}')\n"
            "tel.shutdown(timeout_s=1)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "APP infersight.instrument.export._configure infersight: service 'cfg-app' sends" in res.stdout
    assert "infersight:" not in res.stderr
