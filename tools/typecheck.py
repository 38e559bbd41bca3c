"""Run mypy on the package as it is imported: ``infersight.instrument`` and not ``instrument``.

The sources live in top-level folders (instrument/, collectors/, ...) that the wheel maps to
``infersight.<folder>`` (setup.py). mypy run on the folders sees ``instrument._app`` and cannot
resolve ``from infersight.instrument._x import ...`` (the editable install's import hook is
invisible to it), so every cross-module import was ``Any``. This builds ``build/typecheck/
infersight/`` out of symlinks to the real folders, runs ``mypy -p infersight`` on it (plus
dashboards/ and tools/), and prints errors with the checkout's paths.

    python tools/typecheck.py          # what `make typecheck` runs
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("instrument", "collectors", "analysis", "demo", "ui")


def build_tree(dest: Path) -> Path:
    pkg = dest / "infersight"
    pkg.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in (ROOT / "infersight").iterdir() if p.suffix in (".py", ".typed")}
    wanted.update({part: ROOT / part for part in PARTS})
    for entry in pkg.iterdir():
        if entry.name not in wanted or not entry.is_symlink() or entry.resolve() != wanted[entry.name].resolve():
            entry.unlink()
    for name, target in wanted.items():
        link = pkg / name
        if not link.is_symlink():
            link.symlink_to(target)
    return pkg


def main(argv: list[str]) -> int:
    tree = ROOT / "build" / "typecheck"
    build_tree(tree)
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "infersight", *argv]
    res = subprocess.run(cmd, cwd=tree, capture_output=True, text=True,
                         env={**os.environ, "MYPYPATH": str(tree)})
    path = re.compile(r"^infersight/(?:(instrument|collectors|analysis|demo|ui)/)?")

    def real(line: str) -> str:
        return path.sub(lambda m: f"{m.group(1)}/" if m.group(1) else "infersight/", line)

    out = "".join(real(line) + "\n" for line in res.stdout.splitlines())
    sys.stdout.write(out)
    sys.stderr.write(res.stderr)
    rest = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "dashboards", "tools"], cwd=ROOT)
    return res.returncode or rest.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
