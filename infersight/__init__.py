"""infersight: find out why a model server is slow or expensive.

The distribution's parts live in sub-packages: ``infersight.instrument`` (in-process),
``infersight.collectors`` (OTLP -> DuckDB), ``infersight.analysis`` (detectors) and
``infersight.demo`` (reference model server). This top-level package holds only the
version and the CLI shell, and imports none of them.
"""

from __future__ import annotations

from infersight._version import __version__

__all__ = ["__version__"]
