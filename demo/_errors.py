"""The demo's one exception tree."""

from __future__ import annotations


class DemoError(Exception):
    """Base class of every error the demo raises on purpose."""


class ConfigError(DemoError, ValueError):
    """Bad configuration or input: unknown fault, bad rate, prompt too long, ..."""


class PoolTimeout(DemoError, TimeoutError):
    """No database connection became free within the pool's acquire timeout."""


class DownstreamError(DemoError):
    """The downstream risk service failed or timed out after retries."""


class ProcessError(DemoError, RuntimeError):
    """A child process (collector, downstream, demo server) failed to start or died."""


__all__ = ["ConfigError", "DemoError", "DownstreamError", "PoolTimeout", "ProcessError"]
