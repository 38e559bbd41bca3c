"""Package discovery for the card's layout.

The sources live in top-level folders (instrument/, collectors/, analysis/, demo/, ui/) but are
imported as ``infersight.<folder>``; setuptools' ``packages.find`` cannot remap folders, so
this walks them and maps every sub-package. Everything else is in pyproject.toml.
tests/foundation/test_packaging.py checks that every data file the code opens is in the wheel.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
PARTS = {"infersight": "infersight", "instrument": "infersight.instrument",
         "collectors": "infersight.collectors", "analysis": "infersight.analysis",
         "demo": "infersight.demo", "ui": "infersight.ui"}

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder, name in PARTS.items():
    # every folder holding code or data (analysis/sql/<layer>/ holds only .sql files): listed as
    # a package, so setuptools ships its package-data instead of warning that it will stop doing so
    dirs = {p.parent for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    for d in sorted(dirs):
        rel = d.relative_to(ROOT / folder)
        pkg = ".".join([name, *rel.parts]) if rel.parts else name
        packages.append(pkg)
        package_dir[pkg] = d.relative_to(ROOT).as_posix()

# Data-only folders that installed code reads (``infersight dashboards preview`` renders the
# generated Grafana boards): shipped at the same place relative to the code as in the checkout.
DATA = {"infersight.dashboards.grafana": "dashboards/grafana"}
for pkg, folder in DATA.items():
    packages.append(pkg)
    package_dir[pkg] = folder

setup(packages=packages, package_dir=package_dir)
