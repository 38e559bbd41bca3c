"""Package discovery for the card's layout.

The sources live in top-level folders (instrument/, collectors/, analysis/, demo/, ui/) but are
imported as ``infersight.<folder>``; setuptools' ``packages.find`` cannot remap folders, so
this walks them and maps every sub-folder, data-only ones (sql/, templates/, static/,
migrations/) included: each is listed as a package, so its files ship as package data and
setuptools has nothing to warn about. The generated Grafana boards (dashboards/grafana/*.json)
ship as ``infersight.dashboards``, for ``infersight dashboards preview`` after a pip install.
Everything else is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
PARTS = {"infersight": "infersight", "instrument": "infersight.instrument",
         "collectors": "infersight.collectors", "analysis": "infersight.analysis",
         "demo": "infersight.demo", "ui": "infersight.ui"}
DATA_ONLY = {"dashboards/grafana": "infersight.dashboards"}


def _folders(top: Path) -> list[Path]:
    """``top`` and every folder below it that holds files, skipping caches and hidden ones."""
    out = [top]
    for path in sorted(top.rglob("*")):
        rel = path.relative_to(top).parts
        if path.is_dir() and not any(p.startswith((".", "__pycache__")) or p.endswith(".egg-info") for p in rel) \
                and any(f.is_file() for f in path.iterdir()):
            out.append(path)
    return out


packages: list[str] = []
package_dir: dict[str, str] = {}
for folder, name in PARTS.items():
    for path in _folders(ROOT / folder):
        rel = path.relative_to(ROOT / folder)
        pkg = ".".join([name, *rel.parts]) if rel.parts else name
        packages.append(pkg)
        package_dir[pkg] = path.relative_to(ROOT).as_posix()
for folder, name in DATA_ONLY.items():
    packages.append(name)
    package_dir[name] = folder

setup(packages=packages, package_dir=package_dir)
