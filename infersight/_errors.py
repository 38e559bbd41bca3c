"""The root of every exception infersight raises on purpose, and the CLI's exit-code map.

Each part has one tree under :class:`InfersightError` (``infersight.instrument.InstrumentError``
with ``infersight.instrument.gpu.GpuError`` below it, ``infersight.collectors.CollectorError``,
``infersight.analysis.AnalysisError``, ``infersight.demo.DemoError``) and one "bad argument"
class that also derives from :class:`BadArgumentError` (and so from ``ValueError``):
``ConfigurationError`` (instrument; ``GpuConfigError`` under it), ``CollectorConfigError``,
``UsageError`` (analysis) and ``DemoConfigError``. ``except infersight.InfersightError`` catches
everything infersight raises on purpose; ``except infersight.BadArgumentError`` every refused
argument, option or environment value.

Exit codes, the same for every ``infersight`` subcommand (:attr:`InfersightError.exit_code`):

====  =====================================================================================
0     ran (with or without findings)
1     failed: a runtime error (port in use, storage, no data in the window, a child died)
2     bad input: an argument, option, environment value or input file that cannot be used
130   interrupted (Ctrl-C); 143 terminated (SIGTERM)
====  =====================================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class InfersightError(Exception):
    """Base of every error infersight raises on purpose; ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_FAILED


class BadArgumentError(InfersightError, ValueError):
    """An argument, CLI option or environment value that cannot be used (the message says which
    and what would work). Each part's bad-argument class derives from it."""

    exit_code = EXIT_BAD_INPUT


__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TERMINATED",
           "BadArgumentError", "InfersightError"]
