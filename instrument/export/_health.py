"""Say once where telemetry goes, once when it cannot get there, once when it can again.

The OTel SDK's OTLP/HTTP exporter logs a warning for every failed attempt ("Transient error
[Errno 111] Connection refused encountered while exporting spans batch, retrying in 1.0s",
"Failed to export spans batch ..."): about one line every two seconds while no collector
runs. :func:`watch_exports` replaces them with one infersight WARNING when exports start to
fail (where to, why, and that undelivered spans are counted in
``infersight_exporter_dropped_spans_total``) and one INFO line when an export succeeds again;
the attempts in between are only counted (:func:`failed_attempts`). Other SDK messages pass.

Nothing is printed if the application never configured logging: so that these few lines are
seen, :func:`ensure_visible` gives the ``infersight`` logger a stderr handler that speaks only
while the root logger has none (it never doubles a configured application's output).
"""

from __future__ import annotations

import logging
import re
import sys
import threading

from infersight.instrument._sdk_compat import SDK_EXPORT_LOGGERS

logger = logging.getLogger(__name__)

# where the SDK's OTLP/HTTP exporters log their per-attempt failures
SDK_LOGGERS = SDK_EXPORT_LOGGERS
_FAILURE = re.compile(r"^(Transient error|Failed to export|Shutdown in progress, aborting retry)")
_REASON = re.compile(r"^Transient error (.*?) encountered while exporting (\w+)")
_SIGNAL = re.compile(r"exporting (\w+) batch|export (\w+) batch")


class ExportHealth:
    """Up/down state of the OTLP exports of this process (all signals together)."""

    def __init__(self) -> None:
        self.destination = "the OTLP endpoint"
        self.down = False
        self.failed = 0  # failed attempts since the process started (retries included)
        self._since_down = 0
        self._lock = threading.Lock()

    def failure(self, message: str) -> None:
        with self._lock:
            self.failed += 1
            self._since_down += 1
            if self.down:
                return
            self.down = True
            self._since_down = 1
        m = _REASON.match(message)
        if m:
            reason = m.group(1)
        elif "due to timeout" in message:
            reason = "no answer within the export timeout and its retries"
        else:
            reason = message.rstrip(".")
        logger.warning("infersight: cannot deliver telemetry to %s (%s). Requests are not affected; "
                       "undelivered spans are dropped and counted in infersight_exporter_dropped_spans_total. "
                       "Further failures are not logged; a line follows when the collector answers.",
                       self.destination, reason)

    def success(self) -> None:
        if not self.down:  # the common case: no lock, no log
            return
        with self._lock:
            if not self.down:
                return
            self.down = False
            missed = self._since_down
        logger.info("infersight: telemetry reaches %s again (%d failed export attempts were not logged)",
                    self.destination, missed)


HEALTH = ExportHealth()


class _MuteRetries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        if not _FAILURE.match(message):
            return True
        HEALTH.failure(message)
        return False


_FILTER = _MuteRetries()


def watch_exports(destination: str) -> None:
    """Mute the SDK's per-attempt export failures (idempotent); ``destination`` names the
    collector in infersight's own lines."""
    HEALTH.destination = destination
    for name in SDK_LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)


def failed_attempts() -> int:
    return HEALTH.failed


class _FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to stderr only while the root logger has no handler (nothing configured)."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


_FALLBACK = _FallbackHandler(sys.stderr)
_FALLBACK.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
_FALLBACK.setLevel(logging.INFO)


def ensure_visible() -> None:
    """Let infersight's INFO lines reach stderr when the application configured no logging."""
    top = logging.getLogger("infersight")
    if _FALLBACK not in top.handlers:
        top.addHandler(_FALLBACK)
    if top.level == logging.NOTSET or top.level > logging.INFO:
        if logging.getLogger().getEffectiveLevel() > logging.INFO and not logging.getLogger().handlers:
            top.setLevel(logging.INFO)


__all__ = ["HEALTH", "ExportHealth", "ensure_visible", "failed_attempts", "watch_exports"]
