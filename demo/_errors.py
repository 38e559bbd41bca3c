"""The demo's one exception tree (under :class:`infersight.InfersightError`)."""

from __future__ import annotations

from infersight._errors import BadArgumentError, InfersightError


class DemoError(InfersightError):
    """Base class of every error the demo raises on purpose."""


class DemoConfigError(DemoError, BadArgumentError):
    """Bad configuration or input: unknown fault, bad rate, prompt too long, ...: the demo's one
    bad-argument class (a ``ValueError``)."""


class PoolTimeout(DemoError, TimeoutError):
    """No database connection became free within the pool's acquire timeout."""


class DownstreamError(DemoError):
    """The downstream risk service failed or timed out after retries."""


class ProcessError(DemoError, RuntimeError):
    """A child process (collector, downstream, demo server) failed to start or died."""


__all__ = ["DemoConfigError", "DemoError", "DownstreamError", "PoolTimeout", "ProcessError"]
