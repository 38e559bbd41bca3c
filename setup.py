"""Package discovery for the card's layout.

The sources live in top-level folders (instrument/, collectors/, analysis/, demo/) but are
imported as ``infersight.<folder>``; setuptools' ``packages.find`` cannot remap folders, so
this walks them and maps every sub-package. Everything else is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
PARTS = {"infersight": "infersight", "instrument": "infersight.instrument",
         "collectors": "infersight.collectors", "analysis": "infersight.analysis",
         "demo": "infersight.demo"}

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder, name in PARTS.items():
    for init in sorted((ROOT / folder).rglob("__init__.py")):
        rel = init.parent.relative_to(ROOT / folder)
        pkg = ".".join([name, *rel.parts]) if rel.parts else name
        packages.append(pkg)
        package_dir[pkg] = init.parent.relative_to(ROOT).as_posix()

setup(packages=packages, package_dir=package_dir)
