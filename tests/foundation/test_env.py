"""Every INFERSIGHT_*/OTEL_* environment variable the code reads is listed once (infersight._env)."""

from __future__ import annotations

import re
from pathlib import Path

from infersight._env import VARIABLES, lookup, markdown, resolve

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("infersight", "instrument", "collectors", "analysis", "demo", "ui")
NAME = re.compile(r"""["'`{]((?:INFERSIGHT|OTEL)_[A-Z0-9_]*)""")


def _names_in_source() -> dict[str, str]:
    found: dict[str, str] = {}
    for part in PARTS:
        for path in (ROOT / part).rglob("*.py"):
            if path.name == "_env.py":
                continue
            for m in NAME.finditer(path.read_text()):
                found.setdefault(m.group(1), str(path.relative_to(ROOT)))
    return found


def test_every_variable_in_the_source_is_listed() -> None:
    names = _names_in_source()
    assert len(names) >= 15
    # a name ending in "_" is a prefix the code builds names from: some listed variable has it
    missing = {n: where for n, where in names.items()
               if (lookup(n) is None if not n.endswith("_") else not any(v.name.startswith(n) for v in VARIABLES))}
    assert missing == {}


def test_each_variable_is_listed_once_and_documented() -> None:
    listed = [v.name for v in VARIABLES]
    assert len(listed) == len(set(listed))
    doc = (ROOT / "docs" / "configuration.md").read_text()
    table = doc.split("<!-- env-table:start -->\n")[1].split("<!-- env-table:end -->")[0]
    assert table == markdown(), "docs/configuration.md is stale: python -m infersight._env"


def test_argument_beats_environment_beats_default() -> None:
    env = {"OTEL_BSP_MAX_QUEUE_SIZE": "64"}
    assert resolve(8, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, int, environ=env) == 8
    assert resolve(None, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, int, environ=env) == 64
    assert resolve(None, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, int, environ={}) == 2048
    assert resolve(None, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, int, environ={"OTEL_BSP_MAX_QUEUE_SIZE": "x"}) == 2048
