"""`make notebooks` starts JupyterLab, also as root (it used to stop at "Running as root is not
recommended"), on loopback only."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_make_notebooks_serves_jupyterlab(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "make.log").open("wb")
    # -o: never reinstall the venv from inside a test; the test runs as whoever runs pytest (root here)
    proc = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "notebooks",
                             f"JUPYTER_ARGS=--no-browser --port={port} --ServerApp.port_retries=0"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api", timeout=2).status_code
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        text = (tmp_path / "make.log").read_text(errors="replace")
        assert status == 200, f"jupyter lab did not answer (exit {proc.poll()}):\n{text[-3000:]}"
        assert "Running as root is not recommended" not in text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the make + jupyter process group this test started
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()
