"""Hostile names from any OTLP sender, through the real path: OTel SDK exporter -> installed
collector -> installed ``infersight diagnose`` (terminal table, --html, --json).

Names carry rich markup (``[/]`` made diagnose exit 1; ``[link=...]`` made a clickable link),
terminal escape sequences (clear screen, set window title), a bidi override, and mathtext for
matplotlib (a ``gpu.index`` of ``$\\undefinedcmd{x}$`` made the HTML report fail). The terminal
must show them as inert text, the HTML escaped, the JSON exactly as sent.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests._wheel import InstalledVenv
from tests.analysis._synth import Builder, with_fault
from tests.reliability._procs import CollectorProcess

from ._sdk import replay

pytestmark = [pytest.mark.integration, pytest.mark.installed]
MARKUP = "[/][link=http://evil.example/]click[/link][bold red]"
CONTROL = "\x1b[2J\x1b]0;pwned\x07\u202e"
MATH = r"$\undefinedcmd{x}$"
POOL = "pool" + MARKUP + CONTROL + MATH


def _hostile_telemetry() -> Builder:
    b = Builder(seed=11)
    with_fault(b, "pool", seconds=480, rps=4)
    for sp in b.spans:
        sp["SpanAttributes"] = {k: (POOL if v == "payments_db" else v) for k, v in sp["SpanAttributes"].items()}
        if sp["SpanName"] == "pool.acquire":
            sp["SpanName"] = "pool.acquire " + MARKUP + CONTROL
    for p in b.points:
        if "gpu.index" in p["Attributes"]:
            p["Attributes"] = {**p["Attributes"], "gpu.index": MATH + MARKUP}
    return b


def _diagnose(installed: InstalledVenv, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INFERSIGHT_TOKEN")}
    env["COLUMNS"] = "400"  # one table row per finding: the name is not folded across lines
    return subprocess.run([str(installed.cli), "diagnose", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env)


def test_hostile_names_are_inert_in_terminal_html_and_json(installed: InstalledVenv, tmp_path: Path) -> None:
    b = _hostile_telemetry()
    db = tmp_path / "hostile.duckdb"
    with CollectorProcess(db, cli=[str(installed.cli)], extra=["--workers", "0"], grpc=False) as col:
        assert replay(col.url, b.spans, b.points) == len(b.spans)

    res = _diagnose(installed, "--db", str(db), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)["findings"]
    assert any(f["root_cause"]["entity"] == POOL for f in found), \
        f"the pool fault must be found, its hostile name kept exactly: {[f['root_cause'] for f in found]}"
    assert "\x1b" not in res.stdout and "\u202e" not in res.stdout  # JSON escapes them

    res = _diagnose(installed, "--db", str(db), "--html", str(tmp_path / "r.html"), cwd=tmp_path)
    assert res.returncode == 0, f"diagnose failed on hostile names: {res.stdout}\n{res.stderr}"
    for out in (res.stdout, res.stderr):
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, repr(out[-2000:])
    # markup is shown as text (rich would have swallowed the tags, or failed on "[/]")
    assert "[link=http://evil.example/]click[/link]" in res.stdout, res.stdout
    assert "\\x1b[2J" in res.stdout, "control characters are shown escaped, not dropped silently"
    html = (tmp_path / "r.html").read_text()
    assert "\x1b" not in html and "<img" in html
    assert "[link=http://evil.example/]" in html and "$\\undefinedcmd{x}$" in html
