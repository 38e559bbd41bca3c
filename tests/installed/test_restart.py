"""The installed collector (wheel, non-editable, fresh venv) survives what a user's collector meets:
kill -9 five times under real SDK exporters, each followed by a restart on the same file, with
every acknowledged span still there exactly once. (The restart after a clean stop is in
test_cli.py: the held-database test stops the installed collector and starts it again.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests._wheel import InstalledVenv
from tests.reliability._crash import run_crash_cycles

pytestmark = [pytest.mark.integration, pytest.mark.installed]


def test_the_install_is_the_wheel_not_the_checkout(installed: InstalledVenv, tmp_path: Path) -> None:
    code = ("import importlib.metadata as md, json, infersight.collectors as c, infersight.analysis as a\n"
            "d = md.distribution('infersight')\n"
            "print(json.dumps({'files': [c.__file__, a.__file__], 'direct_url': d.read_text('direct_url.json')}))")
    res = subprocess.run([str(installed.python), "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    site = str(installed.site_packages())
    assert all(f.startswith(site) for f in out["files"]), out
    assert '"editable": true' not in (out["direct_url"] or ""), out["direct_url"]


def test_kill9_five_times_under_sdk_exporters(installed: InstalledVenv, tmp_path: Path) -> None:
    report = run_crash_cycles(tmp_path, cycles=5, seed=16, min_s=0.5, max_s=2.0, min_acked_per_cycle=400,
                              cli=[str(installed.cli)])
    assert report.clean_opens == 5, "the DuckDB file must open after every crash"
    assert all(n >= 400 for n in report.acked_per_cycle), f"a cycle acknowledged too little: {report}"
    assert report.lost == 0, f"{report.lost} acknowledged spans lost: {report}"
    assert report.found == report.acknowledged
    assert report.duplicates == 0, f"a span stored twice: {report}"
