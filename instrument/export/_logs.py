"""ERROR log records over OTLP: the application's ``logging`` at or above a level, with the trace
and span ids of the request that logged them (the analysis reads them for ``code_defect``).

The OTel SDK's logs module is still private (``opentelemetry.sdk._logs``); infersight reaches it
only through ``_sdk_compat.logs_sdk()``, and without it (an SDK that moved it) log export is off
with one warning. Records of the ``opentelemetry`` and ``infersight`` loggers are never exported
(an exporter failing to export would otherwise feed itself).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infersight.instrument._errors import ConfigurationError
from infersight.instrument._sdk_compat import logs_sdk

logger = logging.getLogger(__name__)

_OWN = ("opentelemetry", "infersight")


class _NotOwnRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(_OWN)


def log_level(value: int | str) -> int:
    """``logging.ERROR``, ``40`` or ``"ERROR"`` -> 40; anything else is a ConfigurationError."""
    if isinstance(value, bool):
        raise ConfigurationError(f"log_level must be a logging level, got {value!r}")
    if isinstance(value, int):
        return value
    level = logging.getLevelName(str(value).upper())
    if not isinstance(level, int):
        raise ConfigurationError(f"log_level must be a logging level (ERROR, WARNING, 40...), got {value!r}")
    return level


@dataclass
class LogExport:
    """The logger provider and the handler on the root logger (``close()`` removes both)."""

    provider: Any
    handler: logging.Handler
    target: logging.Logger

    def flush(self, timeout_s: float = 5.0) -> None:
        self.provider.force_flush(int(timeout_s * 1000))

    def close(self) -> None:
        self.target.removeHandler(self.handler)
        self.provider.shutdown()


def export_logs(level: int | str, *, resource: Any, endpoint: str | None, headers: Mapping[str, str] | None,
                timeout_s: float | None, exporter: Any = None,
                target: logging.Logger | None = None) -> LogExport | None:
    """Send ``target``'s (default: the root logger's) records at ``level`` and above over OTLP/HTTP."""
    lvl = log_level(level)
    sdk = logs_sdk()
    if sdk is None:
        logger.warning("infersight: this OpenTelemetry SDK has no logs module; ERROR logs are not exported")
        return None
    if exporter is None:
        exporter = sdk.OTLPLogExporter(endpoint=endpoint, headers=dict(headers) if headers else None,
                                       timeout=timeout_s)
    provider = sdk.LoggerProvider(resource=resource)
    provider.add_log_record_processor(sdk.BatchLogRecordProcessor(exporter))
    handler = sdk.handler(lvl, provider)
    handler.addFilter(_NotOwnRecords())
    root = target if target is not None else logging.getLogger()
    root.addHandler(handler)
    if root.getEffectiveLevel() > lvl:
        logger.info("infersight: logger %r passes only level %s and up; records below it are not exported",
                    root.name, logging.getLevelName(root.getEffectiveLevel()))
    return LogExport(provider, handler, root)


__all__ = ["LogExport", "export_logs", "log_level"]
