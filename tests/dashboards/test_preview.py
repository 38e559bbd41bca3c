"""``infersight dashboards preview``: variable substitution, rendering, CLI errors, and a real
run against Prometheus scraping the recorded GPU and vLLM /metrics."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from infersight.analysis._errors import SourceError, UsageError
from infersight.analysis._preview import PrometheusClient, load_boards, panel_queries, substitute
from infersight.analysis._preview_render import fmt_value, legend
from matplotlib.image import imread

from ._prom import ReplayTarget, prometheus, wait_targets_up
from .conftest import DASHBOARDS, ROOT, need_binary

RECORDINGS = {"gpu": ROOT / "tests" / "dashboards" / "data" / "gpu_metrics_recorded.txt",
              "vllm": ROOT / "benchmarks" / "results" / "vllm_metrics.txt"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, through the infersight shell."""
    return subprocess.run([sys.executable, "-m", "infersight.cli", "dashboards", "preview", *args],
                          capture_output=True, text=True, timeout=120)


def _invoke(*args: str) -> tuple[int, str]:
    """The same typer app in-process (no interpreter start): exit code and output."""
    from infersight.analysis.dashboards_cli import dashboards_app
    from typer.testing import CliRunner

    r = CliRunner().invoke(dashboards_app, ["preview", *args])
    return r.exit_code, r.output


def test_substitute_like_grafana() -> None:
    expr = 'rate(x{job=~"$job", gpu=~"${gpu}"}[$__rate_interval]) / $__range_s + increase(y[$__range])'
    out = substitute(expr, range_s=1800, step_s=15, scrape_s=15, variables={"gpu": "0"})
    assert out == 'rate(x{job=~".*", gpu=~"0"}[60s]) / 1800 + increase(y[1800s])'
    assert "[20s]" in substitute("rate(x[$__rate_interval])", range_s=60, step_s=15, scrape_s=5)  # max(15+5, 4*5)


def test_legend_and_units() -> None:
    assert legend("GPU {{gpu}} {{reason}}", {"gpu": "0", "reason": "sw_power_cap"}) == "GPU 0 sw_power_cap"
    assert legend("__auto", {"__name__": "m", "a": "1"}) == "a=1"
    assert fmt_value(0.25, "s") == "250 ms"
    assert fmt_value(0.999, "percentunit") == "99.9 %"
    assert fmt_value(3 * 1024**3, "bytes") == "3 GiB"
    assert fmt_value(float("nan"), "s") == "n/a"


def test_every_board_panel_has_a_query() -> None:
    boards = load_boards(DASHBOARDS / "grafana")
    assert {b["uid"] for b in boards} >= {"infersight-overview", "infersight-incident"}
    for b in boards:
        titles = {p["title"] for p in b["panels"] if p["type"] != "row"}
        assert titles == {q.panel_title for q in panel_queries(b)}, b["uid"]


def test_bad_inputs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no dashboards folder"):
        load_boards(tmp_path / "missing")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_boards(tmp_path)
    client = PrometheusClient("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(SourceError, match="cannot reach Prometheus"):
        client.query("up", time.time())
    client.close()
    r = _cli("--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "cannot reach Prometheus" in r.stderr
    code, output = _invoke("--var", "novalue", "--out", str(tmp_path / "o"))
    assert code == 2 and "NAME=VALUE" in output
    assert not (tmp_path / "o").exists()


@pytest.mark.integration
@pytest.mark.prometheus
def test_preview_renders_pngs_from_live_prometheus(tmp_path: Path) -> None:
    binary = need_binary("prometheus")
    with ReplayTarget(RECORDINGS["gpu"].read_text()).serve() as gpu, \
            ReplayTarget(RECORDINGS["vllm"].read_text()).serve() as vllm:
        with prometheus(binary, tmp_path, {"gpu": [gpu], "vllm": [vllm]}, []) as url:
            wait_targets_up(url, {"gpu", "vllm"})
            time.sleep(6)  # a few scrapes so rates exist
            out = tmp_path / "png"
            r = _cli("--prometheus", url, "--out", str(out), "--board", "infersight-gpu", "--board",
                     "infersight-vllm", "--range", "1m", "--step", "1s", "--scrape-interval", "1s")
            bad = _invoke("--prometheus", url, "--out", str(out), "--board", "no-such-board")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["infersight-gpu.png", "infersight-vllm.png"]
    for png in out.iterdir():
        img = imread(png)
        assert img.shape[0] > 600 and img.shape[1] > 1000
        assert img.std() > 0.05  # not a blank canvas
    assert bad[0] == 2 and "no dashboard with uid" in bad[1]
