"""infersight: find out why a model server is slow or expensive.

The distribution's parts live in sub-packages: ``infersight.instrument`` (in-process),
``infersight.collectors`` (OTLP -> DuckDB), ``infersight.analysis`` (detectors) and
``infersight.demo`` (reference model server). This top-level package holds the version, the
root of every part's exception tree (:class:`InfersightError`, :class:`BadArgumentError`),
the shared CLI helpers and the CLI shell, and imports none of the parts.
"""

from __future__ import annotations

from infersight._errors import BadArgumentError, InfersightError
from infersight._version import __version__

__all__ = ["BadArgumentError", "InfersightError", "__version__"]
