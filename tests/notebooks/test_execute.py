"""Every notebook runs top to bottom against the committed sample data (nbclient, real kernel),
and 00_quickstart runs against a live collector fed by a short demo run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest

from tests.conftest import free_port
from tests.notebooks._run import execute, images, outputs, parameters_cell, text

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_the_four_notebooks_exist() -> None:
    names = {p.stem for p in ALL}
    assert {"00_quickstart", "01_full_sync_incident", "02_gpu_cost_and_saturation", "03_cache_misses"} <= names


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_committed_stripped_with_question_and_one_parameter_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks with outputs stripped"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "**Question.**" in first.source and "**Data it needs.**" in first.source
    params = nb.cells[parameters_cell(nb)].source
    assert re.search(r"^SOURCE = ", params, re.M), "the parameters cell sets SOURCE"
    assert nb.metadata["kernelspec"]["name"] == "python3"


def _labelled_causes_named(nb: nbformat.NotebookNode, sample: str) -> None:
    """The notebook's own output names each labelled fault's category and component."""
    labels = json.loads((NOTEBOOKS / "data" / sample / "labels.json").read_text())
    out = text(nb)
    assert labels["faults"], f"{sample} has no labelled fault"
    for fault in labels["faults"]:
        assert fault["category"] in out and fault["component"] in out, fault


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_runs_on_sample_data(path: Path, project_kernel: str) -> None:
    nb = execute(path, project_kernel)
    assert not [o for o in outputs(nb) if o.get("output_type") == "error"]
    assert images(nb) >= 2, "the notebook's plots did not render"
    if path.stem == "01_full_sync_incident":
        _labelled_causes_named(nb, "full_sync")


def test_cache_notebook_with_the_other_sample_via_the_parameter_cell(project_kernel: str) -> None:
    nb = execute(NOTEBOOKS / "03_cache_misses.ipynb", project_kernel, SOURCE="data/cold_cache")
    assert "misses reloaded a key" in text(nb)
    assert images(nb) >= 3


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not up after {timeout} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.integration
def test_quickstart_against_a_live_collector(tmp_path: Path, project_kernel: str) -> None:
    """infersight collect + the demo server sending OTLP to it + a short open-loop load; the
    notebook reads the running collector by URL (one parameter changed)."""
    http_port, server_port = free_port(), free_port()
    collector_url = f"http://127.0.0.1:{http_port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(logs / "collector.log", "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "infersight.cli", "collect", "--db", str(tmp_path / "t.duckdb"),
                 "--http-port", str(http_port), "--grpc-port", "-1"], stdout=log, stderr=log))
        _wait(f"{collector_url}/healthz", procs[0], 60)
        with open(logs / "server.log", "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "infersight.demo", "serve", "--port", str(server_port),
                 "--otlp-endpoint", collector_url, "--rows", "20000", "--data-dir", str(tmp_path / "data")],
                stdout=log, stderr=log))
        _wait(f"http://127.0.0.1:{server_port}/healthz", procs[1], 120)
        load = subprocess.run(
            [sys.executable, "-m", "infersight.demo", "load", "--url", f"http://127.0.0.1:{server_port}",
             "--duration", "6", "--rate", "6", "--no-spans"], capture_output=True, timeout=120)
        assert load.returncode == 0, load.stderr.decode()[-2000:]
        _stop(procs.pop())  # the server flushes its telemetry on shutdown
        nb = execute(NOTEBOOKS / "00_quickstart.ipynb", project_kernel, SOURCE=collector_url)
    finally:
        for p in reversed(procs):
            _stop(p)
    out = text(nb)
    assert f"source: {collector_url}" in out
    spans = int(re.search(r"spans:\s+([\d,]+)", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert spans > 0
    assert "/v1/chat/completions" in out
    assert images(nb) >= 2
