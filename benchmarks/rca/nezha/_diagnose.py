"""Run ``infersight diagnose --json`` (the public CLI: the interface analysis v2 keeps) on one window."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from benchmarks.rca.nezha._cases import NS


def iso(ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns // NS, dt.timezone.utc) + dt.timedelta(microseconds=(ns % NS) // 1000)
    return t.isoformat().replace("+00:00", "Z")


@cache
def _cli_has(flag: str) -> bool:
    out = subprocess.run([sys.executable, "-m", "infersight.cli", "diagnose", "--help"], capture_output=True,
                         text=True, check=False, env={**os.environ, "COLUMNS": "200"}).stdout
    return flag in out


def diagnose(db: Path, window: tuple[int, int] | None, baseline: tuple[int, int] | None = None,
             timeout_s: float = 600) -> dict[str, Any]:
    """The diagnosis JSON of ``db`` over ``window`` (None: all data). ``baseline`` is passed as
    ``--baseline START..END`` only when the CLI has that option (analysis v2)."""
    argv = [sys.executable, "-m", "infersight.cli", "diagnose", "--db", str(db), "--json"]
    if window is not None:
        argv += ["--since", iso(window[0]), "--until", iso(window[1])]
    if baseline is not None and _cli_has("--baseline"):
        argv += ["--baseline", f"{iso(baseline[0])}..{iso(baseline[1])}"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if res.returncode != 0:
        return {"error": f"diagnose exited {res.returncode}", "stderr": res.stderr[-4000:], "findings": []}
    out: dict[str, Any] = json.loads(res.stdout)
    return out


__all__ = ["diagnose", "iso"]
