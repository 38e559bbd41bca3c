"""Named SQL statements from ``sql/*.sql`` files (``-- name: x`` starts statement ``x``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).with_name("sql")


@cache
def load(filename: str) -> dict[str, str]:
    statements: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in (SQL_DIR / filename).read_text().splitlines():
        if line.startswith("-- name:"):
            if name:
                statements[name] = "\n".join(lines).strip()
            name, lines = line.split(":", 1)[1].strip(), []
        elif name and not line.startswith("--"):
            lines.append(line)
    if name:
        statements[name] = "\n".join(lines).strip()
    return statements


__all__ = ["SQL_DIR", "load"]
